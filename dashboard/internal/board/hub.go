package board

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The hub sends the view to open pages over server-sent events. One
// goroutine, running only while a page is open, collects every interval
// and encodes one delta, which every page receives as the same bytes; a
// page that connects gets the whole view first, encoded once for all the
// pages that connected in that interval. Its cost follows changes, not
// pages: an interval with no change sends nothing.
type hub struct {
	b        *Board
	interval time.Duration

	mu      sync.Mutex
	subs    map[*sub]bool // true once sent the whole view
	waiting int           // subs not yet sent the whole view
	running bool
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{} // closed when the goroutine exits; nil if none ran

	seq   uint64 // frames sent
	since uint64 // the collection the last delta was taken after
}

// maxSubs bounds the pages open at once (a browser opens at most six
// streams per host over HTTP/1.1 anyway).
const maxSubs = 64

// subQueue is how many frames a page may fall behind before it is
// dropped; its browser reconnects and starts again from the whole view.
const subQueue = 8

// keepAlive is how often an idle stream gets a comment, so that proxies
// and the browser see it is alive.
const keepAlive = 15 * time.Second

type sub struct {
	ch chan []byte // frames; closed when the page is dropped
}

func newHub(b *Board, interval time.Duration) *hub {
	return &hub{
		b:        b,
		interval: interval,
		subs:     map[*sub]bool{},
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// join adds a page, starting the goroutine if it is the first; nil if the
// hub is closed or full.
func (h *hub) join() *sub {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.subs) >= maxSubs {
		return nil
	}
	s := &sub{ch: make(chan []byte, subQueue)}
	h.subs[s] = false
	h.waiting++
	if !h.running {
		h.running = true
		h.stopped = make(chan struct{})
		go h.run(h.stopped)
	}
	select {
	case h.wake <- struct{}{}: // send the whole view now, not in an interval
	default:
	}
	return s
}

// leave removes a page.
func (h *hub) leave(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sent, ok := h.subs[s]; ok {
		if !sent {
			h.waiting--
		}
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) run(stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		case <-h.wake:
		}
		if !h.tick() {
			return
		}
	}
}

// tick collects, encodes and sends; false when no page is left (the
// goroutine then ends).
func (h *hub) tick() bool {
	h.mu.Lock()
	if len(h.subs) == 0 || h.closed {
		h.running = false
		h.mu.Unlock()
		return false
	}
	waiting := h.waiting > 0
	h.mu.Unlock()

	c := h.b.col
	c.mu.Lock()
	c.collect()
	var delta, full []byte
	if c.changedSince(h.since) {
		h.seq++
		delta = frame("delta", h.seq, c.encodeDelta(h.seq, h.since))
	}
	h.since = c.ver
	if waiting {
		full = frame("full", h.seq, c.encodeFull(h.seq))
	}
	c.mu.Unlock()

	h.mu.Lock()
	defer h.mu.Unlock()
	for s, sent := range h.subs {
		var f []byte
		switch {
		case !sent && full != nil:
			f = full
			h.subs[s] = true
			h.waiting--
		case sent && delta != nil:
			f = delta
		default:
			continue
		}
		select {
		case s.ch <- f:
		default: // too far behind: drop it; its browser reconnects
			delete(h.subs, s)
			close(s.ch)
		}
	}
	return true
}

// idleCollected is called after a collection for an API request, under
// the collector's lock: with no page open, the changes it found will never
// be sent as a delta (a page starts from the whole view), so they are
// dropped rather than kept.
func (h *hub) idleCollected() {
	h.mu.Lock()
	idle := len(h.subs) == 0
	h.mu.Unlock()
	if idle {
		h.b.col.forgetChanges()
		h.since = h.b.col.ver
	}
}

// frame makes an SSE frame: its id is the sequence number, its event the
// kind, its data one line of JSON.
func frame(event string, seq uint64, data []byte) []byte {
	f := make([]byte, 0, len(data)+64)
	f = append(f, "id: "...)
	f = strconv.AppendUint(f, seq, 10)
	f = append(f, "\nevent: "...)
	f = append(f, event...)
	f = append(f, "\ndata: "...)
	f = append(f, data...)
	return append(f, '\n', '\n')
}

// close drops every page and stops the goroutine.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for s := range h.subs {
		close(s.ch)
	}
	clear(h.subs)
	h.waiting = 0
	stopped := h.stopped
	close(h.done)
	h.mu.Unlock()
	if stopped != nil {
		<-stopped
	}
}

// serveEvents streams frames to one page until it goes or is dropped.
func (h *hub) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		return
	}
	s := h.join()
	if s == nil {
		http.Error(w, "503: too many dashboard pages are open", http.StatusServiceUnavailable)
		return
	}
	defer h.leave(s)
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 1000\n\n")); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	for {
		var f []byte
		select {
		case <-r.Context().Done():
			return
		case <-ka.C:
			f = []byte(": keep-alive\n\n")
		case m, ok := <-s.ch:
			if !ok {
				return
			}
			f = m
		}
		if _, err := w.Write(f); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
