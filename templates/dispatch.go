package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/futuresgen/futuresgen/generator"
)

// dispatch writes the dispatch table: a variable per task, and an init
// function that registers every task under its stable name with its
// adapter (see run), then the file's errors (see registerErrors).
// Registration is in init, not in the variables' initializers, so that a
// task that submits itself (or another task that submits it) is not an
// initialization cycle. Package initialization runs it, in this process
// and in every worker process.
func (w *writer) dispatch(tasks []*generator.Task, split bool) {
	if len(tasks) > 0 {
		if split {
			w.out.Comment(splitMarker)
		}
		w.out.Comment("The dispatch table: every task of the package, registered by init under")
		w.out.Comment("its stable name, so that a worker process finds it by that name.")
		w.out.Var().DefsFunc(func(g *jen.Group) {
			for _, t := range tasks {
				g.Id(t.VarName).Op("*").Qual(ImplPath, "Task").Types(w.argType(t), w.resultType(t))
			}
		})
	}
	if split {
		w.out.Comment(splitMarker)
	}
	w.out.Func().Id("init").Params().BlockFunc(func(g *jen.Group) {
		for _, t := range tasks {
			w.register(g, t)
		}
		w.registerErrors(g)
	})
}

// registerErrors writes the registration of the file's errors: each
// sentinel under its name, so that the other side of a process boundary
// returns the same variable, and each error type, so that its values
// cross as values. They come after the tasks, the sentinels first, each
// kind sorted by name.
func (w *writer) registerErrors(g *jen.Group) {
	if len(w.gf.Sentinels)+len(w.gf.ErrorTypes) == 0 {
		return
	}
	if len(w.gf.Tasks) > 0 {
		g.Line()
	}
	g.Comment("The errors that keep their identity across a process boundary:")
	g.Comment("errors.Is and errors.As answer on a worker's errors as in-process.")
	for _, s := range w.gf.Sentinels {
		g.Qual(ImplPath, "RegisterSentinel").Call(jen.Lit(s.Name), w.qual(s.Var))
	}
	for _, t := range w.gf.ErrorTypes {
		g.Qual(ImplPath, "RegisterErrorType").Types(w.typ(t.Type)).Call(jen.Lit(t.Name))
	}
}

// register writes the registration of one task.
func (w *writer) register(g *jen.Group, t *generator.Task) {
	args := []jen.Code{jen.Lit(t.Name), jen.Id(t.RunName)}
	if t.Local {
		args = append(args, jen.Qual(ImplPath, "Local").Call())
	}
	g.Id(t.VarName).Op("=").Qual(ImplPath, "RegisterTask").Call(args...)
}

// run writes the task's adapter from the runtime's shape — a context and
// one argument in, one result and an error out — to the user's function.
// It is a named function rather than a closure in init so that a task's
// stack trace names it (futuresRun_Fetch, not init.func3), so that init is
// a line per task, and so that the compile error a stale file gives when
// the task's signature changed lands under a comment that says what to do.
func (w *writer) run(t *generator.Task) {
	ctxName, argName := fresh("ctx", t), fresh("args", t)
	if len(t.Params) == 1 {
		argName = fresh("arg", t)
	}
	if !t.Context {
		ctxName = "_"
	}
	if len(t.Params) == 0 {
		argName = "_"
	}
	// The call of the user's function.
	call := jen.Id(t.Func).CallFunc(func(g *jen.Group) {
		if t.Context {
			g.Id(ctxName)
		}
		for i, p := range t.Params {
			var arg *jen.Statement
			if len(t.Params) == 1 {
				arg = jen.Id(argName)
			} else {
				arg = jen.Id(argName).Dot(p.Field)
			}
			if t.Variadic && i == len(t.Params)-1 {
				arg.Op("...")
			}
			g.Add(arg)
		}
	})
	body := func(g *jen.Group) {
		switch {
		case len(t.Results) == 0 && !t.HasError:
			g.Add(call)
			g.Return(jen.Struct().Values(), jen.Nil())
		case len(t.Results) == 0:
			g.Return(jen.Struct().Values(), call)
		case len(t.Results) == 1 && !t.HasError:
			g.Return(call, jen.Nil())
		case len(t.Results) == 1:
			g.Return(call)
		default:
			vars := make([]jen.Code, 0, len(t.Results)+1)
			fields := make([]jen.Code, 0, len(t.Results))
			for i, r := range t.Results {
				v := fmt.Sprintf("r%d", i)
				vars = append(vars, jen.Id(v))
				fields = append(fields, jen.Id(r.Field).Op(":").Id(v))
			}
			errv := jen.Nil()
			if t.HasError {
				vars = append(vars, jen.Id("err"))
				errv = jen.Id("err")
			}
			g.List(vars...).Op(":=").Add(call)
			g.Return(jen.Id(t.ResultName).Values(fields...), errv)
		}
	}
	w.doc(fmt.Sprintf("%s calls [%s] with the arguments of one call of the task: the function the dispatch table registers for it. If it fails to compile, %s's signature changed after this file was generated: re-run \"go\u00a0generate\".", t.RunName, t.Func, t.Func))
	w.out.Func().Id(t.RunName).Params(
		jen.Id(ctxName).Qual("context", "Context"),
		jen.Id(argName).Add(w.argType(t)),
	).Params(w.resultType(t), jen.Error()).BlockFunc(body)
}

// fresh returns name, or name with underscores added, so that it differs
// from the names a generated body refers to: the task's function and
// result struct.
func fresh(name string, t *generator.Task) string {
	for name == t.Func || name == t.ResultName || name == t.ArgsName {
		name += "_"
	}
	return name
}
