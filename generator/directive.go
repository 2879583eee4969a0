package generator

import (
	"fmt"
	"strings"
	"unicode"
)

// Marker is the comment that makes a function a task. It must start the
// comment line, with no space after "//", like //go:generate.
const Marker = "//futures:task"

// Directive is a parsed //futures:task comment.
type Directive struct {
	// Name is the stable name from name=, or "" for the default
	// "<import path>.<FuncName>".
	Name string
	// Local is set by the "local" option: the task may take values that
	// cannot cross a process boundary and runs only in-process.
	Local bool
}

// DirectiveKind says what a comment line is to the generator.
type DirectiveKind int

const (
	// NotDirective: an ordinary comment.
	NotDirective DirectiveKind = iota
	// IsDirective: a //futures:task directive.
	IsDirective
	// LikelyMistake: a comment that looks like a misspelt directive, such
	// as "// futures:task" or "//Futures:Task". ParseDirective's error says
	// what is wrong.
	LikelyMistake
)

// ParseDirective reads one comment line, as go/ast gives it ("//…" or
// "/*…*/"). It returns IsDirective with the parsed options and a nil error,
// or IsDirective with an error for a directive whose options are wrong,
// LikelyMistake with an error for a near miss, or NotDirective.
func ParseDirective(comment string) (Directive, DirectiveKind, error) {
	var d Directive
	if strings.HasPrefix(comment, Marker) {
		rest := comment[len(Marker):]
		if rest != "" && !isSpace(rest[0]) {
			// "//futures:tasks", "//futures:task:x"
			return d, LikelyMistake, fmt.Errorf("malformed directive %q: want %s followed by a space or the end of the line", clip(comment), Marker)
		}
		err := d.parseOptions(rest)
		return d, IsDirective, err
	}
	if near := nearMiss(comment); near != "" {
		return d, LikelyMistake, fmt.Errorf("%q is not a directive: %s; write %s", clip(comment), near, Marker)
	}
	return d, NotDirective, nil
}

func (d *Directive) parseOptions(rest string) error {
	seen := map[string]bool{}
	for _, opt := range strings.Fields(rest) {
		key, value, hasValue := strings.Cut(opt, "=")
		if seen[key] {
			return fmt.Errorf("option %q given twice", key)
		}
		seen[key] = true
		switch key {
		case "local":
			if hasValue {
				return fmt.Errorf("option local takes no value, got %q", opt)
			}
			d.Local = true
		case "name":
			if err := checkStableName(value); err != nil {
				return err
			}
			d.Name = value
		default:
			return fmt.Errorf("unknown option %q (want name=<stable name> or local)", clip(opt))
		}
	}
	return nil
}

// checkStableName accepts names of letters, digits and . / _ -.
func checkStableName(name string) error {
	if name == "" {
		return fmt.Errorf("option name= needs a value")
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("./_-", r) {
			return fmt.Errorf("name=%q: character %q is not allowed (use letters, digits and . / _ -)", clip(name), r)
		}
	}
	return nil
}

// nearMiss describes why comment looks like a misspelt directive, or
// returns "".
func nearMiss(comment string) string {
	body, ok := strings.CutPrefix(comment, "//")
	if !ok {
		if body, ok = strings.CutPrefix(comment, "/*"); !ok {
			return ""
		}
		body = strings.TrimSuffix(body, "*/")
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(body)), "futures:task") {
			return "a directive must be a // line comment"
		}
		return ""
	}
	trimmed := strings.TrimLeft(body, " \t")
	lower := strings.ToLower(trimmed)
	if !strings.HasPrefix(lower, "futures:") && !strings.HasPrefix(lower, "futures :") {
		return ""
	}
	word := lower
	if i := strings.IndexFunc(word, func(r rune) bool { return r == ' ' || r == '\t' }); i >= 0 && !strings.HasPrefix(word, "futures :") {
		word = word[:i]
	}
	switch {
	case trimmed != body:
		return "no space is allowed after //"
	case strings.HasPrefix(lower, "futures :") || strings.HasPrefix(lower, "futures: "):
		return "no space is allowed around the colon"
	case word == "futures:task" && !strings.HasPrefix(trimmed, "futures:task"):
		return "a directive is lower case"
	}
	return ""
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
