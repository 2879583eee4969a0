package board

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

// get serves one request to h and returns the response.
func get(t *testing.T, h http.Handler, target string, mod ...func(*http.Request)) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "localhost:8787"
	for _, m := range mod {
		m(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoutes(t *testing.T) {
	b := New(Config{fakeClock: true})
	defer b.Close()
	for _, tc := range []struct {
		path, ctype string
		code        int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/index.html", "text/html; charset=utf-8", 200},
		{"/app.js", "text/javascript; charset=utf-8", 200},
		{"/app.css", "text/css; charset=utf-8", 200},
		{"/favicon.svg", "image/svg+xml", 200},
		{"/api/v1/state", "application/json", 200},
		{"/trace.json", "application/json", 200},
		{"/api/v2/state", "", 404},
		{"/assets/app.js", "", 404},
	} {
		res := get(t, b, tc.path)
		if res.StatusCode != tc.code {
			t.Errorf("GET %s: %d; want %d", tc.path, res.StatusCode, tc.code)
			continue
		}
		if tc.ctype != "" && res.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: Content-Type %q; want %q", tc.path, res.Header.Get("Content-Type"), tc.ctype)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
	if csp := get(t, b, "/").Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("the page's CSP = %q; want own scripts only", csp)
	}
}

func TestAssetsAreNotModified(t *testing.T) {
	b := New(Config{fakeClock: true})
	defer b.Close()
	etag := get(t, b, "/app.js").Header.Get("ETag")
	res := get(t, b, "/app.js", func(r *http.Request) { r.Header.Set("If-None-Match", etag) })
	if etag == "" || res.StatusCode != http.StatusNotModified {
		t.Errorf("GET app.js with its ETag %s: %d; want 304", etag, res.StatusCode)
	}
}

// The page must work under any prefix, offline: every URL in it is
// relative, none points elsewhere.
func TestPageURLsAreRelative(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		text := string(assets[name].body)
		for _, m := range regexp.MustCompile(`(?:href|src)="([^"]*)"|EventSource\('([^']*)'\)|url\(([^)]*)\)`).FindAllStringSubmatch(text, -1) {
			u := m[1] + m[2] + m[3]
			if strings.HasPrefix(u, "/") || strings.Contains(u, "//") {
				t.Errorf("%s: URL %q is not relative", name, u)
			}
		}
		if strings.Contains(text, "http://") || strings.Contains(text, "https://") {
			t.Errorf("%s names another site", name)
		}
	}
}

func TestReadOnly(t *testing.T) {
	b := New(Config{fakeClock: true})
	defer b.Close()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(m, "/api/v1/state", nil)
		r.Host = "localhost"
		b.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q; want 405, GET, HEAD", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestHostCheck(t *testing.T) {
	b := New(Config{fakeClock: true, AllowedHosts: []string{"dash.example.com"}})
	defer b.Close()
	local := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 8787}
	onLocal := func(r *http.Request) {
		*r = *r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(local)))
	}
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost:8787", true},
		{"LOCALHOST", true},
		{"app.localhost:8787", true},
		{"127.0.0.1:8787", true},
		{"127.0.0.2", true},
		{"[::1]:8787", true},
		{"10.1.2.3:8787", true},  // the address the request came in on
		{"10.1.2.3:9999", true},  // … through a forwarded port
		{"10.9.9.9:8787", false}, // another address
		{"dash.example.com", true},
		{"dash.example.com:443", true},
		{"evil.example:8787", false}, // DNS rebinding: the attacker's name
		{"localhost.evil.example", false},
		{"", false},
	} {
		res := get(t, b, "/api/v1/state", onLocal, func(r *http.Request) { r.Host = tc.host })
		if got := res.StatusCode == http.StatusOK; got != tc.ok {
			t.Errorf("Host %q: %d; want allowed %v", tc.host, res.StatusCode, tc.ok)
		}
		if !tc.ok && res.StatusCode != http.StatusForbidden {
			t.Errorf("Host %q: %d; want 403", tc.host, res.StatusCode)
		}
	}
}

func TestToken(t *testing.T) {
	const token = "s3cret-token"
	b := New(Config{fakeClock: true, Token: token})
	defer b.Close()
	mux := http.NewServeMux()
	mux.Handle("/futures/", http.StripPrefix("/futures", b))

	for _, path := range []string{"/futures/", "/futures/api/v1/state", "/futures/api/v1/events", "/futures/trace.json", "/futures/app.js"} {
		if res := get(t, mux, path); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d; want 401", path, res.StatusCode)
		}
		if res := get(t, mux, path+"?token=wrong"); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d; want 401", path, res.StatusCode)
		}
	}

	// The announced URL: the token in the query sets the cookie and sends
	// the browser to the page without it.
	res := get(t, mux, "/futures/?token="+token+"&x=1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/futures/?x=1" {
		t.Fatalf("GET /futures/?token=…: %d to %q; want 303 to /futures/?x=1", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v; want one", cookies)
	}
	c := cookies[0]
	if c.Value != token || c.Path != "/futures/" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie = %+v; want the token, path /futures/, HttpOnly, SameSite strict", c)
	}
	withCookie := func(r *http.Request) { r.AddCookie(c) }
	for _, path := range []string{"/futures/", "/futures/api/v1/state", "/futures/trace.json", "/futures/app.js"} {
		if res := get(t, mux, path, withCookie); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the cookie: %d; want 200", path, res.StatusCode)
		}
	}
	// Scripts use a header, or the query on an API route.
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	if res := get(t, mux, "/futures/api/v1/state", bearer); res.StatusCode != http.StatusOK {
		t.Errorf("GET api/v1/state with Authorization: %d; want 200", res.StatusCode)
	}
	if res := get(t, mux, "/futures/api/v1/state?token="+token); res.StatusCode != http.StatusOK {
		t.Errorf("GET api/v1/state?token=…: %d; want 200", res.StatusCode)
	}
	// Another board's cookie on the same host is not this one's.
	other := newAuth("another", nil)
	if other.cookie == b.auth.cookie {
		t.Errorf("two tokens share the cookie name %s", other.cookie)
	}
}

func TestMountedUnderAPrefix(t *testing.T) {
	b := New(Config{fakeClock: true})
	defer b.Close()
	mux := http.NewServeMux()
	mux.Handle("/futures/", http.StripPrefix("/futures", b))
	if res := get(t, mux, "/futures/"); res.StatusCode != 200 || !strings.Contains(body(t, res), `src="app.js"`) {
		t.Errorf("GET /futures/: %d; want the page", res.StatusCode)
	}
	if res := get(t, mux, "/futures/api/v1/state"); res.StatusCode != 200 {
		t.Errorf("GET /futures/api/v1/state: %d", res.StatusCode)
	}
	// Mounted without the mux's own redirect, the prefix alone redirects
	// to the prefix with a slash, keeping the query.
	h := http.StripPrefix("/futures", b)
	res := get(t, h, "/futures?token=x")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/futures/?token=x" {
		t.Errorf("GET /futures?token=x: %d to %q; want 301 to /futures/?token=x", res.StatusCode, res.Header.Get("Location"))
	}
	// A path that would make the Location leave the site.
	res = get(t, http.StripPrefix("//evil.example", b), "//evil.example")
	if loc := res.Header.Get("Location"); strings.HasPrefix(loc, "//") {
		t.Errorf("Location %q leaves the site", loc)
	}
}

func TestStateShape(t *testing.T) {
	f := newFeed(t)
	f.join("pid 7", "host1", 7, 2)
	f.submit(1, `quote"and<tag>`, 1)
	f.start(1, `quote"and<tag>`, 1, "pid 7")
	res := get(t, f.b, "/api/v1/state")
	text := body(t, res)
	s := decodeState(t, []byte(text))
	if !s.Full || len(s.Tasks) != 1 || s.Tasks[0].Name != `quote"and<tag>` || len(s.Workers) != 1 || len(s.Calls) != 1 || s.Failures == nil && strings.Contains(text, `"failures":null`) {
		t.Errorf("state = %s", text)
	}
	if strings.Contains(text, "<tag>") {
		t.Errorf("state %s: < and > not escaped", text)
	}
	w := s.Workers[0]
	if w.Host != "host1" || w.PID != 7 || w.Slots != 2 || w.State != "joined" || w.Running != 1 || w.Lanes != 2 {
		t.Errorf("worker = %+v", w)
	}
	if s.Now < s.Since || s.Since < 1.7e12 {
		t.Errorf("now %v, since %v: want Unix milliseconds, now after since", s.Now, s.Since)
	}
}

func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quo\"te", `back\slash`, "new\nline\ttab\r", "\x00\x1f", "<script>&", "ünïcödé ✓", "bad \xff utf8", "\u2028\u2029"} {
		got := string(appendString(nil, s))
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Errorf("appendString(%q) = %s: %v", s, got, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("appendString(%q) decodes to %q; want %q", s, back, want)
		}
	}
}

// sse reads server-sent events.
type sse struct {
	t *testing.T
	r *bufio.Reader
}

type sseEvent struct {
	id, event, data string
}

func (s *sse) next() sseEvent {
	s.t.Helper()
	var e sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if e.data != "" {
				return e
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		case strings.HasPrefix(line, "id: "):
			e.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if e.data != "" {
				s.t.Fatalf("two data lines in one event: JSON must be one line")
			}
			e.data = line[6:]
		default:
			s.t.Fatalf("unexpected line %q", line)
		}
	}
}

func openStream(t *testing.T, srv *httptest.Server, ctx context.Context) *sse {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/events", nil)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET api/v1/events: %d, %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return &sse{t: t, r: bufio.NewReader(res.Body)}
}

func TestEventStream(t *testing.T) {
	b := New(Config{Interval: 20 * time.Millisecond})
	defer b.Close()
	srv := httptest.NewServer(b)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b.Observe(runtime.Event{Kind: runtime.WorkerJoined, Worker: "w", Detail: &runtime.EventDetail{Host: "h", PID: 1, Slots: 1}})
	s1 := openStream(t, srv, ctx)
	e := s1.next()
	if e.event != "full" {
		t.Fatalf("first event %q; want full", e.event)
	}
	full := decodeState(t, []byte(e.data))
	if !full.Full || len(full.Workers) != 1 || strconv.FormatUint(full.Seq, 10) != e.id {
		t.Fatalf("full = %+v (id %s)", full, e.id)
	}
	seq := full.Seq

	// Each change reaches the page in a delta numbered one more.
	for i := uint64(1); i <= 3; i++ {
		b.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: i, Task: "a", Items: 1})
		e = s1.next()
		d := decodeState(t, []byte(e.data))
		if e.event != "delta" || d.Full || d.Seq != seq+1 {
			t.Fatalf("event %q, seq %d; want a delta, seq %d", e.event, d.Seq, seq+1)
		}
		seq = d.Seq
		if d.Totals.Queued != int64(i) {
			// A delta may come before the submit: wait for the next.
			i--
		}
	}

	// A second page gets the whole view first; both then get the same
	// delta.
	s2 := openStream(t, srv, ctx)
	e = s2.next()
	if e.event != "full" || decodeState(t, []byte(e.data)).Totals.Queued != 3 {
		t.Fatalf("second page's first event %q %s; want the whole view", e.event, e.data)
	}
	b.Observe(runtime.Event{Kind: runtime.CallStarted, Call: 1, Task: "a", Items: 1, Worker: "w"})
	d1, d2 := s1.next(), s2.next()
	for d1.data != d2.data || !strings.Contains(d1.data, `"running":1`) {
		// The two pages may be a delta apart at first.
		if strings.Contains(d1.data, `"running":1`) {
			d2 = s2.next()
		} else {
			d1 = s1.next()
		}
	}
}

// A page that does not read its stream is dropped, not waited for.
func TestSlowPageIsDropped(t *testing.T) {
	b := New(Config{fakeClock: true, Interval: time.Hour})
	defer b.Close()
	s := b.hub.join()
	for i := range subQueue + 5 {
		b.Observe(runtime.Event{Kind: runtime.CallSubmitted, Call: uint64(i + 1), Task: "a"})
		b.hub.tick()
	}
	n := 0
	for range s.ch {
		n++
	}
	if n != subQueue {
		t.Errorf("the page got %d frames before it was dropped; want %d", n, subQueue)
	}
	b.hub.mu.Lock()
	left := len(b.hub.subs)
	b.hub.mu.Unlock()
	if left != 0 {
		t.Errorf("%d pages left; want 0", left)
	}
}

func TestHubGoroutineStopsWithTheLastPage(t *testing.T) {
	b := New(Config{Interval: time.Millisecond})
	defer b.Close()
	srv := httptest.NewServer(b)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := openStream(t, srv, ctx)
	s.next()
	cancel()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.hub.mu.Lock()
		running := b.hub.running
		b.hub.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hub still runs 30 s after its last page left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTooManyPages(t *testing.T) {
	b := New(Config{fakeClock: true, Interval: time.Hour})
	defer b.Close()
	for range maxSubs {
		if b.hub.join() == nil {
			t.Fatal("join refused below maxSubs")
		}
	}
	if res := get(t, b, "/api/v1/events"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET api/v1/events beyond %d pages: %d; want 503", maxSubs, res.StatusCode)
	}
}

func TestRedirectKeepsTokenOutOfHistory(t *testing.T) {
	b := New(Config{fakeClock: true, Token: "t"})
	defer b.Close()
	res := get(t, b, "/?token=t")
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc.Query().Has("token") || loc.Path != "/" {
		t.Errorf("GET /?token=t: %d to %v; want 303 to / without the token", res.StatusCode, loc)
	}
}
