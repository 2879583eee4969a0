package task

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// box wraps a payload so that gob can carry any value, nil pointers
// included. It is encoded by pointer, so that a value whose GobEncode or
// MarshalBinary has a pointer receiver (big.Int) is addressable.
type box[T any] struct{ V T }

// EncodeValue encodes v on key, turning a panic in a type's own encoding
// method into an error. check says T may hold a cycle: look first.
func EncodeValue[T any](s *wire.Streams, key string, v T, max int, check bool) (out []byte, gen uint32, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoding panicked: %v", p)
		}
	}()
	b := &box[T]{v}
	if check {
		if err := wire.CheckAcyclic(b); err != nil {
			return nil, 0, err
		}
	}
	return s.Encode(key, b, max)
}

// DecodeValue decodes a value of key, turning a panic in a type's own
// decoding method into an error.
func DecodeValue[T any](s *wire.Streams, key string, gen uint32, data []byte) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoding panicked: %v", p)
		}
	}()
	var b box[T]
	err = s.Decode(key, gen, data, &b)
	return b.V, err
}

// CannotCross is the error of a value that did not encode: it names the
// task, what the value is, its type, and gob's reason.
func CannotCross(task, what string, t reflect.Type, err error) error {
	return fmt.Errorf("futuresgen: the %s of task %s (%s) cannot cross the process boundary: %w", what, task, t, err)
}

// ErrItemsOverMax sends a batch's values that encode within the payload
// limit, but over one input's bound, to be looked at one by one.
var ErrItemsOverMax = errors.New("over one input's bound")
