package templates

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futuresgen/futuresgen/generator"
)

// load loads a one-file module holding src.
func load(t *testing.T, src string) (*generator.Package, *generator.File) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/p\n\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644)
	res, err := generator.Load(generator.Config{Dir: dir}, ".")
	if err != nil {
		t.Fatal(err)
	}
	pkg := res.Packages[0]
	return pkg, pkg.Files[0]
}

func TestRenderIsDeterministicAndMarked(t *testing.T) {
	t.Parallel()
	pkg, gf := load(t, `package p

import "time"

//futures:task
func B(d time.Duration, n int) (time.Duration, error) { return d, nil }

//futures:task
func A(x int) int { return x }
`)
	first, err := Render(pkg, gf)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, _ := Render(pkg, gf)
		if !bytes.Equal(first, again) {
			t.Fatal("two renders of the same package differ")
		}
	}
	lines := strings.SplitN(string(first), "\n", 4)
	if lines[0] != Header || lines[2] != "//go:build !"+generator.BuildTag {
		t.Errorf("the file starts %q; want the header, a blank line and the build constraint", lines[:3])
	}
	src := string(first)
	if strings.Index(src, "func SubmitA(") > strings.Index(src, "func SubmitB(") {
		t.Error("tasks are not in name order")
	}
	for _, want := range []string{`futuresrt "github.com/futuresgen/futuresgen/runtime"`, "const _ = futuresrt.SupportPackageIsVersion1", "func init() {"} {
		if !strings.Contains(src, want) {
			t.Errorf("the file lacks %q", want)
		}
	}
}

func TestBuildLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ constraint, want string }{
		{"", "//go:build !futuresgen"},
		{"linux", "//go:build !futuresgen && linux"},
		{"windows && amd64", "//go:build !futuresgen && windows && amd64"},
		{"darwin || linux", "//go:build !futuresgen && (darwin || linux)"},
		{"!windows", "//go:build !futuresgen && !windows"},
	} {
		if got := BuildLine(tt.constraint); got != tt.want {
			t.Errorf("BuildLine(%q) = %q; want %q", tt.constraint, got, tt.want)
		}
	}
}
