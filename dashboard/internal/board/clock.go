package board

import (
	"sync/atomic"
	"time"
)

// clock gives the recorder the time cheaply. Reading the system clock costs
// 25–55 ns on a virtual machine (kvm-clock), a sixth of a trivial task, so
// the recorder reads a coarse clock instead: an atomic that a goroutine
// sets every millisecond while events flow. Where a precise reading matters
// (a call's duration) the recorder samples it: see workerRow.sampledAt.
//
// Times are nanoseconds since base, on the monotonic clock.
type clock struct {
	base     time.Time
	baseUnix int64        // base, in Unix nanoseconds
	coarse   atomic.Int64 // ns since base, at most about a millisecond old while running
	// state is clockStopped, clockUsed (running, an event read it since
	// the last tick) or clockUnused (running, no event since the last tick).
	state atomic.Int32
	fake  bool          // tests: the time is what set says, nothing runs
	skew  int64         // tests: how far a fake precise reading is ahead of the coarse time
	done  chan struct{} // closed by stop
	quit  atomic.Bool
}

const (
	clockStopped = iota
	clockUsed
	clockUnused
)

// clockIdle is how long the clock goroutine ticks without events before it
// stops; the next event starts it again.
const clockIdle = 100 * time.Millisecond

func newClock(fake bool) *clock {
	now := time.Now()
	c := &clock{base: now, baseUnix: now.UnixNano(), fake: fake, done: make(chan struct{})}
	if fake {
		c.state.Store(clockUsed)
	}
	return c
}

// now returns the coarse time, starting the clock if it is stopped. It
// costs an atomic load or two.
func (c *clock) now() int64 {
	if c.state.Load() != clockUsed {
		c.wake()
	}
	return c.coarse.Load()
}

// precise reads the system clock.
func (c *clock) precise() int64 {
	if c.fake {
		return c.coarse.Load() + c.skew
	}
	return int64(time.Since(c.base))
}

// wake marks the clock used, starting its goroutine if it was stopped.
func (c *clock) wake() {
	for {
		switch c.state.Load() {
		case clockUsed:
			return
		case clockUnused:
			if c.state.CompareAndSwap(clockUnused, clockUsed) {
				return
			}
		case clockStopped:
			if c.quit.Load() {
				c.coarse.Store(int64(time.Since(c.base)))
				return
			}
			if c.state.CompareAndSwap(clockStopped, clockUsed) {
				c.coarse.Store(int64(time.Since(c.base)))
				go c.run()
				return
			}
		}
	}
}

// run sets the coarse time every millisecond until the clock has been idle
// for clockIdle, or stop is called.
func (c *clock) run() {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-c.done:
			c.state.Store(clockStopped)
			return
		case <-t.C:
		}
		c.coarse.Store(int64(time.Since(c.base)))
		if c.state.CompareAndSwap(clockUsed, clockUnused) {
			idle = 0
			continue
		}
		if idle++; time.Duration(idle)*time.Millisecond < clockIdle {
			continue
		}
		if c.state.CompareAndSwap(clockUnused, clockStopped) {
			return
		}
		idle = 0 // an event came in between: keep going
	}
}

// set sets a fake clock to d after base.
func (c *clock) set(d time.Duration) { c.coarse.Store(int64(d)) }

// stop stops the goroutine for good and waits for it; later reads use the
// system clock.
func (c *clock) stop() {
	if c.fake || c.quit.Swap(true) {
		return
	}
	close(c.done)
	// Once quit is set a stopped clock stays stopped (but for a wake that
	// checked quit just before: its goroutine sees done and stops at once).
	for c.state.Load() != clockStopped {
		time.Sleep(time.Millisecond)
	}
}

// wall turns a time of this clock into Unix nanoseconds.
func (c *clock) wall(t int64) int64 { return c.baseUnix + t }
