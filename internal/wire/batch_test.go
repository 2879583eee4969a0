package wire

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// decodeBatch decodes a batch's payload as the other side does.
func decodeBatch[T any](t *testing.T, dec *Streams, key string, b Batch) []T {
	t.Helper()
	got, err := DecodeValue[[]T](dec, key, b.Gen, b.Payload)
	if err != nil {
		t.Fatalf("decoding the batch's payload: %v", err)
	}
	return got
}

// failedIndexes returns the indexes in Failed, sorted.
func failedIndexes(b Batch) []int { return slices.Sorted(maps.Keys(b.Failed)) }

// blob is a []byte of n bytes, each n%256 so that they differ.
func blob(n int) []byte { return bytes.Repeat([]byte{byte(n)}, n) }

func TestEncodeBatch(t *testing.T) {
	t.Parallel()
	loop := &node{Name: "loop"}
	loop.Next = loop
	refused := func() {} // gob refuses a func, even in an interface
	tests := []struct {
		name         string
		items        []any
		max, itemMax int
		failed       []int // the items that do not encode alone
		why          string
		leftOut      []any // LeaveOut's payload
		zeroed       []any // ZeroOut's payload
		over         bool  // the payload is over itemMax
	}{{
		name:    "none fails",
		items:   []any{1, "two", 3.0},
		leftOut: []any{1, "two", 3.0},
		zeroed:  []any{1, "two", 3.0},
	}, {
		name:    "a value gob refuses fails alone",
		items:   []any{1, refused, 3},
		failed:  []int{1},
		why:     "func",
		leftOut: []any{1, 3},
		zeroed:  []any{1, nil, 3},
	}, {
		name:    "a panicking GobEncode fails alone",
		items:   []any{panicky{1}, panicky{-1}, panicky{2}},
		failed:  []int{1},
		why:     "panicked",
		leftOut: []any{panicky{1}, panicky{2}},
		zeroed:  []any{panicky{1}, nil, panicky{2}},
	}, {
		name:    "a value that refers to itself fails alone",
		items:   []any{&node{Name: "a"}, loop, &node{Name: "b"}},
		failed:  []int{1},
		why:     ErrCyclic.Error(),
		leftOut: []any{&node{Name: "a"}, &node{Name: "b"}},
		zeroed:  []any{&node{Name: "a"}, nil, &node{Name: "b"}},
	}, {
		name:    "an item over its own bound fails alone",
		items:   []any{blob(10), blob(1000), blob(20)},
		max:     1 << 20,
		itemMax: 500,
		failed:  []int{1},
		why:     ErrTooLarge.Error(),
		leftOut: []any{blob(10), blob(20)},
		zeroed:  []any{blob(10), nil, blob(20)},
	}, {
		name:    "items each within their bound go as encoded, over it together",
		items:   []any{blob(150), blob(151), blob(152)},
		max:     1 << 20,
		itemMax: 300,
		leftOut: []any{blob(150), blob(151), blob(152)},
		zeroed:  []any{blob(150), blob(151), blob(152)},
		over:    true,
	}, {
		name:    "an item over the payload's bound fails alone",
		items:   []any{blob(10), blob(1000)},
		max:     500,
		failed:  []int{1},
		why:     ErrTooLarge.Error(),
		leftOut: []any{blob(10)},
		zeroed:  []any{blob(10), nil},
	}, {
		name:    "all fail",
		items:   []any{refused, panicky{-1}, loop},
		failed:  []int{0, 1, 2},
		leftOut: nil, // nothing encoded
		zeroed:  []any{nil, nil, nil},
	}}
	for _, tt := range tests {
		for _, mode := range []BatchMode{LeaveOut, ZeroOut} {
			for _, sc := range []bool{false, true} {
				name := fmt.Sprintf("%s/mode=%d/self-contained=%v", tt.name, mode, sc)
				enc, dec := NewStreams(), NewStreams()
				if sc {
					enc = NewSelfContainedStreams()
				}
				b, err := EncodeBatch(enc, "k", tt.items, tt.max, tt.itemMax, mode)
				if err != nil {
					t.Errorf("%s: EncodeBatch() = %v", name, err)
					continue
				}
				if got := failedIndexes(b); !slices.Equal(got, tt.failed) {
					t.Errorf("%s: Failed %v; want %v", name, b.Failed, tt.failed)
				}
				for _, i := range tt.failed {
					if tt.why != "" && !strings.Contains(b.Failed[i].Error(), tt.why) {
						t.Errorf("%s: item %d failed with %v; want %q", name, i, b.Failed[i], tt.why)
					}
				}
				want := tt.leftOut
				if mode == ZeroOut {
					want = tt.zeroed
				}
				if want == nil {
					if b.Payload != nil {
						t.Errorf("%s: a payload of %d bytes; want none", name, len(b.Payload))
					}
					continue
				}
				if tt.over && len(b.Payload) <= tt.itemMax {
					t.Errorf("%s: a payload of %d bytes; the test wants one over %d", name, len(b.Payload), tt.itemMax)
				}
				if got := decodeBatch[any](t, dec, "k", b); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: the payload decodes to %v; want %v", name, got, want)
				}
			}
		}
	}
}

// Each item encodes alone, not all together: that is the error, and
// nothing is encoded.
func TestEncodeBatchTooLargeTogether(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		items  []any
		failed []int
	}{
		{"each within the bound", []any{blob(150), blob(151), blob(152)}, nil},
		{"the others, after one failed alone", []any{blob(150), panicky{-1}, blob(151), blob(152)}, []int{1}},
	} {
		for _, mode := range []BatchMode{LeaveOut, ZeroOut} {
			b, err := EncodeBatch(NewStreams(), "k", tt.items, 400, 0, mode)
			if !errors.Is(err, ErrTooLarge) || b.Payload != nil || !slices.Equal(failedIndexes(b), tt.failed) {
				t.Errorf("%s, mode %d: EncodeBatch() = %d bytes, Failed %v, %v; want ErrTooLarge, no payload, Failed %v",
					tt.name, mode, len(b.Payload), b.Failed, err, tt.failed)
			}
		}
	}
}

// On a connection's streams, every payload EncodeBatch returns decodes in
// order, whatever happened to the ones it threw away: a payload encoded
// and not sent ends the stream's generation as a failed encode does.
func TestEncodeBatchKeepsStatefulStreamsInStep(t *testing.T) {
	t.Parallel()
	type item struct {
		Name string
		B    []byte
		P    *panicky
	}
	small := func(i int) item { return item{Name: fmt.Sprint("small ", i), B: blob(i)} }
	big := item{Name: "big", B: blob(1000)}
	bad := item{Name: "bad", P: &panicky{-1}}
	batches := [][]item{
		// First on the stream: encoded (with the type's description),
		// over the item bound, thrown away for the other items.
		{small(1), big, small(2)},
		{small(3), small(4)},
		{small(5), bad, small(6)}, // the encode fails: a new generation
		{small(7)},
		{small(8), big, small(9)},
		{big, small(10), big},
		{small(11), small(12)},
	}
	for _, mode := range []BatchMode{LeaveOut, ZeroOut} {
		enc, dec := NewStreams(), NewStreams()
		var gens []uint32
		for n, items := range batches {
			b, err := EncodeBatch(enc, "k", items, 1<<20, 500, mode)
			if err != nil {
				t.Fatalf("mode %d, batch %d: %v", mode, n, err)
			}
			gens = append(gens, b.Gen)
			got := decodeBatch[item](t, dec, "k", b)
			var want []item
			for i, it := range items {
				if _, failed := b.Failed[i]; !failed {
					want = append(want, it)
				} else if mode == ZeroOut {
					want = append(want, item{})
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("mode %d, batch %d: decoded %+v; want %+v", mode, n, got, want)
			}
		}
		if !slices.IsSorted(gens) || gens[0] < 2 {
			t.Errorf("mode %d: generations %v; want them rising, the first batch's a new one", mode, gens)
		}
	}
}

// TestEncodeBatchAsTheCallSitesUseIt runs chunks through the two call
// sites' shapes, on a connection's streams and on self-contained ones: an
// executor encodes a chunk's arguments (leaving out the inputs that do not
// cross, which fail alone), a worker decodes them, runs the task, and
// encodes its results (keeping each input's place: a result that does not
// cross fails its input alone), and the executor decodes them.
func TestEncodeBatchAsTheCallSitesUseIt(t *testing.T) {
	t.Parallel()
	// The task: an argument n gives a result of n bytes; -1 panics in
	// GobEncode on the way out.
	run := func(a panicky) any {
		if a.N == 200 {
			return panicky{-1}
		}
		return blob(a.N)
	}
	const itemMax = 150 // each argument's and each result's own bound
	tests := []struct {
		name string
		args []panicky
		want []string // per input: "ok" or a piece of its error
	}{
		{"all cross", []panicky{{1}, {2}, {3}}, []string{"ok", "ok", "ok"}},
		{"an argument that does not cross fails alone", []panicky{{1}, {-1}, {3}}, []string{"ok", "arguments", "ok"}},
		{"every argument fails", []panicky{{-1}, {-1}}, []string{"arguments", "arguments"}},
		{"a result over its bound fails alone", []panicky{{1}, {151}, {3}}, []string{"ok", "result", "ok"}},
		{"a result that does not encode fails alone", []panicky{{1}, {200}, {3}}, []string{"ok", "result", "ok"}},
		{"results each within their bound, over it together", []panicky{{60}, {61}, {62}}, []string{"ok", "ok", "ok"}},
	}
	for _, sc := range []bool{false, true} {
		newStreams := NewStreams
		if sc {
			newStreams = NewSelfContainedStreams
		}
		// One pair of streams each way for all the chunks, as on a
		// connection.
		execOut, workerIn, workerOut, execIn := newStreams(), NewStreams(), newStreams(), NewStreams()
		for _, tt := range tests {
			name := fmt.Sprintf("%s/self-contained=%v", tt.name, sc)
			errs := make([]error, len(tt.args))
			// The executor (remoteBatch.Encode).
			args, err := EncodeBatch(execOut, "A", tt.args, 3*itemMax, itemMax, LeaveOut)
			if err != nil {
				t.Fatalf("%s: arguments: %v", name, err)
			}
			var sent []int
			for i := range tt.args {
				if e, bad := args.Failed[i]; bad {
					errs[i] = fmt.Errorf("the arguments cannot cross: %w", e)
					continue
				}
				sent = append(sent, i)
			}
			if len(sent) > 0 {
				// The worker (workerBatch.Answer).
				in, err := DecodeValue[[]panicky](workerIn, "A", args.Gen, args.Payload)
				if err != nil || len(in) != len(sent) {
					t.Fatalf("%s: the worker decodes %d arguments, %v; want %d", name, len(in), err, len(sent))
				}
				rs := make([]any, len(in))
				for k, a := range in {
					rs[k] = run(a)
				}
				res, err := EncodeBatch(workerOut, "R", rs, 3*itemMax, itemMax, ZeroOut)
				if err != nil {
					t.Fatalf("%s: results: %v", name, err)
				}
				// The executor again (remoteBatch.Deliver).
				out, err := DecodeValue[[]any](execIn, "R", res.Gen, res.Payload)
				if err != nil || len(out) != len(sent) {
					t.Fatalf("%s: the executor decodes %d results, %v; want %d", name, len(out), err, len(sent))
				}
				for k, i := range sent {
					if e, bad := res.Failed[k]; bad {
						errs[i] = fmt.Errorf("the result cannot cross: %w", e)
					} else if !reflect.DeepEqual(out[k], run(tt.args[i])) {
						t.Errorf("%s: input %d: result %v; want %v", name, i, out[k], run(tt.args[i]))
					}
				}
			}
			for i, want := range tt.want {
				if got := errs[i]; (want == "ok") != (got == nil) || (got != nil && !strings.Contains(got.Error(), want)) {
					t.Errorf("%s: input %d: %v; want %s", name, i, got, want)
				}
			}
		}
	}
}

func init() {
	// The concrete types the tests carry in interfaces.
	gob.Register(panicky{})
	gob.Register(&node{})
}
