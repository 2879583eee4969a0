package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	goruntime "runtime"
	"strings"
	"testing"
)

func roundTrip(t *testing.T, msgs ...*Msg) []Msg {
	t.Helper()
	var buf bytes.Buffer
	w := NewConn(nil, &buf, 0)
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewConn(&buf, nil, 0)
	var out []Msg
	for {
		var m Msg
		err := r.Read(&m)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Payload = bytes.Clone(m.Payload)
		out = append(out, m)
	}
}

func TestConnRoundTrip(t *testing.T) {
	t.Parallel()
	in := []*Msg{
		{Kind: KindHello, Hello: &Hello{Version: Version, PID: 42, Slots: 2, Tasks: []TaskSig{{"a", "func(int) int"}}}},
		{Kind: KindCall, ID: 7, Task: "a", Payload: []byte{1, 2, 3}, Timeout: 5e9, Ahead: true, Gen: 2},
		{Kind: KindBatchResult, ID: 8, Count: 3, Failures: []Failure{{Index: 1, Panic: true, Text: "boom", Stack: "s"}}},
		{Kind: KindError, ID: 9, Err: &Error{Nodes: []ErrNode{{Text: "get: EOF"}, {Text: "EOF", Sentinel: "io.EOF"}}}},
		{Kind: KindRevoked, ID: 10},
		{Kind: KindBye},
	}
	out := roundTrip(t, in...)
	if len(out) != len(in) {
		t.Fatalf("read %d messages; want %d", len(out), len(in))
	}
	if out[0].Hello.PID != 42 || out[0].Hello.Slots != 2 || out[1].ID != 7 || !bytes.Equal(out[1].Payload, []byte{1, 2, 3}) ||
		!out[1].Ahead || out[1].Timeout != 5e9 || out[1].Gen != 2 ||
		out[2].Failures[0].Text != "boom" || out[3].Err.Text() != "get: EOF" || out[3].Err.Nodes[1].Sentinel != "io.EOF" ||
		out[4].Kind != KindRevoked || out[5].Kind != KindBye {
		t.Errorf("round trip changed the messages: %+v", out)
	}
	if out[0].Payload != nil {
		t.Errorf("a message without a payload reads back with %d payload bytes", len(out[0].Payload))
	}
}

// frame builds a raw frame: the two lengths, then the body.
func frame(envLen, payLen uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, envLen)
	b = binary.BigEndian.AppendUint32(b, payLen)
	return append(b, body...)
}

func TestConnRefusesBadFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"oversized envelope", frame(1<<31, 0, nil), "claims an envelope"},
		{"oversized payload", frame(10, 1<<30, nil), "over the limit"},
		{"empty envelope", frame(0, 0, nil), "claims an envelope of 0"},
		{"cut short", frame(100, 0, []byte{1, 2, 3}), "cut short"},
		{"payload cut short", frame(3, 100, []byte{1, 2, 3, 4}), "cut short"},
		{"garbage", frame(5, 0, []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb}), "does not decode"},
		{"torn header", []byte{0, 0}, "frame header"},
	}
	for _, tt := range tests {
		var m Msg
		err := NewConn(bytes.NewReader(tt.in), nil, 1<<20).Read(&m)
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Read() = %v; want a protocol error saying %q", tt.name, err, tt.want)
		}
	}
}

func TestConnRefusesAnOversizedPayloadAndStaysInStep(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewConn(nil, &buf, 64)
	if err := w.Write(&Msg{Kind: KindResult, ID: 1, Payload: make([]byte, 100)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("writing an oversized payload: %v; want ErrTooLarge", err)
	}
	if err := w.Write(&Msg{Kind: KindResult, ID: 2, Payload: []byte("ok")}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	r := NewConn(&buf, nil, 64)
	var m Msg
	if err := r.Read(&m); err != nil || m.ID != 2 || string(m.Payload) != "ok" {
		t.Errorf("after a refused payload, Read() = %+v, %v; want message 2", m, err)
	}
}

func TestConnRefusesABadErrorTree(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewConn(nil, &buf, 0)
	w.Write(&Msg{Kind: KindError, Err: &Error{Nodes: []ErrNode{{Text: "a"}, {Text: "b", Parent: 5}}}})
	w.Flush()
	var m Msg
	if err := NewConn(&buf, nil, 0).Read(&m); !errors.Is(err, ErrProtocol) {
		t.Errorf("Read() of an error whose node names a later parent = %v; want a protocol error", err)
	}
}

// oneByteThenEOF is a stream that says a frame is huge and then ends.
type liar struct{ sent bool }

func (l *liar) Read(p []byte) (int, error) {
	if l.sent {
		return 0, io.EOF
	}
	l.sent = true
	return copy(p, frame(MaxEnvelope, DefaultMaxPayload, []byte{1, 2, 3})), nil
}

func TestConnDoesNotAllocateWhatAHeaderClaims(t *testing.T) {
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	var m Msg
	err := NewConn(&liar{}, nil, 0).Read(&m)
	goruntime.ReadMemStats(&after)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("Read() = %v; want a protocol error", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("reading a header that claims %d bytes and sends 3 allocated %d bytes", MaxEnvelope+DefaultMaxPayload, grew)
	}
}

func TestStreams(t *testing.T) {
	t.Parallel()
	type point struct{ X, Y int }
	enc, dec := NewStreams(), NewStreams()
	var sizes []int
	for i := range 3 {
		b, gen, err := enc.Encode("p", &point{i, -i}, 0)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
		var p point
		if err := dec.Decode("p", gen, bytes.Clone(b), &p); err != nil || p != (point{i, -i}) {
			t.Fatalf("decode %d = %+v, %v", i, p, err)
		}
	}
	if sizes[1] >= sizes[0] {
		t.Errorf("payload sizes %v: the type should be described only in the first", sizes)
	}
	if err := dec.Decode("p", 1, []byte{9, 9, 9}, new(point)); err == nil {
		t.Error("decoding garbage succeeded")
	}
}

// A value gob cannot encode must not leave the decoder without the type
// descriptions the encoder wrote before it failed.
func TestStreamsSurviveAFailedEncode(t *testing.T) {
	t.Parallel()
	type box struct{ V []*int }
	enc, dec := NewStreams(), NewStreams()
	if _, _, err := enc.Encode("k", &box{[]*int{nil}}, 0); err == nil {
		t.Fatal("encoding a nil element succeeded; the test needs a failing encode")
	}
	one := 1
	b, gen, err := enc.Encode("k", &box{[]*int{&one}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got box
	if err := dec.Decode("k", gen, b, &got); err != nil || *got.V[0] != 1 {
		t.Errorf("after a failed encode, the next payload decodes to %+v, %v", got, err)
	}
}

// panicky panics when it is encoded with a negative value.
type panicky struct{ N int }

func (p panicky) GobEncode() ([]byte, error) {
	if p.N < 0 {
		panic("negative")
	}
	return []byte{byte(p.N)}, nil
}

func (p *panicky) GobDecode(b []byte) error {
	p.N = int(b[0])
	return nil
}

// A type whose GobEncode panics ends its stream as a failure does: the
// next payload starts a new generation with its own type descriptions.
func TestStreamsSurviveAPanickingEncoder(t *testing.T) {
	t.Parallel()
	enc, dec := NewStreams(), NewStreams()
	if _, _, err := enc.Encode("k", &[]panicky{{1}, {-1}}, 0); err == nil {
		t.Fatal("a panicking GobEncode encoded")
	}
	b, gen, err := enc.Encode("k", &[]panicky{{2}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []panicky
	if err := dec.Decode("k", gen, b, &got); err != nil || len(got) != 1 || got[0].N != 2 {
		t.Errorf("after a panicking encode, the next payload decodes to %v, %v", got, err)
	}
}

func TestStreamsRefuseOversizedPayloads(t *testing.T) {
	t.Parallel()
	enc, dec := NewStreams(), NewStreams()
	if _, _, err := enc.Encode("k", &struct{ B []byte }{make([]byte, 1000)}, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encode() over the limit = %v; want ErrTooLarge", err)
	}
	b, gen, err := enc.Encode("k", &struct{ B []byte }{[]byte("x")}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ B []byte }
	if err := dec.Decode("k", gen, b, &got); err != nil || string(got.B) != "x" {
		t.Errorf("after a refused payload, the next decodes to %q, %v", got.B, err)
	}
}

func TestSelfContainedStreams(t *testing.T) {
	t.Parallel()
	enc := NewSelfContainedStreams()
	var payloads [][]byte
	for i := range 3 {
		b, gen, err := enc.Encode("k", &struct{ N int }{i}, 0)
		if err != nil || gen != 0 {
			t.Fatalf("Encode() = gen %d, %v; want generation 0", gen, err)
		}
		payloads = append(payloads, bytes.Clone(b))
	}
	// Each decodes alone, in any order.
	dec := NewStreams()
	for _, i := range []int{2, 0, 1} {
		var got struct{ N int }
		if err := dec.Decode("k", 0, payloads[i], &got); err != nil || got.N != i {
			t.Errorf("payload %d decodes to %d, %v", i, got.N, err)
		}
	}
}

type node struct {
	Name string
	Next *node
	Kids []*node
}

// textNode has a MarshalText, which gob does not call: gob walks its
// fields as any struct's (once a defect: the cycle check took it for a
// type that encodes itself, and a textNode that was its own next reached
// gob, which recursed until the stack ran out and the process died).
type textNode struct {
	Name string
	Next *textNode
}

func (n *textNode) MarshalText() ([]byte, error) { return []byte(n.Name), nil }

// encNode refers to itself, but encodes itself: gob calls its GobEncode
// and never walks its fields, so a loop is no danger.
type encNode struct {
	Name string
	Next *encNode
}

func (n *encNode) GobEncode() ([]byte, error) { return []byte(n.Name), nil }

func TestCheckAcyclic(t *testing.T) {
	t.Parallel()
	loop := &node{Name: "a"}
	loop.Next = loop
	deep := &node{Name: "root", Kids: []*node{{Name: "k"}}}
	deep.Kids[0].Kids = []*node{deep}
	shared := &node{Name: "s"}
	dag := &node{Kids: []*node{shared, shared}, Next: shared} // shared, but no cycle
	type selfSlice []selfSlice
	ss := make(selfSlice, 1)
	ss[0] = ss
	textLoop := &textNode{Name: "t"}
	textLoop.Next = textLoop
	encLoop := &encNode{Name: "e"}
	encLoop.Next = encLoop
	// Lists longer than the walk's short path (its references past the
	// first 16 are kept apart).
	list := func(n, back int) *node {
		nodes := make([]*node, n)
		for i := range nodes {
			nodes[i] = &node{Name: fmt.Sprint(i)}
			if i > 0 {
				nodes[i-1].Next = nodes[i]
			}
		}
		if back >= 0 {
			nodes[n-1].Next = nodes[back]
		}
		return nodes[0]
	}
	tests := []struct {
		name string
		v    any
		want bool // acyclic
	}{
		{"int", 3, true},
		{"a list that ends", &node{Next: &node{}}, true},
		{"a node that is its own next", loop, false},
		{"a cycle through a slice", deep, false},
		{"a node reached twice", dag, true},
		{"a slice that holds itself", ss, false},
		{"a map", map[string][]int{"a": {1}}, true},
		{"a TextMarshaler that is its own next", textLoop, false},
		{"a GobEncoder that is its own next", encLoop, true},
		{"a list of 100 that ends", list(100, -1), true},
		{"a list of 100 whose last node's next is the first", list(100, 0), false},
		{"a list of 100 whose last node's next is the 10th", list(100, 9), false},
		{"a list of 100 whose last node's next is the 50th", list(100, 49), false},
		{"a list of 100 whose last node is its own next", list(100, 99), false},
		{"a list of 17 whose last node's next is the 17th", list(17, 16), false},
		{"a GobEncoder that is its own next, in a struct", &struct{ N *encNode }{encLoop}, true},
	}
	for _, tt := range tests {
		err := CheckAcyclic(tt.v)
		if (err == nil) != tt.want || (err != nil && !errors.Is(err, ErrCyclic)) {
			t.Errorf("%s: CheckAcyclic() = %v; want acyclic %v", tt.name, err, tt.want)
		}
	}
	// The error says where the cycle closes.
	if err := CheckAcyclic(deep); err == nil || !strings.HasSuffix(err.Error(), "at .Kids[0].Kids[0]") {
		t.Errorf("CheckAcyclic() = %v; want the path .Kids[0].Kids[0]", err)
	}
	if err := CheckAcyclic(ss); err == nil || !strings.HasSuffix(err.Error(), "at [0]") {
		t.Errorf("CheckAcyclic() = %v; want the path [0]", err)
	}
	if !MayCycle(reflect.TypeFor[*node]()) || MayCycle(reflect.TypeFor[map[string][]int]()) {
		t.Error("MayCycle is wrong about *node or map[string][]int")
	}
}

// FuzzConnRead feeds arbitrary bytes to the frame reader: it must return
// messages or errors, never panic or allocate past what it received.
func FuzzConnRead(f *testing.F) {
	var buf bytes.Buffer
	w := NewConn(nil, &buf, 0)
	w.Write(&Msg{Kind: KindHello, Hello: &Hello{Version: 1, Tasks: []TaskSig{{"a", "b"}}}})
	w.Write(&Msg{Kind: KindCall, ID: 3, Task: "t", Payload: []byte("xyz")})
	w.Write(&Msg{Kind: KindBatchResult, Failures: []Failure{{Index: 2, Text: "e", Err: &Error{Nodes: []ErrNode{{Text: "e"}}}}}})
	w.Write(&Msg{Kind: KindError, Err: &Error{Nodes: []ErrNode{{Text: "x"}, {Text: "y", Parent: 0}}}})
	w.Flush()
	f.Add(buf.Bytes())
	f.Add(frame(4, 0, []byte{1, 2, 3, 4}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewConn(bytes.NewReader(data), nil, 1<<16)
		for range 8 {
			var m Msg
			if err := c.Read(&m); err != nil {
				if err != io.EOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("Read() = %v; want io.EOF or a protocol error", err)
				}
				return
			}
			if m.Kind <= kindPrime || m.Kind >= kindEnd {
				t.Fatalf("Read() returned kind %d", m.Kind)
			}
			if m.Err.Check() != nil {
				t.Fatalf("Read() returned a malformed error tree")
			}
		}
	})
}

// FuzzStreamsDecode feeds arbitrary payloads to a stream decoder: an
// error or a value, never a panic.
func FuzzStreamsDecode(f *testing.F) {
	enc := NewStreams()
	type item struct {
		Name string
		Tags []string
		M    map[string]int
	}
	b, _, _ := enc.Encode("k", &item{"a", []string{"x"}, map[string]int{"y": 1}}, 0)
	f.Add(bytes.Clone(b))
	f.Fuzz(func(t *testing.T, data []byte) {
		var it item
		NewStreams().Decode("k", 1, data, &it)
	})
}
