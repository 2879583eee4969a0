package embeddedtest_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/cluster/internal/embedded"
	"github.com/futuresgen/futuresgen/cluster/internal/embedded/embeddedtest"
	"github.com/futuresgen/futuresgen/cluster/internal/netns"
)

// clientEnv makes this test binary the NATS client process of the
// link-cut test.
const clientEnv = "FUTURESGEN_LINKCUT_CLIENT"

func TestMain(m *testing.M) {
	embeddedtest.ServeChild()
	if raw, ok := os.LookupEnv(clientEnv); ok {
		os.Exit(clientMain(raw))
	}
	goleak.VerifyTestMain(m)
}

type clientConfig struct {
	URL           string
	Ping          time.Duration
	MaxPingsOut   int
	ReconnectWait time.Duration
	DialTimeout   time.Duration
}

// clientMain is the client process: it connects to the server, reports
// connection events on stdout, and obeys one command per stdin line:
// "rt" (a request to the echo service, answered "rt ok" or "rt err …"),
// "stream" (publish 1, 2, … on subject seq every 10 ms, at most 3000),
// "stop" (stop streaming, flush, print "sent N").
func clientMain(raw string) int {
	var cfg clientConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	nc, err := nats.Connect(cfg.URL,
		nats.PingInterval(cfg.Ping), nats.MaxPingsOutstanding(cfg.MaxPingsOut),
		nats.ReconnectWait(cfg.ReconnectWait), nats.Timeout(cfg.DialTimeout),
		nats.MaxReconnects(-1), nats.ReconnectJitter(0, 0),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { say("disconnected %v", err) }),
		nats.ReconnectHandler(func(*nats.Conn) { say("reconnected") }),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	defer nc.Close()
	say("connected")
	var (
		stop     = make(chan struct{})
		streamed = make(chan int, 1)
	)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "rt":
			if _, err := nc.Request("echo", []byte("x"), 2*time.Second); err != nil {
				say("rt err %v", err)
			} else {
				say("rt ok")
			}
		case "stream":
			go func() {
				i := 0
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				var pubErr error
				for i < 3000 {
					select {
					case <-stop:
						streamed <- i
						return
					case <-tick.C:
					}
					i++
					if err := nc.Publish("seq", []byte(strconv.Itoa(i))); err != nil && pubErr == nil {
						pubErr = err
						say("puberr %d %v", i, err)
					}
				}
				<-stop
				streamed <- i
			}()
		case "stop":
			close(stop)
			n := <-streamed
			if err := nc.FlushTimeout(5 * time.Second); err != nil {
				say("flush err %v", err)
			}
			say("sent %d", n)
		}
	}
	return 0
}

// client is the parent's handle on the client process.
type client struct {
	in    io.Writer
	lines chan embeddedtest.Line
}

func (c *client) send(cmd string) { fmt.Fprintln(c.in, cmd) }

// await returns the first line with the prefix, skipping others, within d.
func await(t *testing.T, lines <-chan embeddedtest.Line, prefix string, d time.Duration) embeddedtest.Line {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before a %q line", prefix)
			}
			if strings.HasPrefix(l.Text, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q line within %v", prefix, d)
		}
	}
}

func startClient(t *testing.T, h *netns.Host, cfg clientConfig) *client {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	exe, _ := os.Executable()
	cmd := h.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), clientEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &client{in: in, lines: make(chan embeddedtest.Line, 4096)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- embeddedtest.Line{At: time.Now(), Text: sc.Text()}
		}
	}()
	t.Cleanup(func() { in.Close() })
	await(t, c.lines, "connected", 10*time.Second)
	return c
}

// TestLinkCut runs a nats-server inside namespace A and a client process
// inside namespace B, joined by a veth pair; it checks a round trip, cuts
// the link while the client publishes every 10 ms, and logs how long the
// client and the server take to notice, how long the client takes to
// reconnect once the link is back, and which messages were lost.
func TestLinkCut(t *testing.T) {
	for _, ping := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("ping every %v", ping), func(t *testing.T) {
			n := netns.New(t)
			a, b := n.Host("srv"), n.Host("cli")
			link := n.Connect(a, b)
			srv := embeddedtest.StartIn(t, a, embeddedtest.ChildConfig{
				Config: embedded.Config{
					Listen:       netip.AddrPortFrom(link.AddrA, 4222).String(),
					PingInterval: ping, MaxPingsOut: 2,
					Insecure: true, // no secret to keep: it measures the link
				},
				Respond: "echo", Print: "seq",
			})
			cli := startClient(t, b, clientConfig{
				URL: srv.URL, Ping: ping, MaxPingsOut: 2,
				ReconnectWait: 50 * time.Millisecond, DialTimeout: 500 * time.Millisecond,
			})
			// The server's "msg" lines go to msgs, the others to events.
			events := make(chan embeddedtest.Line, 4096)
			msgs := make(chan embeddedtest.Line, 4096)
			go func() {
				defer close(events)
				defer close(msgs)
				for l := range srv.Lines {
					if strings.HasPrefix(l.Text, "msg ") {
						msgs <- l
					} else {
						events <- l
					}
				}
			}()
			await(t, events, "clients 2", 5*time.Second) // its own + ours

			cli.send("rt")
			if l := await(t, cli.lines, "rt ", 5*time.Second); l.Text != "rt ok" {
				t.Fatalf("round trip before the cut: %s", l.Text)
			}
			cli.send("stream")
			time.Sleep(300 * time.Millisecond)

			link.Down()
			cut := time.Now()
			// Generous liveness bounds only: the numbers are logged.
			gone := await(t, cli.lines, "disconnected", 30*time.Second)
			seen := await(t, events, "clients 1", 30*time.Second)
			time.Sleep(300 * time.Millisecond) // publishes now go to the reconnect buffer

			link.Up()
			up := time.Now()
			back := await(t, cli.lines, "reconnected", 30*time.Second)
			cli.send("stop")
			sent := await(t, cli.lines, "sent ", 10*time.Second)
			cli.send("rt")
			if l := await(t, cli.lines, "rt ", 5*time.Second); l.Text != "rt ok" {
				t.Errorf("round trip after reconnecting: %s", l.Text)
			}

			total, _ := strconv.Atoi(strings.TrimPrefix(sent.Text, "sent "))
			got := map[int]bool{}
			lastBefore := 0 // the last message the server had before the cut
			for drain := true; drain; {
				select {
				case l := <-msgs:
					if v, ok := strings.CutPrefix(l.Text, "msg "); ok {
						i, _ := strconv.Atoi(v)
						got[i] = true
						if l.At.Before(cut) {
							lastBefore = max(lastBefore, i)
						}
					}
				case <-time.After(500 * time.Millisecond):
					drain = false
				}
			}
			var lost []int
			for i := 1; i <= total; i++ {
				if !got[i] {
					lost = append(lost, i)
				}
			}
			t.Logf("ping %v, 2 pings out: client noticed the cut after %v (%s); server after %v; "+
				"reconnected %v after the link came back; server had 1-%d at the cut; %d of %d messages lost: %s",
				ping, gone.At.Sub(cut).Round(time.Millisecond), gone.Text,
				seen.At.Sub(cut).Round(time.Millisecond), back.At.Sub(up).Round(time.Millisecond),
				lastBefore, len(lost), total, ranges(lost))
		})
	}
}

// ranges writes sorted ints as "3-9 12".
func ranges(xs []int) string {
	var b strings.Builder
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", xs[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", xs[i], xs[j])
		}
		i = j + 1
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
