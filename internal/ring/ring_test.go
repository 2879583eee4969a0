package ring

import (
	"slices"
	"testing"
)

func TestRing(t *testing.T) {
	t.Parallel()
	var r Ring[int]
	var model []int
	for i := range 100 {
		switch i % 5 {
		case 0, 1, 2:
			r.Push(i)
			model = append(model, i)
		case 3:
			r.PushFront(-i)
			model = append([]int{-i}, model...)
		case 4:
			if got, want := r.Pop(), model[0]; got != want {
				t.Fatalf("step %d: Pop() = %d; want %d", i, got, want)
			}
			model = model[1:]
		}
		if r.Len() != len(model) {
			t.Fatalf("step %d: Len() = %d; want %d", i, r.Len(), len(model))
		}
	}
	if got := r.Drain(); !slices.Equal(got, model) {
		t.Errorf("Drain() = %v; want %v", got, model)
	}
}
