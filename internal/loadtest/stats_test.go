package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// msRange returns from..to milliseconds, shuffled, so that Summarize has
// to sort.
func msRange(from, to int) []time.Duration {
	var ds []time.Duration
	for i := from; i <= to; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	return ds
}

func TestSummarize(t *testing.T) {
	ms := func(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []time.Duration{ms(7)}, Summary{Count: 1, Min: ms(7), Max: ms(7), Mean: ms(7), P50: ms(7), P95: ms(7), P99: ms(7)}},
		{"1 to 100 ms", msRange(1, 100), Summary{Count: 100, Min: ms(1), Max: ms(100), Mean: ms(50.5), P50: ms(50), P95: ms(95), P99: ms(99)}},
		// Nearest rank: p50 of four is the 2nd, p95 and p99 the 4th.
		{"four", []time.Duration{ms(40), ms(10), ms(30), ms(20)}, Summary{Count: 4, Min: ms(10), Max: ms(40), Mean: ms(25), P50: ms(20), P95: ms(40), P99: ms(40)}},
		// One slow request in a thousand shows at p99.9 only, not at p99.
		{"an outlier", append(msRange(1, 999), ms(5000)), Summary{Count: 1000, Min: ms(1), Max: ms(5000), Mean: ms(504.5), P50: ms(500), P95: ms(950), P99: ms(990)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Summarize(tt.in)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	thousand := Summarize // sorts in place
	sorted := msRange(1, 1000)
	thousand(sorted)
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0.01, time.Millisecond}, // never below the first value
		{1, 10 * time.Millisecond},
		{50, 500 * time.Millisecond},
		{99, 990 * time.Millisecond},
		// 99.9 × 1000 is 99900.00000000001 in floating point: still rank 999.
		{99.9, 999 * time.Millisecond},
		{100, 1000 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Percentile(sorted, tt.p); got != tt.want {
			t.Errorf("Percentile(1..1000 ms, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 99); got != 0 {
		t.Errorf("Percentile(nil, 99) = %v, want 0", got)
	}
}

func TestResultPerSecond(t *testing.T) {
	r := Result{Requests: 1500, Elapsed: 3 * time.Second}
	if got := r.PerSecond(); got != 500 {
		t.Errorf("PerSecond = %v, want 500", got)
	}
	if got := (Result{Requests: 3}).PerSecond(); got != 0 {
		t.Errorf("PerSecond without elapsed time = %v, want 0", got)
	}
}
