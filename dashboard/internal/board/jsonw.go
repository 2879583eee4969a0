package board

import (
	"strconv"
	"unicode/utf8"
)

// jw writes JSON by hand: the shapes are fixed, and a state with ten
// thousand running calls encodes in a millisecond this way, where
// encoding/json's reflection takes ten.
type jw struct {
	b     []byte
	comma bool // a value was written at this level: the next needs a comma
}

func (w *jw) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
}

func (w *jw) open(c byte)  { w.sep(); w.b = append(w.b, c); w.comma = false }
func (w *jw) close(c byte) { w.b = append(w.b, c); w.comma = true }

// key starts a member; its value follows.
func (w *jw) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	w.comma = false
}

func (w *jw) obj(k string)          { w.key(k); w.open('{') }
func (w *jw) arr(k string)          { w.key(k); w.open('[') }
func (w *jw) int(k string, v int64) { w.key(k); w.intv(v) }
func (w *jw) intv(v int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, v, 10)
}
func (w *jw) num(k string, v float64, prec int) {
	w.key(k)
	w.sep()
	w.b = strconv.AppendFloat(w.b, v, 'f', prec, 64)
}

// millis writes a time of ns nanoseconds since the Unix epoch as
// milliseconds with three decimals, without strconv's float formatting (a
// state has tens of thousands of them).
func (w *jw) millis(k string, ns int64) {
	w.key(k)
	w.sep()
	us := ns / 1000
	if us < 0 {
		w.b = append(w.b, '-')
		us = -us
	}
	w.b = strconv.AppendInt(w.b, us/1000, 10)
	frac := us % 1000
	w.b = append(w.b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

func (w *jw) bool(k string, v bool) {
	w.key(k)
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
}
func (w *jw) str(k, v string) {
	w.key(k)
	w.sep()
	w.b = appendString(w.b, v)
}

// appendString appends s as a JSON string, escaping what HTML and
// JavaScript could misread (<, >, &, U+2028, U+2029) as encoding/json does;
// invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
