package wire

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"
)

// selfMark is what the types below write when gob calls their method.
var selfMark = []byte("SELF-ENCODED")

type gobValueRecv struct{ N int }

func (gobValueRecv) GobEncode() ([]byte, error) { return selfMark, nil }
func (*gobValueRecv) GobDecode([]byte) error    { return nil }

type gobPtrRecv struct{ N int }

func (*gobPtrRecv) GobEncode() ([]byte, error) { return selfMark, nil }
func (*gobPtrRecv) GobDecode([]byte) error     { return nil }

type binValueRecv struct{ N int }

func (binValueRecv) MarshalBinary() ([]byte, error) { return selfMark, nil }
func (*binValueRecv) UnmarshalBinary([]byte) error  { return nil }

type binPtrRecv struct{ N int }

func (*binPtrRecv) MarshalBinary() ([]byte, error) { return selfMark, nil }
func (*binPtrRecv) UnmarshalBinary([]byte) error   { return nil }

// textOnly has a MarshalText and nothing gob calls: gob walks it.
type textOnly struct{ N int }

func (textOnly) MarshalText() ([]byte, error) { return selfMark, nil }
func (*textOnly) UnmarshalText([]byte) error  { return nil }

type plain struct{ N int }

// selfEncoder is an interface whose method set includes GobEncode.
type selfEncoder interface {
	GobEncode() ([]byte, error)
}

// TestEncodesItselfAsGobDoes checks encodesItself against gob itself:
// each type is encoded (as a field, non-zero) and its method's mark looked
// for in the bytes.
func TestEncodesItselfAsGobDoes(t *testing.T) {
	t.Parallel()
	gv, gp, bv, bp, tx, pl := &gobValueRecv{1}, &gobPtrRecv{1}, &binValueRecv{1}, &binPtrRecv{1}, &textOnly{1}, &plain{1}
	tests := []struct {
		name string
		v    any // a pointer to a value of the type
		want bool
	}{
		{"GobEncode, value receiver: T", gv, true},
		{"GobEncode, value receiver: *T", &gv, true},
		{"GobEncode, value receiver: **T", ptrTo(&gv), true},
		{"GobEncode, pointer receiver: T", gp, true},
		{"GobEncode, pointer receiver: *T", &gp, true},
		{"GobEncode, pointer receiver, through a pointer: **T", ptrTo(&gp), true},
		{"MarshalBinary, value receiver: T", bv, true},
		{"MarshalBinary, value receiver: *T", &bv, true},
		{"MarshalBinary, pointer receiver: T", bp, true},
		{"MarshalBinary, pointer receiver, through a pointer: **T", ptrTo(&bp), true},
		{"MarshalText only: T", tx, false},
		{"MarshalText only: *T", &tx, false},
		{"no method: T", pl, false},
		{"an interface with GobEncode in its method set", ptrTo(selfEncoder(gobValueRecv{1})), true},
	}
	for _, tt := range tests {
		typ := reflect.TypeOf(tt.v).Elem()
		if got := encodesItself(typ); got != tt.want {
			t.Errorf("%s: encodesItself(%v) = %v; want %v", tt.name, typ, got, tt.want)
		}
		if got := gobCallsTheMethod(t, typ, reflect.ValueOf(tt.v).Elem()); got != tt.want {
			t.Errorf("%s: gob calls the method of %v: %v; the test's want %v is wrong", tt.name, typ, got, tt.want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// gobCallsTheMethod encodes v, of type typ, as the field of a struct and
// reports whether selfMark is in the bytes.
func gobCallsTheMethod(t *testing.T, typ reflect.Type, v reflect.Value) bool {
	t.Helper()
	st := reflect.StructOf([]reflect.StructField{{Name: "V", Type: typ}})
	s := reflect.New(st)
	s.Elem().Field(0).Set(v)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).EncodeValue(s); err != nil {
		t.Fatalf("encoding a %v: %v", typ, err)
	}
	return bytes.Contains(buf.Bytes(), selfMark)
}

func TestHoldsInterface(t *testing.T) {
	t.Parallel()
	type exported struct{ V any }
	type unexported struct{ v any } //lint:ignore U1000 the field gob leaves out is the point
	type funcs struct {
		F func() any
		C chan any
	}
	type deep struct{ M map[string][]*exported }
	type textWithIface struct {
		textOnly
		V any
	}
	type selfWithIface struct {
		gobValueRecv
		V any
	}
	tests := []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[int](), false},
		{reflect.TypeFor[any](), true},
		{reflect.TypeFor[error](), true},
		{reflect.TypeFor[exported](), true},
		{reflect.TypeFor[unexported](), false}, // gob leaves unexported fields out
		{reflect.TypeFor[funcs](), false},      // and chan and func fields
		{reflect.TypeFor[deep](), true},
		{reflect.TypeFor[map[any]int](), true},
		{reflect.TypeFor[[]*exported](), true},
		{reflect.TypeFor[textWithIface](), true}, // MarshalText does not count: gob walks it
		{reflect.TypeFor[selfWithIface](), false},
		{reflect.TypeFor[*selfWithIface](), false},
		{reflect.TypeFor[node](), false},
	}
	for _, tt := range tests {
		if got := holdsInterface(tt.typ); got != tt.want {
			t.Errorf("holdsInterface(%v) = %v; want %v", tt.typ, got, tt.want)
		}
	}
}
