package registry

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"reflect"
	"sync"
)

// A value of a registered error type crosses on its own, outside any
// payload stream, so it must carry gob's description of its type; sending
// that description and compiling a decoder for it is most of the cost (30
// of the 31 µs to decode a struct with a cause, measured). So a process
// keeps, per error type, one gob encoder whose first message (the type
// and a zero value) is the prefix of every value it encodes, and, per
// prefix it has received, one decoder that has read it: a value travels as
// its prefix and its own message, and the decoder that knows the prefix
// reads only the message. A type that can hold an interface value (whose
// concrete type gob would describe in the middle of the stream) travels
// as a whole gob stream of its own instead.

// The first byte of an encoded value.
const (
	wholeStream byte = 1 // the rest is a gob stream of one value
	prefixed    byte = 2 // the uvarint length of the prefix, the prefix, then the value's message
)

// maxDecoders bounds the decoders a type keeps: one per sending process
// whose prefix differs (gob numbers types in the order a process meets
// them).
const maxDecoders = 64

var errBadValue = errors.New("malformed error value")

// valueCodec is an error type's encoder and decoders.
type valueCodec struct {
	streamable bool // no interface value is reachable: the value can be prefixed

	encMu  sync.Mutex
	buf    bytes.Buffer
	enc    *gob.Encoder // nil until first use, and after a failure
	prefix []byte

	decMu    sync.Mutex
	decoders map[string]*valueDecoder // by prefix
}

type valueDecoder struct {
	mu  sync.Mutex
	r   bytes.Reader // gob reads a ByteReader as is, without buffering ahead
	dec *gob.Decoder
}

// encodeValue encodes v, a value of the type (the struct behind a
// pointer).
func (c *valueCodec) encodeValue(v reflect.Value) (out []byte, err error) {
	if !v.CanAddr() { // so that gob finds a GobEncode or MarshalBinary with a pointer receiver
		a := reflect.New(v.Type()).Elem()
		a.Set(v)
		v = a
	}
	if !c.streamable {
		var buf bytes.Buffer
		buf.WriteByte(wholeStream)
		if err := gob.NewEncoder(&buf).EncodeValue(v); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	c.encMu.Lock()
	defer func() {
		if err != nil || recover() != nil { // a half-written stream: start afresh next time
			c.enc, out, err = nil, nil, errBadValue
		}
		c.encMu.Unlock()
	}()
	if c.enc == nil {
		c.buf.Reset()
		c.enc = gob.NewEncoder(&c.buf)
		if err := c.enc.EncodeValue(reflect.New(v.Type()).Elem()); err != nil {
			return nil, err
		}
		c.prefix = bytes.Clone(c.buf.Bytes())
	}
	c.buf.Reset()
	if err := c.enc.EncodeValue(v); err != nil {
		return nil, err
	}
	out = make([]byte, 0, 1+binary.MaxVarintLen32+len(c.prefix)+c.buf.Len())
	out = append(out, prefixed)
	out = binary.AppendUvarint(out, uint64(len(c.prefix)))
	out = append(out, c.prefix...)
	return append(out, c.buf.Bytes()...), nil
}

// decodeValue decodes data, from encodeValue in this process or another,
// into p, a pointer to a value of the type.
func (c *valueCodec) decodeValue(data []byte, p reflect.Value) error {
	if len(data) == 0 {
		return errBadValue
	}
	switch data[0] {
	case wholeStream:
		return gob.NewDecoder(bytes.NewReader(data[1:])).DecodeValue(p)
	case prefixed:
		n, k := binary.Uvarint(data[1:])
		if k <= 0 || n > uint64(len(data)-1-k) {
			return errBadValue
		}
		prefix, msg := data[1+k:1+k+int(n)], data[1+k+int(n):]
		d, err := c.decoder(prefix, p.Type().Elem())
		if err != nil {
			return err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.r.Reset(msg)
		if err := d.dec.DecodeValue(p); err != nil || d.r.Len() != 0 {
			c.forget(prefix)
			return errors.Join(errBadValue, err)
		}
		return nil
	}
	return errBadValue
}

// decoder returns the decoder that has read prefix, making it (and
// reading prefix's zero value of type t) on first use.
func (c *valueCodec) decoder(prefix []byte, t reflect.Type) (*valueDecoder, error) {
	c.decMu.Lock()
	defer c.decMu.Unlock()
	if d := c.decoders[string(prefix)]; d != nil {
		return d, nil
	}
	d := &valueDecoder{}
	d.r.Reset(prefix)
	d.dec = gob.NewDecoder(&d.r)
	if err := d.dec.DecodeValue(reflect.New(t)); err != nil || d.r.Len() != 0 {
		return nil, errors.Join(errBadValue, err)
	}
	if c.decoders == nil || len(c.decoders) >= maxDecoders {
		c.decoders = map[string]*valueDecoder{}
	}
	c.decoders[string(prefix)] = d
	return d, nil
}

func (c *valueCodec) forget(prefix []byte) {
	c.decMu.Lock()
	delete(c.decoders, string(prefix))
	c.decMu.Unlock()
}

// holdsInterface reports whether gob, encoding a value of t, may meet an
// interface value: through t's exported fields (but the one at index
// skip, if t is a struct), elements, keys and pointers. A type that
// encodes itself is walked as well; it may say yes where gob would not
// look, which only costs speed.
func holdsInterface(t reflect.Type, skip int, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem(), -1, seen)
	case reflect.Map:
		return holdsInterface(t.Key(), -1, seen) || holdsInterface(t.Elem(), -1, seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); i != skip && f.IsExported() && holdsInterface(f.Type, -1, seen) {
				return true
			}
		}
	}
	return false
}
