package generator

import (
	"fmt"
	"go/types"
	"strings"
)

// crossProblem says why a value of type t cannot be sent to a worker
// process, or returns "" when it can. Values travel through a codec that
// sees exported struct fields and the types' own binary or gob encoders,
// so the check walks through pointers, slices, arrays, maps, named types
// and struct fields, and accepts any named type that encodes itself
// (MarshalBinary and UnmarshalBinary, or GobEncode and GobDecode), such as
// time.Time. Types in the answer are written as qual names their packages.
func crossProblem(t types.Type, qual types.Qualifier) string {
	c := &crossChecker{qual: qual, seen: map[types.Type]bool{}}
	return c.check(t, t, "")
}

type crossChecker struct {
	qual types.Qualifier // how the task's file names other packages
	seen map[types.Type]bool
}

// check returns the problem with t, reached through path (a field path
// such as ".Opts.Callback", or "" at the top). shown is t as the source
// names it: the named or alias type whose underlying type t is, so that
// an embedded io.Reader is reported as io.Reader, not as its method set.
func (c *crossChecker) check(t, shown types.Type, path string) string {
	at := func(what string) string {
		if path == "" {
			return what
		}
		return fmt.Sprintf("%s (%s) %s", describe(path), types.TypeString(shown, c.qual), what)
	}
	switch t := t.(type) {
	case *types.Alias:
		return c.check(types.Unalias(t), shown, path)
	case *types.Named:
		if c.seen[t] {
			return "" // a recursive type: its other parts are checked already
		}
		c.seen[t] = true
		if encodesItself(t) {
			return ""
		}
		return c.check(t.Underlying(), shown, path)
	case *types.Basic:
		switch t.Kind() {
		case types.UnsafePointer:
			return at("is an unsafe.Pointer")
		case types.Invalid:
			return at("has an invalid type")
		}
		return ""
	case *types.Pointer:
		return c.check(t.Elem(), t.Elem(), path)
	case *types.Slice:
		return c.check(t.Elem(), t.Elem(), path+"[i]")
	case *types.Array:
		return c.check(t.Elem(), t.Elem(), path+"[i]")
	case *types.Map:
		if p := c.check(t.Key(), t.Key(), path+"{key}"); p != "" {
			return p
		}
		return c.check(t.Elem(), t.Elem(), path+"[key]")
	case *types.Chan:
		return at("is a channel")
	case *types.Signature:
		return at("is a func")
	case *types.Interface:
		return at("is an interface: the worker cannot know which concrete type to decode")
	case *types.Struct:
		for i := range t.NumFields() {
			f := t.Field(i)
			if !f.Exported() {
				return fmt.Sprintf("%s is unexported", describe(path+"."+f.Name()))
			}
			if p := c.check(f.Type(), f.Type(), path+"."+f.Name()); p != "" {
				return p
			}
		}
		return ""
	case *types.TypeParam:
		return at("is a type parameter")
	}
	return at(fmt.Sprintf("has a type futuresgen does not know (%T)", t))
}

// describe names the part of a value that path reaches: "field
// Items[key].Callback", or "element [i]" for a path into a top-level
// container.
func describe(path string) string {
	if strings.HasPrefix(path, ".") {
		return "field " + path[1:]
	}
	return "element " + path
}

// encodesItself reports whether t or *t has both halves of a binary or gob
// encoding.
func encodesItself(t *types.Named) bool {
	ms := types.NewMethodSet(types.NewPointer(t))
	has := func(name string) bool {
		sel := ms.Lookup(nil, name)
		if sel == nil {
			return false
		}
		if f, ok := sel.Obj().(*types.Func); ok {
			return f.Exported()
		}
		return false
	}
	return has("MarshalBinary") && has("UnmarshalBinary") || has("GobEncode") && has("GobDecode")
}
