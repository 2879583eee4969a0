package runtime

// ring is a FIFO queue on a growable circular buffer. It is not safe for
// concurrent use; ThreadPool guards its queue with its mutex.
type ring[T any] struct {
	buf        []T
	head, size int
}

func (r *ring[T]) len() int { return r.size }

func (r *ring[T]) push(v T) {
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

// pushFront adds v before the oldest element: it is popped next.
func (r *ring[T]) pushFront(v T) {
	if r.size == len(r.buf) {
		r.push(v) // grow; v lands at the back, moved below
		r.size--
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = v
	r.size++
}

// pop removes and returns the oldest element. The ring must not be empty.
func (r *ring[T]) pop() T {
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

// peek returns the oldest element without removing it. The ring must not
// be empty.
func (r *ring[T]) peek() T { return r.buf[r.head] }

// drain removes and returns every element, oldest first.
func (r *ring[T]) drain() []T {
	out := make([]T, 0, r.size)
	for r.size > 0 {
		out = append(out, r.pop())
	}
	return out
}
