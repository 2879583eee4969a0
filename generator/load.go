package generator

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"
)

// BuildTag is set while loading packages. Generated files carry
// "//go:build !futuresgen", so a stale or broken generated file never
// stops its package from being loaded and regenerated.
const BuildTag = "futuresgen"

// Config says where and how to load packages.
type Config struct {
	// Dir is the directory in which patterns are resolved; "" means the
	// current directory.
	Dir string
	// Tags are extra build tags, as for "go build -tags".
	Tags []string
	// Env is the environment of the go command; nil means os.Environ().
	Env []string
}

// Loaded is what Load found.
type Loaded struct {
	// Packages are the packages matched, with or without tasks, sorted by
	// import path.
	Packages []*Package
	// Warnings did not stop generation: the package's own code does not
	// type-check (it calls a SubmitX that is no longer generated, say).
	Warnings []Diagnostic
}

// Load loads the packages matched by patterns, finds their
// //futures:task functions and checks them. It returns Errors listing
// every problem with a task, in position order, or another error when the
// packages cannot be loaded at all. Type errors outside task signatures
// become warnings: the package's code may call the SubmitX that this run
// is about to generate.
func Load(cfg Config, patterns ...string) (*Loaded, error) {
	if len(patterns) == 0 {
		patterns = []string{"."}
	}
	tags := append([]string{BuildTag}, cfg.Tags...)
	pcfg := &packages.Config{
		Mode:       packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:        cfg.Dir,
		Env:        cfg.Env,
		BuildFlags: []string{"-tags=" + strings.Join(tags, ",")},
	}
	pkgs, err := packages.Load(pcfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", strings.Join(patterns, " "), err)
	}
	if len(pkgs) == 0 {
		return nil, explainNoPackages(pcfg, patterns)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].PkgPath < pkgs[j].PkgPath })

	res := &Loaded{}
	var errs Errors
	for _, p := range pkgs {
		pkg, perrs, warns, fatal := loadPackage(p)
		if fatal != nil {
			return nil, fatal
		}
		errs = append(errs, perrs...)
		res.Warnings = append(res.Warnings, warns...)
		if pkg != nil {
			res.Packages = append(res.Packages, pkg)
		}
	}
	if len(errs) > 0 {
		sortDiagnostics(errs)
		return nil, errs
	}
	sortDiagnostics(res.Warnings)
	return res, nil
}

// loadPackage builds the model of one loaded package. fatal is set when
// the package could not be loaded or parsed.
func loadPackage(p *packages.Package) (pkg *Package, errs, warns []Diagnostic, fatal error) {
	var typeErrs, otherErrs []packages.Error
	for _, e := range p.Errors {
		if e.Kind == packages.TypeError {
			typeErrs = append(typeErrs, e)
		} else {
			otherErrs = append(otherErrs, e)
		}
	}
	for _, e := range otherErrs {
		// The go command compiles the package for export data and reports
		// its compile errors as "# <pkg>\n<errors>"; the type checker
		// reports the same errors with positions, handled below.
		if len(typeErrs) > 0 && strings.HasPrefix(e.Msg, "# ") {
			continue
		}
		return nil, nil, nil, fmt.Errorf("%s", e)
	}
	if len(p.GoFiles) == 0 || p.Types == nil {
		return nil, nil, nil, nil
	}
	pkg = &Package{
		Name:     p.Name,
		PkgPath:  p.PkgPath,
		Dir:      filepath.Dir(p.GoFiles[0]),
		Types:    p.Types,
		Declared: map[string]bool{},
	}
	for _, name := range p.Types.Scope().Names() {
		pkg.Declared[name] = true
	}
	l := &loader{pkg: pkg, p: p, fset: p.Fset, typeErrs: typeErrs}
	for _, f := range p.Syntax {
		l.file(f)
	}
	l.testFiles()
	l.checkNames()

	// Type errors inside a task's signature stop generation; the others
	// are warnings, except "undefined" for a name this run generates.
	generated := map[string]bool{}
	for _, t := range pkg.Tasks {
		for _, n := range []string{t.SubmitName, t.MapName, t.ArgsName, t.ResultName} {
			generated[n] = true
		}
	}
	for _, e := range typeErrs {
		pos := parsePos(e.Pos)
		if l.inSignature(pos) {
			continue // reported by the task's check as an invalid type
		}
		if name, ok := strings.CutPrefix(e.Msg, "undefined: "); ok && generated[name] {
			continue
		}
		warns = append(warns, Diagnostic{pos, e.Msg + " (the package does not type-check without its generated file; generation went on)"})
	}
	sort.Slice(pkg.Tasks, func(i, j int) bool { return pkg.Tasks[i].Func < pkg.Tasks[j].Func })
	return pkg, l.errs, warns, nil
}

// parsePos reads "file:line:col" as go/packages reports it.
func parsePos(s string) token.Position {
	var pos token.Position
	parts := strings.Split(s, ":")
	if len(parts) >= 3 {
		fmt.Sscan(parts[len(parts)-1], &pos.Column)
		fmt.Sscan(parts[len(parts)-2], &pos.Line)
		pos.Filename = strings.Join(parts[:len(parts)-2], ":")
	} else {
		pos.Filename = s
	}
	return pos
}

type loader struct {
	pkg      *Package
	p        *packages.Package
	fset     *token.FileSet
	qual     types.Qualifier // how the file being read names other packages
	errs     []Diagnostic
	sigs     []span // the signatures of the tasks, for type errors
	typeErrs []packages.Error
}

// why returns the type checker's first complaint within s, for an error
// about an invalid type there, or "".
func (l *loader) why(s span) string {
	for _, e := range l.typeErrs {
		pos := parsePos(e.Pos)
		if sameFile(s.start.Filename, pos.Filename) && !before(pos, s.start) && !before(s.end, pos) {
			return " (" + e.Msg + ")"
		}
	}
	return ""
}

type span struct{ start, end token.Position }

func (l *loader) errorf(pos token.Pos, format string, args ...any) {
	l.errs = append(l.errs, Diagnostic{l.fset.Position(pos), fmt.Sprintf(format, args...)})
}

func (l *loader) inSignature(pos token.Position) bool {
	for _, s := range l.sigs {
		if sameFile(s.start.Filename, pos.Filename) && !before(pos, s.start) && !before(s.end, pos) {
			return true
		}
	}
	return false
}

func before(a, b token.Position) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ia, err1 := os.Stat(a)
	ib, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ia, ib)
}

// file finds the directives of one file: on functions, and misplaced.
func (l *loader) file(f *ast.File) {
	l.qual = fileQualifier(f, l.pkg.Types)
	onFunc := map[*ast.Comment]bool{}
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Doc == nil {
			continue
		}
		var found *ast.Comment
		var dir Directive
		for _, c := range fd.Doc.List {
			onFunc[c] = true
			d, kind, err := ParseDirective(c.Text)
			switch {
			case kind == NotDirective:
				continue
			case err != nil:
				l.errorf(c.Slash, "futures:task %s: %v", fd.Name.Name, err)
			case found != nil:
				l.errorf(c.Slash, "futures:task %s: a second %s directive; give one", fd.Name.Name, Marker)
			}
			if kind == IsDirective && found == nil {
				found, dir = c, d
			}
		}
		if found != nil {
			l.task(fd, dir)
		}
	}
	for _, g := range f.Comments {
		for _, c := range g.List {
			if onFunc[c] {
				continue
			}
			if _, kind, _ := ParseDirective(c.Text); kind == IsDirective {
				l.errorf(c.Slash, "%s must be in the doc comment of a function (directly above func, with no blank line)", Marker)
			}
		}
	}
}

// testFiles reports directives in the package's _test.go files: a
// generated file cannot refer to test functions, and worker processes of
// a test binary find tasks through non-test code only.
func (l *loader) testFiles() {
	matches, _ := filepath.Glob(filepath.Join(l.pkg.Dir, "*_test.go"))
	for _, name := range matches {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			continue // the go command reports it when the tests build
		}
		for _, g := range f.Comments {
			for _, c := range g.List {
				if _, kind, _ := ParseDirective(c.Text); kind == IsDirective {
					l.errs = append(l.errs, Diagnostic{fset.Position(c.Slash),
						Marker + " in a _test.go file: tasks must be declared in the package's non-test files, where the generated dispatch table can refer to them"})
				}
			}
		}
	}
}

// task checks one annotated function and adds it to the model.
func (l *loader) task(fd *ast.FuncDecl, dir Directive) {
	name := fd.Name.Name
	at := fd.Name.Pos()
	if fd.Recv != nil {
		l.errorf(at, "futures:task %s: a method cannot be a task; make it a function that takes the receiver as a parameter", name)
		return
	}
	if fd.Type.TypeParams != nil && len(fd.Type.TypeParams.List) > 0 {
		l.errorf(at, "futures:task %s: a generic function cannot be a task; write a non-generic function for each type argument", name)
		return
	}
	if name == "main" || name == "init" || name == "_" {
		l.errorf(at, "futures:task %s: %s cannot be a task", name, name)
		return
	}
	obj, _ := l.p.TypesInfo.Defs[fd.Name].(*types.Func)
	if obj == nil {
		l.errorf(at, "futures:task %s: the function did not type-check", name)
		return
	}
	sigSpan := span{l.fset.Position(fd.Type.Pos()), l.fset.Position(fd.Type.End())}
	l.sigs = append(l.sigs, sigSpan)
	sig := obj.Type().(*types.Signature)

	t := &Task{
		Func:      name,
		Name:      dir.Name,
		Local:     dir.Local,
		Pos:       l.fset.Position(at),
		Signature: sig,
		Variadic:  sig.Variadic(),
	}
	if t.Name == "" {
		t.Name = l.pkg.PkgPath + "." + name
	}
	ok := true
	// param returns the position of parameter (or result) i in the
	// source and its type as written there.
	param := func(list *ast.FieldList, i int) (token.Pos, string) {
		if list == nil {
			return at, ""
		}
		n := 0
		for _, f := range list.List {
			k := max(1, len(f.Names))
			if i < n+k {
				if len(f.Names) > 0 {
					return f.Names[i-n].Pos(), types.ExprString(f.Type)
				}
				return f.Type.Pos(), types.ExprString(f.Type)
			}
			n += k
		}
		return at, ""
	}
	paramPos := func(list *ast.FieldList, i int) token.Pos {
		pos, _ := param(list, i)
		return pos
	}

	params := sig.Params()
	fields := map[string]bool{}
	for i := range params.Len() {
		v := params.At(i)
		pos, written := param(fd.Type.Params, i)
		if i == 0 && isContext(v.Type()) {
			t.Context = true
			continue
		}
		idx := len(t.Params)
		p := Param{Name: v.Name(), Type: v.Type()}
		if p.Name == "" || p.Name == "_" {
			p.Name = fmt.Sprintf("p%d", idx)
		}
		p.Field = fieldName(p.Name)
		if !token.IsExported(p.Field) {
			p.Field = fmt.Sprintf("P%d", idx)
		}
		label := fmt.Sprintf("parameter %s", v.Name())
		if v.Name() == "" || v.Name() == "_" {
			label = fmt.Sprintf("parameter %d", i+1)
		}
		switch {
		case isInvalid(v.Type()):
			l.errorf(pos, "futures:task %s: %s has an invalid type%s", name, label, l.why(sigSpan))
			ok = false
			continue
		case isContext(v.Type()):
			l.errorf(pos, "futures:task %s: %s: a context.Context must be the first parameter", name, label)
			ok = false
			continue
		}
		if fields[p.Field] {
			l.errorf(pos, "futures:task %s: %s gives the field %s twice in %s; rename one parameter", name, label, p.Field, argsName(name))
			ok = false
		}
		fields[p.Field] = true
		if !dir.Local {
			if why := crossProblem(v.Type(), l.qual); why != "" {
				l.errorf(pos, "futures:task %s: %s (%s) cannot cross a process boundary: %s; add \"local\" to the directive to run it in-process only", name, label, written, why)
				ok = false
			}
		}
		t.Params = append(t.Params, p)
	}

	results := sig.Results()
	n := results.Len()
	if n > 0 && isError(results.At(n-1).Type()) {
		t.HasError = true
		n--
	}
	for i := range n {
		v := results.At(i)
		pos, written := param(fd.Type.Results, i)
		r := Result{Field: fieldName(v.Name()), Type: v.Type()}
		if v.Name() == "" || v.Name() == "_" || !token.IsExported(r.Field) {
			r.Field = fmt.Sprintf("R%d", i)
		}
		label := fmt.Sprintf("result %d (%s)", i+1, written)
		switch {
		case isInvalid(v.Type()):
			l.errorf(pos, "futures:task %s: result %d has an invalid type%s", name, i+1, l.why(sigSpan))
			ok = false
			continue
		case isError(v.Type()):
			l.errorf(pos, "futures:task %s: %s: an error result must be the last result", name, label)
			ok = false
			continue
		}
		if !dir.Local {
			if why := crossProblem(v.Type(), l.qual); why != "" {
				l.errorf(pos, "futures:task %s: %s cannot cross a process boundary: %s; add \"local\" to the directive to run it in-process only", name, label, why)
				ok = false
			}
		}
		t.Results = append(t.Results, r)
	}
	if n >= 2 {
		seen := map[string]bool{}
		for i, r := range t.Results {
			if seen[r.Field] {
				l.errorf(paramPos(fd.Type.Results, i), "futures:task %s: two results give the field %s in %s; rename one", name, r.Field, resultName(name))
				ok = false
			}
			seen[r.Field] = true
		}
	}

	// The generated names.
	if token.IsExported(name) {
		t.SubmitName = "Submit" + name
		if len(t.Params) > 0 {
			t.MapName = "Map" + name
		}
	} else {
		t.SubmitName = "submit" + upperFirst(name)
		if len(t.Params) > 0 {
			t.MapName = "map" + upperFirst(name)
		}
	}
	if len(t.Params) >= 2 {
		t.ArgsName = argsName(name)
	}
	if len(t.Results) >= 2 {
		t.ResultName = resultName(name)
	}
	t.VarName = "futuresTask_" + name
	if ok {
		l.pkg.Tasks = append(l.pkg.Tasks, t)
	}
}

func argsName(fn string) string   { return fn + "Args" }
func resultName(fn string) string { return fn + "Result" }

// checkNames reports generated names that collide with the package's own
// declarations or with each other, and stable names given twice.
func (l *loader) checkNames() {
	owner := map[string]*Task{}
	stable := map[string]*Task{}
	scope := l.pkg.Types.Scope()
	var keep []*Task
	for _, t := range l.pkg.Tasks {
		ok := true
		for _, n := range []string{t.SubmitName, t.MapName, t.ArgsName, t.ResultName, t.VarName} {
			if n == "" {
				continue
			}
			if obj := scope.Lookup(n); obj != nil {
				l.errs = append(l.errs, Diagnostic{t.Pos, fmt.Sprintf("futures:task %s: the generated %s would collide with the %s declared at %s; rename one", t.Func, n, n, posString(l.fset.Position(obj.Pos())))})
				ok = false
			} else if other := owner[n]; other != nil {
				l.errs = append(l.errs, Diagnostic{t.Pos, fmt.Sprintf("futures:task %s: the generated %s would collide with the one generated for task %s; rename one", t.Func, n, other.Func)})
				ok = false
			}
			owner[n] = t
		}
		if other := stable[t.Name]; other != nil {
			l.errs = append(l.errs, Diagnostic{t.Pos, fmt.Sprintf("futures:task %s: the task name %q is already the name of task %s at %s; give one a different name=", t.Func, t.Name, other.Func, posString(other.Pos))})
			ok = false
		}
		stable[t.Name] = t
		if ok {
			keep = append(keep, t)
		}
	}
	l.pkg.Tasks = keep
}

func upperFirst(s string) string {
	for i, r := range s {
		return strings.ToUpper(string(r)) + s[i+len(string(r)):]
	}
	return s
}

func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	o := n.Obj()
	return o.Pkg() != nil && o.Pkg().Path() == "context" && o.Name() == "Context"
}

var errorType = types.Universe.Lookup("error").Type()

func isError(t types.Type) bool { return types.Identical(t, errorType) }

func isInvalid(t types.Type) bool {
	b, ok := t.(*types.Basic)
	return ok && b.Kind() == types.Invalid
}

// fileQualifier names packages as file f does: by the name it imports
// them under, the package's own name otherwise, and pkg itself unqualified.
func fileQualifier(f *ast.File, pkg *types.Package) types.Qualifier {
	local := map[string]string{}
	for _, imp := range f.Imports {
		if imp.Name != nil {
			if path, err := strconv.Unquote(imp.Path.Value); err == nil {
				local[path] = imp.Name.Name
			}
		}
	}
	return func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		switch name := local[p.Path()]; name {
		case "", "_":
			return p.Name()
		case ".":
			return ""
		default:
			return name
		}
	}
}

// explainNoPackages finds out why go/packages found nothing: it drops the
// go command's own complaint (a go.mod that needs updating, say), so ask
// the go command directly.
func explainNoPackages(cfg *packages.Config, patterns []string) error {
	args := append([]string{"list"}, cfg.BuildFlags...)
	args = append(args, "--")
	args = append(args, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	out, err := cmd.CombinedOutput()
	if err != nil && len(bytes.TrimSpace(out)) > 0 {
		return fmt.Errorf("go list %s: %s", strings.Join(patterns, " "), bytes.TrimSpace(out))
	}
	return fmt.Errorf("no packages match %s", strings.Join(patterns, " "))
}
