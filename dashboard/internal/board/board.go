// Package board is the dashboard: an observer of an executor's events and
// the http.Handler that shows them. Package dashboard attaches it to an
// executor; tests feed it events of their own.
package board

import (
	"net/http"
	"time"

	"github.com/futuresgen/futuresgen/runtime"
)

// Config is how a Board is set up.
type Config struct {
	// Token, when not empty, is required of every request: as the token
	// query parameter (the page then keeps it in a cookie), the cookie, or
	// an Authorization: Bearer header.
	Token string
	// AllowedHosts are host names, besides localhost, loopback addresses
	// and the address a request came in on, that a request's Host header
	// may name (a reverse proxy's name, say).
	AllowedHosts []string
	// Interval is how often open pages are updated; 250 ms if zero.
	Interval time.Duration

	fakeClock bool // tests: the clock moves only with setClock
}

// Board is the dashboard of one executor: a runtime.Observer and an
// http.Handler. Create it with New.
type Board struct {
	cfg  Config
	clk  *clock
	rec  *recorder
	col  *collector
	hub  *hub
	auth auth
}

var _ runtime.Observer = (*Board)(nil)

// New returns a board; feed it events with Observe and serve it.
func New(cfg Config) *Board {
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	clk := newClock(cfg.fakeClock)
	rec := newRecorder(clk)
	b := &Board{cfg: cfg, clk: clk, rec: rec, col: newCollector(rec)}
	b.hub = newHub(b, cfg.Interval)
	b.auth = newAuth(cfg.Token, cfg.AllowedHosts)
	return b
}

// Observe folds e into the board. A call's event costs about 30 ns (see
// recorder), and never waits for another worker.
func (b *Board) Observe(e runtime.Event) { b.rec.observe(e) }

// Close ends every open page's stream and stops the board's goroutines.
// The board still records events and serves requests afterwards, but
// streams no more.
func (b *Board) Close() {
	b.hub.close()
	b.clk.stop()
}

// State returns the whole view as the JSON of api/v1/state.
func (b *Board) State() []byte {
	b.col.mu.Lock()
	defer b.col.mu.Unlock()
	b.col.collect()
	b.hub.idleCollected()
	return b.col.encodeFull(0)
}

// ServeHTTP serves the page, its assets, the JSON API and trace.json; see
// package dashboard for the routes.
func (b *Board) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "405: the dashboard is read-only", http.StatusMethodNotAllowed)
		return
	}
	if !b.auth.hostAllowed(r) {
		http.Error(w, "403: the dashboard answers only to the address it is served on and to localhost (Host "+r.Host+" refused, against DNS rebinding)", http.StatusForbidden)
		return
	}
	if !b.auth.check(w, r) {
		return
	}
	switch r.URL.Path {
	case "":
		// Mounted with http.StripPrefix and asked for the prefix itself:
		// relative URLs need the trailing slash.
		redirectSlash(w, r)
	case "/", "/index.html":
		serveAsset(w, r, "index.html")
	case "/app.js", "/app.css", "/favicon.svg":
		serveAsset(w, r, r.URL.Path[1:])
	case "/api/v1/state":
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.Write(b.State())
	case "/api/v1/events":
		b.hub.serveEvents(w, r)
	case "/trace.json":
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Disposition", `attachment; filename="trace.json"`)
		w.Write(b.trace())
	default:
		http.NotFound(w, r)
	}
}
