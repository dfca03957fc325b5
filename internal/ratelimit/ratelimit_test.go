package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/limittest"
)

// The limiters' answers are tested by the contract suite (limittest),
// which every backend runs; here, what only the memory limiters have: the
// bound on keys, sweeping, nil limiters, invalid options.

// TestMemory runs the contract suite against the memory backend, which
// every other backend must answer like.
func TestMemory(t *testing.T) {
	limittest.Run(t, func(*testing.T) ratelimit.Backend { return ratelimit.Memory{} })
}

func TestMaxKeysBound(t *testing.T) {
	const maxKeys, distinct = 100, 10_000

	t.Run("Window", func(t *testing.T) {
		var c limittest.Clock
		w := ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Hour, Burst: 1, MaxKeys: maxKeys, Now: c.Now})
		w.Allow("hot")
		for i := range distinct {
			// Eviction never refuses a fresh key.
			if ok, ra := w.Allow(fmt.Sprint("ip-", i)); !ok {
				t.Fatalf("fresh key %d refused (retry %v)", i, ra)
			}
			if n := w.Len(); n > maxKeys {
				t.Fatalf("after %d keys, Len = %d > MaxKeys %d", i+1, n, maxKeys)
			}
			if i%10 == 0 {
				// Keep "hot" recently used: LRU eviction must keep it.
				if ok, _ := w.Allow("hot"); ok {
					t.Fatalf("hot key allowed again at key %d: its state was evicted while in use", i)
				}
			}
		}
		if w.Len() != maxKeys {
			t.Errorf("Len = %d, want the bound %d", w.Len(), maxKeys)
		}
		// An evicted key is merely forgotten: more lenient, not refused.
		if ok, _ := w.Allow("ip-0"); !ok {
			t.Error("evicted key ip-0 refused; eviction must only ever be lenient")
		}
	})

	t.Run("Backoff", func(t *testing.T) {
		var c limittest.Clock
		b := ratelimit.NewBackoff(ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, MaxKeys: maxKeys, Now: c.Now})
		b.Fail("hot")
		for i := range distinct {
			k := fmt.Sprint("user-", i)
			if got := b.Check(k); got != 0 {
				t.Fatalf("fresh key %d delayed %v", i, got)
			}
			b.Fail(k)
			if n := b.Len(); n > maxKeys {
				t.Fatalf("after %d keys, Len = %d > MaxKeys %d", i+1, n, maxKeys)
			}
			if i%10 == 0 && b.Check("hot") == 0 {
				t.Fatalf("hot key lost its delay at key %d: evicted while in use", i)
			}
		}
		if b.Len() != maxKeys {
			t.Errorf("Len = %d, want the bound %d", b.Len(), maxKeys)
		}
		if got := b.Check("user-0"); got != 0 {
			t.Errorf("evicted key user-0 delayed %v; eviction must only ever be lenient", got)
		}
	})
}

func TestDefaultMaxKeys(t *testing.T) {
	var c limittest.Clock
	w := ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Hour, Now: c.Now})
	for i := range ratelimit.DefaultMaxKeys + 50 {
		w.Allow(fmt.Sprint(i))
	}
	if w.Len() != ratelimit.DefaultMaxKeys {
		t.Errorf("Len = %d with MaxKeys unset, want ratelimit.DefaultMaxKeys %d", w.Len(), ratelimit.DefaultMaxKeys)
	}
}

func TestSweep(t *testing.T) {
	t.Run("Window", func(t *testing.T) {
		var c limittest.Clock
		w := ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Minute, Burst: 5, Now: c.Now})
		w.Allow("light") // full again after 1 minute
		for range 5 {
			w.Allow("heavy") // full again after 5 minutes
		}
		c.Advance(time.Minute)
		w.Sweep()
		if w.Len() != 1 {
			t.Fatalf("after 1 minute: Len = %d, want 1 (only the still-draining key)", w.Len())
		}
		// Sweeping must not have touched heavy's state: 1 token back.
		if ok, _ := w.Allow("heavy"); !ok {
			t.Fatal("heavy refused after a minute: expected one token back")
		}
		if ok, _ := w.Allow("heavy"); ok {
			t.Fatal("heavy allowed twice after a minute: Sweep reset a draining key")
		}
		c.Advance(5 * time.Minute)
		w.Sweep()
		if w.Len() != 0 {
			t.Fatalf("after every bucket refilled: Len = %d, want 0", w.Len())
		}
	})

	t.Run("Backoff", func(t *testing.T) {
		var c limittest.Clock
		b := ratelimit.NewBackoff(ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute, Now: c.Now})
		b.Fail("old")
		c.Advance(5 * time.Minute)
		b.Fail("new")
		b.Fail("new")
		c.Advance(5 * time.Minute)
		b.Sweep()
		if b.Len() != 1 {
			t.Fatalf("Len = %d after Sweep, want 1 (old forgotten, new kept)", b.Len())
		}
		b.Fail("new")
		if got := b.Check("new"); got != 4*time.Second {
			t.Fatalf("new after Sweep and a third failure: Check = %v, want 4s (history kept)", got)
		}
		c.Advance(10 * time.Minute)
		b.Sweep()
		if b.Len() != 0 {
			t.Fatalf("Len = %d after Forget, want 0", b.Len())
		}
	})
}

func TestRunSweeperStops(t *testing.T) {
	var c limittest.Clock
	w := ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Second, Now: c.Now})
	b := ratelimit.NewBackoff(ratelimit.BackoffOptions{Base: time.Second, Max: time.Second, Forget: time.Second, Now: c.Now})
	for name, run := range map[string]func(context.Context, time.Duration){
		"Window":  w.RunSweeper,
		"Backoff": b.RunSweeper,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				defer close(done)
				run(ctx, time.Millisecond)
			}()
			select {
			case <-done:
				t.Fatal("RunSweeper returned before its context ended")
			default:
			}
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("RunSweeper still running 10s after its context was cancelled")
			}
		})
	}
}

func TestNilLimitersAllowEverything(t *testing.T) {
	var w *ratelimit.Window
	var b *ratelimit.Backoff
	if ok, ra := w.Allow("k"); !ok || ra != 0 {
		t.Errorf("nil Window: Allow = %v, %v; want true, 0", ok, ra)
	}
	b.Fail("k")
	if got := b.Check("k"); got != 0 {
		t.Errorf("nil Backoff: Check = %v, want 0", got)
	}
	b.Succeed("k")
	r, wait := b.Reserve("k")
	if r == nil || wait != 0 {
		t.Errorf("nil Backoff: Reserve = %v, %v; want a reservation, 0", r, wait)
	}
	r.Fail()
	r.Succeed()
	r.Cancel()
	var none *ratelimit.Reservation
	none.Fail() // a refused reservation is nil: ending it must not panic
	none.Cancel()
	w.Sweep()
	b.Sweep()
	if w.Len() != 0 || b.Len() != 0 {
		t.Error("nil limiters report keys")
	}
	w.RunSweeper(t.Context(), time.Second) // must return at once
	b.RunSweeper(t.Context(), time.Second)
}

func TestInvalidOptionsPanic(t *testing.T) {
	tests := map[string]func(){
		"zero rate":       func() { ratelimit.NewWindow(ratelimit.WindowOptions{Per: time.Second}) },
		"zero per":        func() { ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1}) },
		"negative burst":  func() { ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Second, Burst: -1}) },
		"negative keys":   func() { ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Second, MaxKeys: -1}) },
		"burst overflows": func() { ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Hour, Burst: 1 << 40}) },
		"negative free":   func() { ratelimit.NewBackoff(ratelimit.BackoffOptions{Free: -1, Base: 1, Max: 1, Forget: 1}) },
		"negative in flight": func() {
			ratelimit.NewBackoff(ratelimit.BackoffOptions{Base: 1, Max: 1, Forget: 1, MaxInFlight: -1})
		},
		"zero base":      func() { ratelimit.NewBackoff(ratelimit.BackoffOptions{Max: 1, Forget: 1}) },
		"max below base": func() { ratelimit.NewBackoff(ratelimit.BackoffOptions{Base: 2, Max: 1, Forget: 2}) },
		"forget below max": func() {
			ratelimit.NewBackoff(ratelimit.BackoffOptions{Base: time.Second, Max: time.Minute, Forget: time.Second})
		},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

// reserveOK reserves an attempt for key and fails the test if it is
// refused.
func reserveOK(t *testing.T, b *ratelimit.Backoff, key string) *ratelimit.Reservation {
	t.Helper()
	r, wait := b.Reserve(key)
	if r == nil || wait != 0 {
		t.Fatalf("Reserve(%q) = %v, %v; want a reservation", key, r, wait)
	}
	return r
}

// TestBackoffInFlightKeysStay: a key with an attempt in flight is neither
// evicted by a flood of new keys nor swept, so that forgetting it cannot
// let a second attempt start beside the first.
func TestBackoffInFlightKeysStay(t *testing.T) {
	var c limittest.Clock
	const maxKeys = 10
	b := ratelimit.NewBackoff(ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Minute, MaxKeys: maxKeys, Now: c.Now})
	r := reserveOK(t, b, "victim")
	for i := range 1000 {
		b.Fail(fmt.Sprint("flood-", i))
	}
	if n := b.Len(); n != maxKeys {
		t.Errorf("Len = %d, want %d: the bound holds, the pinned key included", n, maxKeys)
	}
	c.Advance(time.Hour)
	b.Sweep()
	if got, wait := b.Reserve("victim"); got != nil || wait != time.Second {
		t.Fatalf("victim after the flood and a sweep: Reserve = %v, %v; want nil, 1s (still in flight)", got, wait)
	}
	r.Fail()
	if got := b.Check("victim"); got != time.Second {
		t.Errorf("victim after its failure: Check = %v, want 1s", got)
	}
	// With every key pinned, a new key still gets in: memory exceeds
	// MaxKeys by the attempts in flight, and nobody is refused for it.
	c.Advance(time.Hour)
	b.Sweep()
	var held []*ratelimit.Reservation
	for i := range maxKeys + 5 {
		held = append(held, reserveOK(t, b, fmt.Sprint("busy-", i)))
	}
	if n := b.Len(); n != maxKeys+5 {
		t.Errorf("Len = %d with %d attempts in flight, want %d", n, maxKeys+5, maxKeys+5)
	}
	for _, h := range held {
		h.Cancel()
	}
	if n := b.Len(); n != 0 {
		t.Errorf("Len = %d after every attempt was cancelled, want 0", n)
	}
}

// TestIdleKeysLeaveMemory: a key whose state is back to "never seen"
// (failures forgotten or cleared, no attempt in flight) is dropped at
// once, not left for the bound or the sweeper. The contract suite
// (limittest) checks what the limiters answer; this, what they keep.
func TestIdleKeysLeaveMemory(t *testing.T) {
	var c limittest.Clock
	b := ratelimit.NewBackoff(ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	var fresh *ratelimit.Reservation
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"failures", func() { b.Fail("stale"); b.Fail("cleared"); b.Fail("kept") }, 3},
		{"Succeed", func() { b.Succeed("cleared") }, 2},
		{"a stale key's Check", func() { c.Advance(time.Hour); b.Fail("kept"); b.Check("stale") }, 1},
		{"an attempt in flight", func() { fresh = reserveOK(t, b, "fresh") }, 2},
		{"a refused attempt", func() { b.Reserve("fresh") }, 2},
		{"a cancelled attempt of a fresh key", func() { fresh.Cancel() }, 1},
		{"a succeeded attempt", func() { c.Advance(time.Second); reserveOK(t, b, "kept").Succeed() }, 0},
	}
	for _, st := range steps {
		st.do()
		if got := b.Len(); got != st.want {
			t.Fatalf("after %s: Len = %d, want %d", st.name, got, st.want)
		}
	}

	w := ratelimit.NewWindow(ratelimit.WindowOptions{Rate: 1, Per: time.Hour, Burst: 100, Now: c.Now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				w.Allow(fmt.Sprint("k", (g+i)%4))
				_ = w.Len()
			}
		})
	}
	wg.Wait()
	if got := w.Len(); got != 4 {
		t.Errorf("a Window used concurrently with 4 keys: Len = %d, want 4", got)
	}
}

// TestMaxFailures: failures are counted up to where the delay reaches
// Max, and no further.
func TestMaxFailures(t *testing.T) {
	for _, o := range []ratelimit.BackoffOptions{
		{Free: 0, Base: time.Second, Max: time.Second, Forget: time.Second},
		{Free: 3, Base: time.Second, Max: 2 * time.Second, Forget: time.Hour},
		{Free: 3, Base: time.Second, Max: 30 * time.Second, Forget: time.Hour},
		{Free: 20, Base: time.Second, Max: 32 * time.Second, Forget: time.Hour},
		{Free: 1, Base: 1, Max: 1<<63 - 1, Forget: 1<<63 - 1},
	} {
		r := o.Rule()
		n := r.MaxFailures()
		if r.Delay(n) != r.Max || r.Delay(n-1) >= r.Max {
			t.Errorf("%+v: MaxFailures = %d, where the delays are %v then %v; want the first to reach Max", o, n, r.Delay(n-1), r.Delay(n))
		}
		if got := r.Failed(n); got != n {
			t.Errorf("%+v: Failed(%d) = %d, want no count past MaxFailures", o, n, got)
		}
	}
}
