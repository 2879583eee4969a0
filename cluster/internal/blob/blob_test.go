package blob_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns two connections to one server on a loopback port: the
// holder's and the fetcher's.
func pair(t testing.TB) (holder, fetcher *nats.Conn) {
	t.Helper()
	return pairWith(t, embedded.Config{Listen: "127.0.0.1:0"})
}

func pairWith(t testing.TB, cfg embedded.Config) (holder, fetcher *nats.Conn) {
	t.Helper()
	s := embeddedtest.StartT(t, cfg)
	var conns []*nats.Conn
	for range 2 {
		nc, err := s.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	return conns[0], conns[1]
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>16)
	}
	return b
}

func TestFetchGetsWhatWasOffered(t *testing.T) {
	holder, fetcher := pair(t)
	for _, size := range []int{0, 1, 1<<20 - 4<<10, 1 << 20, 3<<20 + 17, 64 << 20} {
		data := pattern(size)
		ended := make(chan struct{})
		ref, release, err := blob.OfferTo(holder, "test.blob", reader, data, func() { close(ended) })
		if err != nil {
			t.Fatal(err)
		}
		got, err := blob.Fetch(context.Background(), fetcher, ref, 64<<20, blob.FetchOptions{})
		if err != nil {
			t.Fatalf("Fetch of %d bytes: %v", size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("Fetch of %d bytes gave %d different bytes", size, len(got))
		}
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("the offer of %d bytes did not end after its fetch", size)
		}
		release() // a second release does nothing
	}
}

func TestFetchRefusesTooLargeBeforeMovingAnything(t *testing.T) {
	holder, fetcher := pair(t)
	ended := make(chan struct{})
	ref, _, err := blob.OfferTo(holder, "test.blob", reader, pattern(2<<20), func() { close(ended) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = blob.Fetch(context.Background(), fetcher, ref, 1<<20, blob.FetchOptions{})
	if !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("Fetch over the limit: err = %v; want ErrTooLarge", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder was not told that the fetch gave up")
	}
}

func TestFetchFromAGoneHolderFailsNamingTheChunk(t *testing.T) {
	holder, fetcher := pair(t)
	ref, release, err := blob.OfferTo(holder, "test.blob", reader, pattern(2<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	release()
	holder.Flush()
	_, err = blob.Fetch(context.Background(), fetcher, ref, 64<<20, blob.FetchOptions{ChunkTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer for the chunk at 0") {
		t.Fatalf("Fetch from a released offer: err = %v; want one naming the chunk at 0", err)
	}
}

func TestFetchEndsWithItsContext(t *testing.T) {
	holder, fetcher := pair(t)
	ref, release, err := blob.OfferTo(holder, "test.blob", reader, pattern(2<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := blob.Fetch(ctx, fetcher, ref, 64<<20, blob.FetchOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch with an ended ctx: err = %v; want context.Canceled", err)
	}
}

// reader is the reader of the offers of tests without permissions: any
// token, and any reply subject.
var reader = blob.Reader{ID: "r"}

// TestFetchUnderPermissions moves values both ways between a driver and a
// worker on a server that gives each connection the permissions of its
// role (package secure): the driver offers an argument to the worker, the
// worker a result to the driver. Chunk replies pass only through the
// server's one-reply-per-request permission, so a window of requests
// sharing one reply subject would lose replies.
func TestFetchUnderPermissions(t *testing.T) {
	auth, err := secure.NewAuth("ns", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := embeddedtest.StartT(t, embedded.Config{Listen: "127.0.0.1:0", Auth: auth})
	var (
		conns [2]*nats.Conn
		mu    sync.Mutex
		errs  []error // the first few asynchronous errors
	)
	asyncErrs := func() []error {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
	for i, role := range []secure.Role{secure.Driver, secure.Worker} {
		nc, err := s.ConnectAs(role, nil, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			defer mu.Unlock()
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}
	for _, tc := range []struct {
		name           string
		holder, reader *nats.Conn
	}{
		{"driver to worker", conns[0], conns[1]},
		{"worker to driver", conns[1], conns[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner, id := secure.Identity(tc.holder), secure.Identity(tc.reader)
			data := pattern(5<<20 + 3)
			ended := make(chan struct{})
			ref, _, err := blob.OfferTo(tc.holder, "ns.b."+owner, blob.Reader{ID: id, Inbox: secure.InboxPrefix(id)}, data, func() { close(ended) })
			if err != nil {
				t.Fatal(err)
			}
			got, err := blob.Fetch(context.Background(), tc.reader, ref, 64<<20, blob.FetchOptions{Window: 8, ChunkTimeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Fetch: %v (asynchronous errors: %v)", err, asyncErrs())
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("Fetch gave %d different bytes", len(got))
			}
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the offer did not end after its fetch")
			}
		})
	}
	if errs := asyncErrs(); len(errs) > 0 {
		t.Errorf("asynchronous errors: %v", errs)
	}
}

// TestFetchWithoutResponses moves values both ways on a server that
// allows no replies beyond the permissions (secure.WithoutResponses):
// chunks come back on ns.b.<reader>.<owner>.<nuid>, where the owner may
// publish and the reader subscribe. Fetching with per-request inbox
// replies there gets nothing (the negative control).
func TestFetchWithoutResponses(t *testing.T) {
	auth, err := secure.NewAuth("ns", nil, secure.WithoutResponses())
	if err != nil {
		t.Fatal(err)
	}
	s := embeddedtest.StartT(t, embedded.Config{Listen: "127.0.0.1:0", Auth: auth})
	var conns [2]*nats.Conn
	for i, role := range []secure.Role{secure.Driver, secure.Worker} {
		nc, err := s.ConnectAs(role, nil, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}
	for _, tc := range []struct {
		name           string
		holder, reader *nats.Conn
	}{
		{"driver to worker", conns[0], conns[1]},
		{"worker to driver", conns[1], conns[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner, id := secure.Identity(tc.holder), secure.Identity(tc.reader)
			back := "ns.b." + id + "." + owner // where the owner answers this reader
			data := pattern(5<<20 + 3)
			ref, release, err := blob.OfferTo(tc.holder, "ns.b."+owner, blob.Reader{ID: id, Inbox: back}, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			got, err := blob.Fetch(context.Background(), tc.reader, ref, 64<<20, blob.FetchOptions{Reply: back + "." + nuid.Next(), ChunkTimeout: 5 * time.Second})
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Fetch: %d bytes, %v", len(got), err)
			}
			ref2, release2, err := blob.OfferTo(tc.holder, "ns.b."+owner, blob.Reader{ID: id, Inbox: secure.InboxPrefix(id)}, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer release2()
			if _, err := blob.Fetch(context.Background(), tc.reader, ref2, 64<<20, blob.FetchOptions{ChunkTimeout: 50 * time.Millisecond}); err == nil {
				t.Fatal("a fetch with inbox replies worked without responses")
			}
		})
	}
}

// TestAHolderAnswersOnlyTheReadersInbox: a request whose reply subject is
// not under the reader's inbox prefix gets no chunk, so that a reader
// cannot make the holder publish its bytes on someone else's subject.
func TestAHolderAnswersOnlyTheReadersInbox(t *testing.T) {
	holder, fetcher := pair(t) // the fetcher's inbox is _INBOX.<nuid>
	ref, release, err := blob.OfferTo(holder, "test.blob", blob.Reader{ID: "r", Inbox: "_INBOX.r"}, pattern(2<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = blob.Fetch(context.Background(), fetcher, ref, 64<<20, blob.FetchOptions{ChunkTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer for the chunk at 0") {
		t.Fatalf("Fetch with a reply subject outside the reader's inbox: err = %v; want no answer", err)
	}
}

func TestFetchRefusesARefWithABadSubject(t *testing.T) {
	_, fetcher := pair(t)
	for _, subject := range []string{"", "a.>", "a.*.b", "a..b", "a b", "a.\x00"} {
		ref := blob.Ref{Subject: subject, Size: 10, Chunk: 5}
		if _, err := blob.Fetch(context.Background(), fetcher, ref, 64<<20, blob.FetchOptions{}); err == nil || !strings.Contains(err.Error(), "bad ref") {
			t.Errorf("Fetch of a ref on %q: err = %v; want a bad ref", subject, err)
		}
	}
}

// TestOfferWithoutAReaderStillWorks covers Offer, kept for the cluster's
// callers until they name readers.
func TestOfferWithoutAReaderStillWorks(t *testing.T) {
	holder, fetcher := pair(t)
	data := pattern(3 << 20)
	ref, release, err := blob.Offer(holder, "test.blob", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	got, err := blob.Fetch(context.Background(), fetcher, ref, 64<<20, blob.FetchOptions{})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Fetch: %d bytes, %v", len(got), err)
	}
}
