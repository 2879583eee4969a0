package cluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/futuresgen/futuresgen/cluster/internal/blob"
	"github.com/futuresgen/futuresgen/internal/wire"
)

// fuzzMsg builds a message from a fuzzer's strings: headers as
// "key=value" lines, then the body.
func fuzzMsg(headers string, body []byte) *nats.Msg {
	m := nats.NewMsg("futures.d.fuzz")
	for line := range strings.SplitSeq(headers, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			m.Header.Add(k, v)
		}
	}
	m.Data = body
	return m
}

// msgText is the inverse of fuzzMsg, for the seeds.
func msgText(m *nats.Msg) string {
	var b strings.Builder
	for k, vs := range m.Header {
		for _, v := range vs {
			b.WriteString(k + "=" + v + "\n")
		}
	}
	return b.String()
}

// FuzzParse feeds parse what a peer, a stale client or a stranger on the
// same NATS server could publish on a driver's or a worker's subjects.
// parse must never panic; it fails with wire.ErrProtocol or returns a
// frame that encodes and parses back to itself.
func FuzzParse(f *testing.F) {
	seeds := []*frame{
		{kind: kCall, link: 1, id: 7, task: "test.double", timeout: 5e9, max: 1 << 20, granted: true, body: []byte{1, 2, 3}},
		{kind: kBatch, link: 2, id: 8, task: "test.double", count: 3, ahead: true, body: []byte("args")},
		{kind: kBeat, link: 3, free: 2, seen: 9, held: []uint64{7, 8}},
		{kind: kAnnounce, name: "host/1", host: "host", pid: 42, slots: 4, free: 4, version: versionText, digest: "abc"},
		{kind: kAnswer, link: 1, id: 7, wire: wire.KindError, detail: &detail{Text: "boom", Stack: "main.go:1"}, body: []byte("result")},
		{kind: kAnswer, link: 1, id: 9, ref: &blob.Ref{Subject: "futures.blob.x.y", Size: 3 << 20, Chunk: 1 << 20}},
		{kind: kCancel, link: 1, id: 7, reason: reasonDeadline},
		{kind: kRevoke, link: 1, id: 7, full: true},
		{kind: kGrant, link: 1, id: 9},
	}
	for _, fr := range seeds {
		m, err := fr.msg("futures.d.fuzz")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msgText(m), m.Data)
	}
	f.Add("K=answer\nX=5\n", []byte("short"))
	f.Add("K=batch\nN=-1\n", []byte{})
	f.Add("K=answer\nB=s -1 0\n", []byte{})
	f.Fuzz(func(t *testing.T, headers string, body []byte) {
		fr, err := parse(fuzzMsg(headers, body))
		if err != nil {
			if !errors.Is(err, wire.ErrProtocol) {
				t.Fatalf("parse failed with %v, not a protocol error", err)
			}
			return
		}
		// What a frame carries survives a round trip: encoding leaves out
		// only the fields its kind does not use, so after one trip the
		// next changes nothing.
		once := roundTrip(t, fr)
		if once == nil {
			return
		}
		if twice := roundTrip(t, once); !reflect.DeepEqual(once, twice) {
			t.Fatalf("parse(msg(f)) = %+v; want %+v", twice, once)
		}
	})
}

// roundTrip encodes fr and parses it back, or returns nil if fr's detail
// does not encode (a peer never sends one that does not).
func roundTrip(t *testing.T, fr *frame) *frame {
	t.Helper()
	m, err := fr.msg("futures.d.fuzz")
	if err != nil {
		return nil
	}
	again, err := parse(m)
	if err != nil {
		t.Fatalf("a parsed frame %+v encodes to a message that does not parse: %v", fr, err)
	}
	if len(again.body) == 0 {
		again.body = nil
	}
	return again
}

func TestParseRefusesNumbersNoPeerSends(t *testing.T) {
	for _, headers := range []string{
		"K=batch\nN=-2",
		"K=batch",
		"K=call\nO=-5",
		"K=announce\nC=-1\nF=1",
		"K=beat\nF=-3",
		"K=answer\nB=futures.blob.x -1 100",
		"K=answer\nB=futures.blob.x 100 0",
		"K=answer\nX=100",
		"K=beat\nH=1,x",
		"K=announce\nZ=-4",
		"I=1",
	} {
		if _, err := parse(fuzzMsg(headers, []byte("body"))); !errors.Is(err, wire.ErrProtocol) {
			t.Errorf("parse(%q) = %v; want a protocol error", headers, err)
		}
	}
}
