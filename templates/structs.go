package templates

import (
	"fmt"

	"github.com/dave/jennifer/jen"

	"github.com/futuresgen/futuresgen/generator"
)

// structs writes XArgs (two or more parameters) and XResult (two or more
// results).
func (w *writer) structs(t *generator.Task) {
	if t.ArgsName != "" {
		w.doc(fmt.Sprintf("%s holds the arguments of one call of [%s]: the element type of [%s]'s input.", t.ArgsName, t.Func, t.MapName))
		w.out.Type().Id(t.ArgsName).StructFunc(func(g *jen.Group) {
			for _, p := range t.Params {
				g.Id(p.Field).Add(w.typ(p.Type))
			}
		})
	}
	if t.ResultName != "" {
		w.doc(fmt.Sprintf("%s holds the results of one call of [%s].", t.ResultName, t.Func))
		w.out.Type().Id(t.ResultName).StructFunc(func(g *jen.Group) {
			for _, r := range t.Results {
				g.Id(r.Field).Add(w.typ(r.Type))
			}
		})
	}
}

// argType is the type of the value the registered task takes: struct{},
// the single parameter's type, or XArgs.
func (w *writer) argType(t *generator.Task) jen.Code {
	switch len(t.Params) {
	case 0:
		return jen.Struct()
	case 1:
		return w.typ(t.Params[0].Type)
	}
	return jen.Id(t.ArgsName)
}

// resultType is the type of the task's result value: struct{}, the single
// result's type, or XResult.
func (w *writer) resultType(t *generator.Task) jen.Code {
	switch len(t.Results) {
	case 0:
		return jen.Struct()
	case 1:
		return w.typ(t.Results[0].Type)
	}
	return jen.Id(t.ResultName)
}
