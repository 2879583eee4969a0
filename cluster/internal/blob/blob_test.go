package blob_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
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
		ref, release, err := blob.Offer(holder, "test.blob", data, func() { close(ended) })
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
	ref, _, err := blob.Offer(holder, "test.blob", pattern(2<<20), func() { close(ended) })
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
	ref, release, err := blob.Offer(holder, "test.blob", pattern(2<<20), nil)
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
	ref, release, err := blob.Offer(holder, "test.blob", pattern(2<<20), nil)
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
