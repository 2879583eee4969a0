package dashboard

import (
	"net/http"
	"time"

	"github.com/futuresgen/futuresgen/dashboard/internal/board"
	"github.com/futuresgen/futuresgen/runtime"
)

// New attaches a dashboard to ex (a ThreadPool, a ProcessPool or a
// *cluster.Executor) and returns the handler that serves it. The dashboard
// observes ex from this call on, for as long as ex lives, whether or not a
// page is open; its memory is bounded whatever the number of calls.
//
// Mount it anywhere: every URL in the page is relative.
//
//	http.Handle("/futures/", http.StripPrefix("/futures", dashboard.New(pool)))
//
// The handler is read-only (GET and HEAD) and refuses a request whose Host
// header names neither localhost, a loopback address, the address the
// request came in on, nor a host given with AllowHosts.
func New(ex runtime.Executor, opts ...Option) http.Handler {
	var cfg board.Config
	for _, o := range opts {
		o(&cfg)
	}
	b := board.New(cfg)
	runtime.Observe(ex, b)
	return b
}

// Option configures a dashboard.
type Option func(*board.Config)

// Token makes the dashboard require token of every request: as the token
// query parameter (the URL to print is "http://host:port/?token=" +
// token; the page then keeps it in a cookie and drops it from the URL),
// or as an Authorization: Bearer header. A request without it gets 401.
// Use a random token of 128 bits or more, compared in constant time.
func Token(token string) Option {
	return func(c *board.Config) { c.Token = token }
}

// AllowHosts adds host names (without port) that a request's Host header
// may name, for a dashboard reached through a name of its own or a
// reverse proxy. localhost, loopback addresses and the address a request
// came in on are always allowed.
func AllowHosts(hosts ...string) Option {
	return func(c *board.Config) { c.AllowedHosts = append(c.AllowedHosts, hosts...) }
}

// Interval sets how often open pages are updated; the default is 250 ms.
func Interval(d time.Duration) Option {
	return func(c *board.Config) { c.Interval = d }
}
