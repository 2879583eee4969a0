package wire

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// Streams encodes and decodes payloads: task arguments and results. Each
// key (a task and a direction) has its own gob stream, so a type is
// described once and each payload after that carries only its value.
// Payloads of one key must be decoded in the order they were encoded,
// which a connection's order guarantees, and every payload encoded must
// reach the decoder.
//
// A stream whose encoder failed (a value gob cannot encode, a payload
// over the limit) would leave the decoder without type descriptions the
// encoder believes it sent. So a failed encode ends the stream: the next
// payload of that key starts a new generation, with its own
// descriptions, and carries the generation number; a decoder that sees a
// new generation starts over too. Nothing a failed or refused payload did
// can desynchronise a later one.
//
// A Streams is used by one goroutine at a time (self-contained streams
// excepted, see NewSelfContainedStreams).
type Streams struct {
	enc map[string]*encStream
	dec map[string]*decStream
	// selfContained: every payload is its own stream (generation 0), for
	// transports that may lose or reorder messages.
	selfContained bool
}

type encStream struct {
	gen uint32
	buf bytes.Buffer
	enc *gob.Encoder
}

type decStream struct {
	gen uint32
	buf sliceReader
	dec *gob.Decoder
}

// NewStreams returns empty streams.
func NewStreams() *Streams {
	return &Streams{enc: map[string]*encStream{}, dec: map[string]*decStream{}}
}

// NewSelfContainedStreams returns streams whose every payload carries its
// own type descriptions (generation 0): larger, but decodable alone, in
// any order, by any gob.Decoder. Their payloads stay valid for ever, and
// they may be used by several goroutines at once: what makes them fast
// (encoders and decoders kept for the types they have described) is
// shared by the whole process.
func NewSelfContainedStreams() *Streams {
	return &Streams{selfContained: true} // its maps are made if they are needed
}

// Encode encodes v on the stream key and returns its bytes, which stay
// valid until the next Encode on the same key, and the stream's
// generation. A payload over max bytes (if max > 0) is refused with an
// error wrapping ErrTooLarge. Encode does not look for cycles, on which
// gob would recurse for ever: a caller whose type may hold one (MayCycle)
// calls CheckAcyclic first.
func (s *Streams) Encode(key string, v any, max int) ([]byte, uint32, error) {
	if s.selfContained {
		b, err := EncodeSelfContained(v, max)
		return b, 0, err
	}
	e := s.enc[key]
	if e == nil {
		e = &encStream{gen: 1}
		e.enc = gob.NewEncoder(&e.buf)
		s.enc[key] = e
	}
	e.buf.Reset()
	err := encodeSafely(e.enc, v)
	if err == nil && max > 0 && e.buf.Len() > max {
		err = fmt.Errorf("%w: it encodes to %d bytes, over the limit of %d bytes", ErrTooLarge, e.buf.Len(), max)
	}
	if err != nil {
		s.restart(key)
		return nil, 0, err
	}
	return e.buf.Bytes(), e.gen, nil
}

// restart starts the next payload of key on a new stream, of the next
// generation: the payloads encoded so far on the old one are not all
// going to reach the decoder (a failed encode, or one thrown away).
// Self-contained streams have nothing to restart.
func (s *Streams) restart(key string) {
	if s.selfContained {
		return
	}
	var gen uint32 = 1
	if e := s.enc[key]; e != nil {
		gen = e.gen + 1
	}
	next := &encStream{gen: gen}
	next.enc = gob.NewEncoder(&next.buf)
	s.enc[key] = next
}

// Decode decodes data, encoded by Encode on the same key at the other end
// with generation gen, into v, which must be a pointer. A failed decode
// leaves the stream usable: gob reads whole messages.
func (s *Streams) Decode(key string, gen uint32, data []byte, v any) error {
	if gen == 0 {
		if err := DecodeSelfContained(data, v); err != nil {
			return fmt.Errorf("decoding a payload of %s: %w", key, err)
		}
		return nil
	}
	if s.dec == nil {
		s.dec = map[string]*decStream{}
	}
	d := s.dec[key]
	if d == nil || d.gen != gen {
		d = &decStream{gen: gen}
		d.dec = gob.NewDecoder(&d.buf)
		s.dec[key] = d
	}
	d.buf.reset(data)
	if err := d.dec.Decode(v); err != nil {
		return fmt.Errorf("decoding a payload of %s: %w", key, err)
	}
	if d.buf.Len() != 0 {
		return fmt.Errorf("%w: %d stray bytes after a payload of %s", ErrProtocol, d.buf.Len(), key)
	}
	return nil
}

// encodeSafely encodes v, turning a panic in a type's own encoding method
// into an error: a panic must end the stream as a failure does.
func encodeSafely(enc *gob.Encoder, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoding panicked: %v", p)
		}
	}()
	return enc.Encode(v)
}
