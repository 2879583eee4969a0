package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
)

const benchSize = 64 << 20

// BenchmarkMove64MiB moves 64 MiB from one connection to another through
// an embedded server on a loopback port: offer+fetch in chunks with
// several windows, against JetStream's object store (put, then get) on
// file and memory storage. One op is one value moved.
func BenchmarkMove64MiB(b *testing.B) {
	data := pattern(benchSize)
	for _, bc := range []struct {
		window     int
		maxPayload int32
	}{{2, 0}, {8, 0}, {32, 0}, {2, 8 << 20}, {8, 8 << 20}} {
		name := fmt.Sprintf("chunks-window%d", bc.window)
		if bc.maxPayload != 0 {
			name += fmt.Sprintf("-maxpayload%dMiB", bc.maxPayload>>20)
		}
		w := bc.window
		b.Run(name, func(b *testing.B) {
			holder, fetcher := pairWith(b, embedded.Config{Listen: "127.0.0.1:0", MaxPayload: bc.maxPayload})
			b.SetBytes(benchSize)
			for b.Loop() {
				ref, release, err := blob.OfferTo(holder, "bench.blob", blob.Reader{ID: "r"}, data, nil)
				if err != nil {
					b.Fatal(err)
				}
				got, err := blob.Fetch(context.Background(), fetcher, ref, benchSize, blob.FetchOptions{Window: w})
				if err != nil || len(got) != benchSize {
					b.Fatalf("Fetch: %d bytes, %v", len(got), err)
				}
				release()
			}
		})
	}
	for _, st := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		b.Run("objectstore-"+st.String(), func(b *testing.B) {
			s := embeddedtest.StartT(b, embedded.Config{Listen: "127.0.0.1:0", JetStream: true})
			var conns []*nats.Conn
			for range 2 {
				nc, err := s.Connect()
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				conns = append(conns, nc)
			}
			ctx := context.Background()
			var stores []jetstream.ObjectStore
			for i, nc := range conns {
				js, err := jetstream.New(nc)
				if err != nil {
					b.Fatal(err)
				}
				var os jetstream.ObjectStore
				if i == 0 {
					os, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "bench", Storage: st})
				} else {
					os, err = js.ObjectStore(ctx, "bench")
				}
				if err != nil {
					b.Fatal(err)
				}
				stores = append(stores, os)
			}
			b.SetBytes(benchSize)
			i := 0
			for b.Loop() {
				i++
				name := fmt.Sprintf("v%d", i)
				if _, err := stores[0].PutBytes(ctx, name, data); err != nil {
					b.Fatal(err)
				}
				got, err := stores[1].GetBytes(ctx, name)
				if err != nil || !bytes.Equal(got[:16], data[:16]) || len(got) != benchSize {
					b.Fatalf("GetBytes: %d bytes, %v", len(got), err)
				}
				if err := stores[0].Delete(ctx, name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
