package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/futuresgen/futuresgen/generator"
	"github.com/futuresgen/futuresgen/templates"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1 // a task is wrong, or -check found a stale file
	exitUsage   = 2 // bad flags, or any error under -check
	defaultFile = "futures_gen.go"
)

// run is the command without os.Exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("futuresgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "write nothing; exit 1 with a diff if a generated file is stale")
	output := fs.String("output", defaultFile, "the file `name` to write in each package")
	tags := fs.String("tags", "", "extra comma-separated build `tags`")
	verbose := fs.Bool("v", false, "say what was written, left alone or removed")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: futuresgen [flags] [packages]\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nSee \"go doc github.com/futuresgen/futuresgen/cmd/futuresgen\".\n")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *version {
		fmt.Fprintln(stdout, "futuresgen", moduleVersion())
		return exitOK
	}
	if err := checkOutputName(*output); err != nil {
		fmt.Fprintf(stderr, "futuresgen: -output: %v\n", err)
		return exitUsage
	}
	failed := exitFailed
	if *check {
		failed = exitUsage
	}

	cfg := generator.Config{}
	if *tags != "" {
		cfg.Tags = strings.Split(*tags, ",")
	}
	loaded, err := generator.Load(cfg, fs.Args()...)
	if err != nil {
		var errs generator.Errors
		if errors.As(err, &errs) {
			fmt.Fprintln(stderr, errs.Error())
			fmt.Fprintf(stderr, "futuresgen: %d error(s); nothing was written\n", len(errs))
		} else {
			fmt.Fprintf(stderr, "futuresgen: %v\n", err)
		}
		return failed
	}
	for _, w := range loaded.Warnings {
		fmt.Fprintf(stderr, "futuresgen: warning: %s\n", w)
	}

	// Render everything before touching any file: an error writes nothing.
	var plans []plan
	for _, pkg := range loaded.Packages {
		ps, err := packagePlans(pkg, *output)
		if err != nil {
			fmt.Fprintf(stderr, "futuresgen: %v\n", err)
			return failed
		}
		plans = append(plans, ps...)
	}

	if *check {
		stale := 0
		for _, p := range plans {
			if d := p.diff(); d != "" {
				stale++
				fmt.Fprint(stdout, d)
			}
		}
		if stale > 0 {
			fmt.Fprintf(stderr, "futuresgen: %d generated file(s) are stale; run \"go generate ./...\"\n", stale)
			return exitFailed
		}
		return exitOK
	}
	for _, p := range plans {
		msg, err := p.apply()
		if err != nil {
			fmt.Fprintf(stderr, "futuresgen: %v\n", err)
			return exitFailed
		}
		if *verbose && msg != "" {
			fmt.Fprintln(stderr, "futuresgen:", msg)
		}
	}
	return exitOK
}

// plan is what one generated file should become.
type plan struct {
	pkg    *generator.Package
	gf     *generator.File // nil: the file should not be there
	path   string
	want   []byte // nil: remove the file
	have   []byte // what is there now, if futuresgen wrote it
	exists bool   // a file is at path (written by futuresgen or not)
}

// packagePlans renders pkg's generated files, named after output, and
// plans the removal of those it wrote earlier that it no longer needs: a
// file for a build constraint whose tasks are gone, or the whole output
// of a package without tasks.
func packagePlans(pkg *generator.Package, output string) ([]plan, error) {
	var plans []plan
	wanted := map[string]bool{}
	for _, gf := range pkg.Files {
		p := plan{pkg: pkg, gf: gf, path: filepath.Join(pkg.Dir, outputName(output, gf.Suffix))}
		var err error
		if p.want, err = templates.Render(pkg, gf); err != nil {
			return nil, err
		}
		if p.have, p.exists, err = readGenerated(p.path); err != nil {
			return nil, err
		}
		wanted[p.path] = true
		plans = append(plans, p)
	}
	entries, err := os.ReadDir(pkg.Dir)
	if err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(output, ".go")
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(pkg.Dir, name)
		ours := name == output || strings.HasPrefix(name, stem+"_") && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if wanted[path] || e.IsDir() || !ours {
			continue
		}
		have, _, err := readGenerated(path)
		if err != nil {
			return nil, err
		}
		if have != nil {
			plans = append(plans, plan{pkg: pkg, path: path, have: have, exists: true})
		}
	}
	return plans, nil
}

// outputName is the name of the generated file for the build constraint
// that suffix stands for: output itself for "", else output with
// "_<suffix>" before its .go (futures_gen_linux.go).
func outputName(output, suffix string) string {
	if suffix == "" {
		return output
	}
	return strings.TrimSuffix(output, ".go") + "_" + suffix + ".go"
}

// diff returns a unified diff from what is there to what should be, or ""
// when the file is fresh.
func (p plan) diff() string {
	if bytes.Equal(p.want, p.have) {
		return ""
	}
	rel := relPath(p.path)
	to := "b/" + rel
	if p.want == nil {
		to = "/dev/null"
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        lines(p.have),
		B:        lines(p.want),
		FromFile: "a/" + rel,
		ToFile:   to,
		Context:  3,
	})
	return d
}

// lines splits data into lines that keep their "\n", as difflib wants
// them; nil for no data.
func lines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	ls := strings.SplitAfter(string(data), "\n")
	if last := len(ls) - 1; ls[last] == "" {
		ls = ls[:last]
	} else {
		ls[last] += "\n"
	}
	return ls
}

// apply writes, keeps or removes the file, and says what it did.
func (p plan) apply() (string, error) {
	rel := relPath(p.path)
	switch {
	case p.want == nil:
		if err := os.Remove(p.path); err != nil {
			return "", fmt.Errorf("removing stale %s: %w", rel, err)
		}
		if len(p.pkg.Files) == 0 {
			return fmt.Sprintf("removed %s: %s has no tasks", rel, p.pkg.PkgPath), nil
		}
		return fmt.Sprintf("removed %s: no task of %s is declared under its build constraint any more", rel, p.pkg.PkgPath), nil
	case p.exists && p.have == nil:
		return "", fmt.Errorf("%s exists and was not written by futuresgen (its first line is not %q); move it or choose another -output", rel, templates.Header)
	case bytes.Equal(p.want, p.have):
		return fmt.Sprintf("%s is up to date (%s)", rel, contents(p.gf)), nil
	}
	if err := writeAtomically(p.path, p.want); err != nil {
		return "", err
	}
	return fmt.Sprintf("wrote %s (%s)", rel, contents(p.gf)), nil
}

// contents counts what a generated file registers: "3 tasks", "3 tasks,
// 2 errors", "1 error".
func contents(gf *generator.File) string {
	var parts []string
	if n := len(gf.Tasks); n > 0 {
		parts = append(parts, plural(n, "task"))
	}
	if n := len(gf.Sentinels) + len(gf.ErrorTypes); n > 0 {
		parts = append(parts, plural(n, "error"))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// readGenerated returns the file at path if futuresgen wrote it, and
// whether a file is there at all.
func readGenerated(path string) (data []byte, exists bool, err error) {
	data, err = os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !bytes.HasPrefix(data, []byte(templates.Header+"\n")) {
		return nil, true, nil
	}
	return data, true, nil
}

// writeAtomically writes data to path through a temporary file in the same
// directory, whose name does not end in .go, then renames it into place.
func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", relPath(path), err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", relPath(path), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", relPath(path), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", relPath(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", relPath(path), err)
	}
	return nil
}

func checkOutputName(name string) error {
	switch {
	case name != filepath.Base(name):
		return fmt.Errorf("%q: give a file name, not a path: it is written in each package's directory", name)
	case !strings.HasSuffix(name, ".go"):
		return fmt.Errorf("%q: the name must end in .go", name)
	case strings.HasSuffix(name, "_test.go"):
		return fmt.Errorf("%q: the generated file cannot be a test file", name)
	}
	return nil
}

// relPath shortens path relative to the current directory when below it.
func relPath(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}

// moduleVersion is the version of the futuresgen module this binary was
// built from.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if bi.Main.Path == "github.com/futuresgen/futuresgen" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/futuresgen/futuresgen" {
			return d.Version
		}
	}
	return "(unknown)"
}
