// Package dashboard serves a live view of an executor in the browser, as
// Dask's dashboard does for Dask: per task name, how many calls are
// queued, running, done and failed; a task stream of recent calls on one
// lane per worker slot, running ones growing; the workers, and why one was
// lost or refused; failures grouped by task and message, with a stack.
//
//	pool := runtime.NewThreadPool()
//	defer pool.Close()
//	http.Handle("/futures/", http.StripPrefix("/futures", dashboard.New(pool)))
//	go http.ListenAndServe("127.0.0.1:8787", nil) // then open http://127.0.0.1:8787/futures/
//
// The package uses the standard library only. The page is hand-written
// HTML, JavaScript and CSS embedded in the binary: no build step, nothing
// fetched from elsewhere, so it works offline.
//
// # What it costs
//
// The dashboard is a runtime.Observer: the executor tells it each call
// submitted, started, ended or cancelled, and each worker that joins, is
// lost, refused or leaves. It folds each event into bounded tables: a
// counter sharded by call number for a submit; for a start or an end, the
// worker's own row under the worker's own mutex, so that workers never
// wait for each other. It reads a millisecond clock that one goroutine
// keeps while events flow, and times one call per worker per millisecond
// precisely (a clock reading costs 25–55 ns on a virtual machine, a sixth
// of a trivial task): mean and p95 durations come from those timed calls,
// every call when a worker runs fewer than a thousand a second.
//
// A call's three events cost the dashboard about 80 ns of CPU in all
// (11 ns for the submit, 68 for the start and the end, two thirds of it
// the two uncontended locks), measured on one goroutine on this project's
// 2-core virtual machine, where an atomic operation takes about 9 ns. On a
// trivial ThreadPool task of 250 ns that is a third more, and more than
// the 10% this package aims at; on a task of 10 µs it is under 1%.
//
// While a page is open, one goroutine collects the tables four times a
// second, reading only the workers that changed, and sends every page the
// same bytes: what changed since the last frame. Its cost follows the
// changes, not the number of pages or of calls; with no page open nothing
// runs. With 1,000 workers and 10,000 calls running, a frame in which
// every worker ended a call costs 1.5–2.5 ms of CPU, one in which nothing
// changed about 60 µs, and the whole view for a page that connects about
// 5 ms (1.1 MB of JSON). Memory is bounded whatever the number of calls: 256 task names
// (then "(other tasks)"), 4,096 workers plus the last 256 gone ones (then
// "(other workers)"), 256 failure groups (then "(other messages)" per
// task), and a task stream of the calls running plus the last 2,000 ended:
// after a million calls of 20 tasks on 8 workers the dashboard holds half
// a megabyte.
//
// # Security
//
// The dashboard is read-only: it answers GET and HEAD, and never shows a
// call's arguments or results, only task names, counts, durations, worker
// names and error messages. It refuses a request whose Host header names
// neither localhost, a loopback address, the address the request came in
// on, nor a host given with AllowHosts, so that a web page whose name was
// re-pointed at this machine (DNS rebinding) cannot read it. With Token, a
// request without the token gets 401. Serve it on 127.0.0.1 unless it
// must be reached from elsewhere, and then with a Token.
//
// # Routes
//
// Relative to where the handler is mounted:
//
//	./                 the page
//	./app.js, ./app.css, ./favicon.svg
//	./api/v1/state     the whole view, as JSON (below)
//	./api/v1/events    server-sent events: the view, then what changes
//	./trace.json       the task stream in the Chrome trace event format
//
// trace.json opens in Perfetto (ui.perfetto.dev) or chrome://tracing: a
// process per worker, a thread per lane, a complete event per call (running
// ones up to the time of the request), timed in microseconds since the
// dashboard was attached.
//
// # The JSON API, version 1
//
// api/v1/state returns one object; api/v1/events sends the same objects
// as server-sent events, the first of each connection with event "full"
// (the whole view) and each later one with event "delta" (only what
// changed). A delta's seq is one more than the previous frame's; a reader
// that misses one reconnects and starts again from a full frame. The
// server sends a delta only when something changed, at most once an
// interval (250 ms by default). Times are milliseconds since the Unix
// epoch, as JavaScript's Date.now(); durations are milliseconds.
//
//	{
//	  "version": 1,              // this format; a breaking change gets a new number and path
//	  "seq": 7,                  // frame number (0 from api/v1/state)
//	  "full": true,              // the whole view (false: a delta)
//	  "now": 1764590400123.456,  // the server's clock when the view was taken
//	  "since": 1764590000000.0,  // when the dashboard was attached
//	  "totals": {"queued": 0, "running": 2, "done": 140, "failed": 3, "cancelled": 0,
//	             "rate": 55.1, "workers": 4, "slots": 4},
//	  "tasks": [                 // a delta: the tasks that changed
//	    {"id": 0, "name": "example.com/shop.Fetch",
//	     "queued": 0, "running": 2, "done": 140, "failed": 3, "cancelled": 0,
//	     "rate": 55.1,           // items finished per second, averaged over about 2 s
//	     "meanMs": 12.5, "p95Ms": 31.0, "timed": 143}  // from the calls timed precisely
//	  ],
//	  "workers": [               // a delta: the workers that changed
//	    {"id": 1, "name": "pid 4242", "host": "build-7", "pid": 4242, "slots": 1,
//	     "state": "lost",        // "joined", "lost", "refused" or "left"
//	     "reason": "futuresgen: worker died: signal: killed",
//	     "joined": 1764590000100.0, "gone": 1764590400000.0, "heard": 1764590400000.0,
//	     "running": 0, "done": 35, "failed": 1,
//	     "lanes": 1}             // rows of the task stream: its slots, or more if calls overlapped more
//	  ],
//	  "removedWorkers": [9],     // a delta only: workers no longer listed
//	  "calls": [                 // the task stream; a delta: the calls that changed
//	    {"worker": 1, "call": 77, "task": 0, "lane": 0,
//	     "start": 1764590399000.0, "end": 1764590399012.5,  // no "end" while running
//	     "items": 1, "failed": 0, "lost": true}             // "lost" only when its worker was lost
//	  ],
//	  "failures": [              // a delta: the groups that changed
//	    {"id": 1, "task": 0, "message": "GET /x: 404 Not Found", "count": 3,
//	     "first": 1764590100000.0, "last": 1764590399000.0,
//	     "stack": "goroutine 7 [running]:\n…"}  // of one that panicked, else ""; a delta sends it once
//	  ]
//	}
//
// A call is identified by its worker and its call number ("call" numbers
// the executor's calls from 1; a call retried after its worker was lost
// appears once per worker). Counts are in items: a call of a chunked Map
// (runtime.ChunkSize) carries several. A delta always carries every change
// to a call that an earlier frame sent, but of the calls that started and
// ended between two frames only the 500 that ended last: at thousands of
// calls a second the stream shows a sample.
package dashboard
