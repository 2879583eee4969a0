package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
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
		out = append(out, m)
	}
}

func TestConnRoundTrip(t *testing.T) {
	t.Parallel()
	in := []*Msg{
		{Kind: KindHello, Hello: &Hello{Version: Version, PID: 42, Tasks: []TaskSig{{"a", "func(int) int"}}}},
		{Kind: KindCall, ID: 7, Task: "a", Payload: []byte{1, 2, 3}, Deadline: time.Now().UnixNano()},
		{Kind: KindBatchResult, ID: 8, Count: 3, Failures: []Failure{{Index: 1, Panic: true, Text: "boom", Stack: "s"}}},
		{Kind: KindError, ID: 9, Text: "bad", CtxErr: CtxCanceled},
		{Kind: KindBye},
	}
	out := roundTrip(t, in...)
	if len(out) != len(in) {
		t.Fatalf("read %d messages; want %d", len(out), len(in))
	}
	if out[0].Hello.PID != 42 || out[1].ID != 7 || !bytes.Equal(out[1].Payload, []byte{1, 2, 3}) ||
		out[2].Failures[0].Text != "boom" || out[3].CtxErr != CtxCanceled || out[4].Kind != KindBye {
		t.Errorf("round trip changed the messages: %+v", out)
	}
}

func TestConnRefusesBadFrames(t *testing.T) {
	t.Parallel()
	frame := func(n uint32, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(b, body...)
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"oversized", frame(1<<31, nil), "exceeds the limit"},
		{"cut short", frame(100, []byte{1, 2, 3}), "cut short"},
		{"garbage", frame(5, []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb}), "does not decode"},
		{"torn header", []byte{0, 0}, "frame header"},
	}
	for _, tt := range tests {
		var m Msg
		err := NewConn(bytes.NewReader(tt.in), nil, 1<<20).Read(&m)
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Read() = %v; want a protocol error saying %q", tt.name, err, tt.want)
		}
	}
	var buf bytes.Buffer
	w := NewConn(nil, &buf, 64)
	if err := w.Write(&Msg{Kind: KindResult, Payload: make([]byte, 100)}); !errors.Is(err, ErrProtocol) {
		t.Errorf("writing an oversized message: %v; want a protocol error", err)
	}
}

func TestStreams(t *testing.T) {
	t.Parallel()
	type point struct{ X, Y int }
	enc, dec := NewStreams(), NewStreams()
	var sizes []int
	for i := range 3 {
		b, err := enc.Encode("p", point{i, -i})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
		var p point
		if err := dec.Decode("p", bytes.Clone(b), &p); err != nil || p != (point{i, -i}) {
			t.Fatalf("decode %d = %+v, %v", i, p, err)
		}
	}
	if sizes[1] >= sizes[0] {
		t.Errorf("payload sizes %v: the type should be described only in the first", sizes)
	}
	if err := dec.Decode("p", []byte{9, 9, 9}, new(point)); !errors.Is(err, ErrProtocol) {
		t.Errorf("decoding garbage: %v; want a protocol error", err)
	}
}

// FuzzConnRead feeds arbitrary bytes to the frame reader: it must return
// messages or errors, never panic or allocate past the frame limit.
func FuzzConnRead(f *testing.F) {
	var buf bytes.Buffer
	w := NewConn(nil, &buf, 0)
	w.Write(&Msg{Kind: KindHello, Hello: &Hello{Version: 1, Tasks: []TaskSig{{"a", "b"}}}})
	w.Write(&Msg{Kind: KindCall, ID: 3, Task: "t", Payload: []byte("xyz")})
	w.Write(&Msg{Kind: KindBatchResult, Failures: []Failure{{Index: 2, Text: "e"}}})
	w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 4, 1, 2, 3, 4})
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
			if m.Kind < KindHello || m.Kind > KindBatchResult {
				t.Fatalf("Read() accepted kind %d", m.Kind)
			}
		}
	})
}

// FuzzStreamsDecode feeds arbitrary payloads to a stream decoder.
func FuzzStreamsDecode(f *testing.F) {
	enc := NewStreams()
	type item struct {
		Name string
		Tags []string
		M    map[string]int
	}
	b, _ := enc.Encode("k", item{"a", []string{"x"}, map[string]int{"y": 1}})
	f.Add(bytes.Clone(b))
	f.Fuzz(func(t *testing.T, data []byte) {
		var it item
		if err := NewStreams().Decode("k", data, &it); err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("Decode() = %v; want nil or a protocol error", err)
		}
	})
}
