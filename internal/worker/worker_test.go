package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The worker loop over io.Pipe, with tasks registered by hand: "echo"
// returns its argument; "wait" blocks until its gate opens or its
// context ends; "goexit" calls runtime.Goexit.

var gates = struct {
	sync.Mutex
	m map[string]chan struct{}
}{m: map[string]chan struct{}{}}

// run numbers gate names, so that a test run again (-count) gets gates of
// its own.
var run atomic.Int64

// gateName returns a gate name of this run of the test.
func gateName(t *testing.T, name string) string {
	return fmt.Sprintf("%s/%d/%s", t.Name(), run.Add(1), name)
}

func gate(name string) chan struct{} {
	gates.Lock()
	defer gates.Unlock()
	g := gates.m[name]
	if g == nil {
		g = make(chan struct{})
		gates.m[name] = g
	}
	return g
}

type testCall struct {
	task, arg string
	ran       bool
	out       string
	err       error
}

func (c *testCall) Run(ctx context.Context) {
	c.ran = true
	switch c.task {
	case "echo":
		c.out = c.arg
	case "wait":
		select {
		case <-gate(c.arg):
			c.out = c.arg
		case <-ctx.Done():
			c.err = ctx.Err()
		}
	case "goexit":
		goruntime.Goexit()
	case "nap":
		time.Sleep(2 * lendAfter) // long enough for the reader role to be lent
		c.out = c.arg
	}
}

func (c *testCall) Ran() bool { return c.ran }

func (c *testCall) Answer(s *wire.Streams, max int, m *wire.Msg) {
	if c.err != nil {
		m.Kind, m.Err = wire.KindError, registry.EncodeError(c.err)
		return
	}
	if c.out == "" && c.task == "goexit" {
		m.Kind, m.Err = wire.KindError, registry.EncodeError(errors.New("goexit"))
		return
	}
	m.Kind = wire.KindResult
	m.Payload, m.Gen, _ = s.Encode("r", &c.out, max)
}

func init() {
	for _, name := range []string{"echo", "wait", "goexit", "nap", "local"} {
		registry.Add(&registry.Entry{
			Name:  "w." + name,
			Local: name == "local",
			NewCall: func(s *wire.Streams, m *wire.Msg) (registry.Call, error) {
				c := &testCall{task: name}
				if err := s.Decode("a", m.Gen, m.Payload, &c.arg); err != nil {
					return nil, err
				}
				return c, nil
			},
		})
	}
}

// executor is the test's side of a worker: a connection to it, and its
// streams.
type executor struct {
	t    *testing.T
	conn *wire.Conn
	enc  *wire.Streams
	dec  *wire.Streams
	done chan error
}

func start(t *testing.T, slots int) *executor {
	t.Helper()
	toR, toW := io.Pipe()
	fromR, fromW := io.Pipe()
	e := &executor{t: t, conn: wire.NewConn(fromR, toW, 0), enc: wire.NewStreams(), dec: wire.NewStreams(), done: make(chan error, 1)}
	go func() {
		e.done <- Serve(context.Background(), wire.NewConn(toR, fromW, 0), ServeConfig{Slots: slots})
		fromW.Close()
	}()
	t.Cleanup(func() {
		toW.Close()
		fromR.Close()
		<-e.done
	})
	var m wire.Msg
	if err := e.conn.Read(&m); err != nil || m.Kind != wire.KindHello || m.Hello.Slots != slots {
		t.Fatalf("first message %+v, %v; want a hello with %d slots", m, err, slots)
	}
	return e
}

func (e *executor) call(id uint64, task, arg string, ahead bool) {
	e.t.Helper()
	payload, gen, err := e.enc.Encode("a", &arg, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.send(&wire.Msg{Kind: wire.KindCall, ID: id, Task: "w." + task, Ahead: ahead, Payload: payload, Gen: gen})
}

func (e *executor) send(m *wire.Msg) {
	e.t.Helper()
	if err := e.conn.Write(m); err != nil {
		e.t.Fatal(err)
	}
	if err := e.conn.Flush(); err != nil {
		e.t.Fatal(err)
	}
}

// expect reads the next message and checks its kind and call.
func (e *executor) expect(kind wire.Kind, id uint64) *wire.Msg {
	e.t.Helper()
	m := &wire.Msg{}
	if err := e.conn.Read(m); err != nil {
		e.t.Fatalf("reading, want a %v for call %d: %v", kind, id, err)
	}
	if m.Kind != kind || m.ID != id {
		e.t.Fatalf("got a %v for call %d (%s); want a %v for call %d", m.Kind, m.ID, m.Err.Text(), kind, id)
	}
	return m
}

func (e *executor) result(id uint64, want string) {
	e.t.Helper()
	m := e.expect(wire.KindResult, id)
	var got string
	if err := e.dec.Decode("r", m.Gen, m.Payload, &got); err != nil || got != want {
		e.t.Errorf("call %d returned %q, %v; want %q", id, got, err, want)
	}
}

func TestACallIsAnswered(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	e.call(1, "echo", "hi", false)
	e.result(1, "hi")
}

func TestACallSentAheadSaysWhenItStarts(t *testing.T) {
	gahead1 := gateName(t, "ahead1")
	t.Parallel()
	e := start(t, 1)
	e.call(1, "wait", gahead1, false)
	e.call(2, "echo", "second", true)
	close(gate(gahead1))
	e.result(1, gahead1)
	e.expect(wire.KindStarted, 2)
	e.result(2, "second")
}

func TestARevokedCallNeverRuns(t *testing.T) {
	grevoke1 := gateName(t, "revoke1")
	grevoke2 := gateName(t, "revoke2")
	t.Parallel()
	e := start(t, 1)
	e.call(1, "wait", grevoke1, false)
	e.call(2, "wait", grevoke2, true)
	e.send(&wire.Msg{Kind: wire.KindRevoke, ID: 2})
	e.expect(wire.KindRevoked, 2)
	close(gate(grevoke1))
	e.result(1, grevoke1)
	// Nothing else comes for call 2: the next answer is call 3's.
	e.call(3, "echo", "third", false)
	e.result(3, "third")
}

func TestACancelEndsARunningCallsContext(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	e.call(1, "wait", "never-opened", false)
	e.send(&wire.Msg{Kind: wire.KindCancel, ID: 1})
	m := e.expect(wire.KindError, 1)
	if m.Err.Text() != context.Canceled.Error() {
		t.Errorf("the cancelled call failed with %q; want context canceled", m.Err.Text())
	}
}

func TestACancelDropsACallNotStarted(t *testing.T) {
	gdrop1 := gateName(t, "drop1")
	t.Parallel()
	e := start(t, 1)
	e.call(1, "wait", gdrop1, false)
	e.call(2, "echo", "x", true)
	e.send(&wire.Msg{Kind: wire.KindCancel, ID: 2})
	e.expect(wire.KindRevoked, 2)
	close(gate(gdrop1))
	e.result(1, gdrop1)
}

func TestTwoSlotsRunTwoCallsAtOnce(t *testing.T) {
	gslots1 := gateName(t, "slots1")
	t.Parallel()
	e := start(t, 2)
	e.call(1, "wait", gslots1, false)
	e.call(2, "echo", "while one waits", false)
	e.result(2, "while one waits")
	close(gate(gslots1))
	e.result(1, gslots1)
}

func TestTheWorkerRefusesLocalAndUnknownTasks(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	e.call(1, "local", "", false)
	if m := e.expect(wire.KindError, 1); m.Err.Text() == "" || !strings.Contains(m.Err.Text(), "w.local is local") {
		t.Errorf("a local task asked of a worker: %q; want a refusal naming it", m.Err.Text())
	}
	e.send(&wire.Msg{Kind: wire.KindCall, ID: 2, Task: "no.such"})
	if m := e.expect(wire.KindError, 2); !strings.Contains(m.Err.Text(), `no task named "no.such"`) {
		t.Errorf("an unknown task: %q", m.Err.Text())
	}
}

func TestAGoexitFailsOneCallAndTheWorkerGoesOn(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	e.call(1, "goexit", "", false)
	e.expect(wire.KindError, 1)
	e.call(2, "echo", "after", false)
	e.result(2, "after")
}

func TestByeEndsServeOnceTheWorkIsDone(t *testing.T) {
	gbye1 := gateName(t, "bye1")
	t.Parallel()
	e := start(t, 1)
	e.call(1, "wait", gbye1, false)
	e.send(&wire.Msg{Kind: wire.KindBye})
	select {
	case err := <-e.done:
		t.Fatalf("Serve returned %v with a call running", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(gate(gbye1))
	e.result(1, gbye1)
	if err := <-e.done; !errors.Is(err, ErrBye) {
		t.Errorf("Serve() = %v; want ErrBye", err)
	}
	e.done <- nil // for the cleanup
}

func TestTheEndOfTheConnectionEndsServe(t *testing.T) {
	t.Parallel()
	toR, toW := io.Pipe()
	fromR, fromW := io.Pipe()
	go io.Copy(io.Discard, fromR)
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), wire.NewConn(toR, fromW, 0), ServeConfig{}) }()
	toW.Close()
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Errorf("Serve() = %v; want io.EOF", err)
	}
	fromW.Close()
}

// FuzzServe feeds arbitrary bytes to a worker as its executor's messages:
// it must answer or stop with an error, never panic or hang.
func FuzzServe(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		fromR, fromW := io.Pipe()
		go io.Copy(io.Discard, fromR)
		done := make(chan error, 1)
		go func() {
			done <- Serve(context.Background(), wire.NewConn(&byteReader{b: data}, fromW, 0), ServeConfig{})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return on a finite input")
		}
		fromW.Close()
	})
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestManyCallsEachGetTheirOwnAnswer keeps a few calls in flight, the
// way an executor sends calls ahead, and checks every answer is its own
// call's: an answer's payload must be written in the order it is encoded,
// whichever goroutine runs the call.
func TestManyCallsEachGetTheirOwnAnswer(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	const n, inFlight = 20000, 3
	sent := 0
	for ; sent < inFlight; sent++ {
		e.call(uint64(sent), "echo", strconv.Itoa(sent), sent > 0)
	}
	for got := 0; got < n; {
		m := &wire.Msg{}
		if err := e.conn.Read(m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == wire.KindStarted {
			continue
		}
		var out string
		if m.Kind != wire.KindResult || e.dec.Decode("r", m.Gen, m.Payload, &out) != nil || out != strconv.FormatUint(m.ID, 10) {
			t.Fatalf("call %d was answered with a %v of %q", m.ID, m.Kind, out)
		}
		got++
		if sent < n {
			e.call(uint64(sent), "echo", strconv.Itoa(sent), true)
			sent++
		}
	}
}

// TestAnswersHeldBackReachTheExecutor mixes calls that run long enough
// for the reader role to be lent with messages that make the worker write
// nothing (a revoke of a call already answered): an answer held back in
// the write buffer while the next message is read must go out however the
// role moves, or the executor and the worker wait for each other.
func TestAnswersHeldBackReachTheExecutor(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	const n, inFlight = 2000, 3
	sent := 0
	for ; sent < inFlight; sent++ {
		e.call(uint64(sent), "nap", strconv.Itoa(sent), sent > 0)
	}
	for got := 0; got < n; {
		m := &wire.Msg{}
		if err := e.conn.Read(m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == wire.KindStarted {
			continue
		}
		var out string
		if m.Kind != wire.KindResult || e.dec.Decode("r", m.Gen, m.Payload, &out) != nil || out != strconv.FormatUint(m.ID, 10) {
			t.Fatalf("call %d was answered with a %v of %q", m.ID, m.Kind, out)
		}
		got++
		if sent < n {
			task := "nap"
			if sent%3 == 0 {
				task = "echo"
			}
			e.call(uint64(sent), task, strconv.Itoa(sent), true)
			sent++
		}
		e.send(&wire.Msg{Kind: wire.KindRevoke, ID: m.ID})
	}
}
