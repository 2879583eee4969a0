package generator

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"os"
	"strconv"
	"strings"

	"golang.org/x/tools/go/packages"
)

// loader reads the tasks of a package's files as one load type-checked
// them.
type loader struct {
	view     *packages.Package // the package as type-checked
	pkgPath  string
	fset     *token.FileSet
	qual     types.Qualifier // how the file being read names other packages
	errs     []Diagnostic
	sigs     []span // the signatures of the tasks, for type errors
	typeErrs []packages.Error
	note     string // added to every error: where the package was loaded
}

func newLoader(view *packages.Package, typeErrs []packages.Error) *loader {
	return &loader{view: view, pkgPath: view.PkgPath, fset: view.Fset, typeErrs: typeErrs}
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
	l.errs = append(l.errs, Diagnostic{l.fset.Position(pos), fmt.Sprintf(format, args...) + l.note})
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

// file returns the tasks of one file, and records what is wrong with
// them and with directives that are not on a function.
func (l *loader) file(f *ast.File) []*Task {
	l.qual = fileQualifier(f, l.view.Types)
	var tasks []*Task
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
			if t := l.task(fd, dir); t != nil {
				tasks = append(tasks, t)
			}
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
	return tasks
}

// task checks one annotated function and returns its model, or nil when
// it is wrong.
func (l *loader) task(fd *ast.FuncDecl, dir Directive) *Task {
	name := fd.Name.Name
	at := fd.Name.Pos()
	if fd.Recv != nil {
		l.errorf(at, "futures:task %s: a method cannot be a task; make it a function that takes the receiver as a parameter", name)
		return nil
	}
	if fd.Type.TypeParams != nil && len(fd.Type.TypeParams.List) > 0 {
		l.errorf(at, "futures:task %s: a generic function cannot be a task; write a non-generic function for each type argument", name)
		return nil
	}
	if name == "main" || name == "init" || name == "_" {
		l.errorf(at, "futures:task %s: %s cannot be a task", name, name)
		return nil
	}
	obj, _ := l.view.TypesInfo.Defs[fd.Name].(*types.Func)
	if obj == nil {
		l.errorf(at, "futures:task %s: the function did not type-check", name)
		return nil
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
		t.Name = l.pkgPath + "." + name
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
	t.RunName = "futuresRun_" + name
	if !ok {
		return nil
	}
	return t
}

func argsName(fn string) string   { return fn + "Args" }
func resultName(fn string) string { return fn + "Result" }

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
