package worker

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/futuresgen/futuresgen/internal/wire"
)

// recorder is a session's Writer that keeps what is written, and holds
// the first write until released: meanwhile the worker's state moves on.
type recorder struct {
	mu      sync.Mutex
	written []string
	hold    chan struct{}
	held    chan struct{} // closed when the first write waits
	once    sync.Once
}

func newRecorder() *recorder {
	return &recorder{hold: make(chan struct{}), held: make(chan struct{})}
}

func (r *recorder) Write(m *wire.Msg) error { return r.add(fmt.Sprintf("%v %d", m.Kind, m.ID)) }

func (r *recorder) add(s string) error {
	r.once.Do(func() {
		close(r.held)
		<-r.hold
	})
	r.mu.Lock()
	r.written = append(r.written, s)
	r.mu.Unlock()
	return nil
}

func (r *recorder) Flush(bool) error { return nil }

// TestAStateIsWrittenAsItWasAtItsPlace: a message made with SendState says
// the state at its place in the order of what the session is owed, even
// when the worker's state moves on before it is written: a heartbeat
// listing a call comes before that call's answer, not after it with the
// call gone from it.
func TestAStateIsWrittenAsItWasAtItsPlace(t *testing.T) {
	t.Parallel()
	w := New(context.Background(), Config{Slots: 1})
	defer w.Stop()
	r := newRecorder()
	s := w.Open(SessionConfig{Writer: r, Grants: true})
	go s.Send(func(Writer) error { return r.add("first") }) // its writer holds the first write
	<-r.held
	c := &Call{ID: 7, Granted: true}
	if !s.Receive(c) {
		t.Fatal("a granted call to a free slot did not start")
	}
	s.SendState(func(calls []uint64, room int) func(Writer) error {
		text := fmt.Sprintf("beat %v room %d", calls, room)
		return func(Writer) error { return r.add(text) }
	})
	s.Finish(c, func(Writer) error { return r.add("answer 7") })
	close(r.hold)
	s.Flushed()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := "[first beat [7] room 0 answer 7]"
	if got := fmt.Sprint(r.written); got != want {
		t.Errorf("written %s; want %s", got, want)
	}
}
