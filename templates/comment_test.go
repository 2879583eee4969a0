package templates

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMapOptionsListed checks that MapX doc comments list every MapOption
// the runtime declares: the exported functions of ../runtime that return
// one. The templates do not import the runtime, so they keep a list.
func TestMapOptionsListed(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "runtime", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no runtime sources: %v", err)
	}
	var declared []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fd.Type.Results.List[0].Type.(*ast.Ident); ok && id.Name == "MapOption" {
				declared = append(declared, fd.Name.Name)
			}
		}
	}
	slices.Sort(declared)
	if !slices.Equal(declared, mapOptions) {
		t.Errorf("the runtime declares the MapOptions %v; the MapX doc comments list %v", declared, mapOptions)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	} {
		if got := list(tt.in); got != tt.want {
			t.Errorf("list(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 30)
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"one line", []string{"one line"}},
		{" leading and trailing spaces ", []string{"leading and trailing spaces"}},
		{"a\nb", []string{"a", "b"}},
		{"(result,\u00a0error) per input", []string{"(result, error) per input"}},
		{long, []string{strings.TrimSpace(strings.Repeat("word ", 15)), strings.TrimSpace(strings.Repeat("word ", 15))}},
		{long + "longer", []string{strings.TrimSpace(strings.Repeat("word ", 15)), strings.TrimSpace(strings.Repeat("word ", 15)), "longer"}},
	} {
		if got := wrap(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("wrap(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	for _, line := range wrap(long + "x " + long) {
		if len("// "+line) > docWidth {
			t.Errorf("line %q is longer than %d", line, docWidth)
		}
	}
}
