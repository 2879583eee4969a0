package templates

import (
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
// docWidth; "\n" in text starts a new line, and a no-break space (U+00A0)
// joins two words on one line.
func (w *writer) doc(text string) {
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, word := range strings.FieldsFunc(para, func(r rune) bool { return r == ' ' }) {
			if line != "" && len("// ")+utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > docWidth {
				w.f.Comment(strings.ReplaceAll(line, "\u00a0", " "))
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		w.f.Comment(strings.ReplaceAll(line, "\u00a0", " "))
	}
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
