package templates

import (
	"bytes"
	"errors"
	"fmt"
	"go/build/constraint"
	"go/format"
	"go/types"
	"path"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/dave/jennifer/jen"

	"github.com/futuresgen/futuresgen/generator"
)

// RuntimePath is the import path of the runtime whose types the generated
// wrappers take and return (Executor, Future, MapOption).
const RuntimePath = "github.com/futuresgen/futuresgen/runtime"

// ImplPath is the import path of the package the generated code calls to
// register, submit and map its tasks, and whose version guard it names.
const ImplPath = RuntimePath + "/futuresimpl"

// guard is the version guard's constant in ImplPath: a generated file
// that names one its futuresimpl lacks fails to compile there first.
const guard = "SupportPackageIsVersion3"

// Header is the first line of every generated file. futuresgen replaces or
// removes only files that start with it.
const Header = generator.Header

// File returns the generated file gf of pkg. gf must have at least one
// task or one error to register.
func File(pkg *generator.Package, gf *generator.File) *jen.File {
	f, _ := build(pkg, gf, false)
	return f
}

// build writes the file. With split, it puts splitMarker between the
// prologue and runs of tasks' declarations, builds those runs
// concurrently, and returns the doc comments of each run's declarations
// instead of writing them.
func build(pkg *generator.Package, gf *generator.File, split bool) (*jen.File, [][][]string) {
	w := newWriter(pkg, gf)
	f := w.f
	f.HeaderComment(Header + "\n\n" + BuildLine(gf.Constraint))

	what := "the typed wrappers and the dispatch table of the tasks of package %s (its functions marked futures:task)"
	if len(gf.Tasks) == 0 {
		what = "the registration of the errors of package %s"
	}
	about := "This file holds " + fmt.Sprintf(what, pkg.Name)
	if gf.Constraint != "" {
		about += fmt.Sprintf(" that are declared in files built only where %q holds, and is built under the same constraint", gf.Constraint)
	}
	about += "."
	if len(gf.Sentinels)+len(gf.ErrorTypes) > 0 && len(gf.Tasks) > 0 {
		about += " It registers the package's errors too, so that they keep their identity across a process boundary."
	}
	w.doc(about + " Re-run \"go\u00a0generate\" after changing a task; \"futuresgen\u00a0-check\" tells whether this file is fresh.")
	f.Line()
	f.Comment("If this line fails to compile, the futuresgen runtime in go.mod is not the")
	f.Comment("one this file was generated for: re-run \"go generate\".")
	f.Const().Id("_").Op("=").Qual(ImplPath, guard)
	w.dispatch(gf.Tasks, split)

	// Each task's own declarations, in runs that build concurrently: a
	// writer's methods only read the model, and each run writes into a
	// group of its own; imports are resolved when the file renders.
	runs := chunks(gf.Tasks, split)
	groups := make([]*jen.Group, len(runs))
	docs := make([][][]string, len(runs))
	parallel(len(runs), func(i int) {
		cw := *w
		cw.out = jen.NewFile(pkg.Name).Group
		if split {
			cw.docs = &docs[i]
		}
		for _, t := range runs[i] {
			cw.structs(t)
			cw.submit(t)
			cw.mapFn(t)
			cw.run(t)
		}
		groups[i] = cw.out
	})
	for _, g := range groups {
		if split {
			f.Comment(splitMarker)
		}
		f.Add(g)
	}
	return f, docs
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

// Render returns the formatted source of File(pkg, gf). Formatting
// (go/format) is most of the cost of a large file, so Render formats the
// file's prologue and its runs of tasks apart and concurrently, as
// top-level declarations format alike alone or together, and puts the
// doc comments of the tasks' declarations in afterwards, which gofmt
// leaves as they are: half the bytes it would otherwise read and print.
func Render(pkg *generator.Package, gf *generator.File) ([]byte, error) {
	f, docs := build(pkg, gf, true)
	f.NoFormat = true
	var raw bytes.Buffer
	if err := f.Render(&raw); err != nil {
		return nil, fmt.Errorf("rendering the generated file of %s: %w", pkg.PkgPath, err)
	}
	parts := bytes.Split(raw.Bytes(), []byte(splitMarker+"\n"))
	errs := make([]error, len(parts))
	prologue := len(parts) - len(docs) // the parts before the runs of tasks
	parallel(len(parts), func(i int) {
		var err error
		parts[i], err = format.Source(parts[i])
		if err == nil && i >= prologue {
			parts[i], err = insertDocs(parts[i], docs[i-prologue])
		}
		parts[i], errs[i] = bytes.TrimSpace(parts[i]), err
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("formatting the generated file of %s: %w", pkg.PkgPath, err)
	}
	// Each part starts with a declaration's doc comment, or the init
	// function after the dispatch table's variables; gofmt leaves one
	// blank line before each.
	return append(bytes.Join(parts, []byte("\n\n")), '\n'), nil
}

// splitMarker is the line between the parts of a file that Render formats
// apart. It cannot occur in generated code otherwise: user text reaches
// the file only in names and quoted strings.
const splitMarker = "//futuresgen:split"

// tasksPerRun is how many tasks' declarations build and format as one
// piece of work: enough to keep the overhead of a goroutine small.
const tasksPerRun = 16

// chunks splits tasks into runs of tasksPerRun, or returns them as one
// run when not split.
func chunks(tasks []*generator.Task, split bool) [][]*generator.Task {
	if len(tasks) == 0 {
		return nil
	}
	if !split {
		return [][]*generator.Task{tasks}
	}
	var runs [][]*generator.Task
	for len(tasks) > tasksPerRun {
		runs = append(runs, tasks[:tasksPerRun])
		tasks = tasks[tasksPerRun:]
	}
	return append(runs, tasks)
}

// parallel runs fn(0) … fn(n-1) on up to GOMAXPROCS goroutines and waits
// for them.
func parallel(n int, fn func(i int)) {
	workers := min(n, goruntime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// writer renders one package's file.
type writer struct {
	pkg  *generator.Package
	gf   *generator.File
	f    *jen.File
	out  *jen.Group  // where declarations go: the file, or a run of them
	docs *[][]string // if set, where doc comments go instead of out
	rt   string      // the runtime's import alias
	impl string      // futuresimpl's import alias
}

func newWriter(pkg *generator.Package, gf *generator.File) *writer {
	f := jen.NewFilePathName(pkg.PkgPath, pkg.Name)
	w := &writer{pkg: pkg, gf: gf, f: f, out: f.Group}
	// Every import gets a name that no package-level name of the user's
	// package shadows: the runtime is always "futuresrt" (a user package
	// may itself be named runtime, and jennifer would otherwise rename
	// one of the two depending on which it meets first), and futuresimpl
	// "futuresimpl"; the others keep their own names unless taken. An import is written plain where its
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
	w.impl = pick(ImplPath, "futuresimpl", true)
	pick("context", "context", false)
	pick("iter", "iter", false)
	for _, p := range referenced(pkg.PkgPath, gf.Tasks) {
		pick(p.Path(), p.Name(), false)
	}
	for _, s := range gf.Sentinels {
		if p := s.Var.Pkg(); p.Path() != pkg.PkgPath {
			pick(p.Path(), p.Name(), false)
		}
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
