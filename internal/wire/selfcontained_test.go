package wire

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
)

type scPoint struct {
	X, Y int
	Name string
	Tags []string
}

type scA struct{ N int }
type scB struct {
	S string
	F []float64
}

// scHolder has an interface field: each new concrete type it holds
// brings new type definitions mid-stream.
type scHolder struct {
	Name string
	V    any
}

// scNest holds an interface too: a scNest inside a scHolder's V is an
// interface inside an interface.
type scNest struct{ Inner any }

func init() {
	gob.Register(scA{})
	gob.Register(scB{})
	gob.Register(scNest{})
	gob.Register(scKept{})
	gob.Register(scPoint{})
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

// freshDecode decodes b as a plain gob stream with a new decoder.
func freshDecode(b []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(b)).Decode(v)
}

// freshEncode encodes v with a new encoder.
func freshEncode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSelfContainedPayloadsDecodeAloneInAnyOrder(t *testing.T) {
	t.Parallel()
	enc := NewSelfContainedStreams()
	var payloads [][]byte
	var want []scPoint
	for i := range 20 {
		p := scPoint{i, -i, fmt.Sprint("p", i), []string{"a", strings.Repeat("b", i)}}
		b, gen, err := enc.Encode("k", &p, 0)
		if err != nil || gen != 0 {
			t.Fatalf("Encode() = gen %d, %v", gen, err)
		}
		// A type without interfaces: the same bytes a fresh encoder
		// writes, down to the type definitions.
		if fresh := freshEncode(t, &p); !bytes.Equal(b, fresh) {
			t.Errorf("payload %d differs from a fresh encoder's:\n%x\n%x", i, b, fresh)
		}
		payloads = append(payloads, b)
		want = append(want, p)
	}
	// Payloads are the caller's: a later Encode does not overwrite them.
	for i, b := range payloads {
		var got scPoint
		if err := freshDecode(b, &got); err != nil || !reflect.DeepEqual(got, want[i]) {
			t.Errorf("payload %d alone, fresh decoder: %+v, %v", i, got, err)
		}
	}
	// Any order, some missing, each twice, on one Streams or many.
	order := rand.Perm(len(payloads))[:12]
	dec := NewStreams()
	for _, round := range []int{0, 1} {
		for _, i := range order {
			s := dec
			if round == 1 {
				s = NewSelfContainedStreams()
			}
			var got scPoint
			if err := s.Decode("k", 0, payloads[i], &got); err != nil || !reflect.DeepEqual(got, want[i]) {
				t.Errorf("payload %d: %+v, %v", i, got, err)
			}
		}
	}
}

func TestSelfContainedInterfacesBringNewTypesMidStream(t *testing.T) {
	t.Parallel()
	values := []scHolder{
		{"a", scA{1}},
		{"b", scB{"x", []float64{1.5}}},
		{"a again", scA{2}},
		{"nil", nil},
		{"int", 5},
		{"nested", scNest{scA{3}}}, // an interface in an interface
		{"nested again", scNest{scB{"y", nil}}},
		{"map", map[string]any{"k": scA{4}, "l": []any{scB{"z", nil}}}},
		{"b again", scB{"w", []float64{2}}},
		{"string", "s"},
		{"nested once more", scNest{scA{5}}},
	}
	enc := NewSelfContainedStreams()
	var payloads [][]byte
	for _, v := range values {
		b, _, err := enc.Encode("h", &v, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Kept encoders write definitions first, then one value
		// message, which a kept decoder reads alone.
		plen, _, ok := splitTypes(b)
		if n, _, ok2 := gobMessage(b[plen:]); !ok || !ok2 || plen+n != len(b) {
			t.Errorf("payload %s is not [definitions][one value message]", v.Name)
		}
		payloads = append(payloads, b)
	}
	check := func(how string, i int, got scHolder, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, values[i]) {
			t.Errorf("%s, payload %d (%s): %+v, %v", how, i, values[i].Name, got, err)
		}
	}
	for i, b := range payloads {
		var got scHolder
		check("a fresh decoder", i, got, freshDecode(b, &got))
	}
	dec := NewStreams()
	for range 3 {
		for _, i := range rand.Perm(len(payloads)) {
			var got scHolder
			err := dec.Decode("h", 0, payloads[i], &got)
			check("shuffled", i, got, err)
		}
	}
	// A fresh encoder's payloads, which define nested types inside the
	// value, decode again and again: a decoder a value taught a type is
	// not kept (it would refuse the next copy of the definition).
	for range 3 {
		for i, v := range values {
			var got scHolder
			err := dec.Decode("h", 0, freshEncode(t, &v), &got)
			check("a fresh encoder's", i, got, err)
		}
	}
}

func TestSelfContainedCorruptPayloadsFailAlone(t *testing.T) {
	t.Parallel()
	type corruptMe struct {
		Alpha int
		Beta  []string
	}
	enc, dec := NewSelfContainedStreams(), NewStreams()
	good := func(i int) {
		t.Helper()
		b, _, err := enc.Encode("c", &corruptMe{i, []string{"x"}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got corruptMe
		if err := dec.Decode("c", 0, b, &got); err != nil || got.Alpha != i {
			t.Fatalf("good payload %d: %+v, %v", i, got, err)
		}
	}
	good(1)
	good(2) // from a kept decoder
	b, _, _ := enc.Encode("c", &corruptMe{3, nil}, 0)
	plen, defs, ok := splitTypes(b)
	if !ok || defs == 0 {
		t.Fatalf("splitTypes() = %d, %d, %v", plen, defs, ok)
	}
	n, _, _ := gobMessage(b)
	var corrupt [][]byte
	// The first definition's body (after its count and id) garbled.
	c := bytes.Clone(b)
	for i := 2; i < n; i++ {
		c[i] = 0xff
	}
	corrupt = append(corrupt, c)
	// A definition cut short, its count claiming more than there is.
	corrupt = append(corrupt, bytes.Clone(b[:n-1]))
	// Only the definitions.
	corrupt = append(corrupt, bytes.Clone(b[:plen]))
	// The right definitions, a garbled value (a kept decoder's case).
	c = bytes.Clone(b)
	for i := plen + 1; i < len(c); i++ {
		c[i] = 0xfe
	}
	corrupt = append(corrupt, c)
	// The right definitions, a value of another type.
	c = append(bytes.Clone(b[:plen]), freshEncode(t, &scA{1})...)
	corrupt = append(corrupt, c)
	for i, c := range corrupt {
		var got corruptMe
		if err := dec.Decode("c", 0, c, &got); err == nil {
			t.Errorf("corrupt payload %d decoded: %+v", i, got)
		}
		if err := freshDecode(c, &got); err == nil {
			t.Errorf("corrupt payload %d decoded with a fresh decoder", i)
		}
		good(10 + i)
	}
}

// A panicking GobEncode or a value gob refuses fails its own payload;
// the next decodes alone.
func TestSelfContainedSurvivesFailedEncodes(t *testing.T) {
	t.Parallel()
	enc, dec := NewSelfContainedStreams(), NewStreams()
	roundTrip := func(ns ...int) {
		t.Helper()
		in := make([]panicky, len(ns))
		for i, n := range ns {
			in[i].N = n
		}
		b, _, err := enc.Encode("k", &in, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got, got2 []panicky
		if err := freshDecode(b, &got); err != nil || !reflect.DeepEqual(got, in) {
			t.Errorf("fresh decoder: %v, %v; want %v", got, err, in)
		}
		if err := dec.Decode("k", 0, b, &got2); err != nil || !reflect.DeepEqual(got2, in) {
			t.Errorf("Decode: %v, %v; want %v", got2, err, in)
		}
	}
	if _, _, err := enc.Encode("k", &[]panicky{{1}, {-1}}, 0); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("a panicking GobEncode: %v", err)
	}
	roundTrip(2)
	roundTrip(3, 4)
	if _, _, err := enc.Encode("k", &[]panicky{{-1}}, 0); err == nil {
		t.Fatal("a panicking GobEncode encoded")
	}
	roundTrip(5)

	type box struct{ V []*int }
	if _, _, err := enc.Encode("b", &box{[]*int{nil}}, 0); err == nil {
		t.Fatal("encoding a nil element succeeded")
	}
	one := 1
	b, _, err := enc.Encode("b", &box{[]*int{&one}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got box
	if err := freshDecode(b, &got); err != nil || *got.V[0] != 1 {
		t.Errorf("after a failed encode: %+v, %v", got, err)
	}

	if _, _, err := enc.Encode("big", &struct{ B []byte }{make([]byte, 1000)}, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encode() over the limit = %v; want ErrTooLarge", err)
	}
	b, _, err = enc.Encode("big", &struct{ B []byte }{[]byte("x")}, 100)
	var small struct{ B []byte }
	if err != nil || freshDecode(b, &small) != nil || string(small.B) != "x" {
		t.Errorf("after a refused payload: %q, %v", small.B, err)
	}
}

func TestSelfContainedConcurrent(t *testing.T) {
	t.Parallel()
	shared := NewSelfContainedStreams()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				var err error
				switch (g + i) % 3 {
				case 0:
					in := scPoint{X: i, Y: g, Name: "n"}
					var b []byte
					if b, _, err = shared.Encode("p", &in, 0); err == nil {
						var out scPoint
						if err = shared.Decode("p", 0, b, &out); err == nil && !reflect.DeepEqual(in, out) {
							err = fmt.Errorf("%+v became %+v", in, out)
						}
					}
				case 1:
					in := scHolder{Name: "h", V: scA{i}}
					if i%2 == 0 {
						in.V = scB{S: "s", F: []float64{float64(g)}}
					}
					if i%7 == 0 {
						in.V = scNest{scA{g}}
					}
					var b []byte
					if b, _, err = shared.Encode("h", &in, 0); err == nil {
						var out scHolder
						if err = shared.Decode("h", 0, b, &out); err == nil && !reflect.DeepEqual(in, out) {
							err = fmt.Errorf("%+v became %+v", in, out)
						}
					}
				case 2:
					if _, _, err = shared.Encode("x", &[]panicky{{1}, {-1}}, 0); err == nil {
						err = errors.New("a panicking encode succeeded")
					} else {
						err = nil
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// structOf returns a struct type of its own: a type no other test has,
// with a field named name.
func structOf(name string, fields int) reflect.Type {
	var fs []reflect.StructField
	for i := range fields {
		fs = append(fs, reflect.StructField{Name: fmt.Sprintf("%s%d", name, i), Type: reflect.TypeFor[int]()})
	}
	return reflect.StructOf(fs)
}

func TestSelfContainedCacheStaysBounded(t *testing.T) {
	t.Parallel()
	enc, dec := NewSelfContainedStreams(), NewStreams()
	roundTrip := func(typ reflect.Type) {
		t.Helper()
		in := reflect.New(typ)
		in.Elem().Field(0).SetInt(7)
		b, _, err := enc.Encode("s", in.Interface(), 0)
		if err != nil {
			t.Fatal(err)
		}
		out := reflect.New(typ)
		if err := dec.Decode("s", 0, b, out.Interface()); err != nil || out.Elem().Field(0).Int() != 7 {
			t.Fatalf("%v: %v, %v", typ, out, err)
		}
	}
	for i := range 2 * maxDecPrefixes {
		roundTrip(structOf(fmt.Sprintf("Bound%d_", i), 1))
		if n, size := selfContainedCacheLen(); n > maxDecPrefixes || size > maxDecPrefixBytes {
			t.Fatalf("after %d prefixes the cache holds %d prefixes, %d bytes", i+1, n, size)
		}
	}
	// A type described at length is encoded and decoded, not kept.
	huge := structOf("F"+strings.Repeat("x", 200), maxPrefix/200+1)
	roundTrip(huge)
	roundTrip(huge)
	decoders.mu.Lock()
	defer decoders.mu.Unlock()
	for k := range decoders.m {
		if len(k) > maxPrefix {
			t.Errorf("the cache kept a prefix of %d bytes", len(k))
		}
	}
}

// This Go's gob.Decoder must still have the field the cache reads;
// without it the cache is off and self-contained decoding is slow.
func TestSelfContainedDecoderCacheIsOn(t *testing.T) {
	if wireTypesField < 0 {
		t.Fatal("gob.Decoder has no wireType map: self-contained payloads are decoded on fresh decoders")
	}
	d := newSCDecoder()
	b := freshEncode(t, &scPoint{X: 1})
	d.r.reset(b)
	var p scPoint
	if err := d.dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if _, defs, _ := splitTypes(b); knownTypes(d.dec) != defs || defs == 0 {
		t.Errorf("the decoder knows %d types after %d definitions", knownTypes(d.dec), defs)
	}
}

// The kept streams are as fast as before for small values: compare
// "cached" with "fresh" (the old way, every payload on its own encoder
// and decoder).
func benchSelfContained[T any](b *testing.B, mk func(i int) T) {
	for _, mode := range []string{"cached", "fresh"} {
		b.Run(mode, func(b *testing.B) {
			legacySelfContained.Store(mode == "fresh")
			defer legacySelfContained.Store(false)
			s := NewSelfContainedStreams()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				v := mk(i)
				i++
				p, _, err := s.Encode("k", &v, 0)
				if err != nil {
					b.Fatal(err)
				}
				var out T
				if err := s.Decode("k", 0, p, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSelfContainedInt(b *testing.B) {
	benchSelfContained(b, func(i int) int { return i })
}

func BenchmarkSelfContainedStruct(b *testing.B) {
	benchSelfContained(b, func(i int) scPoint { return scPoint{i, -i, "name", []string{"a", "b"}} })
}

// freshDecodeAll decodes b as a plain gob stream of one value with a new
// decoder, and refuses bytes after it, as DecodeSelfContained does.
func freshDecodeAll(b []byte, v any) error {
	r := bytes.NewReader(b)
	if err := gob.NewDecoder(r).Decode(v); err != nil {
		return err
	}
	if r.Len() != 0 {
		return fmt.Errorf("%d stray bytes", r.Len())
	}
	return nil
}

// FuzzSelfContainedDecode decodes arbitrary payloads twice (the second
// time maybe on a kept decoder) and with a fresh gob.Decoder: the same
// value or an error each time, never a panic.
//
//	go test -run '^$' -fuzz FuzzSelfContainedDecode -fuzztime 1m ./internal/wire
func FuzzSelfContainedDecode(f *testing.F) {
	enc := NewSelfContainedStreams()
	for _, v := range []scHolder{{"a", scA{1}}, {"n", scNest{scB{"x", []float64{1}}}}, {"m", map[string]any{"k": 1}}} {
		b, _, _ := enc.Encode("k", &v, 0)
		f.Add(bytes.Clone(b))
		f.Add(freshEncodeF(&v))
	}
	b, _, _ := enc.Encode("k", &scPoint{1, 2, "x", []string{"y"}}, 0)
	f.Add(bytes.Clone(b))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var want scHolder
		wantErr := freshDecodeAll(data, &want)
		for range 2 {
			var got scHolder
			err := NewStreams().Decode("k", 0, data, &got)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("Decode() = %v; a fresh decoder says %v", err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode() = %+v; a fresh decoder says %+v", got, want)
			}
		}
	})
}

func freshEncodeF(v any) []byte {
	var buf bytes.Buffer
	gob.NewEncoder(&buf).Encode(v)
	return buf.Bytes()
}

// FuzzSplitTypes splits arbitrary bytes as gob messages: never a panic,
// and a split that says yes is one.
func FuzzSplitTypes(f *testing.F) {
	f.Add(freshEncodeF(&scPoint{1, 2, "x", nil}))
	f.Add([]byte{0x80})
	f.Add([]byte{0xf8, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		plen, defs, ok := splitTypes(data)
		if !ok {
			return
		}
		if plen > len(data) || (defs == 0) != (plen == 0) {
			t.Fatalf("splitTypes() = %d, %d of %d bytes", plen, defs, len(data))
		}
		if n, def, ok := gobMessage(data[plen:]); !ok || def || plen+n > len(data) {
			t.Fatalf("after %d bytes of definitions: a message of %d bytes, def %v, ok %v", plen, n, def, ok)
		}
	})
}

type scKept struct{ K int }
type scTaught struct{ V any }

// A decoder is kept after a clean decode, and dropped after a value
// that taught it a type.
func TestSelfContainedKeepsCleanDecodersOnly(t *testing.T) {
	b, _, err := NewSelfContainedStreams().Encode("k", &scKept{1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	plen, _, _ := splitTypes(b)
	var out scKept
	if err := NewStreams().Decode("k", 0, b, &out); err != nil {
		t.Fatal(err)
	}
	d, e := takeDecoder(b[:plen])
	if d == nil {
		t.Fatal("no decoder kept after a clean decode")
	}
	putDecoder(b[:plen], e, d)
	allocs := testing.AllocsPerRun(100, func() {
		p, _, _ := NewSelfContainedStreams().Encode("k", &scKept{2}, 0)
		NewStreams().Decode("k", 0, p, &out)
	})
	t.Logf("%.0f allocations", allocs)
	if allocs > 20 {
		t.Errorf("a round trip of a small struct allocates %.0f times", allocs)
	}

	// An interface inside an interface: the inner definition travels
	// inside the value.
	nested := freshEncode(t, &scTaught{scNest{scKept{3}}})
	plen, _, _ = splitTypes(nested)
	for range 2 {
		var got scTaught
		if err := NewStreams().Decode("k", 0, nested, &got); err != nil {
			t.Fatal(err)
		}
		if d, _ := takeDecoder(nested[:plen]); d != nil {
			t.Fatal("a decoder a value taught a type was kept")
		}
	}
}

// A kept encoder's payloads describe every type its earlier values held
// in an interface; the limit applies to what this value needs.
func TestSelfContainedLimitCountsOnlyTheTypesAValueNeeds(t *testing.T) {
	t.Parallel()
	enc := NewSelfContainedStreams()
	type limited struct{ V any }
	for _, v := range []any{scA{1}, scB{"b", []float64{1}}, scPoint{1, 2, "p", nil}} {
		if _, _, err := enc.Encode("l", &limited{v}, 0); err != nil {
			t.Fatal(err)
		}
	}
	v := &limited{scA{2}}
	need := len(freshEncode(t, v))
	b, _, err := enc.Encode("l", v, need)
	if err != nil {
		t.Fatalf("a payload of %d bytes with a limit of %d: %v", need, need, err)
	}
	var got limited
	if err := freshDecode(b, &got); err != nil || got.V != (scA{2}) {
		t.Errorf("decoded %+v, %v", got, err)
	}
	if _, _, err := enc.Encode("l", v, need-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit by a byte: %v; want ErrTooLarge", err)
	}
}

func BenchmarkSelfContainedInterface(b *testing.B) {
	benchSelfContained(b, func(i int) scHolder {
		if i%2 == 0 {
			return scHolder{"a", scA{i}}
		}
		return scHolder{"n", scNest{scB{"b", []float64{1}}}}
	})
}
