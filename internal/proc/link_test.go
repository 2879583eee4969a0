package proc

import (
	"strings"
	"testing"
)

func TestTailBufferKeepsTheCrashLine(t *testing.T) {
	t.Parallel()
	var tb tailBuffer
	tb.Write([]byte("some output\nruntime: goroutine stack exceeds 1048576-byte limit\n"))
	tb.Write([]byte("fatal error: "))
	tb.Write([]byte("stack overflow"))
	tb.Write([]byte("\n\nruntime stack:\n"))
	for range 1000 {
		tb.Write([]byte("main.down(...)\n\t/x/y.go:12 +0x1d\n"))
	}
	got := tb.String()
	if !strings.HasPrefix(got, "fatal error: stack overflow\n…\n") {
		t.Errorf("String() starts %q; want the crash line first", got[:min(80, len(got))])
	}
	if len(got) > tailSize+400 {
		t.Errorf("String() is %d bytes; want about the tail size", len(got))
	}
}
