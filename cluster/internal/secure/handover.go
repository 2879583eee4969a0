package secure

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A hand-over gives a child process what it must not find in its argv or
// environment, both readable in /proc (argv by every local user, and the
// environment stays there after os.Unsetenv): the parent writes one frame
// to the child's standard input as soon as the child starts, and keeps the
// pipe open; the child reads exactly that frame, then keeps reading until
// EOF, which comes when the parent closes the pipe or dies. So stdin stays
// the child's "parent alive" signal:
//
//	parent                                child
//	cmd.StdinPipe(); cmd.Start()
//	WriteHandover(stdin, cfg)     ──→     cfg, err := ReadHandover(os.Stdin)
//	…                                     go func() { io.Copy(io.Discard, os.Stdin); stop() }()
//	stdin.Close()                 ──→     EOF: drain and exit
//
// A frame is the 4 bytes "FGH1", the payload's length as 4 big-endian
// bytes, and the payload, at most MaxHandover bytes. A pipe holds 64 KiB,
// so the parent's write of a small frame returns at once, whether or not
// the child reads it yet.

// MaxHandover is the largest payload a hand-over carries.
const MaxHandover = 1 << 20

// handoverMagic starts every hand-over frame.
const handoverMagic = "FGH1"

// ErrNoHandover is ReadHandover's error when the input ends before a
// frame starts: nothing was handed over (the parent closed the pipe, or
// this process was not started with one).
var ErrNoHandover = errors.New("secure: no hand-over on standard input")

// WriteHandover writes payload to w as one hand-over frame, in one Write.
func WriteHandover(w io.Writer, payload []byte) error {
	if len(payload) > MaxHandover {
		return fmt.Errorf("secure: hand-over of %d bytes; at most %d", len(payload), MaxHandover)
	}
	frame := make([]byte, 0, 8+len(payload))
	frame = append(frame, handoverMagic...)
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(payload)))
	frame = append(frame, payload...)
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("secure: writing a hand-over: %w", err)
	}
	return nil
}

// ReadHandover reads one hand-over frame from r and returns its payload.
// It reads no byte past the frame (no buffering), so that r can be read
// on, for EOF. It fails with ErrNoHandover when r ends first, and says so
// when r holds something else. Its errors never hold the payload.
func ReadHandover(r io.Reader) ([]byte, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		if err == io.EOF {
			return nil, ErrNoHandover
		}
		return nil, fmt.Errorf("secure: reading a hand-over: %w", err)
	}
	if string(head[:4]) != handoverMagic {
		return nil, errors.New("secure: standard input does not start with a hand-over")
	}
	n := binary.BigEndian.Uint32(head[4:])
	if n > MaxHandover {
		return nil, fmt.Errorf("secure: hand-over of %d bytes; at most %d", n, MaxHandover)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("secure: reading a hand-over of %d bytes: %w", n, err)
	}
	return payload, nil
}
