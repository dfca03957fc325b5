package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// AllowanceOptions configure an Allowance.
type AllowanceOptions struct {
	// Source is the bucket the allowance takes its units from, and Key
	// the key of that bucket: typically a window on a shared Backend,
	// which every replica's allowance draws on.
	Source WindowLimiter
	Key    string
	// Lease is how many units the allowance takes from Source at a time,
	// and so the most it holds: at least 1, and at most the Burst of
	// Source, which refuses any more at once.
	Lease int
	// Logger receives the failures of Source and its recovery; nil
	// discards them.
	Logger *slog.Logger
}

// Allowance is a share of a bucket that is slow to ask (one in a database)
// for callers that must not wait: Take answers from the units this process
// holds and never blocks, while Run takes leases of units from the bucket
// in the background, whenever less than half a lease is left.
//
// The trade-off, which callers should state where they use it:
//
//   - Every unit is taken from the bucket before it is spent, so what all
//     the allowances drawing on one bucket let through, in processes
//     however many, never exceeds what the bucket gives: its burst at
//     once, its rate after.
//   - The price is slack the other way: each process holds up to a lease
//     it has not spent yet, which no other process can use meanwhile, and
//     which is lost when the process stops. Over a span of time, the
//     units spent can exceed what the bucket gave during that span by the
//     units held at its start: at most a lease per process.
//   - While the bucket cannot be asked (its database is down), and before
//     the first lease arrives, a process spends what it holds and then
//     refuses: the allowance fails closed.
type Allowance struct {
	src   WindowLimiter
	key   string
	lease int
	log   *slog.Logger

	mu    sync.Mutex
	units int // held, not yet spent

	refill sync.Mutex    // one Refill at a time
	wake   chan struct{} // Take asks Run for a lease; buffered, never blocks
}

// allowanceErrorPause is how long Run waits after Source failed before it
// asks again: often enough to recover within seconds of the database, and
// no load on it worth the name while it is down.
const allowanceErrorPause = time.Second

// NewAllowance returns an Allowance that holds nothing yet: run Run. It
// panics when Source is nil or Lease is not positive, programming errors.
func NewAllowance(o AllowanceOptions) *Allowance {
	if o.Source == nil || o.Lease < 1 {
		panic(fmt.Sprintf("ratelimit: NewAllowance needs a Source and a positive Lease, got %v and %d", o.Source, o.Lease))
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Allowance{src: o.Source, key: o.Key, lease: o.Lease, log: log, wake: make(chan struct{}, 1)}
}

// Take spends n units (at least one) of those held and reports true, or
// spends none and reports false when fewer are held. It never blocks.
func (a *Allowance) Take(n int) bool {
	n = max(n, 1)
	a.mu.Lock()
	ok := a.units >= n
	if ok {
		a.units -= n
	}
	low := a.low()
	a.mu.Unlock()
	if low {
		select {
		case a.wake <- struct{}{}:
		default: // Run has been asked already
		}
	}
	return ok
}

// Held reports how many units the allowance holds now.
func (a *Allowance) Held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.units
}

// low reports whether less than half a lease is held. a.mu must be held.
func (a *Allowance) low() bool { return 2*a.units < a.lease }

// Refill tops the allowance up to a full lease when less than half a lease
// is left, taking the units from Source. When Source has not enough yet,
// it takes nothing and retryAfter is Source's wait; an error is Source's.
// Run calls it; tests may call it instead of running Run.
func (a *Allowance) Refill(ctx context.Context) (retryAfter time.Duration, err error) {
	a.refill.Lock()
	defer a.refill.Unlock()
	a.mu.Lock()
	want, low := a.lease-a.units, a.low()
	a.mu.Unlock()
	if !low {
		return 0, nil
	}
	ok, retryAfter, err := a.src.AllowN(ctx, a.key, want)
	if err != nil || !ok {
		return retryAfter, err
	}
	// Take only spent units meanwhile, and Refills take turns, so this
	// never holds more than a lease.
	a.mu.Lock()
	a.units += want
	a.mu.Unlock()
	return 0, nil
}

// Run keeps the allowance topped up until ctx ends: it refills at once,
// then whenever Take leaves less than half a lease, waiting as Source says
// when Source has not enough, and a second when Source fails. Run it in
// a goroutine of its own; without it, Take refuses once the units held
// are spent.
func (a *Allowance) Run(ctx context.Context) {
	failing := false
	for {
		wait, err := a.Refill(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if !failing {
				a.log.WarnContext(ctx, "a shared allowance cannot take units; it refuses once those held are spent",
					"key", a.key, "held", a.Held(), "err", err)
			}
			failing, wait = true, allowanceErrorPause
		case failing:
			a.log.InfoContext(ctx, "a shared allowance takes units again", "key", a.key)
			failing = false
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
	}
}
