package generator

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseDirective(t *testing.T) {
	t.Parallel()
	tests := []struct {
		comment string
		want    Directive
		kind    DirectiveKind
		err     string // a substring of the error; "" for none
	}{
		{"//futures:task", Directive{}, IsDirective, ""},
		{"//futures:task   ", Directive{}, IsDirective, ""},
		{"//futures:task local", Directive{Local: true}, IsDirective, ""},
		{"//futures:task name=shop.fetch/v2_x-y local", Directive{Name: "shop.fetch/v2_x-y", Local: true}, IsDirective, ""},
		{"//futures:task\tlocal", Directive{Local: true}, IsDirective, ""},
		{"//futures:task name=", Directive{}, IsDirective, "needs a value"},
		{"//futures:task name=a b", Directive{Name: "a"}, IsDirective, `unknown option "b"`},
		{"//futures:task name=a:b", Directive{}, IsDirective, `character ':' is not allowed`},
		{"//futures:task local=yes", Directive{}, IsDirective, "takes no value"},
		{"//futures:task local local", Directive{Local: true}, IsDirective, "given twice"},
		{"//futures:task fast", Directive{}, IsDirective, `unknown option "fast"`},
		{"//futures:tasks", Directive{}, LikelyMistake, "malformed directive"},
		{"// futures:task", Directive{}, LikelyMistake, "no space is allowed after //"},
		{"//  futures:task local", Directive{}, LikelyMistake, "no space is allowed after //"},
		{"//Futures:Task", Directive{}, LikelyMistake, "lower case"},
		{"//FUTURES:TASK local", Directive{}, LikelyMistake, "lower case"},
		{"//futures: task", Directive{}, LikelyMistake, "around the colon"},
		{"/* futures:task */", Directive{}, LikelyMistake, "// line comment"},
		{"// Fetch downloads a page.", Directive{}, NotDirective, ""},
		{"//go:generate go tool futuresgen", Directive{}, NotDirective, ""},
		{"// futures are great", Directive{}, NotDirective, ""},
		{"//futuresgen:ignore", Directive{}, NotDirective, ""},
	}
	for _, tt := range tests {
		d, kind, err := ParseDirective(tt.comment)
		if kind != tt.kind {
			t.Errorf("ParseDirective(%q) kind = %v; want %v", tt.comment, kind, tt.kind)
		}
		if tt.err == "" {
			if err != nil {
				t.Errorf("ParseDirective(%q) error = %v; want none", tt.comment, err)
			} else if d != tt.want {
				t.Errorf("ParseDirective(%q) = %+v; want %+v", tt.comment, d, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseDirective(%q) error = %v; want one containing %q", tt.comment, err, tt.err)
		}
	}
}

// FuzzParseDirective checks that no comment makes the parser panic, that a
// comment is a directive only when it starts with the marker, and that an
// accepted stable name holds only the allowed characters.
func FuzzParseDirective(f *testing.F) {
	for _, s := range []string{"//futures:task", "//futures:task name=a.b/c local", "// futures:task", "//Futures:Task", "/* futures:task */", "//futures:task name=\xff", "//futures: task x=y=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, comment string) {
		d, kind, err := ParseDirective(comment)
		if kind == IsDirective && !strings.HasPrefix(comment, Marker) {
			t.Fatalf("%q accepted as a directive without the marker", comment)
		}
		if kind == NotDirective && err != nil {
			t.Fatalf("%q: NotDirective with an error %v", comment, err)
		}
		if kind == LikelyMistake && err == nil {
			t.Fatalf("%q: LikelyMistake without an error", comment)
		}
		if err == nil && d.Name != "" {
			if checkStableName(d.Name) != nil || !utf8.ValidString(d.Name) && strings.ContainsRune(d.Name, utf8.RuneError) {
				t.Fatalf("%q: accepted name %q", comment, d.Name)
			}
		}
		if err != nil && !utf8.ValidString(err.Error()) && utf8.ValidString(comment) {
			t.Fatalf("%q: error is not valid UTF-8: %q", comment, err)
		}
	})
}
