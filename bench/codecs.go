package main

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/vmihailenco/msgpack/v5"
)

// The codec comparison behind the ProcessPool's choice of encoding/gob: a
// round trip (encode, then decode into a fresh value) of what tasks send,
// with each codec as the ProcessPool would use it. "gob-stream" keeps one
// encoder and one decoder per stream, as the ProcessPool does per task, so
// a type is described once; "gob-fresh" starts a new encoder per message.

// page is a typical small task argument.
type page struct {
	URL   string
	Words []string
	At    time.Time
	Score float64
}

// codec round-trips a value of type T.
type codec[T any] struct {
	name string
	rt   func(v T) (T, error)
}

func gobStream[T any]() codec[T] {
	var encBuf, decBuf bytes.Buffer
	enc, dec := gob.NewEncoder(&encBuf), gob.NewDecoder(&decBuf)
	return codec[T]{"gob-stream", func(v T) (T, error) {
		encBuf.Reset()
		var out T
		if err := enc.Encode(&v); err != nil {
			return out, err
		}
		decBuf.Write(encBuf.Bytes())
		err := dec.Decode(&out)
		return out, err
	}}
}

func gobFresh[T any]() codec[T] {
	return codec[T]{"gob-fresh", func(v T) (T, error) {
		var buf bytes.Buffer
		var out T
		if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
			return out, err
		}
		err := gob.NewDecoder(&buf).Decode(&out)
		return out, err
	}}
}

func cborCodec[T any]() codec[T] {
	return codec[T]{"cbor", func(v T) (T, error) {
		var out T
		b, err := cbor.Marshal(v)
		if err != nil {
			return out, err
		}
		err = cbor.Unmarshal(b, &out)
		return out, err
	}}
}

func msgpackCodec[T any]() codec[T] {
	return codec[T]{"msgpack", func(v T) (T, error) {
		var out T
		b, err := msgpack.Marshal(v)
		if err != nil {
			return out, err
		}
		err = msgpack.Unmarshal(b, &out)
		return out, err
	}}
}

func compareCodecs(n int) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	small := page{URL: "https://example.com/a", Words: []string{"alpha", "beta", "gamma"}, At: at, Score: 0.5}
	big := make([]byte, 64<<10)
	runCodecs("codec-int", n, 42, []codec[int]{gobStream[int](), gobFresh[int](), cborCodec[int](), msgpackCodec[int]()})
	runCodecs("codec-struct", n, small, []codec[page]{gobStream[page](), gobFresh[page](), cborCodec[page](), msgpackCodec[page]()})
	runCodecs("codec-64KiB", max(n/100, 1), big, []codec[[]byte]{gobStream[[]byte](), gobFresh[[]byte](), cborCodec[[]byte](), msgpackCodec[[]byte]()})
}

func runCodecs[T any](workload string, n int, v T, codecs []codec[T]) {
	for _, c := range codecs {
		ns, allocs := measure(n, func(n int) {
			for range n {
				if _, err := c.rt(v); err != nil {
					panic(fmt.Sprintf("%s %s: %v", c.name, workload, err))
				}
			}
		})
		record(result{system: c.name, workload: workload, ns: ns, allocs: allocs, floor: true})
	}
}
