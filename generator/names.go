package generator

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// initialisms are the words Go writes in one case, as staticcheck's ST1003
// lists them by default: a parameter url becomes the field URL, userId
// UserID, httpClient HTTPClient.
var initialisms = map[string]bool{
	"ACL": true, "AMQP": true, "API": true, "ASCII": true, "CPU": true, "CSS": true,
	"DB": true, "DNS": true, "EOF": true, "GID": true, "GUID": true, "HTML": true,
	"HTTP": true, "HTTPS": true, "ID": true, "IP": true, "JSON": true, "QPS": true,
	"RAM": true, "RPC": true, "RTP": true, "SIP": true, "SLA": true, "SMTP": true,
	"SQL": true, "SSH": true, "TCP": true, "TLS": true, "TS": true, "TTL": true,
	"UDP": true, "UI": true, "UID": true, "URI": true, "URL": true, "UTF8": true,
	"UUID": true, "VM": true, "XML": true, "XMPP": true, "XSRF": true, "XSS": true,
}

// fieldName turns a parameter or result name into the exported field name
// Go would write for it: the first letter upper-cased, and every word that
// is an initialism in one case (url → URL, userId → UserID, httpClient →
// HTTPClient, ids → IDs, id2 → ID2). Words end where a lower-case letter
// meets an upper-case one, and at underscores, which are kept.
func fieldName(name string) string {
	var b strings.Builder
	for i, word := range words(name) {
		switch up := strings.ToUpper(word); {
		case initialisms[up]:
			word = up
		case initialisms[strings.TrimSuffix(up, "S")] && strings.HasSuffix(word, "s"):
			word = strings.TrimSuffix(up, "S") + "s" // ids → IDs
		case initialisms[strings.TrimRightFunc(up, unicode.IsDigit)]:
			word = up // id2 → ID2
		case i == 0:
			r, n := utf8.DecodeRuneInString(word)
			word = string(unicode.ToUpper(r)) + word[n:]
		}
		b.WriteString(word)
	}
	return b.String()
}

// words splits an identifier where a lower-case letter is followed by an
// upper-case one, and around underscores, which are words of their own.
func words(s string) []string {
	var out []string
	start := 0
	var prev rune
	for i, r := range s {
		switch {
		case r == '_':
			if i > start {
				out = append(out, s[start:i])
			}
			out = append(out, "_")
			start = i + 1
		case unicode.IsLower(prev) && unicode.IsUpper(r):
			out = append(out, s[start:i])
			start = i
		}
		prev = r
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
