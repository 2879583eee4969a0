package board

import "math/bits"

// hist is a histogram of durations with log-linear buckets: histSub
// buckets per power of two, so a quantile is within 1/(2·histSub) (6%) of
// the true value. Durations below 2^histMin ns (1 µs) share bucket 0;
// above 2^histMax ns (about 9.8 hours), the last.
type hist struct {
	n      int64
	sum    float64 // ns
	bucket [histBuckets]int64
}

const (
	histSubBits = 3
	histSub     = 1 << histSubBits
	histMin     = 10
	histMax     = 45
	histBuckets = (histMax-histMin)*histSub + 2
)

func histIndex(d int64) int {
	if d < 1<<histMin {
		return 0
	}
	exp := bits.Len64(uint64(d)) - 1 // 2^exp <= d
	if exp >= histMax {
		return histBuckets - 1
	}
	sub := int(d>>(exp-histSubBits)) & (histSub - 1)
	return 1 + (exp-histMin)*histSub + sub
}

// histMid returns the middle of bucket i, in ns.
func histMid(i int) float64 {
	switch i {
	case 0:
		return float64(int64(1)<<histMin) / 2
	case histBuckets - 1:
		return float64(int64(1) << histMax)
	}
	exp := (i-1)/histSub + histMin
	sub := (i - 1) % histSub
	lo := float64(int64(1)<<exp) * (1 + float64(sub)/histSub)
	width := float64(int64(1)<<exp) / histSub
	return lo + width/2
}

func (h *hist) add(d int64) {
	if d < 0 {
		d = 0
	}
	h.n++
	h.sum += float64(d)
	h.bucket[histIndex(d)]++
}

// mean returns the mean duration in ns, 0 when empty.
func (h *hist) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// percentile returns the p-th percentile (0 < p <= 100, nearest rank) in
// ns, 0 when empty.
func (h *hist) percentile(p int64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := max(1, min((h.n*p+99)/100, h.n))
	var seen int64
	for i, c := range h.bucket {
		if seen += c; seen >= rank {
			return histMid(i)
		}
	}
	return histMid(histBuckets - 1)
}
