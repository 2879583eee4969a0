package board

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/runtime"
)

// TestMain fails the package's tests if a goroutine outlives them: the
// clock's and the hub's goroutines must stop when idle or closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The JSON of api/v1, as a reader decodes it. Decoding disallows unknown
// fields, so a test fails when the shape and these types part.
type stateJSON struct {
	Version        int           `json:"version"`
	Seq            uint64        `json:"seq"`
	Full           bool          `json:"full"`
	Now            float64       `json:"now"`
	Since          float64       `json:"since"`
	Totals         totalsJSON    `json:"totals"`
	Tasks          []taskJSON    `json:"tasks"`
	Workers        []workerJSON  `json:"workers"`
	RemovedWorkers []int32       `json:"removedWorkers"`
	Calls          []callJSON    `json:"calls"`
	Failures       []failureJSON `json:"failures"`
}

type totalsJSON struct {
	Queued, Running, Done, Failed, Cancelled int64
	Rate                                     float64
	Workers, Slots                           int64
}

type taskJSON struct {
	ID                                       int32  `json:"id"`
	Name                                     string `json:"name"`
	Queued, Running, Done, Failed, Cancelled int64
	Rate                                     float64 `json:"rate"`
	MeanMs                                   float64 `json:"meanMs"`
	P95Ms                                    float64 `json:"p95Ms"`
	Timed                                    int64   `json:"timed"`
}

type workerJSON struct {
	ID                    int32  `json:"id"`
	Name                  string `json:"name"`
	Host                  string `json:"host"`
	PID                   int    `json:"pid"`
	Slots                 int    `json:"slots"`
	State                 string `json:"state"`
	Reason                string `json:"reason"`
	Joined                float64
	Gone                  *float64 `json:"gone"`
	Heard                 float64
	Running, Done, Failed int64
	Lanes                 int `json:"lanes"`
}

type callJSON struct {
	Worker int32    `json:"worker"`
	Call   uint64   `json:"call"`
	Task   int32    `json:"task"`
	Lane   int32    `json:"lane"`
	Start  float64  `json:"start"`
	End    *float64 `json:"end"`
	Items  int32    `json:"items"`
	Failed int32    `json:"failed"`
	Lost   bool     `json:"lost"`
}

type failureJSON struct {
	ID      int32   `json:"id"`
	Task    int32   `json:"task"`
	Message string  `json:"message"`
	Count   int64   `json:"count"`
	First   float64 `json:"first"`
	Last    float64 `json:"last"`
	Stack   *string `json:"stack"`
}

func decodeState(t *testing.T, b []byte) stateJSON {
	t.Helper()
	var s stateJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		t.Fatalf("decoding the state: %v\n%s", err, b)
	}
	if s.Version != APIVersion {
		t.Fatalf("version = %d; want %d", s.Version, APIVersion)
	}
	return s
}

func (s stateJSON) task(t *testing.T, name string) taskJSON {
	t.Helper()
	for _, x := range s.Tasks {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no task %q in %+v", name, s.Tasks)
	return taskJSON{}
}

func (s stateJSON) worker(t *testing.T, name string) workerJSON {
	t.Helper()
	for _, x := range s.Workers {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no worker %q in %+v", name, s.Workers)
	return workerJSON{}
}

// feed drives a board with synthetic events on a fake clock.
type feed struct {
	t   *testing.T
	b   *Board
	now time.Duration
}

func newFeed(t *testing.T) *feed {
	t.Helper()
	b := New(Config{fakeClock: true})
	t.Cleanup(b.Close)
	return &feed{t: t, b: b}
}

// at moves the clock to d after the board's start.
func (f *feed) at(d time.Duration) *feed {
	f.now = d
	f.b.clk.set(d)
	return f
}

func (f *feed) join(worker, host string, pid, slots int) {
	f.b.Observe(runtime.Event{Kind: runtime.WorkerJoined, Worker: worker, Detail: &runtime.EventDetail{Host: host, PID: pid, Slots: slots}})
}

func (f *feed) submit(call uint64, task string, items int) {
	f.b.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: call, Task: task, Items: items})
}

func (f *feed) start(call uint64, task string, items int, worker string) {
	f.b.Observe(runtime.Event{Kind: runtime.CallStarted, Call: call, Task: task, Items: items, Worker: worker})
}

func (f *feed) end(call uint64, task string, items int, worker string, failed int, err error) {
	var d *runtime.EventDetail
	if failed != 0 || err != nil {
		d = &runtime.EventDetail{Failed: failed, Err: err}
	}
	f.b.Observe(runtime.Event{Kind: runtime.CallEnded, Call: call, Task: task, Items: items, Worker: worker, Detail: d})
}

func (f *feed) cancel(call uint64, task string, items int, err error) {
	f.b.Observe(runtime.Event{Kind: runtime.CallCancelled, Call: call, Task: task, Items: items, Detail: &runtime.EventDetail{Err: err}})
}

func (f *feed) workerEvent(kind runtime.EventKind, worker string, err error) {
	f.b.Observe(runtime.Event{Kind: kind, Worker: worker, Detail: &runtime.EventDetail{Err: err}})
}

// state collects and decodes the whole view.
func (f *feed) state() stateJSON {
	f.t.Helper()
	return decodeState(f.t, f.b.State())
}

// delta collects and decodes a delta, as the hub would send it.
func (f *feed) delta() stateJSON {
	f.t.Helper()
	c := f.b.col
	c.mu.Lock()
	c.collect()
	since := f.b.hub.since
	f.b.hub.since = c.ver
	f.b.hub.seq++
	b := c.encodeDelta(f.b.hub.seq, since)
	c.mu.Unlock()
	return decodeState(f.t, b)
}
