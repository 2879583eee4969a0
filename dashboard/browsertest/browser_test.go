// Package browsertest tests the dashboard's page in a real browser: headless
// Chromium driven with chromedp. It is a module of its own, so that chromedp
// never enters the requirements of the core module.
//
//	apt-get install -y chromium   # Debian's; or set FUTURESGEN_CHROMIUM to a Chrome binary
//	go -C dashboard/browsertest test ./...
//
// Without a browser the tests skip, saying so, unless FUTURESGEN_REQUIRE_BROWSER
// is set (as CI sets it): then they fail. Each test saves a screenshot in
// FUTURESGEN_ARTIFACTS, or in the system's temporary directory.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futuresgen/futuresgen/dashboard/internal/board"
	"github.com/futuresgen/futuresgen/runtime"
)

// The browser every test of the binary shares, one tab per test.
var (
	browser     context.Context
	browserSkip string // why the tests skip, when no browser runs
)

// coldStart bounds the browser's first start: on a loaded 2-core runner
// Chromium has taken 15–30 s elsewhere.
const coldStart = 90 * time.Second

// pollTimeout bounds every wait on the page: generous, never a sleep.
const pollTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	var stop func()
	browser, stop, browserSkip = startBrowser()
	code := m.Run()
	stop()
	os.Exit(code)
}

// chromiumPath finds the browser: FUTURESGEN_CHROMIUM, or Debian's
// chromium, or another Chrome on the PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("FUTURESGEN_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on the PATH (Debian: apt-get install -y chromium; or set FUTURESGEN_CHROMIUM)")
}

func startBrowser() (context.Context, func(), string) {
	bin, err := chromiumPath()
	if err != nil {
		return nil, func() {}, err.Error()
	}
	dir, err := os.MkdirTemp("", "futuresgen-chromium-")
	if err != nil {
		return nil, func() {}, err.Error()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(dir),
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1100),
		// Nothing but the test's own server: no updates, pings, proxies.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
		// Chromium's children may still write in the directory a moment.
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Start it, without a deadline on the browser's own context (that would
	// kill it when it passed): wait for the start alone.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(coldStart):
		err = fmt.Errorf("it did not start in %v", coldStart)
	}
	if err != nil {
		stop()
		return nil, func() {}, fmt.Sprintf("%s would not start: %v", bin, err)
	}
	return ctx, stop, ""
}

// tab opens a fresh tab for t, and fails t at its end if the page logged
// an error or threw: the page's JavaScript must run clean.
func tab(t *testing.T) context.Context {
	t.Helper()
	if browser == nil {
		if os.Getenv("FUTURESGEN_REQUIRE_BROWSER") != "" {
			t.Fatalf("no browser, and FUTURESGEN_REQUIRE_BROWSER is set: %s", browserSkip)
		}
		t.Skipf("skipped: no browser to test the page in: %s", browserSkip)
	}
	ctx, cancel := chromedp.NewContext(browser)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	var mu sync.Mutex
	var bad []string
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		// What the page logged until now counts; what it logs while the
		// tab closes (its stream cut) does not.
		mu.Lock()
		errs := append([]string(nil), bad...)
		mu.Unlock()
		cancelTimeout()
		cancel()
		<-done
		for _, e := range errs {
			t.Errorf("the page's console: %s", e)
		}
	})
	return ctx
}

// do runs actions in the tab, failing t on error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll waits until the JavaScript expression is true.
func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(pollTimeout), chromedp.WithPollingInterval(50*time.Millisecond))
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves the whole page as a PNG for people to look at; it is
// never compared with anything (pixels change with every Chromium).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("FUTURESGEN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "futuresgen-dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// serve serves b as a program would: under /futures/, with a token.
func serve(t *testing.T, b *board.Board) (pageURL string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/futures/", http.StripPrefix("/futures", b))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		b.Close() // ends the page's stream, so that the server can close
		srv.Close()
	})
	return srv.URL + "/futures/?token=" + testToken
}

const testToken = "7d1c0f4e2b9a8d6c"

// workload feeds a board events as an executor running tasks would.
type workload struct {
	b    *board.Board
	mu   sync.Mutex
	call uint64
}

func (w *workload) observe(e runtime.Event) { w.b.Observe(e) }

func (w *workload) join(name, host string, pid, slots int) {
	w.observe(runtime.Event{Kind: runtime.WorkerJoined, Worker: name, Detail: &runtime.EventDetail{Host: host, PID: pid, Slots: slots}})
}

// submit reports a call submitted and returns its number.
func (w *workload) submit(task string) uint64 {
	w.mu.Lock()
	w.call++
	c := w.call
	w.mu.Unlock()
	w.observe(runtime.Event{Kind: runtime.CallSubmitted, Call: c, Task: task, Items: 1})
	return c
}

func (w *workload) start(c uint64, task, worker string) {
	w.observe(runtime.Event{Kind: runtime.CallStarted, Call: c, Task: task, Items: 1, Worker: worker})
}

func (w *workload) end(c uint64, task, worker string, err error) {
	var d *runtime.EventDetail
	if err != nil {
		d = &runtime.EventDetail{Failed: 1, Err: err}
	}
	w.observe(runtime.Event{Kind: runtime.CallEnded, Call: c, Task: task, Items: 1, Worker: worker, Detail: d})
}

// run runs calls of task on worker one after the other, each taking d;
// fail says which fail, and with what.
func (w *workload) run(worker, task string, n int, d time.Duration, fail func(i int) error) {
	calls := make([]uint64, n)
	for i := range calls {
		calls[i] = w.submit(task)
	}
	for i, c := range calls {
		w.start(c, task, worker)
		time.Sleep(d) // the task's own time: what the page draws, not a synchronisation
		var err error
		if fail != nil {
			err = fail(i)
		}
		w.end(c, task, worker, err)
	}
}

const (
	square = "example.com/shop.Square"
	fetch  = "example.com/shop.Fetch"
	report = "example.com/shop.Report"
)

// TestWorkloadLive opens the page first, then runs a workload, and checks
// what a person would see, with no reload: the counts reaching their final
// values, a running call's bar growing, a lost worker with its reason, a
// failure group with its message.
func TestWorkloadLive(t *testing.T) {
	ctx := tab(t)
	b := board.New(board.Config{Token: testToken})
	url := serve(t, b)
	w := &workload{b: b}
	for i, name := range []string{"pid 4101", "pid 4102", "pid 4103"} {
		w.join(name, "build-7", 4101+i, 1)
	}

	do(t, ctx, "opening the page", chromedp.Navigate(url), poll(`document.querySelector('#conn').dataset.conn === 'live'`))
	if got := eval[string](t, ctx, `location.pathname + location.search`); got != "/futures/" {
		t.Errorf("the page is at %s; want /futures/ (the token moved to a cookie)", got)
	}
	do(t, ctx, "the workers listed", poll(`document.querySelectorAll('#worker-rows tr[data-state="joined"]').length === 3`))

	// The workload, after the page opened: everything must arrive live.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.run("pid 4101", square, 40, 2*time.Millisecond, nil)
	}()
	go func() {
		defer wg.Done()
		w.run("pid 4102", fetch, 10, 3*time.Millisecond, func(i int) error {
			if i%3 == 2 {
				return fmt.Errorf("GET /missing/%d: 404 Not Found", i%2)
			}
			return nil
		})
	}()
	// A long call on the third worker, which is then lost.
	long := w.submit(report)
	w.start(long, report, "pid 4103")
	wg.Wait()

	row := func(task string) string { return `document.querySelector('#task-rows tr[data-task="` + task + `"]')` }
	do(t, ctx, "the counts reaching their final values",
		poll(row(square)+`?.dataset.done === "40" && `+row(square)+`.dataset.queued === "0" && `+row(square)+`.dataset.running === "0"`),
		poll(row(fetch)+`?.dataset.done === "7" && `+row(fetch)+`.dataset.failed === "3"`),
		poll(`document.querySelector('[data-total="done"]').textContent === "47"`),
	)

	// The long call's bar grows while it runs.
	bar := `document.querySelector('.call[data-state="running"][data-task="` + report + `"]')`
	do(t, ctx, "a running bar", poll(bar+` !== null && `+bar+`.getBoundingClientRect().width > 0`))
	w0 := eval[float64](t, ctx, bar+`.getBoundingClientRect().width`)
	do(t, ctx, "the running bar growing", poll(bar+`.getBoundingClientRect().width >= `+fmt.Sprint(w0+10)))

	// Failures grouped by task and message.
	group := `[...document.querySelectorAll('#failure-list .failure[data-task="` + fetch + `"]')]`
	do(t, ctx, "the failure groups", poll(group+`.length === 2 && `+group+`.map(f => +f.dataset.count).sort().join() === "1,2"`))
	if msg := eval[string](t, ctx, group+`.map(f => f.querySelector('.message').textContent).sort().join(" | ")`); msg != "GET /missing/0: 404 Not Found | GET /missing/1: 404 Not Found" {
		t.Errorf("failure messages = %q", msg)
	}

	// The third worker is killed: lost, with its reason; its call too.
	died := fmt.Errorf("%w: exit status: signal: killed; stderr: fatal error: out of memory", runtime.ErrWorkerDied)
	w.observe(runtime.Event{Kind: runtime.WorkerLost, Worker: "pid 4103", Detail: &runtime.EventDetail{Err: died}})
	lost := `document.querySelector('#worker-rows tr[data-worker="pid 4103"]')`
	do(t, ctx, "the lost worker",
		poll(lost+`?.dataset.state === "lost" && `+lost+`.querySelector('.why').textContent.includes("signal: killed")`),
		poll(`document.querySelector('.call[data-state="lost"][data-task="`+report+`"]') !== null`),
		poll(row(report)+`?.dataset.running === "0" && `+row(report)+`.dataset.queued === "1"`),
	)
	// It fails there, as a ProcessPool reports it.
	w.end(long, report, "pid 4103", died)
	do(t, ctx, "the lost call failing", poll(row(report)+`?.dataset.failed === "1" && `+row(report)+`.dataset.queued === "0"`))

	// The last 10 s, for a screenshot where the calls can be seen.
	do(t, ctx, "a 10 s window", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelector('#window');
		s.value = '10000';
		s.dispatchEvent(new Event('change'));
	})()`))
	screenshot(t, ctx, "dashboard-workload")
}

// TestManyCallsStayLive runs thousands of short calls on several workers
// while the page is open: the page keeps up (deltas, a sampled stream) and
// the totals end exact.
func TestManyCallsStayLive(t *testing.T) {
	ctx := tab(t)
	b := board.New(board.Config{Token: testToken})
	url := serve(t, b)
	w := &workload{b: b}
	workers := []string{"thread 1", "thread 2", "thread 3", "thread 4"}
	for i, name := range workers {
		w.join(name, "localhost", 1, 1)
		_ = i
	}
	do(t, ctx, "opening the page", chromedp.Navigate(url), poll(`document.querySelector('#conn').dataset.conn === 'live'`))
	const perWorker = 5000
	var wg sync.WaitGroup
	for _, name := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(name, square, perWorker, 0, func(i int) error {
				if i%1000 == 999 {
					return errors.New("odd one out")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	total := fmt.Sprint(len(workers) * perWorker)
	do(t, ctx, "the totals", poll(`(() => {
		const r = document.querySelector('#task-rows tr[data-task="`+square+`"]');
		return r && (+r.dataset.done + +r.dataset.failed) === `+total+` && r.dataset.failed === "20";
	})()`))
	if n := eval[int](t, ctx, `document.querySelectorAll('.call').length`); n == 0 || n > 5000 {
		t.Errorf("%d bars drawn; want some, at most the 5,000 the page keeps", n)
	}
	screenshot(t, ctx, "dashboard-many-calls")
}

// TestWithoutTokenRefused checks that the page is refused without its token.
func TestWithoutTokenRefused(t *testing.T) {
	if browser == nil {
		tab(t) // skips or fails as the others do
	}
	b := board.New(board.Config{Token: testToken})
	url := serve(t, b)
	res, err := http.Get(strings.TrimSuffix(url, "?token="+testToken))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET the page without its token: %d; want 401", res.StatusCode)
	}
}
