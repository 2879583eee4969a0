package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/internal/registry"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// The protocol between drivers and workers, on core NATS (no JetStream).
//
// Every process has an identity: its connection's nkey public key when it
// joined with a join URL (the server checks it, and gives each identity
// permissions for its own subjects only), a random token otherwise. The
// last token of every subject a process publishes on is its identity,
// vouched for by the server's permissions (see package secure): a message
// never names its sender in a header. A worker session S (one Serve) of
// identity W and an executor E (one NewExecutor) of identity D talk on:
//
//	ns.announce.S.W        a worker session announces itself to every driver
//	ns.drivers.E.D         an executor's heartbeat to every worker; a worker
//	                       with no session with it announces itself to it in
//	                       reply
//	ns.w.W.S.E.D           everything E says to S: calls, cancels, revokes,
//	                       grants, joins, byes, refusals, table requests. One
//	                       subject from one connection, so they come in order.
//	ns.d.D.E.S.W           everything S says to E: started, revoked, ungranted, ask, answers,
//	                       heartbeats, announcements, leave. One subject, so
//	                       they are read in the order the worker sent them.
//	ns.blob.O.<id>         values over max_payload that O offers (package blob)
//
// Every message carries its fields in NATS headers; a call's arguments or
// an answer's results are the body, after an optional gob-encoded detail
// (an error tree, a panic's stack, a batch's failures).
//
// Fencing: a driver numbers each link it opens to a worker session (the
// link ID, increasing per executor), and every message of that link
// carries it both ways. A driver takes a message only from the session
// and link it has open; a worker takes a call only on the newest link of
// its executor, and a newer link ends the calls of older ones. Call IDs
// are the scheduler's, new for every dispatch (a retry is a new call). So
// an answer that comes late, or twice (NATS's reconnect buffer replays
// what was published while it reconnected), is never taken for another.
//
// At most once: a worker starts a call only once its executor granted it
// (a call sent to a free slot is granted as it is sent; one sent ahead to
// a busy worker waits for a grant, which the executor sends as that
// worker's running calls end, one per slot). When an executor loses a
// worker, only the calls it never granted run elsewhere: whatever the
// lost worker does later, and whatever became of its messages, it cannot
// start one of those (see package internal/worker).

// Message kinds (header K).
const (
	kCall     = "call"
	kBatch    = "batch"
	kCancel   = "cancel"
	kRevoke   = "revoke"
	kGrant    = "grant"
	kJoin     = "join"
	kBye      = "bye"
	kRefused  = "refused"
	kTable    = "table"
	kStarted  = "started"
	kUngrant  = "ungranted"
	kAsk      = "ask"
	kRevoked  = "revoked"
	kAnswer   = "answer"
	kBeat     = "beat"
	kAnnounce = "announce"
	kDriver   = "driver"
	kLeave    = "leave"
)

// Header names: short, since every message carries several.
const (
	hKind    = "K"
	hLink    = "L"
	hID      = "I"
	hTask    = "T"
	hCount   = "N" // a batch's inputs
	hTimeout = "O" // nanoseconds the call's context had left when sent
	hMax     = "M" // the largest result the driver takes
	hWire    = "P" // an answer's wire.Kind
	hFree    = "F" // free slots
	hSlots   = "C"
	hSeen    = "S" // the worker received every call of this link below this ID
	hHeld    = "H" // the calls of this link the worker holds, comma-separated
	hFull    = "U" // a revoke for want of a free slot
	hAhead   = "Q" // a call sent ahead of need
	hGranted = "Y" // a call its worker may start as soon as it has a slot
	hBlob    = "B" // the body is offered in chunks: "subject size chunk"
	hDetail  = "X" // the body starts with that many bytes of gob-encoded detail
	hName    = "A"
	hHost    = "W"
	hPID     = "Z"
	hVersion = "V"
	hDigest  = "G"
	hReason  = "E"
)

// reasonDeadline is the reason of a cancel for a call whose deadline
// passed.
const reasonDeadline = "deadline"

// protocolVersion is this package's protocol, apart from wire.Version.
const protocolVersion = 2

// versionText is what announcements carry in hVersion.
var versionText = fmt.Sprintf("%d.%d", wire.Version, protocolVersion)

// The subjects; see above.
func subjAnnounce(ns, session, id string) string    { return ns + ".announce." + session + "." + id }
func subjAnnouncements(ns string) string            { return ns + ".announce.>" }
func subjDriverBeat(ns, exec, id string) string     { return ns + ".drivers." + exec + "." + id }
func subjDriverBeats(ns string) string              { return ns + ".drivers.>" }
func subjWorkerInbox(ns, id, session string) string { return ns + ".w." + id + "." + session + ".>" }
func subjDriverInbox(ns, id, exec string) string    { return ns + ".d." + id + "." + exec + ".>" }
func subjBlob(ns, id string) string                 { return ns + ".blob." + id }

func subjToWorker(ns string, worker, driver peer) string {
	return ns + ".w." + worker.id + "." + worker.sub + "." + driver.sub + "." + driver.id
}

func subjToDriver(ns string, driver, worker peer) string {
	return ns + ".d." + driver.id + "." + driver.sub + "." + worker.sub + "." + worker.id
}

// peer names a worker session or an executor: the identity of its
// connection (the last token of what it publishes) and the session or
// executor within it.
type peer struct{ id, sub string }

func (p peer) String() string { return p.sub + "@" + p.id }

// sender returns the peer that published on subject, the last two tokens
// after prefix, or ok false if subject does not have exactly two tokens
// there.
func sender(subject, prefix string) (p peer, ok bool) {
	rest, found := strings.CutPrefix(subject, prefix)
	if !found {
		return peer{}, false
	}
	sub, id, found := strings.Cut(rest, ".")
	if !found || sub == "" || id == "" || strings.Contains(id, ".") {
		return peer{}, false
	}
	return peer{id: id, sub: sub}, true
}

// payloadBound is the bound on a call's arguments or results together:
// limit for one input, limit per input for a batch (each input's own is
// limit), at most 1 TiB.
func payloadBound(limit int, f *frame) int {
	if f.kind != kBatch || f.count <= 1 {
		return limit
	}
	return int(min(int64(limit)*int64(f.count), 1<<40))
}

// headerRoom is what a message leaves of max_payload for its subject and
// headers: a body larger than max_payload minus this travels in chunks.
const headerRoom = 8 << 10

// frame is one message, parsed.
type frame struct {
	kind    string
	link    uint64
	id      uint64
	task    string
	count   int
	timeout int64
	max     int
	wire    wire.Kind
	free    int
	freeSet bool // free was said (beats and announcements always say it; answers do)
	slots   int
	seen    uint64
	held    []uint64
	full    bool
	ahead   bool // a call sent ahead of need: the worker may hold it until a slot frees
	granted bool // a call its worker may start as soon as it has a slot
	ref     *blob.Ref
	name    string
	host    string
	pid     int
	version string
	digest  string
	reason  string
	detail  *detail
	body    []byte
}

// detail is what an answer carries besides its results.
type detail struct {
	Err      *wire.Error
	Text     string
	Stack    string
	Failures []wire.Failure
}

// msg encodes f as a message to subject.
func (f *frame) msg(subject string) (*nats.Msg, error) {
	m := nats.NewMsg(subject)
	h := m.Header
	h.Set(hKind, f.kind)
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	setU := func(k string, v uint64) {
		if v != 0 {
			h.Set(k, strconv.FormatUint(v, 10))
		}
	}
	setI := func(k string, v int64) {
		if v != 0 {
			h.Set(k, strconv.FormatInt(v, 10))
		}
	}
	setU(hLink, f.link)
	setU(hID, f.id)
	set(hTask, f.task)
	setI(hCount, int64(f.count))
	setI(hTimeout, f.timeout)
	setI(hMax, int64(f.max))
	setI(hWire, int64(f.wire))
	setI(hSlots, int64(f.slots))
	setU(hSeen, f.seen)
	set(hName, f.name)
	set(hHost, f.host)
	setI(hPID, int64(f.pid))
	set(hVersion, f.version)
	set(hDigest, f.digest)
	set(hReason, f.reason)
	if f.kind == kBeat || f.kind == kAnnounce || f.freeSet {
		h.Set(hFree, strconv.Itoa(f.free))
	}
	if len(f.held) > 0 {
		b := make([]byte, 0, 8*len(f.held))
		for i, id := range f.held {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, id, 10)
		}
		h.Set(hHeld, string(b))
	}
	if f.full {
		h.Set(hFull, "1")
	}
	if f.ahead {
		h.Set(hAhead, "1")
	}
	if f.granted {
		h.Set(hGranted, "1")
	}
	if f.ref != nil {
		h.Set(hBlob, fmt.Sprintf("%s %d %d", f.ref.Subject, f.ref.Size, f.ref.Chunk))
	}
	m.Data = f.body
	if f.detail != nil {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(f.detail); err != nil {
			return nil, fmt.Errorf("cluster: encoding a %s message: %w", f.kind, err)
		}
		h.Set(hDetail, strconv.Itoa(buf.Len()))
		buf.Write(f.body)
		m.Data = buf.Bytes()
	}
	return m, nil
}

// parse decodes a message. Its body is valid as long as m's data is.
func parse(m *nats.Msg) (*frame, error) {
	h := m.Header
	f := &frame{
		kind:    h.Get(hKind),
		task:    h.Get(hTask),
		name:    h.Get(hName),
		host:    h.Get(hHost),
		version: h.Get(hVersion),
		digest:  h.Get(hDigest),
		reason:  h.Get(hReason),
		full:    h.Get(hFull) == "1",
		ahead:   h.Get(hAhead) == "1",
		granted: h.Get(hGranted) == "1",
		body:    m.Data,
	}
	if f.kind == "" {
		return nil, fmt.Errorf("%w: a message on %s without a kind", wire.ErrProtocol, m.Subject)
	}
	var err error
	u := func(k string) uint64 {
		s := h.Get(k)
		if s == "" || err != nil {
			return 0
		}
		var v uint64
		v, err = strconv.ParseUint(s, 10, 64)
		return v
	}
	i := func(k string) int64 {
		s := h.Get(k)
		if s == "" || err != nil {
			return 0
		}
		var v int64
		v, err = strconv.ParseInt(s, 10, 64)
		return v
	}
	f.link = u(hLink)
	f.id = u(hID)
	f.seen = u(hSeen)
	f.count = int(i(hCount))
	f.timeout = i(hTimeout)
	f.max = int(i(hMax))
	f.wire = wire.Kind(i(hWire))
	f.free = int(i(hFree))
	f.freeSet = h.Get(hFree) != ""
	f.slots = int(i(hSlots))
	f.pid = int(i(hPID))
	if held := h.Get(hHeld); held != "" && err == nil {
		for s := range strings.SplitSeq(held, ",") {
			var id uint64
			if id, err = strconv.ParseUint(s, 10, 64); err != nil {
				break
			}
			f.held = append(f.held, id)
		}
	}
	if ref := h.Get(hBlob); ref != "" && err == nil {
		var r blob.Ref
		if _, err = fmt.Sscanf(ref, "%s %d %d", &r.Subject, &r.Size, &r.Chunk); err == nil {
			f.ref = &r
		}
	}
	if n := i(hDetail); n != 0 && err == nil {
		if n < 0 || n > int64(len(m.Data)) {
			return nil, fmt.Errorf("%w: a %s message claims %d bytes of detail in %d", wire.ErrProtocol, f.kind, n, len(m.Data))
		}
		f.detail = &detail{}
		if derr := gob.NewDecoder(bytes.NewReader(m.Data[:n])).Decode(f.detail); derr != nil {
			return nil, fmt.Errorf("%w: the detail of a %s message does not decode: %v", wire.ErrProtocol, f.kind, derr)
		}
		if cerr := f.detail.Err.Check(); cerr != nil {
			return nil, cerr
		}
		for _, fl := range f.detail.Failures {
			if cerr := fl.Err.Check(); cerr != nil {
				return nil, cerr
			}
		}
		f.body = m.Data[n:]
	}
	if err == nil {
		err = f.check()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: a %s message on %s: %v", wire.ErrProtocol, f.kind, m.Subject, err)
	}
	return f, nil
}

// check rejects numbers no peer sends: counts below zero, a batch of no
// inputs, a chunked value of a negative size.
func (f *frame) check() error {
	for _, n := range []struct {
		name string
		v    int64
	}{{"count", int64(f.count)}, {"timeout", f.timeout}, {"max", int64(f.max)}, {"free", int64(f.free)}, {"slots", int64(f.slots)}, {"pid", int64(f.pid)}} {
		if n.v < 0 {
			return fmt.Errorf("%s %d is negative", n.name, n.v)
		}
	}
	if f.kind == kBatch && f.count == 0 {
		return errors.New("a batch of no inputs")
	}
	if f.ref != nil && (f.ref.Size < 0 || f.ref.Chunk <= 0) {
		return fmt.Errorf("a chunked value of %d bytes in chunks of %d", f.ref.Size, f.ref.Chunk)
	}
	return nil
}

// answerMsg turns an answer frame back into the wire message the
// scheduler delivers.
func (f *frame) answerMsg(payload []byte) *wire.Msg {
	m := &wire.Msg{Kind: f.wire, ID: f.id, Count: f.count, Payload: payload}
	if d := f.detail; d != nil {
		m.Err, m.Text, m.Stack, m.Failures = d.Err, d.Text, d.Stack, d.Failures
	}
	return m
}

// answerFrame is the frame of a worker's answer m.
func answerFrame(m *wire.Msg) *frame {
	f := &frame{kind: kAnswer, id: m.ID, wire: m.Kind, count: m.Count, body: m.Payload}
	if m.Err != nil || m.Text != "" || m.Stack != "" || len(m.Failures) > 0 {
		f.detail = &detail{Err: m.Err, Text: m.Text, Stack: m.Stack, Failures: m.Failures}
	}
	return f
}

// tableDigest names this process's dispatch table: two processes whose
// digests are equal register the same tasks with the same types.
func tableDigest(table []wire.TaskSig) string {
	h := sha256.New()
	for _, t := range table {
		fmt.Fprintf(h, "%s\x00%s\x00", t.Name, t.Signature)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// encodeTable and decodeTable carry a dispatch table in a reply.
func encodeTable(table []wire.TaskSig) []byte {
	var buf bytes.Buffer
	gob.NewEncoder(&buf).Encode(table) // a slice of strings always encodes
	return buf.Bytes()
}

func decodeTable(b []byte) ([]wire.TaskSig, error) {
	var t []wire.TaskSig
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: a dispatch table that does not decode: %v", wire.ErrProtocol, err)
	}
	return t, nil
}

// compareWorker says why a worker that announced version and digest may
// not join this driver, fetching its table to name the difference, or
// returns nil.
func compareWorker(version, digest string, mine []wire.TaskSig, fetch func() ([]wire.TaskSig, error)) error {
	if version != versionText {
		return fmt.Errorf("the worker speaks protocol %s, this process %s: build both from the same futuresgen", version, versionText)
	}
	if digest == tableDigest(mine) {
		return nil
	}
	theirs, err := fetch()
	if err != nil {
		return fmt.Errorf("the worker's dispatch table differs from this process's, and fetching it failed: %w", err)
	}
	if err := registry.CompareTables(mine, theirs); err != nil {
		return err
	}
	return fmt.Errorf("the worker's dispatch table differs from this process's (digest %s, here %s)", digest, tableDigest(mine))
}

// connID returns the identity a process publishes under on nc: its
// nkey's public key when it has one (with a join URL: the server checked
// it, and permits it its own subjects only), or else a random token,
// which no server vouches for.
func connID(nc *nats.Conn) string {
	if nc.Opts.Nkey != "" {
		return nc.Opts.Nkey
	}
	return nuid.Next()
}
