package generator

import (
	"go/ast"
	"go/build/constraint"
	"go/constant"
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"
)

// A task's error keeps its identity across a process boundary when the
// worker and the caller both know it: the generated init of a package
// registers the errors its tasks are likely to return, each in the
// generated file of the build constraint under which it exists.
//
//   - its exported sentinels: var ErrX = errors.New(…), or fmt.Errorf(…)
//     without %w;
//   - its exported error types T (or *T, for a pointer receiver) whose
//     values gob can encode, a struct's one exported field of type error
//     (its cause, which crosses on its own) aside; generic types and
//     types that cannot be encoded are left out, and cross as text;
//   - the exported error variables of other packages that its code names
//     (fmt.Errorf("lookup: %w", sql.ErrNoRows)).

// errorRegs are the registrations of one build constraint.
type errorRegs struct {
	expr      constraint.Expr
	sentinels map[string]Sentinel
	types     map[string]ErrorType
}

// regs returns the registrations under x, made on first use.
func (s *pkgScan) regs(x constraint.Expr) *errorRegs {
	key := constraintText(x)
	r := s.errRegs[key]
	if r == nil {
		r = &errorRegs{expr: x, sentinels: map[string]Sentinel{}, types: map[string]ErrorType{}}
		s.errRegs[key] = r
	}
	return r
}

// readErrors finds the errors to register in the files v reads.
func (s *pkgScan) readErrors(v *view) {
	p := v.p
	if p.Types == nil || p.TypesInfo == nil {
		return
	}
	info := p.TypesInfo
	// at returns the constraint of the file of pos, if v reads that file.
	at := func(pos token.Pos) (constraint.Expr, bool) {
		name := p.Fset.Position(pos).Filename
		x, ok := s.fileX[name]
		return x, ok && v.reads(name)
	}

	// The package's sentinels.
	for _, sf := range syntaxFiles(p) {
		if !v.reads(sf.path) {
			continue
		}
		for _, d := range sf.f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if len(vs.Values) != len(vs.Names) {
					continue // var a, b = f(): not errors.New
				}
				for i, id := range vs.Names {
					obj, _ := info.Defs[id].(*types.Var)
					if obj == nil || !obj.Exported() || !isError(obj.Type()) || !isSentinelInit(info, vs.Values[i]) {
						continue
					}
					s.regs(s.fileX[sf.path]).sentinels[s.path+"."+obj.Name()] = Sentinel{Name: s.path + "." + obj.Name(), Var: obj}
				}
			}
		}
	}

	// The package's error types. A type is an error where the file of
	// its Error method is built, and exists where its own file is: it is
	// registered under both constraints, by the view that reads the
	// method's file.
	scope := p.Types.Scope()
	for _, name := range scope.Names() {
		tn, ok := scope.Lookup(name).(*types.TypeName)
		if !ok || !tn.Exported() || tn.IsAlias() {
			continue
		}
		named, ok := tn.Type().(*types.Named)
		if !ok || named.TypeParams().Len() > 0 {
			continue
		}
		ptr := types.NewPointer(named)
		byValue := types.Implements(named, errorIface)
		if !byValue && !types.Implements(ptr, errorIface) {
			continue
		}
		where := tn.Pos()
		if m, _, _ := types.LookupFieldOrMethod(ptr, false, p.Types, "Error"); m != nil && m.Pkg() == p.Types {
			where = m.Pos()
		}
		x, ok := at(where)
		if !ok || !errorTypeCrosses(named) {
			continue
		}
		if own, ok := s.fileX[p.Fset.Position(tn.Pos()).Filename]; ok && constraintText(own) != constraintText(x) {
			x = canonical(and(slices.DeleteFunc([]constraint.Expr{own, x}, func(e constraint.Expr) bool { return e == nil })...))
		}
		r := s.regs(x)
		full := s.path + "." + name
		if byValue {
			r.types[full] = ErrorType{Name: full, Type: named}
		}
		r.types["*"+full] = ErrorType{Name: "*" + full, Type: ptr}
	}

	// Other packages' sentinels that the code names.
	for id, obj := range info.Uses {
		vr, ok := obj.(*types.Var)
		if !ok || vr.Pkg() == nil || vr.Pkg() == p.Types || !vr.Exported() || !isError(vr.Type()) ||
			vr.Pkg().Scope().Lookup(vr.Name()) != vr || vr.Pkg().Path() == "C" {
			continue
		}
		if x, ok := at(id.Pos()); ok {
			name := vr.Pkg().Path() + "." + vr.Name()
			s.regs(x).sentinels[name] = Sentinel{Name: name, Var: vr}
		}
	}
}

var errorIface = errorType.Underlying().(*types.Interface)

// isSentinelInit reports whether e is errors.New(…), or fmt.Errorf(…)
// with a constant format that wraps nothing (no %w).
func isSentinelInit(info *types.Info, e ast.Expr) bool {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok {
		return false
	}
	var id *ast.Ident
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.SelectorExpr:
		id = fun.Sel
	case *ast.Ident: // a dot import
		id = fun
	default:
		return false
	}
	fn, ok := info.Uses[id].(*types.Func)
	if !ok || fn.Pkg() == nil {
		return false
	}
	switch fn.Pkg().Path() + "." + fn.Name() {
	case "errors.New":
		return true
	case "fmt.Errorf":
		if len(call.Args) == 0 {
			return false
		}
		tv, ok := info.Types[call.Args[0]]
		return ok && tv.Value != nil && tv.Value.Kind() == constant.String && !wraps(constant.StringVal(tv.Value))
	}
	return false
}

// wraps reports whether the fmt.Errorf format has a %w verb.
func wraps(format string) bool {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		// Skip flags, width, precision and argument indexes to the verb.
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[i]) >= 0; i++ {
		}
		if i < len(format) && format[i] == 'w' {
			return true
		}
	}
	return false
}

// errorTypeCrosses reports whether the values of the error type t can be
// encoded: t encodes itself, or it could cross as a task's argument once
// a struct's one exported field of type error (the cause, which crosses
// as an error of its own) is set aside. A struct with two such fields
// cannot be rebuilt.
func errorTypeCrosses(t *types.Named) bool {
	if encodesItself(t) {
		return true
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok {
		return crossProblem(t, nil) == ""
	}
	c := &crossChecker{seen: map[types.Type]bool{t: true}}
	causes := 0
	for i := range st.NumFields() {
		f := st.Field(i)
		switch {
		case f.Exported() && isError(f.Type()):
			causes++
		case !f.Exported() || c.check(f.Type(), f.Type(), "."+f.Name()) != "":
			return false
		}
	}
	return causes <= 1
}

// mayHoldErrors reports whether f, a file that the first load did not
// build, may declare or name errors to register: an exported variable
// set by a call of errors.New or fmt.Errorf, a method named Error, or a
// selector X.ErrY of an imported package (sentinels are named so, by
// convention). Such a file is type-checked on a platform that builds it,
// as a file with tasks is.
func mayHoldErrors(f *ast.File) bool {
	imported := map[string]string{} // the file's name for a package → its path
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := path[strings.LastIndexByte(path, '/')+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		imported[name] = path
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Recv != nil && n.Name.Name == "Error" {
				found = true
			}
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && imported[x.Name] != "" && imported[x.Name] != "C" {
				switch sel := n.Sel.Name; {
				case strings.HasPrefix(sel, "Err"):
					found = true
				case sel == "New" && imported[x.Name] == "errors", sel == "Errorf" && imported[x.Name] == "fmt":
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// files returns the package's files as the model wants them: one per
// constraint under which a task is declared or an error registered,
// sorted by Suffix, with the registrations of each. A package without
// tasks has none.
func (s *pkgScan) files() []*File {
	hasTasks := false
	for _, g := range s.groups {
		hasTasks = hasTasks || len(g.tasks) > 0
	}
	if !hasTasks {
		return nil
	}
	// What is registered everywhere is not registered again under a
	// constraint.
	if all := s.errRegs[""]; all != nil {
		for key, r := range s.errRegs {
			if key == "" {
				continue
			}
			for name := range all.sentinels {
				delete(r.sentinels, name)
			}
			for name := range all.types {
				delete(r.types, name)
			}
		}
	}
	var files []*File
	used := map[string]bool{}
	byKey := map[string]*File{}
	add := func(key string, x constraint.Expr, g *group) *File {
		f := &File{Constraint: key, Suffix: fileSuffix(x)}
		for base, i := f.Suffix, 2; used[f.Suffix]; i++ {
			f.Suffix = base + "-" + strconv.Itoa(i) // two constraints that read alike
		}
		used[f.Suffix] = true
		if g != nil && g.plat != nil {
			f.Platform = g.plat.String()
		}
		if g != nil && g.view != nil {
			f.Types = g.view.p.Types
		} else if len(s.views) > 0 {
			f.Types = s.views[0].p.Types
		}
		byKey[key] = f
		files = append(files, f)
		return f
	}
	for _, key := range sortedKeys(s.groups) {
		g := s.groups[key]
		if len(g.tasks) == 0 {
			continue
		}
		slices.SortFunc(g.tasks, func(a, b *Task) int { return strings.Compare(a.Func, b.Func) })
		add(key, g.expr, g).Tasks = g.tasks
	}
	for _, key := range sortedKeys(s.errRegs) {
		r := s.errRegs[key]
		if len(r.sentinels) == 0 && len(r.types) == 0 {
			continue
		}
		f := byKey[key]
		if f == nil {
			f = add(key, r.expr, s.groups[key])
		}
		for _, name := range sortedKeys(r.sentinels) {
			f.Sentinels = append(f.Sentinels, r.sentinels[name])
		}
		for _, t := range r.types {
			f.ErrorTypes = append(f.ErrorTypes, t)
		}
		// By type, T before *T.
		slices.SortFunc(f.ErrorTypes, func(a, b ErrorType) int {
			if c := strings.Compare(strings.TrimPrefix(a.Name, "*"), strings.TrimPrefix(b.Name, "*")); c != 0 {
				return c
			}
			return strings.Compare(b.Name, a.Name) // "T" > "*T"
		})
	}
	slices.SortFunc(files, func(a, b *File) int { return strings.Compare(a.Suffix, b.Suffix) })
	return files
}
