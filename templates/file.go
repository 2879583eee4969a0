package templates

import (
	"bytes"
	"fmt"
	"go/build/constraint"
	"go/types"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/dave/jennifer/jen"

	"github.com/futuresgen/futuresgen/generator"
)

// RuntimePath is the import path of the runtime the generated code calls.
const RuntimePath = "github.com/futuresgen/futuresgen/runtime"

// Header is the first line of every generated file. futuresgen replaces or
// removes only files that start with it.
const Header = generator.Header

// File returns the generated file gf of pkg. gf must have at least one
// task.
func File(pkg *generator.Package, gf *generator.File) *jen.File {
	w := newWriter(pkg, gf)
	f := w.f
	f.HeaderComment(Header + "\n\n" + BuildLine(gf.Constraint))

	about := fmt.Sprintf("This file holds the typed wrappers and the dispatch table of the tasks of package %s (its functions marked futures:task).", pkg.Name)
	if gf.Constraint != "" {
		about = fmt.Sprintf("This file holds the typed wrappers and the dispatch table of the tasks of package %s (its functions marked futures:task) that are declared in files built only where %q holds, and is built under the same constraint.", pkg.Name, gf.Constraint)
	}
	w.doc(about + ` Re-run "go generate" after changing a task; "futuresgen -check" tells whether this file is fresh.`)
	f.Line()
	f.Comment("If this line fails to compile, the futuresgen runtime in go.mod is not the")
	f.Comment("one this file was generated for: re-run \"go generate\".")
	f.Const().Id("_").Op("=").Qual(RuntimePath, "SupportPackageIsVersion1")
	f.Line()
	f.Comment("If a line below fails to compile, a task's signature changed after this")
	f.Comment("file was generated: re-run \"go generate\".")
	f.Var().DefsFunc(func(g *jen.Group) {
		for _, t := range gf.Tasks {
			g.Id("_").Add(w.signature(t.Signature)).Op("=").Id(t.Func)
		}
	})
	w.dispatch(gf.Tasks)
	for _, t := range gf.Tasks {
		w.structs(t)
		w.submit(t)
		w.mapFn(t)
	}
	return f
}

// BuildLine is the //go:build line of a generated file whose tasks are
// built where constraint holds ("" for everywhere): always
// !futuresgen, so that loading for generation never reads the file.
func BuildLine(constraintText string) string {
	var x constraint.Expr = &constraint.NotExpr{X: &constraint.TagExpr{Tag: generator.BuildTag}}
	if constraintText != "" {
		y, err := constraint.Parse("//go:build " + constraintText)
		if err != nil {
			panic(fmt.Sprintf("futuresgen: bad build constraint %q: %v", constraintText, err))
		}
		x = &constraint.AndExpr{X: x, Y: y}
	}
	return "//go:build " + x.String()
}

// Render returns the formatted source of File(pkg, gf).
func Render(pkg *generator.Package, gf *generator.File) ([]byte, error) {
	var buf bytes.Buffer
	if err := File(pkg, gf).Render(&buf); err != nil {
		return nil, fmt.Errorf("rendering the generated file of %s: %w", pkg.PkgPath, err)
	}
	return buf.Bytes(), nil
}

// writer renders one package's file.
type writer struct {
	pkg *generator.Package
	gf  *generator.File
	f   *jen.File
	rt  string // the runtime's import alias
}

func newWriter(pkg *generator.Package, gf *generator.File) *writer {
	f := jen.NewFilePathName(pkg.PkgPath, pkg.Name)
	w := &writer{pkg: pkg, gf: gf, f: f}
	// Every import gets a name that no package-level name of the user's
	// package shadows: the runtime is always "futuresrt" (a user package
	// may itself be named runtime, and jennifer would otherwise rename
	// one of the two depending on which it meets first); the others keep
	// their own names unless taken. An import is written plain where its
	// name is the one its path suggests, with an alias otherwise.
	used := map[string]bool{}
	picked := map[string]string{}
	pick := func(path, want string, alias bool) string {
		if name, ok := picked[path]; ok {
			return name
		}
		name := want
		for i := 1; w.pkg.Declared[name] || used[name]; i++ {
			name = fmt.Sprintf("%s%d", want, i)
		}
		used[name] = true
		picked[path] = name
		if alias || name != assumedName(path) {
			f.ImportAlias(path, name)
		} else {
			f.ImportName(path, name)
		}
		return name
	}
	w.rt = pick(RuntimePath, "futuresrt", true)
	pick("context", "context", false)
	pick("iter", "iter", false)
	for _, p := range referenced(pkg.PkgPath, gf.Tasks) {
		pick(p.Path(), p.Name(), false)
	}
	return w
}

// assumedName is the package name that tools (goimports, gopls) assume
// for an import path: its last element without a major-version suffix or
// a "go-" prefix, up to the first character that cannot be in a name.
// An import whose package has this name needs no alias.
func assumedName(importPath string) string {
	base := path.Base(importPath)
	if strings.HasPrefix(base, "v") {
		if _, err := strconv.Atoi(base[1:]); err == nil {
			if dir := path.Dir(importPath); dir != "." {
				base = path.Base(dir)
			}
		}
	}
	base = strings.TrimPrefix(base, "go-")
	if i := strings.IndexFunc(base, func(r rune) bool {
		return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r))
	}); i >= 0 {
		base = base[:i]
	}
	return base
}

// referenced returns the packages named in the tasks' types, other than
// the package at pkgPath itself, in a stable order.
func referenced(pkgPath string, tasks []*generator.Task) []*types.Package {
	seen := map[string]*types.Package{}
	var order []*types.Package
	var walk func(t types.Type)
	add := func(p *types.Package) {
		if p == nil || p.Path() == pkgPath || seen[p.Path()] != nil {
			return
		}
		seen[p.Path()] = p
		order = append(order, p)
	}
	visited := map[types.Type]bool{}
	walk = func(t types.Type) {
		if visited[t] {
			return
		}
		visited[t] = true
		switch t := t.(type) {
		case *types.Alias:
			add(t.Obj().Pkg())
			if args := t.TypeArgs(); args != nil {
				for i := range args.Len() {
					walk(args.At(i))
				}
			}
		case *types.Named:
			add(t.Obj().Pkg())
			if args := t.TypeArgs(); args != nil {
				for i := range args.Len() {
					walk(args.At(i))
				}
			}
		case *types.Basic:
			if t.Kind() == types.UnsafePointer {
				add(types.Unsafe)
			}
		case *types.Pointer:
			walk(t.Elem())
		case *types.Slice:
			walk(t.Elem())
		case *types.Array:
			walk(t.Elem())
		case *types.Map:
			walk(t.Key())
			walk(t.Elem())
		case *types.Chan:
			walk(t.Elem())
		case *types.Signature:
			for _, tup := range []*types.Tuple{t.Params(), t.Results()} {
				for i := range tup.Len() {
					walk(tup.At(i).Type())
				}
			}
		case *types.Struct:
			for i := range t.NumFields() {
				walk(t.Field(i).Type())
			}
		case *types.Interface:
			for i := range t.NumExplicitMethods() {
				walk(t.ExplicitMethod(i).Type())
			}
			for i := range t.NumEmbeddeds() {
				walk(t.EmbeddedType(i))
			}
		}
	}
	for _, t := range tasks {
		walk(t.Signature)
	}
	return order
}
