package future

import (
	"context"
	"testing"
	"time"
)

// The behaviour of AsCompleted and Wait is tested through package
// runtime; these tests look at what it leaves behind on the futures.

// pending returns n pending futures and their complete functions.
func pending(n int) ([]*Future[int], []func(int, error) bool) {
	fs := make([]*Future[int], n)
	cs := make([]func(int, error) bool, n)
	for i := range fs {
		fs[i], cs[i] = New[int]()
	}
	return fs, cs
}

// hookCount returns how many hooks wait on c.
func hookCount(c *core) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for h := c.hooks; h != nil; h = h.next {
		n++
	}
	return n
}

func TestWaitsThatEndRemoveTheirHooks(t *testing.T) {
	t.Parallel()
	t.Run("AsCompleted that gives up", func(t *testing.T) {
		fs, cs := pending(3)
		cs[1](1, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		for range AsCompleted(ctx, fs...) {
		}
		if n := hookCount(&fs[0].core) + hookCount(&fs[2].core); n != 0 {
			t.Errorf("%d hooks left on pending futures after AsCompleted gave up; want 0", n)
		}
	})
	t.Run("AsCompleted left early", func(t *testing.T) {
		fs, cs := pending(3)
		go cs[0](0, nil)
		for range AsCompleted(context.Background(), fs...) {
			break
		}
		if n := hookCount(&fs[1].core) + hookCount(&fs[2].core); n != 0 {
			t.Errorf("%d hooks left after break; want 0", n)
		}
	})
	t.Run("Wait that gives up", func(t *testing.T) {
		fs, cs := pending(3)
		cs[2](2, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, _, err := Wait(ctx, AllCompleted, fs...); err != context.DeadlineExceeded {
			t.Errorf("err = %v; want DeadlineExceeded", err)
		}
		if n := hookCount(&fs[0].core) + hookCount(&fs[1].core); n != 0 {
			t.Errorf("%d hooks left after Wait gave up; want 0", n)
		}
	})
}
