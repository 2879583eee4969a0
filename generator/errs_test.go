package generator

import "testing"

func TestWraps(t *testing.T) {
	for format, want := range map[string]bool{
		"%w":              true,
		"read %s: %w":     true,
		"%[2]w and %[1]s": true,
		"%+w":             true,
		"100%%w done":     false,
		"%%%w":            true,
		"code %d":         false,
		"trailing %":      false,
		"":                false,
	} {
		if got := wraps(format); got != want {
			t.Errorf("wraps(%q) = %v; want %v", format, got, want)
		}
	}
}
