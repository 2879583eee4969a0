package wire

import (
	"reflect"
	"slices"
)

// BatchMode says what becomes of the items of a batch that do not encode.
type BatchMode uint8

const (
	// LeaveOut leaves them out: the payload holds the other items, in
	// their order. For an executor's arguments: the worker runs what it
	// receives.
	LeaveOut BatchMode = iota
	// ZeroOut keeps their places, each with T's zero value: the payload
	// holds one value per item. For a worker's results, whose failures
	// name the input by its index.
	ZeroOut
)

// Batch is the items of a batch, encoded as one payload.
type Batch struct {
	// Payload and Gen are what Streams.Encode returned for the items
	// that encode (see EncodeBatch). Payload is nil when nothing was
	// encoded.
	Payload []byte
	Gen     uint32
	// Failed holds the items that do not encode on their own, by index,
	// and why; nil when none was found.
	Failed map[int]error
}

// alone encodes payloads that each cross on their own, to see whether an
// item of a batch does. Self-contained streams keep no state per key, so
// one serves every batch, at once.
var alone = NewSelfContainedStreams()

// EncodeBatch encodes items as one payload, a []T encoded by EncodeValue
// on the stream key of s, in at most max bytes (if max > 0). itemMax
// bounds each item encoded on its own, when it is above 0 and below max
// (or max is 0); otherwise max bounds each item as it bounds them all.
//
// When the items do not encode together (one is a value gob refuses,
// refers to itself, or has a GobEncode that fails or panics), or their
// payload is over itemMax, EncodeBatch encodes each item alone, as a
// self-contained payload within its bound, to find those that do not
// cross on their own. It reports them in Failed and encodes the others,
// as mode says (with LeaveOut and every item failed, nothing). If no item
// fails alone, the payload over itemMax goes as it is: every item is
// within its bound.
//
// The error, if not nil, is the one case left: the items that encode
// alone do not encode together. That is a payload over max (too large),
// or a value gob takes alone but refuses in a slice: a nil pointer.
// Nothing is encoded then; Failed still names the items that failed on
// their own, if any.
//
// The stream of key stays in step: a payload encoded and then thrown away
// ends its generation (see Streams), as a failed one does, so the payload
// returned decodes whether s is a stream of one connection or
// self-contained. Looking at each item costs one self-contained encode
// per item, and only when the batch does not go as it is.
func EncodeBatch[T any](s *Streams, key string, items []T, max, itemMax int, mode BatchMode) (Batch, error) {
	check := MayCycle(reflect.TypeFor[T]())
	payload, gen, err := EncodeValue(s, key, items, max, check)
	bound := max
	if itemMax > 0 && (max <= 0 || itemMax < max) {
		bound = itemMax
	}
	over := err == nil && bound > 0 && len(payload) > bound
	if err == nil && !over {
		return Batch{Payload: payload, Gen: gen}, nil
	}
	var failed map[int]error
	for i := range items {
		if _, _, ierr := EncodeValue(alone, "", items[i], bound, check); ierr != nil {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[i] = ierr
		}
	}
	switch {
	case failed == nil && err == nil: // each item within its bound
		return Batch{Payload: payload, Gen: gen}, nil
	case failed == nil: // each encodes alone, not all together
		return Batch{}, err
	case err == nil:
		// The payload encoded is not sent: the next one must not count
		// on the decoder having read its type definitions.
		s.restart(key)
	}
	var rest []T
	switch mode {
	case LeaveOut:
		rest = make([]T, 0, len(items)-len(failed))
		for i := range items {
			if _, bad := failed[i]; !bad {
				rest = append(rest, items[i])
			}
		}
		if len(rest) == 0 {
			return Batch{Failed: failed}, nil
		}
	case ZeroOut:
		rest = slices.Clone(items)
		var zero T
		for i := range failed {
			rest[i] = zero
		}
	}
	if payload, gen, err = EncodeValue(s, key, rest, max, check); err != nil {
		return Batch{Failed: failed}, err
	}
	return Batch{Payload: payload, Gen: gen, Failed: failed}, nil
}
