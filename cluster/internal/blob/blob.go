// Package blob moves values larger than NATS's max_payload between two
// connections, in chunks the receiver pulls.
//
// The side that has the bytes offers them (Offer) on a subject of their
// own and sends the small Ref in its ordinary message; the other side
// fetches (Fetch) when it needs them. The fetcher asks for chunk after
// chunk, a window of them at a time, so flow control is the fetcher's:
// nothing arrives that it did not ask for, a lost chunk is asked for again,
// and bytes waiting for a busy worker stay with their holder instead of
// in the worker's buffers. A fetch that ends tells the holder, which
// forgets the bytes.
//
// An offer names its one reader (OfferTo, Reader): on a server that gives each
// connection permissions for its own identity (package secure), only that
// reader may ask for the chunks, and the holder sends them only to the
// reader's inbox. By default every chunk request has a reply subject of
// its own under the reader's inbox, so that the chunks pass a server that
// allows one reply per request (allow_responses); on a server that allows
// no replies, FetchOptions.Reply names a subject the holder may publish on.
//
// On the project's 2-core machine, 64 MiB travel in about 100-200 ms over
// an embedded server on loopback (see ../NOTES.md), against 260-700 ms
// through JetStream's object store.
package blob

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Defaults for Fetch.
const (
	// DefaultWindow is how many chunk requests a fetch keeps in flight.
	DefaultWindow = 8
	// DefaultChunkTimeout is how long a fetch waits for a chunk before it
	// asks again; after maxAsks asks for one chunk it gives up.
	DefaultChunkTimeout = 2 * time.Second
	maxAsks             = 3
)

// flushTimeout bounds Offer's wait for the server to confirm its
// subscription.
const flushTimeout = 10 * time.Second

// headroom is what a chunk leaves of max_payload for the subject, reply
// and headers of its message.
const headroom = 4 << 10

// Header names on chunk messages.
const hdrOffset = "Fg-Blob-Offset"

// ErrTooLarge is the error of a Fetch whose Ref is larger than its limit.
var ErrTooLarge = errors.New("blob: too large")

// Ref names offered bytes; it travels inside an ordinary message.
type Ref struct {
	Subject string // where the holder answers chunk requests
	Size    int64  // bytes in all
	Chunk   int    // bytes per chunk (the last may be shorter)
}

// Reader says who may fetch an offer: the server's permissions let only
// the reader publish on the offer's subject (ns.b.<owner>.<reader>.<nuid>
// in the cluster's scheme), and the holder sends chunks only to reply
// subjects under the reader's inbox prefix, so that a reader cannot make
// the holder send them anywhere else.
type Reader struct {
	ID    string // the reader's identity: the subject's token after prefix
	Inbox string // the reader's inbox prefix (_INBOX.<ID>); "" takes any reply subject
}

// Offer is OfferTo without a named reader: on the subject prefix.<nuid>,
// answering any reply subject, as before readers were named. It keeps the
// cluster's current callers building until they move to OfferTo and the
// subjects ns.b.<owner>.<reader>.<nuid>; remove it then.
func Offer(nc *nats.Conn, prefix string, data []byte, done func()) (ref Ref, release func(), err error) {
	return offer(nc, prefix+"."+nuid.Next(), "", data, done)
}

// OfferTo makes data available to one reader, on the subject
// prefix.<reader>.<nuid> (prefix is for example "futures.b.<owner>"), and
// returns its Ref. The holder answers until a fetch completes or fails and
// says so, or until release is called; release may be called any number
// of times, also after that. data must not change until then. done, when
// not nil, runs once when the offer ends either way.
//
// Each chunk request gets one reply, on the request's own reply subject:
// a server that allows replies once per request (allow_responses) lets
// every chunk through. A request whose reply subject is not under
// to.Inbox is dropped.
func OfferTo(nc *nats.Conn, prefix string, to Reader, data []byte, done func()) (ref Ref, release func(), err error) {
	if !validToken(to.ID) {
		return Ref{}, nil, fmt.Errorf("blob: reader %q is not a subject token", to.ID)
	}
	replyPrefix := ""
	if to.Inbox != "" {
		replyPrefix = to.Inbox + "."
	}
	return offer(nc, prefix+"."+to.ID+"."+nuid.Next(), replyPrefix, data, done)
}

// offer offers data on subject, answering reply subjects that start with
// replyPrefix.
func offer(nc *nats.Conn, subject, replyPrefix string, data []byte, done func()) (ref Ref, release func(), err error) {
	chunk := int(nc.MaxPayload()) - headroom
	if chunk <= 0 {
		return Ref{}, nil, fmt.Errorf("blob: server max_payload %d is too small for chunks", nc.MaxPayload())
	}
	ref = Ref{Subject: subject, Size: int64(len(data)), Chunk: chunk}
	var (
		once sync.Once
		sub  *nats.Subscription
	)
	release = func() {
		once.Do(func() {
			if sub != nil {
				sub.Unsubscribe()
			}
			if done != nil {
				done()
			}
		})
	}
	sub, err = nc.Subscribe(ref.Subject, func(m *nats.Msg) {
		// Requests are handled one at a time, in arrival order (one
		// subscription, one callback goroutine): chunks leave in the order
		// they were asked for.
		text := string(m.Data)
		if text == "end" {
			go release() // Unsubscribe from inside the callback is fine; done may block
			return
		}
		off, err := strconv.ParseInt(text, 10, 64)
		if err != nil || off < 0 || off >= ref.Size || m.Reply == "" || !strings.HasPrefix(m.Reply, replyPrefix) {
			return // not a request of ours: nothing to answer
		}
		end := min(off+int64(chunk), ref.Size)
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(hdrOffset, text)
		reply.Data = data[off:end]
		nc.PublishMsg(reply) // copies data into the connection's buffer
	})
	if err != nil {
		return Ref{}, nil, fmt.Errorf("blob: offering %d bytes on %s: %w", len(data), ref.Subject, err)
	}
	// The subscription must reach the server before the Ref reaches anyone:
	// a fetcher's requests come over another connection, and nothing orders
	// them after our SUB but this round trip.
	if err := nc.FlushTimeout(flushTimeout); err != nil {
		release()
		return Ref{}, nil, fmt.Errorf("blob: offering %d bytes on %s: %w", len(data), ref.Subject, err)
	}
	return ref, release, nil
}

// validToken reports whether t is one subject token a publish can use:
// not empty, no '.', no wildcard, no white space or control character.
func validToken(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '.', c == '*', c == '>', c <= ' ', c == 0x7f:
			return false
		}
	}
	return true
}

// validSubject reports whether s is a subject a publish can use.
func validSubject(s string) bool {
	for t := range strings.SplitSeq(s, ".") {
		if !validToken(t) {
			return false
		}
	}
	return true
}

// FetchOptions tune Fetch; the zero value uses the defaults.
type FetchOptions struct {
	Window       int           // chunk requests in flight; default DefaultWindow
	ChunkTimeout time.Duration // wait for one chunk before asking again; default DefaultChunkTimeout

	// Reply, when set, is the one subject every chunk of this fetch comes
	// back on, for a server that allows no replies beyond its
	// permissions: ns.b.<reader>.<owner>.<nuid> in the cluster's scheme,
	// which the owner may publish on and the reader subscribe to, given
	// as the holder's Reader.Inbox ns.b.<reader>.<owner>. It must be new
	// for each fetch. By default each request has a reply subject of its
	// own under nc.NewInbox(), as a server that allows one reply per
	// request needs.
	Reply string
}

// Fetch gets the bytes ref names, at most limit of them (ErrTooLarge
// otherwise, before anything moves), and tells the holder it is done,
// whether it succeeded or not. It fails with ctx's error if ctx ends, and
// with an error naming the chunk when the holder stops answering.
func Fetch(ctx context.Context, nc *nats.Conn, ref Ref, limit int64, opts FetchOptions) ([]byte, error) {
	if ref.Size < 0 || ref.Chunk <= 0 || !validSubject(ref.Subject) {
		return nil, fmt.Errorf("blob: bad ref: subject %q, size %d, chunk %d", ref.Subject, ref.Size, ref.Chunk)
	}
	defer nc.Publish(ref.Subject, []byte("end"))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ref.Size > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrTooLarge, ref.Size, limit)
	}
	window := opts.Window
	if window <= 0 {
		window = DefaultWindow
	}
	timeout := opts.ChunkTimeout
	if timeout <= 0 {
		timeout = DefaultChunkTimeout
	}
	buf := make([]byte, ref.Size)
	n := int((ref.Size + int64(ref.Chunk) - 1) / int64(ref.Chunk))
	if n == 0 {
		return buf, nil
	}
	// Every request has a reply subject of its own, inbox.<k>: a server
	// that allows one reply per request subject and delivery
	// (allow_responses) would let only some of the window's replies
	// through if they shared one. nc.NewInbox, not nats.NewInbox: it keeps
	// the connection's inbox prefix, the only one its permissions may let
	// it subscribe to.
	inbox := nc.NewInbox()
	asked := 0 // requests sent, for reply subjects
	replyTo := func() string { return inbox + "." + strconv.Itoa(asked) }
	listen := inbox + ".*"
	if opts.Reply != "" {
		if !validSubject(opts.Reply) {
			return nil, fmt.Errorf("blob: fetching %s: reply subject %q", ref.Subject, opts.Reply)
		}
		replyTo = func() string { return opts.Reply }
		listen = opts.Reply
	}
	// A channel subscription: chunks wait in its buffer, never in a
	// callback; the window bounds how many can be there.
	ch := make(chan *nats.Msg, window)
	sub, err := nc.ChanSubscribe(listen, ch)
	if err != nil {
		return nil, fmt.Errorf("blob: fetching %s: %w", ref.Subject, err)
	}
	defer sub.Unsubscribe()

	got := make([]bool, n)
	asks := make([]int, n)
	askedAt := make([]time.Time, n)
	ask := func(i int) error {
		asks[i]++
		askedAt[i] = time.Now()
		asked++
		return nc.PublishRequest(ref.Subject, replyTo(), strconv.AppendInt(nil, int64(i)*int64(ref.Chunk), 10))
	}
	next, have := 0, 0 // the next chunk to ask for; chunks received
	for ; next < min(window, n); next++ {
		if err := ask(next); err != nil {
			return nil, fmt.Errorf("blob: fetching %s: %w", ref.Subject, err)
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for have < n {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case m := <-ch:
			off, err := strconv.ParseInt(m.Header.Get(hdrOffset), 10, 64)
			i := int(off / int64(ref.Chunk))
			if err != nil || off%int64(ref.Chunk) != 0 || i >= n || got[i] {
				continue // a late duplicate of a chunk asked for twice
			}
			want := min(int64(ref.Chunk), ref.Size-off)
			if int64(len(m.Data)) != want {
				return nil, fmt.Errorf("blob: %s: chunk at %d has %d bytes; want %d", ref.Subject, off, len(m.Data), want)
			}
			copy(buf[off:], m.Data)
			got[i] = true
			have++
			if next < n {
				if err := ask(next); err != nil {
					return nil, fmt.Errorf("blob: fetching %s: %w", ref.Subject, err)
				}
				next++
			}
		case <-timer.C:
			// Ask again for every chunk that has waited too long.
			now := time.Now()
			for i := range next {
				if got[i] || now.Sub(askedAt[i]) < timeout {
					continue
				}
				if asks[i] >= maxAsks {
					return nil, fmt.Errorf("blob: %s: no answer for the chunk at %d after %d asks of %v each",
						ref.Subject, int64(i)*int64(ref.Chunk), asks[i], timeout)
				}
				if err := ask(i); err != nil {
					return nil, fmt.Errorf("blob: fetching %s: %w", ref.Subject, err)
				}
			}
		}
		timer.Reset(timeout) // Go 1.23 timers: no drain needed
	}
	return buf, nil
}
