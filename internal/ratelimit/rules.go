package ratelimit

import (
	"fmt"
	"time"
)

// The rules below are the arithmetic of the two limiters, apart from where
// their state is kept: Window and Backoff apply them to state in this
// process's memory, and a shared store (pglimits) applies the same rules
// to state in a database. Keeping the arithmetic here, once, is what lets
// both answer alike; the contract suite (limittest) checks that they do.

// WindowRule is what WindowOptions come to: the two numbers of GCRA.
type WindowRule struct {
	// Interval is the time to earn one token: Per/Rate, rounded up.
	Interval time.Duration
	// Tolerance is Burst × Interval: how far ahead of now a key's
	// bucket may be full again (its TAT, "theoretical arrival time").
	Tolerance time.Duration
}

// Rule checks o and works out its rule. It panics when the options are
// invalid (a non-positive Rate or Per, a negative Burst or MaxKeys, a
// Burst whose tolerance overflows a time.Duration), because those are
// programming errors, like a negative duration for time.NewTicker.
func (o WindowOptions) Rule() WindowRule {
	if o.Rate <= 0 || o.Per <= 0 {
		panic(fmt.Sprintf("ratelimit: NewWindow needs a positive Rate and Per, got %d per %v", o.Rate, o.Per))
	}
	if o.Burst < 0 || o.MaxKeys < 0 {
		panic(fmt.Sprintf("ratelimit: NewWindow got a negative Burst (%d) or MaxKeys (%d)", o.Burst, o.MaxKeys))
	}
	if o.Burst == 0 {
		o.Burst = o.Rate
	}
	// Rounding the interval up keeps the limit at or below Rate per Per;
	// the error is under a nanosecond per event.
	interval := o.Per / time.Duration(o.Rate)
	if o.Per%time.Duration(o.Rate) != 0 {
		interval++
	}
	if time.Duration(o.Burst) > (1<<63-1)/interval {
		panic(fmt.Sprintf("ratelimit: NewWindow: Burst %d of %v overflows a time.Duration", o.Burst, interval))
	}
	return WindowRule{Interval: interval, Tolerance: time.Duration(o.Burst) * interval}
}

// Take is one step of GCRA: n events (at least one) at now, for a key
// whose bucket is full again at tat (the zero time, or any time not after
// now, for a full bucket). When the bucket holds n tokens, ok is true and
// next is the key's new tat. Otherwise nothing is taken: next is tat, and
// retryAfter is the time until n tokens will be there.
func (r WindowRule) Take(tat, now time.Time, n int) (next time.Time, ok bool, retryAfter time.Duration) {
	from := tat
	if from.Before(now) {
		from = now
	}
	next = from.Add(r.Cost(n))
	if ahead := next.Sub(now); ahead > r.Tolerance {
		return tat, false, ahead - r.Tolerance
	}
	return next, true, 0
}

// Cost is how far n events (at least one) move a key's tat.
func (r WindowRule) Cost(n int) time.Duration { return time.Duration(max(n, 1)) * r.Interval }

// BackoffRule is what BackoffOptions come to: the schedule of delays and
// the bound on attempts in flight.
type BackoffRule struct {
	Free        int
	Base, Max   time.Duration
	Forget      time.Duration
	MaxInFlight int // at least one
}

// Rule checks o and works out its rule. It panics when the options are
// invalid (a negative Free, MaxKeys or MaxInFlight, a non-positive Base,
// Max below Base, Forget below Max), because those are programming errors.
func (o BackoffOptions) Rule() BackoffRule {
	if o.Free < 0 || o.MaxKeys < 0 || o.MaxInFlight < 0 {
		panic(fmt.Sprintf("ratelimit: NewBackoff got a negative Free (%d), MaxKeys (%d) or MaxInFlight (%d)", o.Free, o.MaxKeys, o.MaxInFlight))
	}
	if o.Base <= 0 || o.Max < o.Base || o.Forget < o.Max {
		panic(fmt.Sprintf("ratelimit: NewBackoff needs 0 < Base ≤ Max ≤ Forget, got Base %v, Max %v, Forget %v", o.Base, o.Max, o.Forget))
	}
	return BackoffRule{Free: o.Free, Base: o.Base, Max: o.Max, Forget: o.Forget, MaxInFlight: max(o.MaxInFlight, 1)}
}

// Delay is how long after the last of n failures the next attempt must
// wait.
func (r BackoffRule) Delay(n int) time.Duration {
	if n <= r.Free {
		return 0
	}
	d := r.Base
	for i := r.Free + 1; i < n; i++ {
		if d > r.Max/2 { // doubling would pass Max (or overflow)
			return r.Max
		}
		d *= 2
	}
	return d
}

// MaxFailures is the count of failures at which the delay reaches Max.
// Failures are never counted past it: more of them change nothing, and
// not counting them keeps the counter from ever overflowing.
func (r BackoffRule) MaxFailures() int {
	n, d := r.Free+1, r.Base
	for d < r.Max {
		n++
		if d > r.Max/2 { // Delay(n) is Max
			break
		}
		d *= 2
	}
	return n
}

// Failed is the count of failures after one more than failures.
func (r BackoffRule) Failed(failures int) int { return min(failures+1, r.MaxFailures()) }

// Stale reports whether failures whose last was at last are old enough to
// be forgotten at now.
func (r BackoffRule) Stale(last, now time.Time) bool { return now.Sub(last) >= r.Forget }

// Wait is how long after now a key whose failures are not Stale, the last
// at last, must wait before its next attempt: 0 when it may try now, and
// never more than Max.
func (r BackoffRule) Wait(failures int, last, now time.Time) time.Duration {
	d := r.Delay(failures)
	wait := last.Add(d).Sub(now)
	// An injected clock that steps back would make the wait exceed the
	// delay; the promise is "at most Max", so hold it regardless.
	return max(0, min(wait, d))
}

// Busy is the wait of an attempt refused because inFlight attempts of its
// key are in flight: the delay their failure would bring, and at least
// Base (they are usually over well before that).
func (r BackoffRule) Busy(failures, inFlight int) time.Duration {
	return max(r.Base, r.Delay(failures+inFlight))
}
