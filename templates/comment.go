package templates

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// mapOptions are the runtime's MapOption constructors, in the order a
// MapX doc comment lists them. TestMapOptionsListed keeps the list equal
// to what the runtime declares.
var mapOptions = []string{"Buffer", "ChunkSize", "Progress", "Unordered"}

// docWidth is where doc comments wrap, counting the leading "// ".
const docWidth = 77

// doc writes text as a doc comment above the next declaration, wrapped at
// docWidth; words are separated by single spaces, "\n" in text starts a
// new line, and a no-break space (U+00A0) joins two words on one line. A writer that defers its docs keeps them
// for Render to put in after formatting, and leaves a blank line instead.
func (w *writer) doc(text string) {
	lines := wrap(text)
	if w.docs != nil {
		*w.docs = append(*w.docs, lines)
		w.out.Line()
		return
	}
	for _, line := range lines {
		w.out.Comment(line)
	}
}

// wrap breaks text into the lines of a doc comment, without their "// ".
// It cuts text where it can, allocating only for a line with a no-break
// space: a file of 200 tasks wraps a thousand comments.
func wrap(text string) []string {
	var lines []string
	for para := range strings.SplitSeq(text, "\n") {
		start, end, width := -1, 0, 0 // the line is para[start:end], width runes
		emit := func() {
			if start < 0 {
				start = end
			}
			line := para[start:end]
			if strings.Contains(line, "\u00a0") {
				line = strings.ReplaceAll(line, "\u00a0", " ")
			}
			lines = append(lines, line)
		}
		for i := 0; i < len(para); {
			if para[i] == ' ' {
				i++
				continue
			}
			j := strings.IndexByte(para[i:], ' ')
			if j < 0 {
				j = len(para)
			} else {
				j += i
			}
			n := utf8.RuneCountInString(para[i:j])
			if start >= 0 && len("// ")+width+1+n > docWidth {
				emit()
				start, width = -1, 0
			}
			if start < 0 {
				start, width = i, n
			} else {
				width += 1 + n
			}
			end, i = j, j
		}
		emit()
	}
	return lines
}

// insertDocs puts docs, in order, above the top-level declarations of
// src, gofmt'd declarations of types and funcs only, which start at the
// beginning of a line with "type " or "func " (a body's lines are
// indented, and gofmt never breaks a signature). It is what formatting
// src with the doc comments in place gives: one blank line before each
// declaration's doc, as src has before each declaration.
func insertDocs(src []byte, docs [][]string) ([]byte, error) {
	out := make([]byte, 0, len(src)+len(docs)*200)
	i := 0
	for line := range bytes.Lines(src) {
		if bytes.HasPrefix(line, []byte("func ")) || bytes.HasPrefix(line, []byte("type ")) {
			if i == len(docs) {
				return nil, fmt.Errorf("more declarations than doc comments, at %q", line)
			}
			for _, d := range docs[i] {
				out = append(out, "//"...)
				if d != "" {
					out = append(out, ' ')
					out = append(out, d...)
				}
				out = append(out, '\n')
			}
			i++
		}
		out = append(out, line...)
	}
	if i != len(docs) {
		return nil, fmt.Errorf("%d doc comments for %d declarations", len(docs), i)
	}
	return out, nil
}

// link is a doc link to a runtime name, through the name this file
// imports the runtime under: [futuresrt.Buffer].
func (w *writer) link(name string) string {
	return "[" + w.rt + "." + name + "]"
}

// list joins items as an English list: "a, b, c and d".
func list(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
