package secure_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

// handoverEnv makes this test binary the child of TestAChildGetsItsSecretOnStdin.
const handoverEnv = "FUTURESGEN_SECURE_HANDOVER_CHILD"

// handoverChild is that child, when the test started one: it reads the
// hand-over, prints its SHA-256 and "ready", waits for its standard input
// to close and exits 0; it exits 1 on a bad hand-over.
func handoverChild() {
	if os.Getenv(handoverEnv) == "" {
		return
	}
	payload, err := secure.ReadHandover(os.Stdin)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	sum := sha256.Sum256(payload)
	fmt.Println("got", hex.EncodeToString(sum[:]))
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // the parent alive signal, as StartLocal's workers keep it
	fmt.Println("stdin closed")
	os.Exit(0)
}

func TestHandoverRoundTrips(t *testing.T) {
	for _, payload := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("ab"), 40<<10), make([]byte, secure.MaxHandover)} {
		var buf bytes.Buffer
		if err := secure.WriteHandover(&buf, payload); err != nil {
			t.Fatal(err)
		}
		buf.WriteString("after") // what the parent sends later stays unread
		got, err := secure.ReadHandover(&buf)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("hand-over of %d bytes: got %d bytes, %v", len(payload), len(got), err)
		}
		if buf.String() != "after" {
			t.Errorf("ReadHandover read past its frame: %q left", buf.String())
		}
	}
}

func TestHandoverErrorsSayWhatIsWrongWithoutThePayload(t *testing.T) {
	if err := secure.WriteHandover(io.Discard, make([]byte, secure.MaxHandover+1)); err == nil {
		t.Error("WriteHandover of more than MaxHandover: no error")
	}
	secret := secure.NewSecret(secure.Worker).Reveal()
	var full bytes.Buffer
	secure.WriteHandover(&full, []byte(secret))
	for _, tc := range []struct {
		name, input, want string
	}{
		{"nothing", "", "no hand-over"},
		{"something else", "GET / HTTP/1.1\r\n", "does not start with a hand-over"},
		{"a cut header", "FGH1\x00", "unexpected EOF"},
		{"too long", "FGH1\xff\xff\xff\xff", "at most"},
		{"a cut payload", full.String()[:full.Len()-3], "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secure.ReadHandover(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want one saying %q", err, tc.want)
			}
			if tc.name == "nothing" && !errors.Is(err, secure.ErrNoHandover) {
				t.Errorf("err = %v; want ErrNoHandover", err)
			}
			if strings.Contains(err.Error(), secret[4:10]) {
				t.Errorf("error holds part of the payload: %v", err)
			}
		})
	}
}

// TestAChildGetsItsSecretOnStdin starts this binary as a child, hands it
// a join URL on its standard input as StartLocal would, and checks that
// the child got it, that neither its command line nor its environment in
// /proc holds it, and that the pipe still tells the child when the parent
// goes (it exits once its input closes).
func TestAChildGetsItsSecretOnStdin(t *testing.T) {
	secret := secure.NewSecret(secure.Worker)
	payload := []byte(`{"URL":"tls://` + secret.Reveal() + `@127.0.0.1:4222/futures"}`)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), handoverEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed after cmd.Wait, which set waitErr
	lines := make(chan string, 10)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := stdout.Read(buf)
			acc += string(buf[:n])
			for {
				line, rest, ok := strings.Cut(acc, "\n")
				if !ok {
					break
				}
				lines <- line
				acc = rest
			}
			if err != nil {
				close(lines)
				waitErr = cmd.Wait()
				close(exited)
				return
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(wait):
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := secure.WriteHandover(stdin, payload); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the child's output ended early")
			}
			return l
		case <-time.After(wait):
			t.Fatalf("the child said nothing within %v", wait)
		}
		return ""
	}
	sum := sha256.Sum256(payload)
	if got := next(); got != "got "+hex.EncodeToString(sum[:]) {
		t.Fatalf("child said %q; want the payload's digest", got)
	}
	if got := next(); got != "ready" {
		t.Fatalf("child said %q; want ready", got)
	}
	for _, f := range []string{"cmdline", "environ"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", cmd.Process.Pid, f))
		if err != nil {
			t.Fatalf("reading the child's %s: %v", f, err)
		}
		if bytes.Contains(raw, []byte(secret.Reveal())) {
			t.Errorf("the child's /proc/%s holds the secret", f)
		}
	}
	stdin.Close()
	if got := next(); got != "stdin closed" {
		t.Fatalf("child said %q; want stdin closed", got)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("child: %v", waitErr)
		}
	case <-time.After(wait):
		t.Fatal("the child did not exit after its input closed")
	}
}
