package runtime

import (
	"slices"
	"testing"
)

func TestRing(t *testing.T) {
	t.Parallel()
	var r ring[int]
	var model []int
	for i := range 100 {
		switch i % 5 {
		case 0, 1, 2:
			r.push(i)
			model = append(model, i)
		case 3:
			r.pushFront(-i)
			model = append([]int{-i}, model...)
		case 4:
			if got, want := r.pop(), model[0]; got != want {
				t.Fatalf("step %d: pop() = %d; want %d", i, got, want)
			}
			model = model[1:]
		}
		if r.len() != len(model) {
			t.Fatalf("step %d: len() = %d; want %d", i, r.len(), len(model))
		}
	}
	if got := r.drain(); !slices.Equal(got, model) {
		t.Errorf("drain() = %v; want %v", got, model)
	}
}
