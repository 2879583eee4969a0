// Package ring is a FIFO queue on a growable circular buffer: the thread
// pool's queue of jobs (internal/threadpool) and a map's window of
// futures in input order (internal/maploop).
package ring

// Ring is a FIFO queue. The zero Ring is empty and ready to use. It is
// not safe for concurrent use: its owner guards it.
type Ring[T any] struct {
	buf        []T
	head, size int
}

// Len returns the number of elements.
func (r *Ring[T]) Len() int { return r.size }

// Push adds v after the newest element.
func (r *Ring[T]) Push(v T) {
	if r.size == len(r.buf) {
		n := max(16, 2*len(r.buf))
		buf := make([]T, n)
		k := copy(buf, r.buf[r.head:])
		copy(buf[k:], r.buf[:r.head])
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = v
	r.size++
}

// PushFront adds v before the oldest element: it is popped next.
func (r *Ring[T]) PushFront(v T) {
	if r.size == len(r.buf) {
		r.Push(v) // grow; v lands at the back, moved below
		r.size--
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = v
	r.size++
}

// Pop removes and returns the oldest element. The ring must not be empty.
func (r *Ring[T]) Pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	if r.size == 0 {
		r.head = 0
	}
	return v
}

// Drain removes and returns every element, oldest first.
func (r *Ring[T]) Drain() []T {
	out := make([]T, 0, r.size)
	for r.size > 0 {
		out = append(out, r.Pop())
	}
	return out
}
