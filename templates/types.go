package templates

import (
	"fmt"
	"go/types"

	"github.com/dave/jennifer/jen"
)

// typ renders t as it is written in the user's package.
func (w *writer) typ(t types.Type) jen.Code {
	switch t := t.(type) {
	case *types.Alias:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()) // any
		}
		return w.typeArgs(w.qual(obj), t.TypeArgs())
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()) // error, comparable
		}
		return w.typeArgs(w.qual(obj), t.TypeArgs())
	case *types.Basic:
		if t.Kind() == types.UnsafePointer {
			return jen.Qual("unsafe", "Pointer")
		}
		return jen.Id(t.Name())
	case *types.Pointer:
		return jen.Op("*").Add(w.typ(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(w.typ(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Lit(int(t.Len()))).Add(w.typ(t.Elem()))
	case *types.Map:
		return jen.Map(w.typ(t.Key())).Add(w.typ(t.Elem()))
	case *types.Chan:
		switch t.Dir() {
		case types.SendOnly:
			return jen.Chan().Op("<-").Add(w.typ(t.Elem()))
		case types.RecvOnly:
			return jen.Op("<-").Chan().Add(w.typ(t.Elem()))
		}
		return jen.Chan().Add(w.typ(t.Elem()))
	case *types.Signature:
		return w.signature(t)
	case *types.Struct:
		return jen.StructFunc(func(g *jen.Group) {
			for i := range t.NumFields() {
				fld := t.Field(i)
				var s *jen.Statement
				if fld.Embedded() {
					s = g.Add(w.typ(fld.Type()))
				} else {
					s = g.Id(fld.Name()).Add(w.typ(fld.Type()))
				}
				if tag := t.Tag(i); tag != "" {
					s.Op(fmt.Sprintf("%q", tag))
				}
			}
		})
	case *types.Interface:
		if t.Empty() {
			return jen.Interface()
		}
		return jen.InterfaceFunc(func(g *jen.Group) {
			for i := range t.NumEmbeddeds() {
				g.Add(w.typ(t.EmbeddedType(i)))
			}
			for i := range t.NumExplicitMethods() {
				m := t.ExplicitMethod(i)
				sig := m.Type().(*types.Signature)
				g.Id(m.Name()).Add(w.params(sig)).Add(w.results(sig))
			}
		})
	}
	panic(fmt.Sprintf("futuresgen: cannot write type %v (%T)", t, t))
}

// qual names a package-level type, qualified unless it is the user's own.
func (w *writer) qual(obj types.Object) *jen.Statement {
	if obj.Pkg().Path() == w.pkg.PkgPath {
		return jen.Id(obj.Name())
	}
	return jen.Qual(obj.Pkg().Path(), obj.Name())
}

func (w *writer) typeArgs(s *jen.Statement, args *types.TypeList) jen.Code {
	if args == nil || args.Len() == 0 {
		return s
	}
	codes := make([]jen.Code, args.Len())
	for i := range args.Len() {
		codes[i] = w.typ(args.At(i))
	}
	return s.Types(codes...)
}

// signature renders a func type: func(params) results.
func (w *writer) signature(sig *types.Signature) jen.Code {
	return jen.Func().Add(w.params(sig)).Add(w.results(sig))
}

func (w *writer) params(sig *types.Signature) jen.Code {
	return jen.ParamsFunc(func(g *jen.Group) {
		ps := sig.Params()
		for i := range ps.Len() {
			t := ps.At(i).Type()
			if sig.Variadic() && i == ps.Len()-1 {
				g.Op("...").Add(w.typ(t.(*types.Slice).Elem()))
				continue
			}
			g.Add(w.typ(t))
		}
	})
}

func (w *writer) results(sig *types.Signature) jen.Code {
	rs := sig.Results()
	switch rs.Len() {
	case 0:
		return jen.Null()
	case 1:
		return w.typ(rs.At(0).Type())
	}
	return jen.ParamsFunc(func(g *jen.Group) {
		for i := range rs.Len() {
			g.Add(w.typ(rs.At(i).Type()))
		}
	})
}
