// Package loadtest is the load generator behind `kanban-mcp bench`: a
// closed-loop HTTP load of JSON-RPC requests at a fixed concurrency, exact
// latency percentiles, the classification of failed MCP answers, a small
// token issuer, the baseline servers the results are compared with, and
// the bookkeeping of the child processes under load (readiness, memory,
// logs).
package loadtest

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of latencies. The percentiles are exact: they
// come from every latency, sorted, never from a sample or a histogram.
type Summary struct {
	Count         int
	Min, Max      time.Duration
	Mean          time.Duration
	P50, P95, P99 time.Duration
}

// Summarize sorts latencies in place and summarizes them. An empty set
// gives the zero Summary.
func Summarize(latencies []time.Duration) Summary {
	if len(latencies) == 0 {
		return Summary{}
	}
	slices.Sort(latencies)
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	return Summary{
		Count: len(latencies),
		Min:   latencies[0],
		Max:   latencies[len(latencies)-1],
		Mean:  sum / time.Duration(len(latencies)),
		P50:   Percentile(latencies, 50),
		P95:   Percentile(latencies, 95),
		P99:   Percentile(latencies, 99),
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// do not exceed. It is always one of the measured values, so that a p99
// is a latency some request really had. An empty set gives 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps a product like 99.9 × 1000, which floating point
	// makes 99900.00000000001, from rounding up to the next rank.
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
