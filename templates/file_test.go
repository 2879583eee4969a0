package templates

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futuresgen/futuresgen/generator"
)

// load loads a one-file module holding src.
func load(t testing.TB, src string) (*generator.Package, *generator.File) {
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
	for _, want := range []string{`futuresrt "github.com/futuresgen/futuresgen/runtime"`, `futuresimpl "github.com/futuresgen/futuresgen/runtime/futuresimpl"`, "const _ = futuresimpl.SupportPackageIsVersion3", "func init() {"} {
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

// TestRenderInPartsIsGofmt checks that formatting a file in parts, as
// Render does, gives what formatting it whole does, for a package of many
// runs of tasks of every shape.
func TestRenderInPartsIsGofmt(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	src.WriteString("package p\n\nimport (\n\t\"context\"\n\t\"time\"\n)\n")
	for i := range 3*tasksPerRun + 5 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&src, "\n//futures:task\nfunc T%d(ctx context.Context, d time.Duration, n int) (time.Duration, error) { return d, nil }\n", i)
		case 1:
			fmt.Fprintf(&src, "\n//futures:task\nfunc T%d(x int) int { return x }\n", i)
		case 2:
			fmt.Fprintf(&src, "\n//futures:task\nfunc T%d() {}\n", i)
		case 3:
			fmt.Fprintf(&src, "\n//futures:task local\nfunc t%d(s string, xs ...int) (a, b int, err error) { return }\n", i)
		}
	}
	pkg, gf := load(t, src.String())
	renderInParts(t, pkg, gf)
}

// renderInParts renders gf with Render, checks that it gives what
// formatting the whole file does and that it is gofmt'd, and returns it.
func renderInParts(t *testing.T, pkg *generator.Package, gf *generator.File) []byte {
	t.Helper()
	got, err := Render(pkg, gf)
	if err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	if err := File(pkg, gf).Render(&whole); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, whole.Bytes()) {
		t.Errorf("Render differs from formatting the whole file:\n%s", diffLines(whole.String(), string(got)))
	}
	if again, err := format.Source(got); err != nil || !bytes.Equal(again, got) {
		t.Errorf("Render's output is not gofmt'd (err %v)", err)
	}
	return got
}

// TestRenderErrors checks that the registrations of errors render in
// parts as whole, in a file with tasks and in one without.
func TestRenderErrors(t *testing.T) {
	t.Parallel()
	pkg, gf := load(t, `package p

import (
	"errors"
	"io"
)

var ErrGone = errors.New("gone")

type CodeError struct{ Code int }

func (e CodeError) Error() string { return "code" }

//futures:task
func A(x int) error {
	if x == 0 {
		return io.EOF
	}
	return ErrGone
}
`)
	only := &generator.File{Constraint: "linux", Suffix: "linux", Types: gf.Types, Sentinels: gf.Sentinels, ErrorTypes: gf.ErrorTypes}
	for name, f := range map[string]*generator.File{"with tasks": gf, "without tasks": only} {
		src := string(renderInParts(t, pkg, f))
		for _, want := range []string{
			`futuresimpl.RegisterSentinel("example.com/p.ErrGone", ErrGone)`,
			`futuresimpl.RegisterSentinel("io.EOF", io.EOF)`,
			`futuresimpl.RegisterErrorType[CodeError]("example.com/p.CodeError")`,
			`futuresimpl.RegisterErrorType[*CodeError]("*example.com/p.CodeError")`,
		} {
			if !strings.Contains(src, want) {
				t.Errorf("%s: the file lacks %q:\n%s", name, want, src)
			}
		}
		if hasTasks := strings.Contains(src, "futuresTask_A"); hasTasks != (len(f.Tasks) > 0) {
			t.Errorf("%s: the file declares the dispatch table: %v; want %v", name, hasTasks, len(f.Tasks) > 0)
		}
	}
}

// diffLines shows the first line where a and b differ, with context.
func diffLines(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			lo := max(0, i-3)
			return fmt.Sprintf("line %d:\nwhole: %q\nparts: %q", i+1, la[lo:min(len(la), i+3)], lb[lo:min(len(lb), i+3)])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(la), len(lb))
}

// BenchmarkRender renders the file of a package of 200 tasks, the size
// of cmd/futuresgen's BenchmarkGenerate:
//
//	go test -run '^$' -bench Render -benchmem ./templates
func BenchmarkRender(b *testing.B) {
	var src strings.Builder
	src.WriteString("package p\n\nimport \"context\"\n\ntype Item struct {\n\tName string\n\tTags []string\n}\n")
	for i := range 200 {
		fmt.Fprintf(&src, "\n//futures:task\nfunc Task%d(ctx context.Context, it Item, n int) (Item, error) { return it, nil }\n", i)
	}
	pkg, gf := load(b, src.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(pkg, gf); err != nil {
			b.Fatal(err)
		}
	}
}
