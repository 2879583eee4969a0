package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/futuresgen/futuresgen/generator"
)

// submit writes SubmitX: the task's parameters in, a typed future out.
func (w *writer) submit(t *generator.Task) {
	names := w.paramNames(t)
	ctxName, exName := names.ours["ctx"], names.ours["ex"]

	var arg jen.Code
	switch len(t.Params) {
	case 0:
		arg = jen.Struct().Values()
	case 1:
		arg = jen.Id(names.params[0])
	default:
		arg = jen.Id(t.ArgsName).ValuesFunc(func(g *jen.Group) {
			for i, p := range t.Params {
				g.Id(p.Field).Op(":").Id(names.params[i])
			}
		})
	}

	text := fmt.Sprintf("%s runs [%s] on %s and returns its future at once.", t.SubmitName, t.Func, exName)
	if t.Context {
		text += fmt.Sprintf(" The task's context ends when %s ends or when %s is shut down with %s.", ctxName, exName, w.link("CancelPending"))
	}
	text += fmt.Sprintf(" If %s ends before the task starts, the task never runs and the future fails with %s.Err().", ctxName, ctxName)
	w.doc(text + w.localNote(t))
	w.out.Func().Id(t.SubmitName).ParamsFunc(func(g *jen.Group) {
		g.Id(ctxName).Qual("context", "Context")
		g.Id(exName).Qual(RuntimePath, "Executor")
		for i, p := range t.Params {
			if t.Variadic && i == len(t.Params)-1 {
				g.Id(names.params[i]).Op("...").Add(w.typ(sliceElem(p.Type)))
				continue
			}
			g.Id(names.params[i]).Add(w.typ(p.Type))
		}
	}).Op("*").Qual(RuntimePath, "Future").Types(w.resultType(t)).Block(
		jen.Return(jen.Qual(ImplPath, "SubmitTask").Call(jen.Id(ctxName), jen.Id(exName), jen.Id(t.VarName), arg)),
	)
}

// localNote is the sentence a local task's wrappers add to their doc.
func (w *writer) localNote(t *generator.Task) string {
	if !t.Local {
		return ""
	}
	return fmt.Sprintf(" [%s] is local: on an executor in another process the future fails.", t.Func)
}

// wrapperNames are the parameter names of a generated wrapper: the task's
// own, and ours (ctx, ex, opts, the map input), each renamed with a
// trailing underscore where they would collide.
type wrapperNames struct {
	params []string
	ours   map[string]string
}

func (w *writer) paramNames(t *generator.Task) wrapperNames {
	// A wrapper's body refers to the import aliases, the task variable
	// and the XArgs type: no parameter may shadow them.
	taken := map[string]bool{w.rt: true, w.impl: true, t.VarName: true, t.ArgsName: true}
	n := wrapperNames{ours: map[string]string{}}
	for _, p := range t.Params {
		taken[p.Name] = true
	}
	for _, p := range t.Params {
		name := p.Name
		if name == w.rt || name == w.impl || name == t.VarName || name == t.ArgsName {
			for taken[name] {
				name += "_"
			}
			taken[name] = true
		}
		n.params = append(n.params, name)
	}
	for _, ours := range []string{"ctx", "ex", "opts"} {
		name := ours
		for taken[name] {
			name += "_"
		}
		taken[name] = true
		n.ours[ours] = name
	}
	input := "args"
	if len(t.Params) == 1 {
		input = n.params[0] + "s"
	}
	for taken[input] {
		input += "_"
	}
	n.ours["input"] = input
	return n
}
