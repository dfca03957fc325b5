package store

import (
	"math"
	"time"
)

// UnixNanos turns t into unix nanoseconds, clamping times outside the
// years 1678–2262 (where UnixNano is undefined) to the extremes, so that
// such a time still compares the right way. Every backend stores times
// so, which makes times, orders and cursor keys the same in all of them.
func UnixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// TimeOfNanos turns stored unix nanoseconds into a time.Time, in UTC and
// without a monotonic reading, so that a time a write returns equals the
// one a later read returns.
func TimeOfNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
