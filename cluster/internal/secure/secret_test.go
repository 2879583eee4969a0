package secure_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/futuresgen/futuresgen/cluster/internal/secure"
)

func TestNewSecretsArePrefixedRandomAndParse(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range []secure.Role{secure.Worker, secure.Driver} {
		for range 100 {
			s := secure.NewSecret(r)
			text := s.Reveal()
			if !secretRE.MatchString(text) || len(text) != 4+26 {
				t.Fatalf("NewSecret(%v) = %q; want fg?_ and 26 base32 characters", r, text)
			}
			if s.Role() != r {
				t.Errorf("Role of %v's secret = %v", r, s.Role())
			}
			if seen[text] {
				t.Fatalf("NewSecret repeated %q", text)
			}
			seen[text] = true
			back, err := secure.ParseSecret(text)
			if err != nil || back != s {
				t.Fatalf("ParseSecret(NewSecret) = %v, %v", back, err)
			}
		}
	}
}

func TestParseSecretRefusesWhatItDidNotMake(t *testing.T) {
	good := secure.NewSecret(secure.Worker).Reveal()
	for _, s := range []string{"", "fgw_", "fgx_" + good[4:], good[4:], "fgw_short", good + "!", "fgw_" + strings.ToLower(good[4:]), good + strings.Repeat("A", 200)} {
		if _, err := secure.ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q): no error", s)
		} else if len(s) > 8 && strings.Contains(err.Error(), s[4:]) {
			t.Errorf("ParseSecret(%q)'s error holds it: %v", s, err)
		}
	}
}

func TestASecretNeverPrints(t *testing.T) {
	s := secure.NewSecret(secure.Driver)
	j := secure.Join{Addr: "h:1", Secret: s}
	var text strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		fmt.Fprintf(&text, verb+"\n", s)
		fmt.Fprintf(&text, verb+"\n", struct{ S secure.Secret }{s})
		fmt.Fprintf(&text, verb+"\n", &s)
		fmt.Fprintf(&text, verb+"\n", j)
		fmt.Fprintf(&text, verb+"\n", &j)
	}
	fmt.Fprintln(&text, s, []secure.Secret{s}, map[string]secure.Secret{"k": s}, []secure.Join{j})
	raw, err := json.Marshal(struct {
		S secure.Secret
		J secure.Join
	}{s, j})
	if err != nil {
		t.Fatal(err)
	}
	text.Write(raw)
	slog.New(slog.NewTextHandler(&text, nil)).Info("m", "s", s, "g", slog.GroupValue(slog.Any("s", s)), "j", j)
	slog.New(slog.NewJSONHandler(&text, nil)).Info("m", "s", s, "p", &s, "j", j, "pj", &j)
	if strings.Contains(text.String(), s.Reveal()) || strings.Contains(text.String(), s.Reveal()[4:12]) {
		t.Errorf("a secret printed:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "fgd_REDACTED") {
		t.Errorf("no fgd_REDACTED in what printed:\n%s", text.String())
	}
}

func TestScrubHidesSecretsAndUserinfo(t *testing.T) {
	w := secure.NewSecret(secure.Worker).Reveal()
	for _, tc := range []struct{ in, want string }{
		{"token " + w + " leaked", "token fgw_REDACTED leaked"},
		{"connecting to nats://tok@10.0.0.1:4222: refused", "connecting to nats://REDACTED@10.0.0.1:4222: refused"},
		{"nats://user:pa/ss?w@h:1 and tls://" + w + "@h:2/ns", "nats://REDACTED@h:1 and tls://fgw_REDACTED@h:2/ns"},
		{"nats://a@b@h:1/x@y", "nats://REDACTED@y"}, // greedy: hides more, never less
		{"no secret here: nats://h:4222", "no secret here: nats://h:4222"},
	} {
		if got := secure.Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
