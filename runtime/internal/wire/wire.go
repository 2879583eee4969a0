// Package wire carries the messages between a ProcessPool and its worker
// processes: length-prefixed frames, each holding one envelope (Msg)
// encoded with encoding/gob on a stream that lives as long as the
// connection, so type descriptions cross once and every later message
// carries only values. Task arguments and results travel inside envelopes
// as payloads encoded on streams of their own, one per task and direction
// (see Streams). Nothing here knows about pipes: any io.Reader and
// io.Writer pair will do, so the same messages can ride another transport.
package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version a worker announces in its Hello. A
// parent refuses a worker that speaks another.
const Version = 1

// DefaultMaxFrame bounds the size of one frame unless NewConn is told
// otherwise: a longer length prefix is a protocol error, reported before
// anything is allocated.
const DefaultMaxFrame = 256 << 20

// Kind says what a message is.
type Kind uint8

// The message kinds. Parent to worker: Call, Batch, Cancel, Bye. Worker
// to parent: Hello, Result, Error, Panic, BatchResult.
const (
	KindHello       Kind = iota + 1 // the worker is ready: Hello is set
	KindCall                        // run Task on Payload; ID names the call
	KindBatch                       // run Task on each of Count inputs in Payload; IDs ID…ID+Count-1
	KindCancel                      // end the context of call ID
	KindBye                         // finish the work at hand and exit
	KindResult                      // call ID returned Payload
	KindError                       // call ID failed: Text, and CtxErr when it was its context's error
	KindPanic                       // call ID panicked: Text is the value, Stack the worker's stack
	KindBatchResult                 // batch ID is done: Payload holds the results, Failures the items that failed
)

var kindNames = [...]string{"", "hello", "call", "batch", "cancel", "bye", "result", "error", "panic", "batch result"}

// String names the kind, as error messages show it.
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Context errors, for Msg.CtxErr.
const (
	CtxCanceled         = 1
	CtxDeadlineExceeded = 2
)

// Msg is one message. Only the fields its Kind names are set.
type Msg struct {
	Kind     Kind
	ID       uint64
	Count    int
	Task     string
	Deadline int64 // Call, Batch: the context's deadline in Unix nanoseconds, or 0
	Payload  []byte
	Text     string
	Stack    string
	CtxErr   uint8
	Failures []Failure
	Hello    *Hello
}

// Failure is one failed item of a batch.
type Failure struct {
	Index  int
	Panic  bool
	Text   string
	Stack  string
	CtxErr uint8
}

// Hello is what a worker says once it is ready.
type Hello struct {
	Version    int
	PID        int
	Tasks      []TaskSig // the worker's dispatch table, sorted by name
	SetupError string    // non-empty: the worker's set-up failed
}

// TaskSig names a task and its type signature, to compare dispatch tables.
type TaskSig struct {
	Name, Signature string
}

// ErrProtocol is wrapped by every error about malformed input.
var ErrProtocol = errors.New("futuresgen wire protocol error")

// Conn reads and writes messages. Reading and writing are independent:
// one goroutine may read while another writes, but two may not write (or
// read) at once.
type Conn struct {
	r   *bufio.Reader
	w   *bufio.Writer
	max int

	enc    *gob.Encoder
	encBuf bytes.Buffer
	dec    *gob.Decoder
	decBuf sliceReader // reads the current frame in place
	frame  []byte
	whdr   [4]byte // the writer's, apart from the reader's
	rhdr   [4]byte
}

// NewConn returns a connection reading frames from r and writing them to
// w, refusing frames longer than maxFrame bytes (DefaultMaxFrame if 0).
func NewConn(r io.Reader, w io.Writer, maxFrame int) *Conn {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	c := &Conn{r: bufio.NewReaderSize(r, 64<<10), w: bufio.NewWriterSize(w, 64<<10), max: maxFrame}
	c.enc = gob.NewEncoder(&c.encBuf)
	c.dec = gob.NewDecoder(&c.decBuf)
	return c
}

// Write encodes m into the write buffer. Call Flush to send what was
// written.
func (c *Conn) Write(m *Msg) error {
	c.encBuf.Reset()
	if err := c.enc.Encode(m); err != nil {
		return fmt.Errorf("encoding a %v message: %w", m.Kind, err)
	}
	n := c.encBuf.Len()
	if n > c.max {
		return fmt.Errorf("%w: a %v message of %d bytes exceeds the frame limit of %d bytes", ErrProtocol, m.Kind, n, c.max)
	}
	binary.BigEndian.PutUint32(c.whdr[:], uint32(n))
	if _, err := c.w.Write(c.whdr[:]); err != nil {
		return err
	}
	_, err := c.w.Write(c.encBuf.Bytes())
	return err
}

// Flush sends the messages written so far.
func (c *Conn) Flush() error { return c.w.Flush() }

// Buffered reports whether written messages wait for Flush.
func (c *Conn) Buffered() bool { return c.w.Buffered() > 0 }

// Read reads the next message into m. It returns io.EOF at a clean end of
// the stream, and an error wrapping ErrProtocol for a frame that is too
// long, cut short, or does not decode; after such an error the
// connection is unusable.
func (c *Conn) Read(m *Msg) error {
	if _, err := io.ReadFull(c.r, c.rhdr[:]); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("%w: reading a frame header: %v", ErrProtocol, err)
	}
	n := int(binary.BigEndian.Uint32(c.rhdr[:]))
	if n > c.max || n < 0 {
		return fmt.Errorf("%w: a frame of %d bytes exceeds the limit of %d bytes", ErrProtocol, n, c.max)
	}
	if cap(c.frame) < n {
		c.frame = make([]byte, n)
	}
	c.frame = c.frame[:n]
	if _, err := io.ReadFull(c.r, c.frame); err != nil {
		return fmt.Errorf("%w: a frame of %d bytes was cut short: %v", ErrProtocol, n, err)
	}
	c.decBuf.reset(c.frame)
	*m = Msg{}
	if err := c.dec.Decode(m); err != nil {
		return fmt.Errorf("%w: a frame of %d bytes does not decode: %v", ErrProtocol, n, err)
	}
	if c.decBuf.Len() != 0 {
		return fmt.Errorf("%w: %d stray bytes after a %v message", ErrProtocol, c.decBuf.Len(), m.Kind)
	}
	if m.Kind < KindHello || m.Kind > KindBatchResult {
		return fmt.Errorf("%w: unknown message kind %d", ErrProtocol, uint8(m.Kind))
	}
	return nil
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
