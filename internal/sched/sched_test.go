package sched

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fakes: futures that record their states, and links that record what
// the scheduler writes; each test plays the workers by calling the
// scheduler's event methods itself. No process, no goroutine of its own.

type itemState int

const (
	pending itemState = iota
	running
	finished
	cancelled
)

var stateName = map[itemState]string{pending: "pending", running: "running", finished: "finished", cancelled: "cancelled"}

type fakeFutures struct {
	mu      sync.Mutex
	items   []itemState
	errs    []error
	frozen  []int
	settled []bool
}

func newFutures(n int) *fakeFutures {
	return &fakeFutures{items: make([]itemState, n), errs: make([]error, n), settled: make([]bool, n)}
}

func (f *fakeFutures) Len() int { return len(f.items) }
func (f *fakeFutures) Cancel(i int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.items[i] != pending {
		return false
	}
	f.items[i] = cancelled
	return true
}
func (f *fakeFutures) Freeze() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = f.frozen[:0]
	for i, st := range f.items {
		if st == pending {
			f.frozen = append(f.frozen, i)
		}
	}
	return len(f.frozen)
}
func (f *fakeFutures) Claim() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range f.frozen {
		if f.items[i] == pending {
			f.items[i] = running
		}
	}
}
func (f *fakeFutures) SettleCancelled() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, st := range f.items {
		if st == cancelled {
			f.settled[i] = true
		}
	}
}
func (f *fakeFutures) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, st := range f.items {
		if st == pending || st == running {
			f.items[i], f.errs[i], f.settled[i] = finished, err, true
		}
	}
}
func (f *fakeFutures) Encode(*wire.Streams, int) ([]byte, uint32, error) { return nil, 0, nil }
func (f *fakeFutures) Deliver(_ *wire.Streams, m *wire.Msg) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	failed := 0
	for _, i := range f.frozen {
		f.items[i], f.settled[i] = finished, true
		if m.Kind != wire.KindResult {
			f.errs[i] = errors.New(m.Text)
			failed++
		}
	}
	return failed, nil
}

func (f *fakeFutures) state(i int) itemState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items[i]
}

func (f *fakeFutures) err(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errs[i]
}

type fakeLink struct {
	mu     sync.Mutex
	name   string
	out    []Out
	killed error
}

func (l *fakeLink) Write(out []Out) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, out...)
}
func (l *fakeLink) Kill(cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.killed = cause
}

// take returns what was written to the link since the last take.
func (l *fakeLink) take() []Out {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.out
	l.out = nil
	return out
}

// describe writes messages compactly, for comparisons: "call 3 ahead".
func describe(out []Out) []string {
	var s []string
	for _, o := range out {
		switch o.Kind {
		case wire.KindCall:
			d := fmt.Sprintf("call %d", o.ID)
			if o.Ahead {
				d += " ahead"
			}
			s = append(s, d)
		case wire.KindBye:
			s = append(s, "bye")
		default:
			s = append(s, fmt.Sprintf("%v %d", o.Kind, o.ID))
		}
	}
	return s
}

func want(t *testing.T, l *fakeLink, msgs ...string) {
	t.Helper()
	got := describe(l.take())
	if fmt.Sprint(got) != fmt.Sprint(msgs) {
		t.Errorf("%s was sent %q; want %q", l.name, got, msgs)
	}
}

func submit(t *testing.T, s *Scheduler, ctx context.Context, n int) (*Call, *fakeFutures) {
	t.Helper()
	f := newFutures(n)
	c := &Call{Task: "t", Ctx: ctx, F: f, Batch: n > 1}
	s.Submit(c, errors.New("shut down"))
	return c, f
}

func addWorker(s *Scheduler, name string, slots int) (*Worker, *fakeLink) {
	l := &fakeLink{name: name}
	return s.AddWorker(l, name, slots), l
}

// exclusive is a ProcessPool's configuration, with workers that are never
// taken for slow: what is sent ahead does not depend on how fast the
// machine runs the test.
func exclusive() Config {
	return Config{Exclusive: true, AheadPerSlot: 2, Grace: time.Hour, SlowAfter: time.Hour}
}

func checkStats(t *testing.T, s *Scheduler, want Stats) {
	t.Helper()
	got := s.Stats()
	got.Workers, got.Slots, got.WorkerStarts, got.WorkerDeaths = 0, 0, 0, 0
	if got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
}

func finish(s *Scheduler) {
	s.Shutdown(false)
	s.mu.Lock()
	var ws []*Worker
	for _, w := range s.workers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		s.Gone(w, errors.New("test over"))
	}
}

func TestCallsGoToFreeWorkersFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(exclusive())
	defer finish(s)
	_, l1 := addWorker(s, "w1", 1)
	_, l2 := addWorker(s, "w2", 1)
	_, f1 := submit(t, s, ctx, 1)
	_, f2 := submit(t, s, ctx, 1)
	got := append(describe(l1.take()), describe(l2.take())...)
	if fmt.Sprint(got) != "[call 0 call 1]" && fmt.Sprint(got) != "[call 1 call 0]" {
		t.Errorf("two calls on two free workers were sent %q; want one call to each, started at once", got)
	}
	if f1.state(0) != running || f2.state(0) != running {
		t.Errorf("calls sent to free slots are %v, %v; want running", stateName[f1.state(0)], stateName[f2.state(0)])
	}
	checkStats(t, s, Stats{Submitted: 2, Running: 2})
}

func TestCallsAheadStayPendingUntilStarted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(exclusive())
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	c1, _ := submit(t, s, ctx, 1)
	c2, f2 := submit(t, s, ctx, 1)
	c3, _ := submit(t, s, ctx, 1)
	c4, _ := submit(t, s, ctx, 1)
	want(t, l, "call 0", "call 1 ahead", "call 2 ahead")
	if f2.state(0) != pending {
		t.Errorf("a call sent ahead is %v; want pending", stateName[f2.state(0)])
	}
	checkStats(t, s, Stats{Submitted: 4, Queued: 3, Running: 1})
	if err := s.Answer(w, &wire.Msg{Kind: wire.KindResult, ID: c1.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	want(t, l) // the worker starts c2 by itself; c4 waits for room ahead
	if err := s.Started(w, c2.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l, "call 3 ahead")
	if f2.state(0) != running {
		t.Errorf("after Started the call is %v; want running", stateName[f2.state(0)])
	}
	checkStats(t, s, Stats{Submitted: 4, Queued: 2, Running: 1, Completed: 1})
	if err := s.Started(w, c2.ID()); err == nil {
		t.Error("a second Started for one call was accepted")
	}
	_, _ = c3, c4
}

func TestCancelOfACallSentAheadWaitsForTheWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(exclusive())
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	submit(t, s, ctx, 1)
	c2, f2 := submit(t, s, ctx, 1)
	c3, f3 := submit(t, s, ctx, 1)
	l.take()

	// Revoked: the task never runs, Cancel says true.
	got := make(chan bool)
	go func() { got <- s.Cancel(c2, 0) }()
	waitSent(t, l, "revoke 1")
	if err := s.Revoked(w, c2.ID()); err != nil {
		t.Fatal(err)
	}
	if !<-got {
		t.Error("Cancel of a call the worker gave back = false")
	}
	if f2.state(0) != cancelled {
		t.Errorf("the revoked call is %v; want cancelled", stateName[f2.state(0)])
	}

	// Started first: the task runs, Cancel says false.
	go func() { got <- s.Cancel(c3, 0) }()
	waitSent(t, l, "revoke 2")
	if err := s.Started(w, c3.ID()); err != nil {
		t.Fatal(err)
	}
	if <-got {
		t.Error("Cancel of a call the worker had started = true")
	}
	if f3.state(0) != running {
		t.Errorf("the started call is %v; want running", stateName[f3.state(0)])
	}
	checkStats(t, s, Stats{Submitted: 3, Running: 2, Cancelled: 1})
}

// waitSent waits until the link was sent exactly msgs.
func waitSent(t *testing.T, l *fakeLink, msgs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.out)
		l.mu.Unlock()
		if n >= len(msgs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	want(t, l, msgs...)
}

func TestCancelGivesUpOnAWorkerThatDoesNotAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := exclusive()
	cfg.RevokeWait = 10 * time.Millisecond
	s := New(cfg)
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	submit(t, s, ctx, 1)
	c2, f2 := submit(t, s, ctx, 1)
	l.take()
	if s.Cancel(c2, 0) {
		t.Error("Cancel = true though the worker never gave the call back")
	}
	// The worker gives it back late: it was not cancelled, so it is
	// queued again, and sent ahead again.
	want(t, l, "revoke 1")
	if err := s.Revoked(w, c2.ID()); err != nil {
		t.Fatal(err)
	}
	if f2.state(0) != pending {
		t.Errorf("a call given back after Cancel gave up is %v; want pending", stateName[f2.state(0)])
	}
	want(t, l, "call 2 ahead")
	checkStats(t, s, Stats{Submitted: 2, Queued: 1, Running: 1})
}

func TestSpawnStartsWorkersForWaitingCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var links []*fakeLink
	var workers []*Worker
	cfg := exclusive()
	cfg.MaxWorkers = 3
	cfg.Spawn = func(w *Worker) Link {
		l := &fakeLink{name: fmt.Sprint("w", len(links))}
		links, workers = append(links, l), append(workers, w)
		return l
	}
	s := New(cfg)
	defer finish(s)
	for range 4 {
		submit(t, s, ctx, 1)
	}
	if len(links) != 3 {
		t.Fatalf("4 calls waiting spawned %d workers; want MaxWorkers, 3", len(links))
	}
	s.Ready(workers[0], "w0", 1)
	// w0 starts the first. Of the three calls left, the two starting
	// workers will take two; the third goes ahead to w0: no more workers
	// may start.
	want(t, links[0], "call 0", "call 1 ahead")
	s.Ready(workers[1], "w1", 1)
	want(t, links[1], "call 2")
	s.Ready(workers[2], "w2", 1)
	want(t, links[2], "call 3")
}

func TestFreeWorkersTakeBackCallsSentAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(exclusive())
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	c1, _ := submit(t, s, ctx, 1)
	c2, _ := submit(t, s, ctx, 1)
	c3, _ := submit(t, s, ctx, 1)
	want(t, l1, "call 0", "call 1 ahead", "call 2 ahead")
	// A new worker joins: the newest call sent ahead is taken back for it.
	_, l2 := addWorker(s, "w2", 1)
	want(t, l1, "revoke 2")
	if err := s.Revoked(w1, c3.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l2, "call 3")
	// Neither worker has a free slot now: nothing more is revoked.
	want(t, l1)
	_, _ = c1, c2
}

func TestQueueLimitCountsCallsSentAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := exclusive()
	cfg.QueueLimit = 2
	s := New(cfg)
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	submit(t, s, ctx, 1) // running
	c2, _ := submit(t, s, ctx, 1)
	submit(t, s, ctx, 1)
	l.take()
	// Two calls wait (both sent ahead): a third submit must wait.
	blocked := make(chan struct{})
	go func() {
		submit(t, s, ctx, 1)
		close(blocked)
	}()
	select {
	case <-blocked:
		t.Fatal("a submit went through while two calls sent ahead filled QueueLimit(2)")
	case <-time.After(20 * time.Millisecond):
	}
	if err := s.Started(w, c2.ID()); err != nil { // one starts: a slot frees
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("a submit still waits after a call sent ahead started")
	}
}

func TestCancelPendingCancelsEverythingNotStarted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(exclusive())
	w, l := addWorker(s, "w", 1)
	c1, f1 := submit(t, s, ctx, 1)
	c2, f2 := submit(t, s, ctx, 1)
	submit(t, s, ctx, 1)
	_, f4 := submit(t, s, ctx, 1) // queued: no room ahead
	l.take()
	s.Shutdown(true)
	if f4.state(0) != cancelled {
		t.Errorf("a queued call after CancelPending is %v; want cancelled", stateName[f4.state(0)])
	}
	want(t, l, "revoke 1", "revoke 2", "cancel 0")
	if err := s.Revoked(w, c2.ID()); err != nil {
		t.Fatal(err)
	}
	if f2.state(0) != cancelled {
		t.Errorf("a call sent ahead, given back after CancelPending, is %v; want cancelled", stateName[f2.state(0)])
	}
	if err := s.Revoked(w, 2); err != nil {
		t.Fatal(err)
	}
	// The running one finishes with its own outcome; then the worker goes.
	if err := s.Answer(w, &wire.Msg{Kind: wire.KindError, ID: c1.ID(), Text: "context canceled"}, nil); err != nil {
		t.Fatal(err)
	}
	if f1.state(0) != finished {
		t.Errorf("the running call is %v; want finished", stateName[f1.state(0)])
	}
	want(t, l, "bye")
	checkStats(t, s, Stats{Submitted: 4, Failed: 1, Cancelled: 3})
	select {
	case <-s.Done():
		t.Fatal("Done before the worker is gone")
	default:
	}
	s.Gone(w, errors.New("exited"))
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed once shut down, idle and without workers")
	}
}

func TestAWorkerLostRequeuesWhatItHadNotStarted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := exclusive()
	s := New(cfg)
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	_, f1 := submit(t, s, ctx, 1)
	_, f2 := submit(t, s, ctx, 1)
	l1.take()
	s.Gone(w1, errors.New("killed"))
	if err := f1.err(0); err == nil || err.Error() != "killed" {
		t.Errorf("the running call's error = %v; want the worker's cause, killed", err)
	}
	if f2.state(0) != pending {
		t.Errorf("the call sent ahead is %v after its worker died; want pending, queued again", stateName[f2.state(0)])
	}
	_, l2 := addWorker(s, "w2", 1)
	want(t, l2, "call 2")
	checkStats(t, s, Stats{Submitted: 2, Running: 1, Failed: 1})
}

func TestRetriesRunALostCallAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := exclusive()
	cfg.Retries = 1
	s := New(cfg)
	defer finish(s)
	w1, _ := addWorker(s, "w1", 1)
	_, f := submit(t, s, ctx, 1)
	s.Gone(w1, errors.New("killed"))
	if f.state(0) != running {
		t.Errorf("a lost call with a retry left is %v; want still running", stateName[f.state(0)])
	}
	w2, l2 := addWorker(s, "w2", 1)
	want(t, l2, "call 1")
	s.Gone(w2, errors.New("killed again"))
	if err := f.err(0); err == nil || err.Error() != "killed again" {
		t.Errorf("after its retry was lost too, the call's error = %v", err)
	}
}

func TestTheEndOfAContextReachesEveryState(t *testing.T) {
	t.Parallel()
	s := New(exclusive())
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	ctx3, cancel3 := context.WithCancel(context.Background())
	c1, _ := submit(t, s, ctx1, 1)
	c2, f2 := submit(t, s, ctx2, 1)
	submit(t, s, context.Background(), 1)
	_, f4 := submit(t, s, ctx3, 1) // queued
	l.take()
	cancel3()
	waitFor(t, func() bool { return f4.state(0) == finished })
	if !errors.Is(f4.err(0), context.Canceled) {
		t.Errorf("a queued call whose context ended failed with %v", f4.err(0))
	}
	cancel2()
	waitSent(t, l, "cancel 1")
	if err := s.Revoked(w, c2.ID()); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(f2.err(0), context.Canceled) {
		t.Errorf("a call sent ahead whose context ended failed with %v", f2.err(0))
	}
	cancel1()
	waitSent(t, l, "cancel 0")
	_ = c1
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGraceKillsAWorkerWhoseTaskIgnoresItsContext(t *testing.T) {
	t.Parallel()
	cfg := exclusive()
	cfg.Grace = 5 * time.Millisecond
	s := New(cfg)
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	ctx, cancel := context.WithCancel(context.Background())
	_, f := submit(t, s, ctx, 1)
	cancel()
	waitFor(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.killed != nil
	})
	s.Gone(w, errors.New("killed"))
	if err := f.err(0); !errors.Is(err, context.Canceled) {
		t.Errorf("the killed call's error = %v; want context.Canceled", err)
	}
}

func TestBatchItemsCancelOneByOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(exclusive())
	defer finish(s)
	_, f1 := submit(t, s, ctx, 1) // no worker yet: both stay queued
	c, f := submit(t, s, ctx, 3)
	if !s.Cancel(c, 1) {
		t.Fatal("Cancel of an item of a queued batch = false")
	}
	checkStats(t, s, Stats{Submitted: 4, Queued: 3, Cancelled: 1})
	w, l := addWorker(s, "w", 1)
	msgs := l.take()
	if len(msgs) != 2 || msgs[1].Count != 2 {
		t.Fatalf("the batch was sent as %+v; want its 2 items left", msgs)
	}
	if err := s.Started(w, c.ID()); err != nil {
		t.Fatal(err)
	}
	if f.state(0) != running || f.state(1) != cancelled || f.state(2) != running {
		t.Errorf("batch items are %v %v %v", stateName[f.state(0)], stateName[f.state(1)], stateName[f.state(2)])
	}
	_ = f1
}

func TestMaxCallsBoundsWhatWorkersHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{MaxCalls: 2}
	s := New(cfg)
	defer finish(s)
	w, l := addWorker(s, "w", 4)
	c1, _ := submit(t, s, ctx, 1)
	submit(t, s, ctx, 1)
	submit(t, s, ctx, 1)
	want(t, l, "call 0", "call 1") // to free slots: not ahead, though Pending until the worker says it started
	if err := s.Started(w, c1.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l)
	if err := s.Answer(w, &wire.Msg{Kind: wire.KindResult, ID: c1.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	want(t, l, "call 2")
	s.Gone(w, errors.New("gone"))
	_, l2 := addWorker(s, "w2", 4)
	want(t, l2, "call 3", "call 4") // the lost worker's calls count no more
}

func TestARefusingWorkerGetsNothingUntilItHasRoom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(Config{})
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	c, _ := submit(t, s, ctx, 1)
	want(t, l, "call 0")
	if err := s.Refused(w, c.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l) // not sent again at once
	s.Available(w, 1)
	want(t, l, "call 1")
}

func TestNothingGoesAheadToAWorkerBusyWithASlowTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := exclusive()
	cfg.SlowAfter = time.Millisecond
	s := New(cfg)
	defer finish(s)
	_, l := addWorker(s, "w", 1)
	submit(t, s, ctx, 1)
	time.Sleep(2 * time.Millisecond) // the task has now run for longer than a short one would
	submit(t, s, ctx, 1)
	want(t, l, "call 0")
	checkStats(t, s, Stats{Submitted: 2, Queued: 1, Running: 1})
}

// knowingLink is a link that was given its worker, as a network link that
// reports events for it is.
type knowingLink struct {
	fakeLink
	w *Worker
}

func (l *knowingLink) Write(out []Out) {
	if l.w == nil {
		panic("Write before the link knew its worker")
	}
	l.fakeLink.Write(out)
}

func TestJoinGivesTheLinkItsWorkerBeforeWritingToIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(Config{})
	defer finish(s)
	submit(t, s, ctx, 1) // queued: the worker gets it as it joins
	var l *knowingLink
	w := s.Join("w", 1, func(w *Worker) Link {
		l = &knowingLink{fakeLink: fakeLink{name: "w"}, w: w}
		return l
	})
	if l.w != w {
		t.Errorf("the link was given %p; Join returned %p", l.w, w)
	}
	want(t, &l.fakeLink, "call 0")
}

// TestAJoinedWorkerGetsCallsAheadOnlyWhenBusy: on a scheduler that does
// not own its workers' slots, every call is Pending until its worker says
// it started, but only those sent to a busy worker, to wait there for a
// slot, are marked ahead.
func TestAJoinedWorkerGetsCallsAheadOnlyWhenBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(Config{AheadPerSlot: 2, SlowAfter: time.Hour})
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	c, _ := submit(t, s, ctx, 1)
	want(t, l, "call 0")
	checkStats(t, s, Stats{Submitted: 1, Queued: 1})
	if err := s.Started(w, c.ID()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		submit(t, s, ctx, 1)
	}
	want(t, l, "call 1 ahead", "call 2 ahead") // two per slot; the third waits here
	checkStats(t, s, Stats{Submitted: 4, Queued: 3, Running: 1})
}

// A busy worker is topped up to its bound once it holds half of it or
// fewer, not one call per call started (or submitted): the calls go out in
// bursts.
func TestCallsAheadGoInBursts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := exclusive()
	cfg.AheadPerSlot = 4
	s := New(cfg)
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	var calls []*Call
	for range 10 {
		c, _ := submit(t, s, ctx, 1)
		calls = append(calls, c)
	}
	// Submitted one by one: sent until more than half the bound is ahead.
	want(t, l, "call 0", "call 1 ahead", "call 2 ahead", "call 3 ahead")
	next := func(c *Call) {
		t.Helper()
		if err := s.Answer(w, &wire.Msg{Kind: wire.KindResult, ID: c.ID()}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Started(w, c.ID()+1); err != nil {
			t.Fatal(err)
		}
	}
	next(calls[0]) // 2 ahead: topped up to 4
	want(t, l, "call 4 ahead", "call 5 ahead")
	next(calls[1]) // 3 ahead: more than half of 4
	want(t, l)
	next(calls[2])
	want(t, l, "call 6 ahead", "call 7 ahead")
	checkStats(t, s, Stats{Submitted: 10, Queued: 6, Running: 1, Completed: 3})
}

// grants is a cluster driver's configuration: workers shared with other
// drivers, calls sent ahead that wait for a grant, one per slot.
func grants() Config {
	return Config{AheadPerSlot: 2, GrantPerSlot: 1, SlowAfter: time.Hour}
}

func TestCallsSentAheadStartOnlyOnceGranted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	defer finish(s)
	w, l := addWorker(s, "w", 1)
	c0, _ := submit(t, s, ctx, 1)
	submit(t, s, ctx, 1)
	submit(t, s, ctx, 1)
	// The first to the free slot, granted; the next ahead, granted as
	// well: one beyond the slot.
	want(t, l, "call 0", "call 1 ahead", "grant 1")
	if err := s.Started(w, c0.ID()); err != nil {
		t.Fatal(err)
	}
	// Room ahead, but no grant: two are granted already.
	want(t, l, "call 2 ahead")
	if err := s.Answer(w, &wire.Msg{Kind: wire.KindResult, ID: c0.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	// Call 1 may be running now (a short task is not said to start): the
	// next is granted in its place.
	want(t, l, "grant 2")
}

func TestALostWorkersGrantedCallsFailAndTheOthersRunElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	c0, f0 := submit(t, s, ctx, 1)
	_, f1 := submit(t, s, ctx, 1)
	_, f2 := submit(t, s, ctx, 1)
	if err := s.Started(w1, c0.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1, "call 0", "call 1 ahead", "grant 1", "call 2 ahead")
	s.Gone(w1, errors.New("lost"))
	// Call 1 did not say it started, but it was granted: it may have
	// run, so it does not run again. Call 2 was not: it surely did not.
	for i, f := range []*fakeFutures{f0, f1} {
		if err := f.err(0); err == nil || err.Error() != "lost" {
			t.Errorf("granted call %d: %v; want the loss", i, err)
		}
	}
	if f2.state(0) != pending {
		t.Errorf("the call not granted is %v; want pending, queued again", stateName[f2.state(0)])
	}
	_, l2 := addWorker(s, "w2", 1)
	want(t, l2, "call 3")
	checkStats(t, s, Stats{Submitted: 3, Queued: 1, Failed: 2})
}

func TestAGrantedCallSentAheadCanStillBeTakenBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	c0, _ := submit(t, s, ctx, 1)
	c1, f1 := submit(t, s, ctx, 1)
	if err := s.Started(w1, c0.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1, "call 0", "call 1 ahead", "grant 1")
	// Another worker frees up: the call sent ahead is taken back, granted
	// or not, and the worker gives it back.
	_, l2 := addWorker(s, "w2", 1)
	want(t, l1, "revoke 1")
	if err := s.Revoked(w1, c1.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l2, "call 2")
	if f1.state(0) != pending {
		t.Errorf("the call taken back is %v; want pending", stateName[f1.state(0)])
	}
	s.Gone(w1, errors.New("lost"))
	if f1.state(0) != pending {
		t.Errorf("after its first worker was lost, the call taken back is %v; want pending on the second", stateName[f1.state(0)])
	}
}

func TestAWorkerThatJoinsAfterShutdownRunsWhatWasQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	c, f := submit(t, s, ctx, 1)
	s.Shutdown(false)
	w, l := addWorker(s, "late", 1)
	want(t, l, "call 0")
	select {
	case <-s.Done():
		t.Fatal("the scheduler is done with a call queued")
	default:
	}
	if err := s.Answer(w, &wire.Msg{Kind: wire.KindResult, ID: c.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	if f.state(0) != finished || f.err(0) != nil {
		t.Errorf("the call queued before Shutdown is %v (%v); want finished", stateName[f.state(0)], f.err(0))
	}
	want(t, l, "bye")
	s.Gone(w, nil)
	<-s.Done()
}

func TestAWorkerGivesUpGrantsBehindASlowCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	c0, _ := submit(t, s, ctx, 1)
	c1, f1 := submit(t, s, ctx, 1)
	if err := s.Started(w1, c0.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1, "call 0", "call 1 ahead", "grant 1")
	// Call 0 runs long: the worker gives call 1's grant back, and gets
	// none until call 0 ends.
	if err := s.Ungranted(w1, c1.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1)
	s.Gone(w1, errors.New("lost"))
	if f1.state(0) != pending {
		t.Errorf("the call whose grant was given back is %v after its worker was lost; want pending, queued again", stateName[f1.state(0)])
	}
	_, l2 := addWorker(s, "w2", 1)
	want(t, l2, "call 2")
}

func TestGrantsResumeOnceTheSlowCallEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	c0, _ := submit(t, s, ctx, 1)
	c1, _ := submit(t, s, ctx, 1)
	if err := s.Started(w1, c0.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1, "call 0", "call 1 ahead", "grant 1")
	if err := s.Ungranted(w1, c1.ID()); err != nil {
		t.Fatal(err)
	}
	if err := s.Answer(w1, &wire.Msg{Kind: wire.KindResult, ID: c0.ID()}, nil); err != nil {
		t.Fatal(err)
	}
	want(t, l1, "grant 1")
}

func TestAWorkerThatGaveUpGrantsGetsThemWhenItAsks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(grants())
	defer finish(s)
	w1, l1 := addWorker(s, "w1", 1)
	c0, _ := submit(t, s, ctx, 1)
	c1, _ := submit(t, s, ctx, 1)
	if err := s.Started(w1, c0.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1, "call 0", "call 1 ahead", "grant 1")
	if err := s.Ungranted(w1, c1.ID()); err != nil {
		t.Fatal(err)
	}
	want(t, l1)
	// Another driver's call ended on the worker: it asks.
	s.Ask(w1)
	want(t, l1, "grant 1")
}
