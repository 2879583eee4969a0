// Package wire carries the messages between an executor (a ProcessPool,
// a cluster driver) and its workers, and how each value in them is
// encoded, each in one place. Nothing here knows about pipes or networks:
// any io.Reader and io.Writer pair will do.
//
//   - Frames (conn.go): length-prefixed, each holding one envelope (Msg)
//     encoded with encoding/gob on a stream that lives as long as the
//     connection, followed by the message's payload bytes, which travel
//     outside the envelope so that a large argument is copied once.
//   - Payloads (streams.go, value.go): task arguments and results, boxed
//     (Box) so that gob carries any value, on streams of their own, one
//     per task and direction (Streams), or each self-contained.
//   - Batches (batch.go): a chunk's arguments or results as one payload;
//     EncodeBatch finds the items that cannot cross and encodes the rest.
//   - The self-contained codec (selfcontained.go): values that each decode
//     alone, fast; used by self-contained streams (a cluster's) and by
//     the values of registered error types (internal/registry).
//   - What gob does with a type (gobtypes.go: whether it encodes itself,
//     whether it holds an interface), asked by the codec and by the cycle
//     check (acyclic.go), which keeps a value that refers to itself from
//     reaching gob.
//
// Limits: an envelope is at most MaxEnvelope bytes and a payload at most
// the connection's payload limit (DefaultMaxPayload unless told
// otherwise). A frame header that claims more is a protocol error, and a
// reader never allocates more than it has received plus one chunk.
package wire

import (
	"errors"
	"fmt"
	"time"
)

// Version is the protocol version a worker announces in its Hello (and a
// cluster worker in its announcements). An executor refuses a worker that
// speaks another. It changes with the bytes of anything that crosses:
// frames, envelopes, payloads, error values. 3: the values of registered
// error types are self-contained payloads (EncodeSelfContained), no
// longer a format of the registry's own.
const Version = 3

// DeadlineSlack is how long a worker told that a call's deadline passed
// waits for its own copy of the deadline (set from the time remaining
// when the call was sent, so a little later) to end the task before it
// cancels the task itself.
const DeadlineSlack = time.Second

// Kind says what a message is.
type Kind uint8

// The message kinds. Executor to worker: Call, Batch, Cancel, Revoke, Grant, Bye.
// Worker to executor: Hello, Started, Revoked, Ungranted, Ask, Result,
// Error, Panic, BatchResult.
const (
	kindPrime       Kind = iota // the first frame of a stream: carries the envelope's type, nothing else
	KindHello                   // the worker is ready: Hello is set
	KindCall                    // run Task on Payload; ID names the call
	KindBatch                   // run Task on each of Count inputs in Payload
	KindCancel                  // end the context of call ID; a call not started is dropped (Revoked)
	KindRevoke                  // drop call ID if it has not started (Revoked); otherwise nothing
	KindBye                     // finish the work at hand and exit
	KindStarted                 // call ID, sent ahead, has started
	KindRevoked                 // call ID was dropped before it started: it never runs there
	KindResult                  // call ID returned Payload
	KindError                   // call ID failed with Err (it may not have started: no Started came)
	KindPanic                   // call ID panicked: Text is the value, Stack the worker's stack, Err the value if it is an error
	KindBatchResult             // batch ID is done: Payload holds the results, Failures the items that failed
	KindGrant                   // the calls up to ID may start once a slot is free
	KindUngranted               // call ID, held, gave up its grant: it starts only if granted again
	KindAsk                     // the worker that gave up grants asks for grants again: a slot freed
	kindEnd
)

var kindNames = [...]string{"prime", "hello", "call", "batch", "cancel", "revoke", "bye", "started", "revoked", "result", "error", "panic", "batch result", "grant", "ungranted", "ask"}

// String names the kind, as error messages show it.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Msg is one message. Only the fields its Kind names are set.
type Msg struct {
	Kind  Kind
	ID    uint64
	Task  string // Call, Batch
	Count int    // Batch, BatchResult: the number of items
	// Ahead marks a call sent ahead of need (Call, Batch): the worker may
	// have to queue it, says Started before it runs it, and drops it on
	// Revoke. A call without Ahead is started at once: the executor
	// counts it as running from the moment it sent it.
	Ahead bool
	// Timeout is the time the call's context had left when it was sent,
	// in nanoseconds (0: no deadline). Deadlines travel as time remaining
	// because clocks differ between hosts. On a Cancel, nonzero means the
	// call's deadline passed: the worker lets its own copy of it end the
	// task (which then sees context.DeadlineExceeded), cancelling only if
	// that has not happened within DeadlineSlack.
	Timeout int64
	// ItemMax bounds the encoded result of each input of a Batch (0: only
	// the payload limit bounds them, all together): a result over it fails
	// its own input. An executor whose own limit is lower than the
	// connection's (a cluster's MaxPayload) sets it.
	ItemMax int
	// Full marks a Revoked sent for want of a free slot: the worker
	// takes nothing more until it says it has room.
	Full     bool
	Gen      uint32 // the generation of Payload's stream (see Streams)
	Err      *Error // Error: the task's error; Panic: the panic value, when it is an error
	Text     string // Panic: the panic value's text
	Stack    string // Panic: the worker's stack
	Failures []Failure
	Hello    *Hello

	// Payload travels after the envelope, not inside it. After Read it
	// is valid until the next Read on the same connection.
	Payload []byte
}

// Failure is one failed item of a batch.
type Failure struct {
	Index int
	Panic bool   // the item panicked: Text and Stack say how
	Err   *Error // the item's error, or the panic value when it is an error
	Text  string
	Stack string
}

// Hello is what a worker says once it is ready.
type Hello struct {
	Version    int
	PID        int
	Host       string
	Slots      int       // calls the worker runs at once
	Tasks      []TaskSig // the worker's dispatch table, sorted by name
	SetupError string    // non-empty: the worker's set-up failed
}

// TaskSig names a task and its type signature, to compare dispatch tables.
type TaskSig struct {
	Name, Signature string
}

// Error is an error as it crosses a boundary: its message, and what the
// other side needs to give errors.Is and errors.As the same answers. The
// error tree is flat, so that decoding it never recurses: Nodes[0] is the
// error itself, and every other node names its parent, an earlier node.
type Error struct {
	Nodes []ErrNode
}

// ErrNode is one error of an error tree.
type ErrNode struct {
	Text     string // Error() of this node
	Parent   int    // the index of the node that wraps this one (unused for Nodes[0])
	Joined   bool   // this node's children came from Unwrap() []error, not Unwrap() error
	Sentinel string // the registered name of the sentinel this node is, if any
	Type     string // the registered name of this node's error type, if its value travels
	Value    []byte // the value, a self-contained payload (EncodeSelfContained), when Type is set; empty for a nil pointer
}

// Text returns the message of the error: its top node's.
func (e *Error) Text() string {
	if e == nil || len(e.Nodes) == 0 {
		return ""
	}
	return e.Nodes[0].Text
}

// Check reports whether the tree is well formed: every node's parent an
// earlier node.
func (e *Error) Check() error {
	if e == nil {
		return nil
	}
	if len(e.Nodes) == 0 {
		return fmt.Errorf("%w: an error with no nodes", ErrProtocol)
	}
	for i, n := range e.Nodes[1:] {
		if n.Parent < 0 || n.Parent > i {
			return fmt.Errorf("%w: error node %d names parent %d", ErrProtocol, i+1, n.Parent)
		}
	}
	return nil
}

// ErrProtocol is wrapped by every error about malformed input.
var ErrProtocol = errors.New("futuresgen wire protocol error")

// ErrTooLarge is wrapped by the error of a payload or envelope over its
// limit. Nothing is written: the connection stays usable.
var ErrTooLarge = errors.New("too large for the connection")
