package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
)

// MaxEnvelope bounds the encoded size of one message without its payload.
// Envelopes carry names, error texts and stacks, which workers truncate
// well below it.
const MaxEnvelope = 16 << 20

// DefaultMaxPayload bounds the size of one payload (a call's encoded
// arguments or results) unless NewConn is told otherwise.
const DefaultMaxPayload = 256 << 20

// headerSize is the frame header: the envelope's length, then the
// payload's, each 4 bytes big-endian.
const headerSize = 8

// readChunk is how much a reader allocates at a time for a frame it has
// not received yet: a header claiming a huge frame costs nothing until
// the bytes arrive.
const readChunk = 1 << 20

// Conn reads and writes messages. Reading and writing are independent:
// one goroutine may read while another writes, but two may not write (or
// read) at once.
type Conn struct {
	r          *bufio.Reader
	w          *bufio.Writer
	maxPayload int

	enc     *gob.Encoder
	encBuf  bytes.Buffer
	wenv    Msg  // the envelope being encoded: a field, so that it is not allocated per message
	primed  bool // the priming envelope has been written
	dec     *gob.Decoder
	decBuf  sliceReader // reads the current envelope in place
	env     []byte
	payload []byte
	whdr    [headerSize]byte // the writer's, apart from the reader's
	rhdr    [headerSize]byte
}

// NewConn returns a connection reading frames from r and writing them to
// w (either may be nil), refusing payloads longer than maxPayload bytes
// (DefaultMaxPayload if 0).
func NewConn(r io.Reader, w io.Writer, maxPayload int) *Conn {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	c := &Conn{maxPayload: maxPayload}
	if r != nil {
		c.r = bufio.NewReaderSize(r, 64<<10)
	}
	if w != nil {
		c.w = bufio.NewWriterSize(w, 64<<10)
	}
	c.enc = gob.NewEncoder(&c.encBuf)
	c.dec = gob.NewDecoder(&c.decBuf)
	return c
}

// MaxPayload returns the largest payload the connection carries.
func (c *Conn) MaxPayload() int { return c.maxPayload }

// Write encodes m into the write buffer; call Flush to send what was
// written. A payload or envelope over its limit is refused with an error
// wrapping ErrTooLarge, and nothing is written: the stream stays in step.
func (c *Conn) Write(m *Msg) error {
	if !c.primed {
		// The first envelope describes Msg's types to the decoder. Send
		// it empty, on its own, so that every later envelope carries only
		// values and one refused for its size can be dropped.
		c.primed = true
		if err := c.writeEnvelope(&Msg{Kind: kindPrime}, nil); err != nil {
			return err
		}
	}
	if len(m.Payload) > c.maxPayload {
		return fmt.Errorf("%w: a %v payload of %d bytes is over the limit of %d bytes", ErrTooLarge, m.Kind, len(m.Payload), c.maxPayload)
	}
	return c.writeEnvelope(m, m.Payload)
}

func (c *Conn) writeEnvelope(m *Msg, payload []byte) error {
	c.wenv = *m
	c.wenv.Payload = nil
	c.encBuf.Reset()
	err := c.enc.Encode(&c.wenv)
	c.wenv = Msg{} // keep nothing the message refers to
	if err != nil {
		return fmt.Errorf("encoding a %v message: %w", m.Kind, err)
	}
	n := c.encBuf.Len()
	if n > MaxEnvelope {
		return fmt.Errorf("%w: a %v message of %d bytes is over the limit of %d bytes", ErrTooLarge, m.Kind, n, MaxEnvelope)
	}
	binary.BigEndian.PutUint32(c.whdr[:4], uint32(n))
	binary.BigEndian.PutUint32(c.whdr[4:], uint32(len(payload)))
	if _, err := c.w.Write(c.whdr[:]); err != nil {
		return err
	}
	if _, err := c.w.Write(c.encBuf.Bytes()); err != nil {
		return err
	}
	_, err = c.w.Write(payload)
	return err
}

// Flush sends the messages written so far.
func (c *Conn) Flush() error { return c.w.Flush() }

// ReadBuffered reports whether bytes already read from the stream wait to
// be decoded: another message is likely at hand.
func (c *Conn) ReadBuffered() bool { return c.r.Buffered() > 0 }

// ReadReady reports whether a whole frame waits in the read buffer: the
// next Read returns without reading from the stream (unless the frame is
// only the type description that leads a stream). It never reads.
func (c *Conn) ReadReady() bool {
	if c.r.Buffered() < headerSize {
		return false
	}
	h, err := c.r.Peek(headerSize)
	if err != nil {
		return false
	}
	n := int64(headerSize) + int64(binary.BigEndian.Uint32(h[:4])) + int64(binary.BigEndian.Uint32(h[4:]))
	return int64(c.r.Buffered()) >= n
}

// Buffered reports whether written messages wait for Flush.
func (c *Conn) Buffered() bool { return c.w.Buffered() > 0 }

// Read reads the next message into m. It returns io.EOF at a clean end of
// the stream, and an error wrapping ErrProtocol for a frame that is too
// long, cut short, or does not decode; after such an error the
// connection is unusable. m.Payload is valid until the next Read.
func (c *Conn) Read(m *Msg) error {
	for {
		if err := c.read(m); err != nil {
			return err
		}
		if m.Kind != kindPrime {
			return nil
		}
	}
}

func (c *Conn) read(m *Msg) error {
	if _, err := io.ReadFull(c.r, c.rhdr[:]); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("%w: reading a frame header: %v", ErrProtocol, err)
	}
	envLen := int64(binary.BigEndian.Uint32(c.rhdr[:4]))
	payLen := int64(binary.BigEndian.Uint32(c.rhdr[4:]))
	if envLen > MaxEnvelope || envLen == 0 {
		return fmt.Errorf("%w: a frame claims an envelope of %d bytes (the limit is %d)", ErrProtocol, envLen, MaxEnvelope)
	}
	if payLen > int64(c.maxPayload) {
		return fmt.Errorf("%w: a frame claims a payload of %d bytes, over the limit of %d bytes", ErrProtocol, payLen, c.maxPayload)
	}
	var err error
	if c.env, err = readN(c.r, c.env, int(envLen)); err != nil {
		return fmt.Errorf("%w: an envelope of %d bytes was cut short: %v", ErrProtocol, envLen, err)
	}
	if cap(c.payload) > 4*readChunk {
		c.payload = nil // do not keep a large payload's buffer for good
	}
	if c.payload, err = readN(c.r, c.payload, int(payLen)); err != nil {
		return fmt.Errorf("%w: a payload of %d bytes was cut short: %v", ErrProtocol, payLen, err)
	}
	c.decBuf.reset(c.env)
	*m = Msg{}
	if err := c.dec.Decode(m); err != nil {
		return fmt.Errorf("%w: an envelope of %d bytes does not decode: %v", ErrProtocol, envLen, err)
	}
	if c.decBuf.Len() != 0 {
		return fmt.Errorf("%w: %d stray bytes after a %v message", ErrProtocol, c.decBuf.Len(), m.Kind)
	}
	if m.Kind >= kindEnd {
		return fmt.Errorf("%w: unknown message kind %d", ErrProtocol, uint8(m.Kind))
	}
	if err := m.Err.Check(); err != nil {
		return err
	}
	for _, f := range m.Failures {
		if err := f.Err.Check(); err != nil {
			return err
		}
	}
	if payLen > 0 {
		m.Payload = c.payload
	}
	return nil
}

// readN reads exactly n bytes into buf (reusing its room) and returns
// them. It grows buf by at most readChunk ahead of the bytes received, so
// a length that lies costs no more memory than the bytes that came.
func readN(r io.Reader, buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		want := min(n-len(buf), readChunk)
		if cap(buf)-len(buf) < want {
			grown := make([]byte, len(buf), max(len(buf)+want, min(n, 2*cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// sliceReader reads a byte slice that the owner replaces for each frame,
// so a gob decoder that lives as long as the stream reads every frame
// without copying it. It is an io.ByteReader, so gob does not buffer ahead.
type sliceReader struct{ b []byte }

func (r *sliceReader) reset(b []byte) { r.b = b }

// Len returns the bytes not yet read.
func (r *sliceReader) Len() int { return len(r.b) }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}
