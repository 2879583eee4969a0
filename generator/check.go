package generator

import (
	"fmt"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
)

// groupTasks returns the package's tasks with the constraint of each, in
// the order of the generated files.
func (s *pkgScan) groupTasks() []placed {
	var out []placed
	for _, key := range sortedKeys(s.groups) {
		g := s.groups[key]
		for _, t := range g.tasks {
			out = append(out, placed{t, g.expr, s.path})
		}
	}
	return out
}

// placed is a task and the build constraint it is declared under.
type placed struct {
	t    *Task
	expr constraint.Expr
	pkg  string // the package's import path
}

// generatedNames returns the names a task's wrappers declare.
func generatedNames(t *Task) []string {
	var names []string
	for _, n := range []string{t.SubmitName, t.MapName, t.ArgsName, t.ResultName, t.VarName, t.RunName} {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// checkNames reports generated names that collide with the package's own
// declarations or with each other, wherever the two are built together:
// a task declared once for linux and once for darwin gets a SubmitX in
// each of two files that are never compiled together.
func (s *pkgScan) checkNames(r *run) {
	type owner struct {
		t    *Task
		expr constraint.Expr
	}
	owners := map[string][]owner{}
	for _, pt := range s.groupTasks() {
		t := pt.t
		for _, n := range generatedNames(t) {
			for _, d := range s.decls[n] {
				if r.coexist(pt.expr, d.expr) {
					r.errs = append(r.errs, Diagnostic{t.Pos, fmt.Sprintf("futures:task %s: the generated %s would collide with the %s declared at %s; rename one", t.Func, n, n, posString(d.pos))})
					break
				}
			}
			for _, o := range owners[n] {
				if r.coexist(pt.expr, o.expr) {
					r.errs = append(r.errs, Diagnostic{t.Pos, fmt.Sprintf("futures:task %s: the generated %s would collide with the one generated for task %s; rename one", t.Func, n, o.t.Func)})
					break
				}
			}
			owners[n] = append(owners[n], owner{t, pt.expr})
		}
	}
}

// checkStableNames reports a stable name that two tasks register under,
// in one package or in two of the packages loaded, unless their files are
// never built together.
func (r *run) checkStableNames(scans []*pkgScan) {
	seen := map[string][]placed{}
	for _, s := range scans {
		for _, pt := range s.groupTasks() {
			t := pt.t
			for _, o := range seen[t.Name] {
				if r.coexist(pt.expr, o.expr) {
					where := posString(o.t.Pos)
					if o.pkg != pt.pkg {
						where += " in package " + o.pkg
					}
					r.errs = append(r.errs, Diagnostic{t.Pos, fmt.Sprintf("futures:task %s: the task name %q is already the name of task %s at %s; give one a different name=", t.Func, t.Name, o.t.Func, where)})
					break
				}
			}
			seen[t.Name] = append(seen[t.Name], pt)
		}
	}
}

// coexist is the package-level coexist, remembered.
func (r *run) coexist(a, b constraint.Expr) bool {
	k := [2]string{constraintText(a), constraintText(b)}
	if k[0] > k[1] {
		k[0], k[1] = k[1], k[0]
	}
	ok, known := r.coexists[k]
	if !known {
		ok = coexist(a, b)
		r.coexists[k] = ok
	}
	return ok
}

// warnings returns the type errors of the package's loads that did not
// stop generation: those outside task signatures, except "undefined" for
// a name this run generates. From a load for another platform, only those
// in the files its tasks were read from.
func (s *pkgScan) warnings() []Diagnostic {
	generated := map[string]bool{}
	for _, pt := range s.groupTasks() {
		for _, n := range generatedNames(pt.t) {
			generated[n] = true
		}
	}
	var warns []Diagnostic
	for _, v := range s.views {
		for _, e := range v.typeErrs {
			pos := parsePos(e.Pos)
			if v.l.inSignature(pos) || v.files != nil && !v.files[pos.Filename] {
				continue
			}
			if name, ok := strings.CutPrefix(e.Msg, "undefined: "); ok && generated[name] {
				continue
			}
			warns = append(warns, Diagnostic{pos, e.Msg + " (the package does not type-check without its generated file; generation went on)" + v.l.note})
		}
	}
	return warns
}

// testFiles reports directives in the package's _test.go files: a
// generated file cannot refer to test functions, and worker processes of
// a test binary find tasks through non-test code only.
func (s *pkgScan) testFiles() {
	matches, _ := filepath.Glob(filepath.Join(s.dir, "*_test.go"))
	for _, name := range matches {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			continue // the go command reports it when the tests build
		}
		for _, g := range f.Comments {
			for _, c := range g.List {
				if _, kind, _ := ParseDirective(c.Text); kind == IsDirective {
					s.errs = append(s.errs, Diagnostic{fset.Position(c.Slash),
						Marker + " in a _test.go file: tasks must be declared in the package's non-test files, where the generated dispatch table can refer to them"})
				}
			}
		}
	}
}
