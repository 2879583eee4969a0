package generator

import (
	"fmt"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
)

// Diagnostic is a positioned message: an error that stops generation or a
// warning that does not.
type Diagnostic struct {
	Pos token.Position
	Msg string
}

// String formats d as the compiler does: "file.go:12:3: message", with the
// file relative to the current directory when it is below it.
func (d Diagnostic) String() string {
	if !d.Pos.IsValid() && d.Pos.Filename == "" {
		return d.Msg
	}
	return fmt.Sprintf("%s: %s", posString(d.Pos), d.Msg)
}

// posString formats pos with its file relative to the current directory
// when it is below it.
func posString(pos token.Position) string {
	if pos.Filename != "" {
		if wd, err := filepath.Abs("."); err == nil {
			if rel, err := filepath.Rel(wd, pos.Filename); err == nil && !strings.HasPrefix(rel, "..") {
				pos.Filename = rel
			}
		}
	}
	return pos.String()
}

// Errors is every error of a run, sorted by position; generation writes
// nothing when there is one.
type Errors []Diagnostic

// Error returns the diagnostics one per line, in position order.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

func sortDiagnostics(ds []Diagnostic) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
