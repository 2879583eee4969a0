package wire

import "fmt"

// Box wraps a payload so that gob can carry any value, nil pointers
// included (gob refuses a nil pointer at the top level, and leaves a nil
// field out). It is encoded by pointer, so that a value whose GobEncode
// or MarshalBinary has a pointer receiver (big.Int) is addressable.
type Box[T any] struct{ V T }

// EncodeValue encodes v, boxed, on the stream key of s (see
// Streams.Encode), turning a panic in a type's own encoding method into
// an error. check says that T may hold a cycle (MayCycle): the value is
// looked at first (CheckAcyclic), since gob would recurse on a cycle
// until the process dies.
func EncodeValue[T any](s *Streams, key string, v T, max int, check bool) (out []byte, gen uint32, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoding panicked: %v", p)
		}
	}()
	b := &Box[T]{v}
	if check {
		if err := CheckAcyclic(b); err != nil {
			return nil, 0, err
		}
	}
	return s.Encode(key, b, max)
}

// DecodeValue decodes a value that EncodeValue encoded on the stream key,
// of generation gen (see Streams.Decode), turning a panic in a type's own
// decoding method into an error.
func DecodeValue[T any](s *Streams, key string, gen uint32, data []byte) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoding panicked: %v", p)
		}
	}()
	var b Box[T]
	err = s.Decode(key, gen, data, &b)
	return b.V, err
}
