package secure_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

func TestJoinURLsRoundTripAndPrintRedacted(t *testing.T) {
	w := secure.NewSecret(secure.Worker)
	pin := secure.Pin(sha256.Sum256([]byte("key")))
	for _, j := range []secure.Join{
		{TLS: true, Addr: "10.0.0.5:4222", Namespace: "futures", Secret: w, Pin: pin},
		{TLS: true, Addr: "[2001:db8::1]:4222", Namespace: "a.b-c_d", Secret: secure.NewSecret(secure.Driver)},
		{Addr: "127.0.0.1:41000", Secret: w},
		{Addr: "host.example:4222", Namespace: "x", Secret: w, Insecure: true},
	} {
		raw := j.Reveal()
		got, err := secure.ParseJoin(raw)
		if err != nil {
			t.Fatalf("ParseJoin(%s): %v", j, err)
		}
		if got != j {
			t.Errorf("ParseJoin(Reveal()) = %+v; want %+v", got, j)
		}
		if !secure.IsJoin(raw) {
			t.Errorf("IsJoin(%s) = false", j)
		}
		if shown := j.String(); strings.Contains(shown, j.Secret.Reveal()) || !strings.Contains(shown, j.Secret.Reveal()[:4]+"REDACTED@") {
			t.Errorf("String() = %s; want the secret redacted", shown)
		}
		if strings.Contains(j.ServerURL(), "@") {
			t.Errorf("ServerURL() = %s; want no user information", j.ServerURL())
		}
	}
	want := "tls://" + w.Reveal() + "@10.0.0.5:4222/futures?pin=" + pin.String()
	if got := (secure.Join{TLS: true, Addr: "10.0.0.5:4222", Namespace: "futures", Secret: w, Pin: pin}).Reveal(); got != want {
		t.Errorf("Reveal() = %s; want %s", got, want)
	}
}

func TestParseJoinSaysWhatIsWrongWithoutTheSecret(t *testing.T) {
	w := secure.NewSecret(secure.Worker).Reveal()
	pin := secure.Pin(sha256.Sum256([]byte("key"))).String()
	for _, tc := range []struct{ url, want string }{
		{"http://" + w + "@h:1/ns", `scheme "http"`},
		{"tls://h:1/ns", "no secret"},
		{"tls://" + w + ":pw@h:1/ns", "not a name and password"},
		{"tls://fgw_short@h:1/ns", "16 to 128 characters"},
		{"tls://fgx_" + w[4:] + "@h:1/ns", "starts with fgw_"},
		{"tls://" + w + "@h/ns", "host:port"},
		{"tls://" + w + "@:4222/ns", "host:port"},
		{"tls://" + w + "@h:0/ns", "port"},
		{"tls://" + w + "@h:99999/ns", "port"},
		{"tls://" + w + "@h:1/a..b", "namespace"},
		{"tls://" + w + "@h:1/a/b", "namespace"},
		{"tls://" + w + "@h:1/a%2Eb", "escaped"},
		{"tls://" + w + "@h:1/ns?pin=md5:x", "pin"},
		{"tls://" + w + "@h:1/ns?pin=" + pin + "&pin=" + pin, "2 times"},
		{"nats://" + w + "@h:1/ns?pin=" + pin, "plaintext"},
		{"tls://" + w + "@h:1/ns?insecure=1", "insecure=1 with tls"},
		{"nats://" + w + "@h:1/ns?insecure=yes", "want insecure=1"},
		{"tls://" + w + "@h:1/ns?pn=x", "unknown parameter"},
		{"tls://" + w + "@h:1/ns#frag", "no more"},
		{"tls://" + w + "@h:1/ns\x7f", "not a URL"},
	} {
		_, err := secure.ParseJoin(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseJoin(%s): err = %v; want one saying %q", secure.Redact(tc.url), err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), w[4:]) {
			t.Errorf("ParseJoin(%s)'s error holds the secret: %v", secure.Redact(tc.url), err)
		}
	}
}

func TestRedact(t *testing.T) {
	w := secure.NewSecret(secure.Worker).Reveal()
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"tls://" + w + "@h:1/ns?pin=sha256:abc", "tls://fgw_REDACTED@h:1/ns?pin=sha256:abc"},
		{"nats://tok@h:1", "nats://REDACTED@h:1"},
		{"nats://u:p@h:1,nats://h2:2", "nats://REDACTED@h:1,nats://h2:2"},
		{"nats://u:a,b@h:1", "nats://REDACTED@h:1"},
		{"tok@h:1", "REDACTED@h:1"},
		{"nats://u:p@ss@h:1", "nats://REDACTED@h:1"},
		{"%zz://" + w + "@h", "REDACTED@h"}, // no scheme: all before the @ goes
		{"garbage " + w, "garbage fgw_REDACTED"},
	} {
		if got := secure.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseJoin checks, for any input, that ParseJoin does not panic, that
// what it parses comes back the same from Reveal, and that neither its
// errors, String, nor Redact show the input's user information.
func FuzzParseJoin(f *testing.F) {
	w := secure.NewSecret(secure.Worker).Reveal()
	pin := secure.Pin(sha256.Sum256([]byte("key"))).String()
	for _, s := range []string{
		"tls://" + w + "@10.0.0.5:4222/futures?pin=" + pin,
		"nats://" + w + "@127.0.0.1:4222/futures",
		"nats://" + w + "@h:4222/a.b?insecure=1",
		"tls://" + w + "@[::1]:4222",
		"nats://user:pass@h:4222,nats://h2",
		"tls://" + w + "@h:1/ns?pin=" + pin + "&pin=x",
		"tls://fgd_AAAAAAAAAAAAAAAA@h:1/%41",
		"", "://@", "tls://@:/?#",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// hides checks that text shows no user information: every '@' in
		// it follows "REDACTED", and no secret shows.
		hides := func(what, text string) {
			for i := range len(text) {
				if text[i] == '@' && !strings.HasSuffix(text[:i], "REDACTED") {
					t.Fatalf("%s of %q shows user information: %s", what, s, text)
				}
			}
			if m := findSecret(text); m != "" {
				t.Fatalf("%s of %q shows a secret %q: %s", what, s, m, text)
			}
		}
		redacted := secure.Redact(s)
		hides("Redact", redacted)
		j, err := secure.ParseJoin(s)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, redacted) {
				t.Fatalf("ParseJoin(%q)'s error does not name the URL redacted: %s", s, msg)
			}
			hides("ParseJoin's error", strings.Replace(msg, redacted, "", 1))
			return
		}
		hides("String", j.String())
		back, err := secure.ParseJoin(j.Reveal())
		if err != nil {
			t.Fatalf("ParseJoin(%q) = %+v, but its Reveal %q does not parse: %v", s, j, j.Reveal(), err)
		}
		if back != j {
			t.Fatalf("ParseJoin(%q) = %+v; its Reveal parses as %+v", s, j, back)
		}
		if j.Secret.IsZero() || j.Addr == "" {
			t.Fatalf("ParseJoin(%q) = %+v without a secret or an address", s, j)
		}
	})
}
