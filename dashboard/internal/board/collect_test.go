package board

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

func TestCountsPerTask(t *testing.T) {
	f := newFeed(t)
	f.join("thread 1", "h", 1, 1)
	f.join("thread 2", "h", 1, 1)
	for i := uint64(1); i <= 10; i++ {
		f.submit(i, "shop.Fetch", 1)
	}
	f.submit(11, "shop.Sum", 5) // a chunk of five items
	f.submit(12, "shop.Sum", 5)
	f.at(1 * time.Millisecond)
	f.start(1, "shop.Fetch", 1, "thread 1")
	f.start(2, "shop.Fetch", 1, "thread 2")
	f.at(3 * time.Millisecond)
	f.end(1, "shop.Fetch", 1, "thread 1", 0, nil)
	f.end(2, "shop.Fetch", 1, "thread 2", 1, errors.New("boom"))
	f.start(3, "shop.Fetch", 1, "thread 1")
	f.start(11, "shop.Sum", 5, "thread 2")
	f.at(5 * time.Millisecond)
	f.end(11, "shop.Sum", 5, "thread 2", 2, errors.New("odd input"))
	f.cancel(10, "shop.Fetch", 1, runtime.ErrCancelled)

	s := f.state()
	if !s.Full || s.Seq != 0 {
		t.Errorf("full, seq = %v, %d; want true, 0", s.Full, s.Seq)
	}
	fetch := s.task(t, "shop.Fetch")
	want := taskJSON{Queued: 6, Running: 1, Done: 1, Failed: 1, Cancelled: 1}
	if fetch.Queued != want.Queued || fetch.Running != want.Running || fetch.Done != want.Done || fetch.Failed != want.Failed || fetch.Cancelled != want.Cancelled {
		t.Errorf("shop.Fetch = %+v; want queued 6, running 1, done 1, failed 1, cancelled 1", fetch)
	}
	sum := s.task(t, "shop.Sum")
	if sum.Queued != 5 || sum.Running != 0 || sum.Done != 3 || sum.Failed != 2 {
		t.Errorf("shop.Sum = %+v; want queued 5, running 0, done 3, failed 2 (items)", sum)
	}
	tot := s.Totals
	if tot.Queued != 11 || tot.Running != 1 || tot.Done != 4 || tot.Failed != 3 || tot.Cancelled != 1 || tot.Workers != 2 || tot.Slots != 2 {
		t.Errorf("totals = %+v; want queued 11, running 1, done 4, failed 3, cancelled 1, 2 workers, 2 slots", tot)
	}
	w1, w2 := s.worker(t, "thread 1"), s.worker(t, "thread 2")
	if w1.Running != 1 || w1.Done != 1 || w1.Failed != 0 {
		t.Errorf("thread 1 = %+v; want running 1, done 1", w1)
	}
	if w2.Running != 0 || w2.Done != 3 || w2.Failed != 3 {
		t.Errorf("thread 2 = %+v; want done 3, failed 3 (one call, and two of a chunk's five)", w2)
	}
}

func TestDurationsMeanAndP95(t *testing.T) {
	f := newFeed(t)
	f.join("thread 1", "h", 1, 1)
	at := time.Duration(0)
	for i := uint64(1); i <= 100; i++ {
		f.submit(i, "slow", 1)
		f.at(at)
		f.start(i, "slow", 1, "thread 1")
		at += time.Duration(i) * time.Millisecond
		f.at(at)
		f.end(i, "slow", 1, "thread 1", 0, nil)
		if i%10 == 0 {
			f.state() // collect along the way, as a page would
		}
	}
	task := f.state().task(t, "slow")
	if task.Timed != 100 {
		t.Fatalf("timed = %d; want 100 (every call, on a worker running fewer than one a millisecond)", task.Timed)
	}
	if math.Abs(task.MeanMs-50.5) > 1e-6 {
		t.Errorf("meanMs = %v; want 50.5", task.MeanMs)
	}
	if task.P95Ms < 95*0.94 || task.P95Ms > 95*1.06 {
		t.Errorf("p95Ms = %v; want 95 within 6%%", task.P95Ms)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, d := range []int64{0, 1, 1023, 1024, 1500, 1 << 20, 123456789, 1 << 44, 1 << 50} {
		i := histIndex(d)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d; out of range", d, i)
		}
		mid := histMid(i)
		if d >= 1<<histMin && d < 1<<histMax && math.Abs(mid-float64(d))/float64(d) > 1.0/histSub {
			t.Errorf("histMid(histIndex(%d)) = %v; more than 1/%d away", d, mid, histSub)
		}
	}
	var h hist
	if h.percentile(95) != 0 || h.mean() != 0 {
		t.Errorf("an empty histogram's p95 and mean = %v, %v; want 0, 0", h.percentile(95), h.mean())
	}
}

// A worker running thousands of calls a millisecond has one timed per
// millisecond: the counts stay exact, the durations are a sample.
func TestDurationsAreSampledPerMillisecond(t *testing.T) {
	f := newFeed(t)
	f.join("thread 1", "h", 1, 1)
	for ms := range 10 {
		f.at(time.Duration(ms) * time.Millisecond)
		for i := range 100 {
			call := uint64(ms*100 + i + 1)
			f.submit(call, "tiny", 1)
			f.start(call, "tiny", 1, "thread 1")
			f.end(call, "tiny", 1, "thread 1", 0, nil)
		}
	}
	task := f.state().task(t, "tiny")
	if task.Done != 1000 {
		t.Errorf("done = %d; want 1000", task.Done)
	}
	if task.Timed != 10 {
		t.Errorf("timed = %d; want 10 (one per millisecond)", task.Timed)
	}
}

func TestTaskStreamRingIsBounded(t *testing.T) {
	f := newFeed(t)
	f.join("thread 1", "h", 1, 1)
	f.start(1, "long", 1, "thread 1") // runs throughout
	for i := uint64(2); i < 20000; i++ {
		f.at(time.Duration(i) * time.Millisecond)
		f.start(i, "short", 1, "thread 1")
		f.end(i, "short", 1, "thread 1", 0, nil)
		if i%1000 == 0 {
			f.state()
		}
	}
	s := f.state()
	if n := len(s.Calls); n > streamRing+1 {
		t.Errorf("calls in the stream = %d; want at most %d ended and the one running", n, streamRing)
	}
	running := 0
	for _, c := range s.Calls {
		if c.End == nil {
			running++
			if c.Call != 1 {
				t.Errorf("call %d running; want only call 1", c.Call)
			}
		}
	}
	if running != 1 {
		t.Errorf("%d running calls in the stream; want 1 (a long call stays however many short ones pass)", running)
	}
	if n := len(f.b.col.calls); n > streamRing+1 {
		t.Errorf("the collector keeps %d calls; want at most %d", n, streamRing+1)
	}
	if got := s.task(t, "short").Done; got != 19998 {
		t.Errorf("short done = %d; want 19998", got)
	}
}

func TestLanesPackOverlappingCalls(t *testing.T) {
	// c1 [0,10], c2 [5,15], c3 [11,20], c4 [12,13]: c1 and c3 share lane 0,
	// c2 has lane 1, c4 (overlapping c3, and c2 until 15) takes lane 2.
	check := func(t *testing.T, collectBetween bool) {
		f := newFeed(t)
		f.join("w", "h", 1, 4)
		step := func(ms int, fn func()) {
			f.at(time.Duration(ms) * time.Millisecond)
			fn()
			if collectBetween {
				f.state()
			}
		}
		step(0, func() { f.start(1, "a", 1, "w") })
		step(5, func() { f.start(2, "a", 1, "w") })
		step(10, func() { f.end(1, "a", 1, "w", 0, nil) })
		step(11, func() { f.start(3, "a", 1, "w") })
		step(12, func() { f.start(4, "a", 1, "w") })
		step(13, func() { f.end(4, "a", 1, "w", 0, nil) })
		step(15, func() { f.end(2, "a", 1, "w", 0, nil) })
		step(20, func() { f.end(3, "a", 1, "w", 0, nil) })
		lanes := map[uint64]int32{}
		s := f.state()
		for _, c := range s.Calls {
			lanes[c.Call] = c.Lane
		}
		want := map[uint64]int32{1: 0, 2: 1, 3: 0, 4: 2}
		for call, lane := range want {
			if lanes[call] != lane {
				t.Errorf("call %d on lane %d; want %d (lanes %v)", call, lanes[call], lane, lanes)
			}
		}
		if got := s.worker(t, "w").Lanes; got != 4 {
			t.Errorf("lanes = %d; want 4 (its slots)", got)
		}
	}
	t.Run("collected after each event", func(t *testing.T) { check(t, true) })
	t.Run("collected once", func(t *testing.T) { check(t, false) })
}

// The coarse clock lags the precise one: a call timed precisely ends after
// the coarse time its successor starts at. A worker's times never go back,
// so one call after another stays on one lane.
func TestSequentialCallsShareALane(t *testing.T) {
	f := newFeed(t)
	f.b.clk.skew = int64(700 * time.Microsecond)
	f.join("w", "h", 1, 1)
	for i := uint64(1); i <= 20; i++ {
		f.at(time.Duration(i/3) * time.Millisecond)
		f.start(i, "a", 1, "w")
		f.end(i, "a", 1, "w", 0, nil)
		if i%4 == 0 {
			f.state()
		}
	}
	s := f.state()
	if got := s.worker(t, "w").Lanes; got != 1 {
		t.Errorf("lanes = %d; want 1 for calls one after another", got)
	}
	for _, c := range s.Calls {
		if c.End == nil || *c.End < c.Start {
			t.Errorf("call %d: start %v, end %v", c.Call, c.Start, c.End)
		}
	}
}

func TestLanesGrowPastSlots(t *testing.T) {
	f := newFeed(t)
	f.join("w", "h", 1, 1)
	for i := uint64(1); i <= 3; i++ {
		f.start(i, "a", 1, "w") // a worker sent three calls at once
	}
	if got := f.state().worker(t, "w").Lanes; got != 3 {
		t.Errorf("lanes = %d; want 3: calls that overlap never share a lane", got)
	}
}

func TestLostWorker(t *testing.T) {
	died := fmt.Errorf("%w: signal: killed", runtime.ErrWorkerDied)
	t.Run("its call retried elsewhere", func(t *testing.T) {
		f := newFeed(t)
		f.join("pid 10", "h", 10, 1)
		f.join("pid 11", "h", 11, 1)
		f.submit(1, "a", 1)
		f.start(1, "a", 1, "pid 10")
		if s := f.state(); s.task(t, "a").Running != 1 {
			t.Fatalf("running = %d; want 1", s.task(t, "a").Running)
		}
		f.at(time.Second)
		f.workerEvent(runtime.WorkerLost, "pid 10", died)
		s := f.state()
		w := s.worker(t, "pid 10")
		if w.State != "lost" || !strings.Contains(w.Reason, "signal: killed") || w.Gone == nil {
			t.Errorf("pid 10 = %+v; want lost, its reason, a time gone", w)
		}
		if a := s.task(t, "a"); a.Queued != 1 || a.Running != 0 {
			t.Errorf("a = queued %d, running %d; want 1, 0: a call interrupted by its worker's loss waits again", a.Queued, a.Running)
		}
		var lost bool
		for _, c := range s.Calls {
			lost = lost || (c.Call == 1 && c.Lost && c.End != nil)
		}
		if !lost {
			t.Errorf("calls = %+v; want call 1 drawn as lost", s.Calls)
		}
		f.start(1, "a", 1, "pid 11")
		f.at(2 * time.Second)
		f.end(1, "a", 1, "pid 11", 0, nil)
		a := f.state().task(t, "a")
		if a.Queued != 0 || a.Running != 0 || a.Done != 1 || a.Failed != 0 {
			t.Errorf("a = %+v; want done 1 and nothing else", a)
		}
	})
	t.Run("its call ended there", func(t *testing.T) {
		f := newFeed(t)
		f.join("pid 10", "h", 10, 1)
		f.submit(1, "a", 1)
		f.start(1, "a", 1, "pid 10")
		f.state()
		f.workerEvent(runtime.WorkerLost, "pid 10", died)
		f.end(1, "a", 1, "pid 10", 1, died)
		s := f.state()
		a := s.task(t, "a")
		if a.Queued != 0 || a.Running != 0 || a.Failed != 1 {
			t.Errorf("a = %+v; want failed 1 and nothing else", a)
		}
		if len(s.Failures) != 1 || !strings.Contains(s.Failures[0].Message, "died") {
			t.Errorf("failures = %+v; want one group, the worker's death", s.Failures)
		}
		for _, c := range s.Calls {
			if c.Call == 1 && (c.Lost || c.Failed != 1) {
				t.Errorf("call 1 = %+v; want failed, no longer drawn as lost", c)
			}
		}
	})
}

func TestRefusedAndLeftWorkers(t *testing.T) {
	f := newFeed(t)
	f.join("a", "h", 1, 1)
	f.workerEvent(runtime.WorkerRefused, "b", errors.New("another dispatch table: task x.Y differs"))
	f.workerEvent(runtime.WorkerLeft, "a", nil)
	s := f.state()
	if b := s.worker(t, "b"); b.State != "refused" || !strings.Contains(b.Reason, "dispatch table") {
		t.Errorf("b = %+v; want refused with its reason", b)
	}
	if a := s.worker(t, "a"); a.State != "left" || a.Reason != "" {
		t.Errorf("a = %+v; want left", a)
	}
	if s.Totals.Workers != 0 || s.Totals.Slots != 0 {
		t.Errorf("totals = %+v; want no worker, no slot", s.Totals)
	}
	f.join("a", "h", 1, 2) // back again
	if a := f.state().worker(t, "a"); a.State != "joined" || a.Slots != 2 || a.Gone != nil {
		t.Errorf("a = %+v; want joined again with 2 slots", a)
	}
}

func TestFailureGroups(t *testing.T) {
	f := newFeed(t)
	f.join("w", "h", 1, 1)
	pe := &runtime.PanicError{Value: "nil map", Stack: "goroutine 7 [running]:\nshop.Explode()"}
	for i := uint64(1); i <= 3; i++ {
		f.at(time.Duration(i) * time.Second)
		f.start(i, "shop.Explode", 1, "w")
		f.end(i, "shop.Explode", 1, "w", 1, pe)
	}
	f.start(4, "shop.Fetch", 1, "w")
	f.end(4, "shop.Fetch", 1, "w", 1, errors.New("404"))
	f.cancel(5, "shop.Fetch", 1, context.DeadlineExceeded)
	f.cancel(6, "shop.Fetch", 1, runtime.ErrCancelled) // asked for: not a failure
	f.cancel(7, "shop.Fetch", 1, context.Canceled)     // asked for: not a failure
	f.cancel(8, "shop.Fetch", 1, runtime.ErrShutdown)  // a failure
	s := f.state()
	byMsg := map[string]failureJSON{}
	for _, g := range s.Failures {
		byMsg[g.Message] = g
	}
	if len(byMsg) != 4 {
		t.Fatalf("groups = %+v; want 4: the panic, 404, the deadline, shutdown", s.Failures)
	}
	g := byMsg[pe.Error()]
	if g.Count != 3 || g.Stack == nil || !strings.Contains(*g.Stack, "shop.Explode()") {
		t.Errorf("panic group = %+v; want count 3 and the stack", g)
	}
	if g.Last-g.First < 1999 || g.Last-g.First > 2001 {
		t.Errorf("panic group first %v, last %v; want 2 s apart", g.First, g.Last)
	}
	if g := byMsg["404"]; g.Count != 1 || g.Task != s.task(t, "shop.Fetch").ID {
		t.Errorf("404 group = %+v; want count 1 of shop.Fetch", g)
	}
}

func TestFailureGroupsAreCapped(t *testing.T) {
	f := newFeed(t)
	f.join("w", "h", 1, 1)
	for i := uint64(1); i <= maxGroups+100; i++ {
		f.start(i, "a", 1, "w")
		f.end(i, "a", 1, "w", 1, fmt.Errorf("error number %d", i))
	}
	s := f.state()
	if len(s.Failures) != maxGroups+1 {
		t.Errorf("groups = %d; want %d and one for the other messages", len(s.Failures), maxGroups)
	}
	var total int64
	var other failureJSON
	for _, g := range s.Failures {
		total += g.Count
		if g.Message == otherMessages {
			other = g
		}
	}
	if other.Count != 100 || total != maxGroups+100 {
		t.Errorf("other = %+v, total %d; want 100 in the other group, %d in all", other, total, maxGroups+100)
	}
}

func TestTaskNamesAreCapped(t *testing.T) {
	f := newFeed(t)
	for i := range maxTasks + 10 {
		f.submit(uint64(i+1), fmt.Sprintf("task%d", i), 1)
	}
	s := f.state()
	if len(s.Tasks) != maxTasks+1 {
		t.Errorf("tasks = %d; want %d and the other tasks", len(s.Tasks), maxTasks)
	}
	if o := s.task(t, otherTask); o.Queued != 10 {
		t.Errorf("other tasks queued = %d; want 10", o.Queued)
	}
	if s.Totals.Queued != maxTasks+10 {
		t.Errorf("queued = %d; want %d", s.Totals.Queued, maxTasks+10)
	}
}

// Workers come and go (MaxTasksPerWorker, a cluster that scales): the rows
// of gone ones beyond keepGone go, and the totals stay.
func TestGoneWorkersArePruned(t *testing.T) {
	f := newFeed(t)
	n := keepGone + 300
	for i := range n {
		w := fmt.Sprintf("thread %d", i)
		f.at(time.Duration(i) * time.Millisecond)
		f.join(w, "h", 1, 1)
		f.start(uint64(i+1), "a", 1, w)
		f.end(uint64(i+1), "a", 1, w, 0, nil)
		f.workerEvent(runtime.WorkerLeft, w, nil)
		if i%50 == 0 {
			f.state()
		}
	}
	f.state()
	f.at(time.Duration(n)*time.Millisecond + 11*time.Second) // gone long enough
	f.state()                                                // prunes
	s := f.state()
	if len(s.Workers) != keepGone {
		t.Errorf("workers listed = %d; want %d", len(s.Workers), keepGone)
	}
	if s.Workers[len(s.Workers)-1].Name != fmt.Sprintf("thread %d", n-1) {
		t.Errorf("last listed = %s; want the newest", s.Workers[len(s.Workers)-1].Name)
	}
	if a := s.task(t, "a"); a.Done != int64(n) || a.Running != 0 || a.Queued != 0 {
		t.Errorf("a = %+v; want done %d", a, n)
	}
	// A pruned worker's name coming back gets a new row.
	f.join("thread 0", "h", 1, 1)
	f.start(uint64(n+1), "a", 1, "thread 0")
	if w := f.state().worker(t, "thread 0"); w.Running != 1 || w.Done != 0 {
		t.Errorf("thread 0 = %+v; want a new row with its one call", w)
	}
}

func TestDeltaCarriesOnlyChanges(t *testing.T) {
	f := newFeed(t)
	f.join("w1", "h", 1, 1)
	f.join("w2", "h", 2, 1)
	f.submit(1, "a", 1)
	f.submit(2, "b", 1)
	d := f.delta()
	if d.Full || len(d.Tasks) != 2 || len(d.Workers) != 2 {
		t.Fatalf("first delta = %+v; want both tasks and workers", d)
	}
	if f.b.col.changedSince(f.b.hub.since) {
		t.Errorf("changedSince = true with nothing new")
	}
	f.at(time.Second)
	f.start(1, "a", 1, "w1")
	d = f.delta()
	if len(d.Tasks) != 1 || d.Tasks[0].Name != "a" || len(d.Workers) != 1 || d.Workers[0].Name != "w1" {
		t.Errorf("delta = tasks %+v, workers %+v; want a and w1 only", d.Tasks, d.Workers)
	}
	if len(d.Calls) != 1 || d.Calls[0].End != nil {
		t.Errorf("delta calls = %+v; want call 1, running", d.Calls)
	}
	f.at(2 * time.Second)
	f.end(1, "a", 1, "w1", 0, nil)
	d = f.delta()
	if len(d.Calls) != 1 || d.Calls[0].End == nil || *d.Calls[0].End-d.Calls[0].Start != 1000 {
		t.Errorf("delta calls = %+v; want call 1, ended after 1000 ms", d.Calls)
	}
}

func TestDeltaSamplesNewEndedCalls(t *testing.T) {
	f := newFeed(t)
	f.join("w", "h", 1, 1)
	f.start(1, "long", 1, "w")
	f.delta()
	for i := uint64(2); i < 3000; i++ {
		f.at(time.Duration(i) * time.Millisecond)
		f.start(i, "short", 1, "w")
		f.end(i, "short", 1, "w", 0, nil)
		if i%30 == 0 {
			f.b.State() // API requests collect too, between deltas
		}
	}
	f.end(1, "long", 1, "w", 0, nil)
	d := f.delta()
	var long bool
	for _, c := range d.Calls {
		long = long || (c.Call == 1 && c.End != nil)
	}
	if !long {
		t.Errorf("the end of call 1, sent running before, is not in the delta")
	}
	if len(d.Calls) > maxNewEnded+1 {
		t.Errorf("delta calls = %d; want at most %d new ones and call 1", len(d.Calls), maxNewEnded)
	}
}

func TestCallsBeforeAttachDoNotGoNegative(t *testing.T) {
	f := newFeed(t)
	// Calls submitted and started before the board was attached end.
	f.end(1, "a", 1, "w", 0, nil)
	f.cancel(2, "a", 1, runtime.ErrCancelled)
	a := f.state().task(t, "a")
	if a.Queued != 0 || a.Running != 0 || a.Done != 1 {
		t.Errorf("a = %+v; want done 1, none queued or running", a)
	}
}

func TestRates(t *testing.T) {
	f := newFeed(t)
	f.join("w", "h", 1, 1)
	call := uint64(0)
	for sec := range 10 {
		for range 100 {
			call++
			f.start(call, "a", 1, "w")
			f.end(call, "a", 1, "w", 0, nil)
		}
		f.at(time.Duration(sec+1) * time.Second)
		f.state()
	}
	if r := f.state().task(t, "a").Rate; r < 90 || r > 110 {
		t.Errorf("rate = %v; want about 100 per second", r)
	}
	for sec := 11; sec < 40; sec++ {
		f.at(time.Duration(sec) * time.Second)
		f.state()
	}
	if r := f.state().task(t, "a").Rate; r != 0 {
		t.Errorf("rate = %v after 30 idle seconds; want 0", r)
	}
}

func TestTrace(t *testing.T) {
	f := newFeed(t)
	f.join("w", "host1", 1, 2)
	f.start(1, "a", 1, "w")
	f.at(5 * time.Millisecond)
	f.start(2, "b", 1, "w")
	f.at(7 * time.Millisecond)
	f.end(2, "b", 1, "w", 1, errors.New("x"))
	var tr struct {
		DisplayTimeUnit string `json:"displayTimeUnit"`
		TraceEvents     []struct {
			Name string          `json:"name"`
			Cat  string          `json:"cat"`
			Ph   string          `json:"ph"`
			Ts   float64         `json:"ts"`
			Dur  float64         `json:"dur"`
			PID  int32           `json:"pid"`
			TID  int32           `json:"tid"`
			Args json.RawMessage `json:"args"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(f.b.trace(), &tr); err != nil {
		t.Fatal(err)
	}
	var meta, calls int
	for _, e := range tr.TraceEvents {
		switch e.Ph {
		case "M":
			meta++
		case "X":
			calls++
			if e.Name == "b" && (e.Ts != 5000 || e.Dur != 2000 || e.TID != 1) {
				t.Errorf("b = %+v; want ts 5000 µs, dur 2000 µs, on lane 1", e)
			}
			if e.Name == "a" && (e.Dur != 7000 || !strings.Contains(string(e.Args), `"running":true`)) {
				t.Errorf("a = %+v %s; want running for 7000 µs so far", e, e.Args)
			}
		}
	}
	if meta != 3 || calls != 2 {
		t.Errorf("%d metadata and %d call events; want 3 (a process, two lanes) and 2", meta, calls)
	}
}
