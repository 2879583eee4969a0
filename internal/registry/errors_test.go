package registry

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
)

type testErr struct {
	Code int
	Err  error
}

func (e *testErr) Error() string { return fmt.Sprintf("code %d: %v", e.Code, e.Err) }

// anyTestErr holds an interface value: the type it holds is described
// before the value (see wire.EncodeSelfContained).
type anyTestErr struct{ V any }

func (e anyTestErr) Error() string { return fmt.Sprint(e.V) }

func init() {
	RegisterErrorType("*registry.testErr", reflect.TypeFor[*testErr]())
	RegisterErrorType("registry.anyTestErr", reflect.TypeFor[anyTestErr]())
	gob.Register(0)
	gob.Register([]any{})
}

// roundTrip encodes err's top node as a value and decodes it.
func roundTrip(t *testing.T, err error) (error, error) {
	t.Helper()
	w := EncodeError(err)
	if w.Nodes[0].Type == "" {
		t.Fatalf("%v did not travel as a value: %+v", err, w.Nodes[0])
	}
	var cause error
	if len(w.Nodes) > 1 {
		cause = io.EOF
	}
	got, ok := DecodeErrorValue(w.Nodes[0].Type, w.Nodes[0].Value, cause)
	if !ok {
		t.Fatalf("%v did not decode", err)
	}
	return got, cause
}

func TestErrorValuesRoundTrip(t *testing.T) {
	for _, err := range []error{
		&testErr{Code: 7, Err: io.EOF},
		&testErr{Code: 0},
		anyTestErr{V: 42},
		(*testErr)(nil),
	} {
		for range 3 { // the first value of a type carries its description; the later ones reuse it
			got, _ := roundTrip(t, err)
			if !reflect.DeepEqual(got, err) {
				t.Errorf("%#v crossed as %#v", err, got)
			}
		}
	}
}

func TestErrorValueEncodings(t *testing.T) {
	value := func(err error) []byte { return EncodeError(err).Nodes[0].Value }
	// A value is a self-contained gob payload: a fresh decoder reads it.
	for _, err := range []error{&testErr{Code: 1}, anyTestErr{V: 1}} {
		v := value(err)
		p := reflect.New(reflect.TypeOf(err))
		if err := gob.NewDecoder(bytes.NewReader(v)).Decode(p.Interface()); err != nil {
			t.Errorf("%#v: a fresh gob.Decoder: %v", err, err)
		}
	}
	if v := value((*testErr)(nil)); len(v) != 0 {
		t.Errorf("a nil *T is encoded as %v; want nothing", v)
	}
}

// freshEncode encodes v on a new gob.Encoder: a value as another process
// may send it (its type ids, and for a value that holds an interface in
// an interface, a type defined inside the value).
func freshEncode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestErrorValueFromAnotherProcess decodes values that this process has
// not encoded: a fresh encoder's, as from another process.
func TestErrorValueFromAnotherProcess(t *testing.T) {
	for i := range 3 {
		got, ok := DecodeErrorValue("*registry.testErr", freshEncode(t, &testErr{Code: i}), nil)
		if te, isTest := got.(*testErr); !ok || !isTest || te.Code != i {
			t.Errorf("value %d from another encoder decoded as %#v, %v", i, got, ok)
		}
		// An interface in an interface: the inner type is defined in
		// the middle of the value.
		in := anyTestErr{V: []any{i}}
		for range 2 {
			got, ok = DecodeErrorValue("registry.anyTestErr", freshEncode(t, &in), nil)
			if !ok || !reflect.DeepEqual(got, in) {
				t.Errorf("%#v from another encoder decoded as %#v, %v", in, got, ok)
			}
		}
	}
}

func TestMalformedErrorValues(t *testing.T) {
	good := EncodeError(&testErr{Code: 3}).Nodes[0].Value
	other := freshEncode(t, &struct{ Name string }{"x"})
	for name, data := range map[string][]byte{
		"garbage":                {9, 1, 2},
		"a count past the end":   {200, 1},
		"cut in the definitions": good[:len(good)/2],
		"cut in the value":       good[:len(good)-1],
		"extra bytes":            append(append([]byte(nil), good...), 0),
		"another type's value":   other,
	} {
		if v, ok := DecodeErrorValue("*registry.testErr", data, nil); ok {
			t.Errorf("%s: decoded as %#v", name, v)
		}
	}
	if v, ok := DecodeErrorValue("*registry.testErr", good, nil); !ok || v.(*testErr).Code != 3 {
		t.Errorf("after malformed values, a good one decoded as %#v, %v", v, ok)
	}
}

func TestErrorValuesConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				err := &testErr{Code: g*1000 + i}
				got, ok := DecodeErrorValue("*registry.testErr", EncodeError(err).Nodes[0].Value, nil)
				if !ok || got.(*testErr).Code != err.Code {
					t.Errorf("%v crossed as %v", err, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// panicky's Error and Unwrap panic.
type panicky struct{}

func (panicky) Error() string { panic("no message") }
func (panicky) Unwrap() error { panic("no cause") }

func TestEncodeErrorSurvivesPanics(t *testing.T) {
	w := EncodeError(fmt.Errorf("outer: %w", panicky{}))
	if len(w.Nodes) != 2 || w.Nodes[1].Text != "%!v(PANIC=Error method: no message)" {
		t.Errorf("nodes %+v; want the outer error and the panicking one, as fmt prints it", w.Nodes)
	}
}

// Once a defect: an error whose type is comparable but whose value is
// not (a slice in an interface field) made EncodeError panic, looking it
// up among the sentinels; in a worker, that ended the process.
func TestEncodeErrorOfAnUncomparableValue(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", anyTestErr{V: []any{1, "x"}})
	w := EncodeError(err)
	if len(w.Nodes) != 2 || w.Nodes[1].Type != "registry.anyTestErr" {
		t.Fatalf("nodes %+v; want the wrapper and the value", w.Nodes)
	}
	got, ok := DecodeErrorValue(w.Nodes[1].Type, w.Nodes[1].Value, nil)
	if !ok || !reflect.DeepEqual(got, anyTestErr{V: []any{1, "x"}}) {
		t.Errorf("decoded %#v, %v", got, ok)
	}
}

// loopErr can refer to itself.
type loopErr struct {
	Msg  string
	Next *loopErr
}

func (e *loopErr) Error() string { return e.Msg }

func init() { RegisterErrorType("*registry.loopErr", reflect.TypeFor[*loopErr]()) }

// A value that refers to itself crosses as text: gob would recurse on it
// until the process died.
func TestEncodeErrorOfACyclicValue(t *testing.T) {
	loop := &loopErr{Msg: "loop"}
	loop.Next = loop
	if w := EncodeError(loop); w.Nodes[0].Type != "" || w.Nodes[0].Text != "loop" {
		t.Errorf("a value that refers to itself: %+v; want its text only", w.Nodes[0])
	}
	if w := EncodeError(&loopErr{Msg: "line", Next: &loopErr{Msg: "end"}}); w.Nodes[0].Type != "*registry.loopErr" {
		t.Errorf("a value that ends: %+v; want it as a value", w.Nodes[0])
	}
}

func TestEncodeErrorCutsLargeTrees(t *testing.T) {
	err := errors.New("root")
	for i := range 2 * maxNodes {
		err = fmt.Errorf("wrap %d: %w", i, err)
	}
	if w := EncodeError(err); len(w.Nodes) != maxNodes || w.Nodes[0].Text != err.Error() {
		t.Errorf("%d nodes, message kept: %v; want %d nodes and the message", len(w.Nodes), w.Nodes[0].Text == err.Error(), maxNodes)
	}
}

// anyCause holds an interface field besides its cause.
type anyCause struct {
	V   any
	Err error
}

func (e *anyCause) Error() string { return fmt.Sprint(e.V) }
func (e *anyCause) Unwrap() error { return e.Err }

func init() {
	RegisterErrorType("*registry.anyCause", reflect.TypeFor[*anyCause]())
}

// BenchmarkErrorValue measures a value of a registered error type on its
// own: encoded (EncodeError's work for the node) and decoded back
// (DecodeErrorValue), without the tree around it.
//
//	go test -run '^$' -bench ErrorValue -benchmem ./internal/registry
func BenchmarkErrorValue(b *testing.B) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"struct", &testErr{Code: 7}},
		{"struct-with-cause", &testErr{Code: 7, Err: io.EOF}},
		{"interface-field", &anyCause{V: 42, Err: io.EOF}},
	} {
		b.Run("value="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n := EncodeError(c.err).Nodes[0]
				if _, ok := DecodeErrorValue(n.Type, n.Value, io.EOF); !ok {
					b.Fatal("did not decode")
				}
			}
		})
	}
}

// FuzzDecodeErrorValue decodes arbitrary bytes as the value of each
// registered error type of the tests, twice (the second time maybe on a
// kept decoder): the same answer each time and a fresh gob.Decoder's,
// never a panic.
//
//	go test -run '^$' -fuzz FuzzDecodeErrorValue -fuzztime 1m ./internal/registry
func FuzzDecodeErrorValue(f *testing.F) {
	for _, err := range []error{&testErr{Code: 7}, anyTestErr{V: 42}, anyTestErr{V: []any{1}}, &anyCause{V: "x"}} {
		f.Add(bytes.Clone(EncodeError(err).Nodes[0].Value))
	}
	f.Add(freshEncodeF(&anyTestErr{V: []any{anyTestErr{V: 1}}}))
	f.Add([]byte{})
	types := []struct {
		name string
		t    reflect.Type // the type decoded into: the struct behind a pointer
	}{
		{"*registry.testErr", reflect.TypeFor[testErr]()},
		{"registry.anyTestErr", reflect.TypeFor[anyTestErr]()},
		{"*registry.anyCause", reflect.TypeFor[anyCause]()},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range types {
			want := reflect.New(typ.t)
			wantOK := len(data) == 0 && typ.name[0] == '*' // a nil pointer
			if len(data) > 0 {
				r := bytes.NewReader(data)
				wantOK = gob.NewDecoder(r).Decode(want.Interface()) == nil && r.Len() == 0
			}
			for range 2 {
				got, ok := DecodeErrorValue(typ.name, data, nil)
				if ok != wantOK {
					t.Fatalf("%s: DecodeErrorValue() = %#v, %v; a fresh decoder says %v", typ.name, got, ok, wantOK)
				}
				if !ok || len(data) == 0 {
					continue
				}
				g := reflect.ValueOf(got)
				if g.Kind() == reflect.Pointer {
					g = g.Elem()
				}
				if !reflect.DeepEqual(g.Interface(), want.Elem().Interface()) {
					t.Fatalf("%s: DecodeErrorValue() = %#v; a fresh decoder says %#v", typ.name, g.Interface(), want.Elem().Interface())
				}
			}
		}
	})
}

func freshEncodeF(v any) []byte {
	var buf bytes.Buffer
	gob.NewEncoder(&buf).Encode(v)
	return buf.Bytes()
}
