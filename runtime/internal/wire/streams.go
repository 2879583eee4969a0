package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// Streams encodes and decodes payloads: task arguments and results. Each
// key (a task and a direction) has its own gob stream for the life of the
// connection, so a type is described once per connection and each payload
// after that carries only its value. Payloads of one key must be decoded
// in the order they were encoded, which a connection's order guarantees.
// A Streams is used by one goroutine at a time.
type Streams struct {
	enc map[string]*encStream
	dec map[string]*decStream
}

type encStream struct {
	buf bytes.Buffer
	enc *gob.Encoder
}

type decStream struct {
	buf sliceReader
	dec *gob.Decoder
}

// NewStreams returns empty streams.
func NewStreams() *Streams {
	return &Streams{enc: map[string]*encStream{}, dec: map[string]*decStream{}}
}

// Encode encodes v on the stream key and returns its bytes, which stay
// valid until the next Encode on the same key.
func (s *Streams) Encode(key string, v any) ([]byte, error) {
	e := s.enc[key]
	if e == nil {
		e = &encStream{}
		e.enc = gob.NewEncoder(&e.buf)
		s.enc[key] = e
	}
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// Decode decodes data, encoded by Encode on the same key at the other
// end, into v, which must be a pointer.
func (s *Streams) Decode(key string, data []byte, v any) error {
	d := s.dec[key]
	if d == nil {
		d = &decStream{}
		d.dec = gob.NewDecoder(&d.buf)
		s.dec[key] = d
	}
	d.buf.reset(data)
	if err := d.dec.Decode(v); err != nil {
		return fmt.Errorf("%w: decoding a payload of %s: %v", ErrProtocol, key, err)
	}
	if d.buf.Len() != 0 {
		return fmt.Errorf("%w: %d stray bytes after a payload of %s", ErrProtocol, d.buf.Len(), key)
	}
	return nil
}
