package generator

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// pkgScan is one package on its way to the model: its Go files for every
// platform, and its tasks grouped by the build constraint of their files.
type pkgScan struct {
	path, name, dir string
	ignored         []*srcFile                 // the Go files that load did not build
	groups          map[string]*group          // by constraint text; "" for files built everywhere
	views           []*view                    // the loads the tasks were read from
	decls           map[string][]site          // package-level names and where they are declared
	fileX           map[string]constraint.Expr // the constraint of each Go file of the package, by path
	errRegs         map[string]*errorRegs      // the errors to register, by constraint text
	errs            []Diagnostic
	warns           []Diagnostic
}

// srcFile is a Go file that the first load did not build.
type srcFile struct {
	path     string
	data     []byte
	mentions bool // it mentions futures: (a directive, or a near miss)
}

// group is the tasks of the files with one build constraint.
type group struct {
	key      string // the constraint's canonical text
	expr     constraint.Expr
	files    []string  // the files with that constraint that the first load did not build
	mentions bool      // one of files mentions tasks; the others only hold errors
	plat     *platform // where the tasks were type-checked; nil: in the first load
	view     *view
	tasks    []*Task
}

// view is one load of the package: the first one, or one for another
// platform; only the tasks of files in groups were read from it.
type view struct {
	p        *packages.Package
	plat     *platform
	l        *loader
	typeErrs []packages.Error
	files    map[string]bool // the files read; nil for all of them
}

// reads reports whether the tasks and errors of the file at path are read
// from v.
func (v *view) reads(path string) bool { return v.files == nil || v.files[path] }

// site is where a package-level name is declared, and under which build
// constraint.
type site struct {
	pos  token.Position
	expr constraint.Expr
}

// scan reads the tasks of p as the first load built it and finds the
// package's other files. It returns nil for a package without Go files,
// and an error for one that could not be loaded.
func (r *run) scan(p *packages.Package) (*pkgScan, error) {
	typeErrs, otherErrs := splitErrors(p)
	excluded := false // named explicitly, though no file is built here
	for _, e := range otherErrs {
		if len(p.GoFiles) == 0 && len(p.IgnoredFiles) > 0 && strings.Contains(e.Msg, "build constraints exclude all Go files") {
			excluded = true
			continue
		}
		return nil, fmt.Errorf("%s", e)
	}
	if !excluded && (len(p.GoFiles) == 0 || p.Types == nil) {
		return nil, nil
	}
	s := &pkgScan{path: p.PkgPath, name: p.Name, dir: p.Dir, groups: map[string]*group{}, decls: map[string][]site{},
		fileX: map[string]constraint.Expr{}, errRegs: map[string]*errorRegs{}}
	if s.dir == "" && len(p.GoFiles) > 0 {
		s.dir = filepath.Dir(p.GoFiles[0])
	} else if s.dir == "" {
		s.dir = filepath.Dir(p.IgnoredFiles[0])
	}
	if !excluded {
		if err := s.readHere(r, p, typeErrs); err != nil {
			return nil, err
		}
	}
	s.findIgnored(p)
	if len(s.groups) > 0 || slices.ContainsFunc(s.ignored, func(f *srcFile) bool { return f.mentions }) {
		s.parseIgnored(r)
		if !excluded {
			s.readErrors(s.views[0])
		}
	}
	s.testFiles()
	return s, nil
}

// readHere reads the tasks of every file of the first load.
func (s *pkgScan) readHere(r *run, p *packages.Package, typeErrs []packages.Error) error {
	v := &view{p: p, l: newLoader(p, typeErrs), typeErrs: typeErrs}
	s.views = append(s.views, v)
	for _, sf := range syntaxFiles(p) {
		f, path, cgo := sf.f, sf.path, sf.cgo
		// cgo rewrites the files that import "C"; read the original's
		// header.
		header := f
		if cgo {
			var err error
			if header, err = parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments); err != nil {
				return err
			}
		}
		x, err := fileConstraint(path, header, cgo)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		s.declare(f, p.Fset, x)
		s.fileX[path] = x
		if tasks := v.l.file(f); len(tasks) > 0 {
			g := s.group(x)
			g.view = v
			g.tasks = append(g.tasks, tasks...)
		}
	}
	return nil
}

// splitErrors returns p's type errors, and its other errors but the one
// that repeats the type errors: the go command compiles the package for
// export data and reports its compile errors as "# <pkg>\n<errors>",
// which the type checker reports with positions.
func splitErrors(p *packages.Package) (typeErrs, others []packages.Error) {
	for _, e := range p.Errors {
		if e.Kind == packages.TypeError {
			typeErrs = append(typeErrs, e)
		}
	}
	for _, e := range p.Errors {
		if e.Kind != packages.TypeError && !(len(typeErrs) > 0 && strings.HasPrefix(e.Msg, "# ")) {
			others = append(others, e)
		}
	}
	return typeErrs, others
}

// syntaxFile is one of a package's Go files as a load parsed it.
type syntaxFile struct {
	f    *ast.File
	path string // the file in the package's directory
	cgo  bool   // f is cgo's rewrite of the file at path
}

// syntaxFiles pairs p's syntax trees with its Go files. cgo rewrites the
// files that import "C" into files of its own, whose line directives name
// the original; cgo's other files are left out.
func syntaxFiles(p *packages.Package) []syntaxFile {
	goFiles := map[string]bool{}
	for _, f := range p.GoFiles {
		goFiles[f] = true
	}
	var out []syntaxFile
	for _, f := range p.Syntax {
		if name := p.Fset.File(f.Pos()).Name(); goFiles[name] {
			out = append(out, syntaxFile{f, name, false})
		} else if orig := p.Fset.Position(f.Package).Filename; goFiles[orig] {
			out = append(out, syntaxFile{f, orig, true})
		}
	}
	return out
}

// group returns the group of the tasks under constraint x, made on first
// use.
func (s *pkgScan) group(x constraint.Expr) *group {
	key := constraintText(x)
	g := s.groups[key]
	if g == nil {
		g = &group{key: key, expr: x}
		s.groups[key] = g
	}
	return g
}

// findIgnored lists the package's Go files that the first load did not
// build, other than tests, generated files and files go never builds.
func (s *pkgScan) findIgnored(p *packages.Package) {
	for _, path := range p.IgnoredFiles {
		base := filepath.Base(path)
		if !strings.HasSuffix(base, ".go") || strings.HasSuffix(base, "_test.go") ||
			strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") {
			continue
		}
		if isGenerated(path) {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lower := bytes.ToLower(data)
		s.ignored = append(s.ignored, &srcFile{
			path:     path,
			data:     data,
			mentions: bytes.Contains(lower, []byte("futures:")) || bytes.Contains(lower, []byte("futures :")),
		})
	}
}

// isGenerated reports whether the file at path starts with Header,
// reading no more of it.
func isGenerated(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(Header)+1)
	_, err = io.ReadFull(f, buf)
	return err == nil && string(buf) == Header+"\n"
}

// parseIgnored parses the files the first load did not build, for the
// names they declare and the constraints of those that mention tasks.
// Files of another package (a "//go:build ignore" program, say) and files
// that do not parse are left to the go command.
func (s *pkgScan) parseIgnored(r *run) {
	files := make([]*ast.File, len(s.ignored))
	for i, sf := range s.ignored {
		if f, err := parser.ParseFile(r.fset, sf.path, sf.data, parser.ParseComments|parser.SkipObjectResolution); err == nil {
			files[i] = f
			// No file is built here: the package is the one the first
			// file with tasks declares.
			if s.name == "" && sf.mentions {
				s.name = f.Name.Name
			}
		}
	}
	for i, sf := range s.ignored {
		f := files[i]
		if f == nil || f.Name.Name != s.name {
			continue
		}
		x, err := fileConstraint(sf.path, f, false)
		if err != nil {
			continue
		}
		s.declare(f, r.fset, x)
		s.fileX[sf.path] = x
		if sf.mentions || mayHoldErrors(f) {
			g := s.group(x)
			g.files = append(g.files, sf.path)
			g.mentions = g.mentions || sf.mentions
		}
	}
}

// declare records the package-level names that f declares under x.
func (s *pkgScan) declare(f *ast.File, fset *token.FileSet, x constraint.Expr) {
	add := func(id *ast.Ident) {
		if id.Name != "_" {
			s.decls[id.Name] = append(s.decls[id.Name], site{fset.Position(id.Pos()), x})
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name != "init" {
				add(d.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					add(spec.Name)
				case *ast.ValueSpec:
					for _, id := range spec.Names {
						add(id)
					}
				}
			}
		}
	}
}

// elsewhere returns the groups whose files the first load did not build,
// sorted by constraint.
func (s *pkgScan) elsewhere() []*group {
	var out []*group
	for _, g := range s.groups {
		if g.view == nil && len(g.files) > 0 {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// readElsewhere reads the tasks of g's files from p, the package as
// loaded for g.plat.
func (s *pkgScan) readElsewhere(r *run, g *group, p *packages.Package) {
	note := " (checked for " + g.plat.String() + ")"
	fail := func(format string, args ...any) {
		d := Diagnostic{token.Position{Filename: g.files[0]}, fmt.Sprintf(format, args...) + note}
		if !g.mentions {
			d.Msg = strings.Replace(d.Msg, "cannot check the tasks of this file", "cannot read the errors of this file; they are not registered", 1)
			s.warns = append(s.warns, d)
			return
		}
		s.errs = append(s.errs, d)
	}
	if p == nil {
		fail("futuresgen cannot check the tasks of this file: loading its package found nothing")
		return
	}
	typeErrs, otherErrs := splitErrors(p)
	if len(otherErrs) > 0 {
		fail("futuresgen cannot check the tasks of this file: %s", otherErrs[0])
		return
	}
	if s.name == "" {
		s.name = p.Name
	}
	want := map[string]bool{}
	for _, f := range g.files {
		want[f] = true
	}
	v := &view{p: p, plat: g.plat, l: newLoader(p, typeErrs), typeErrs: typeErrs, files: want}
	v.l.note = note
	s.views = append(s.views, v)
	g.view = v
	read := map[string]bool{}
	for _, sf := range syntaxFiles(p) {
		if want[sf.path] {
			read[sf.path] = true
			g.tasks = append(g.tasks, v.l.file(sf.f)...)
		}
	}
	for _, f := range g.files {
		if !read[f] {
			s.errs = append(s.errs, Diagnostic{token.Position{Filename: f},
				fmt.Sprintf("futuresgen cannot check the tasks of this file: its package, loaded for %s, does not build it", g.plat)})
		}
	}
	s.readErrors(v)
}

// model builds the package's model from its groups, and checks the names
// the generated files declare.
func (s *pkgScan) model(r *run) *Package {
	pkg := &Package{Name: s.name, PkgPath: s.path, Dir: s.dir, Declared: map[string]bool{}}
	for name := range s.decls {
		pkg.Declared[name] = true
	}
	pkg.Files = s.files()
	r.errs = append(r.errs, s.errs...)
	r.warns = append(r.warns, s.warns...)
	for _, v := range s.views {
		r.errs = append(r.errs, v.l.errs...)
	}
	s.checkNames(r)
	r.warns = append(r.warns, s.warnings()...)
	return pkg
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
