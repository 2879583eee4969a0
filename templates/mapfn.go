package templates

import (
	"fmt"
	"go/types"

	"github.com/dave/jennifer/jen"

	"github.com/futuresgen/futuresgen/generator"
)

// mapFn writes MapX for a task with parameters: a lazy, ordered map over a
// sequence of its arguments.
func (w *writer) mapFn(t *generator.Task) {
	if t.MapName == "" {
		return
	}
	names := w.paramNames(t)
	ctxName, exName, optsName, input := names.ours["ctx"], names.ours["ex"], names.ours["opts"], names.ours["input"]
	opts := make([]string, len(mapOptions))
	for i, o := range mapOptions {
		opts[i] = w.link(o)
	}
	w.doc(fmt.Sprintf("%s runs [%s] on %s for each element of %s and yields (result,\u00a0error) per input, in input order, reading the input lazily. %s bounds the whole map; leaving the loop early cancels what has not started. %s tune it: %s.",
		t.MapName, t.Func, exName, input, ctxName, optsName, list(opts)) + w.localNote(t))
	w.out.Func().Id(t.MapName).Params(
		jen.Id(ctxName).Qual("context", "Context"),
		jen.Id(exName).Qual(RuntimePath, "Executor"),
		jen.Id(input).Qual("iter", "Seq").Types(w.argType(t)),
		jen.Id(optsName).Op("...").Qual(RuntimePath, "MapOption"),
	).Qual("iter", "Seq2").Types(w.resultType(t), jen.Error()).Block(
		jen.Return(jen.Qual(ImplPath, "MapTask").Call(
			jen.Id(ctxName), jen.Id(exName), jen.Id(t.VarName), jen.Id(input), jen.Id(optsName).Op("..."),
		)),
	)
}

func sliceElem(t types.Type) types.Type { return t.(*types.Slice).Elem() }
