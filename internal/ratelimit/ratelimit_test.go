package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a manual clock: time moves only when the test says so, which
// keeps every test free of sleeps and timing assertions.
type clock struct {
	ns atomic.Int64 // nanoseconds after start
}

var start = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *clock) Now() time.Time          { return start.Add(time.Duration(c.ns.Load())) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestWindowBurstThenRefuse(t *testing.T) {
	tests := []struct {
		name         string
		rate         int
		per          time.Duration
		burst        int
		wantBurst    int
		wantInterval time.Duration
	}{
		{"burst below rate", 6, time.Minute, 3, 3, 10 * time.Second},
		{"burst above rate", 1, time.Second, 5, 5, time.Second},
		{"zero burst means rate", 10, time.Hour, 0, 10, 6 * time.Minute},
		{"burst of one", 2, time.Second, 1, 1, 500 * time.Millisecond},
		// 1s/3 is not a whole number of nanoseconds; rounding up keeps the
		// rate at or below 3 per second.
		{"interval rounds up", 3, time.Second, 1, 1, 333333334 * time.Nanosecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c clock
			w := NewWindow(WindowOptions{Rate: tc.rate, Per: tc.per, Burst: tc.burst, Now: c.Now})
			for i := range tc.wantBurst {
				if ok, ra := w.Allow("k"); !ok || ra != 0 {
					t.Fatalf("event %d of the burst: Allow = %v, %v; want true, 0", i+1, ok, ra)
				}
			}
			ok, ra := w.Allow("k")
			if ok || ra != tc.wantInterval {
				t.Fatalf("event after the burst: Allow = %v, %v; want false, %v", ok, ra, tc.wantInterval)
			}
			// A refused event takes nothing: hammering does not push the
			// retry time out.
			for range 5 {
				if ok, again := w.Allow("k"); ok || again != ra {
					t.Fatalf("repeated refusal: Allow = %v, %v; want false, %v", ok, again, ra)
				}
			}
			c.Advance(ra - 1)
			if ok, left := w.Allow("k"); ok || left != 1 {
				t.Fatalf("1ns before retryAfter: Allow = %v, %v; want false, 1ns", ok, left)
			}
			c.Advance(1)
			if ok, _ := w.Allow("k"); !ok {
				t.Fatal("refused at retryAfter, which promised a token")
			}
			if ok, _ := w.Allow("k"); ok {
				t.Fatal("a second event allowed on one refilled token")
			}
		})
	}
}

func TestWindowRefillsAtRate(t *testing.T) {
	var c clock
	const rate, burst = 6, 6
	w := NewWindow(WindowOptions{Rate: rate, Per: time.Minute, Burst: burst, Now: c.Now})
	for range burst {
		w.Allow("k")
	}
	// Over ten minutes of steady demand, exactly rate per minute get
	// through (plus nothing: the burst was spent up front).
	allowed := 0
	for range 10 * 60 {
		c.Advance(time.Second)
		for {
			ok, _ := w.Allow("k")
			if !ok {
				break
			}
			allowed++
		}
	}
	if want := 10 * rate; allowed != want {
		t.Errorf("allowed %d events in 10 minutes after the burst, want %d", allowed, want)
	}
	// After a quiet Per, the whole burst is back, and no more.
	c.Advance(time.Minute)
	n := 0
	for {
		if ok, _ := w.Allow("k"); !ok {
			break
		}
		n++
	}
	if n != burst {
		t.Errorf("after a quiet minute, %d events allowed, want the burst %d", n, burst)
	}
}

func TestWindowKeysIndependent(t *testing.T) {
	var c clock
	w := NewWindow(WindowOptions{Rate: 1, Per: time.Minute, Burst: 2, Now: c.Now})
	w.Allow("a")
	w.Allow("a")
	if ok, _ := w.Allow("a"); ok {
		t.Fatal("a: third event allowed with a burst of 2")
	}
	for i := range 2 {
		if ok, _ := w.Allow("b"); !ok {
			t.Fatalf("b: event %d refused because a is exhausted", i+1)
		}
	}
	if ok, _ := w.Allow("b"); ok {
		t.Fatal("b: third event allowed with a burst of 2")
	}
}

// The retry time promised on refusal is never more than one interval and
// is always honoured, whatever the pattern of demand.
func TestWindowRetryAfterProperty(t *testing.T) {
	var c clock
	const interval = 250 * time.Millisecond
	w := NewWindow(WindowOptions{Rate: 4, Per: time.Second, Burst: 3, Now: c.Now})
	rng := rand.New(rand.NewPCG(1, 2))
	refusals := 0
	for i := range 10_000 {
		c.Advance(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		ok, ra := w.Allow("k")
		if ok {
			if ra != 0 {
				t.Fatalf("step %d: allowed with retryAfter %v", i, ra)
			}
			continue
		}
		refusals++
		if ra <= 0 || ra > interval {
			t.Fatalf("step %d: retryAfter %v, want in (0, %v]", i, ra, interval)
		}
		c.Advance(ra)
		if ok, ra2 := w.Allow("k"); !ok {
			t.Fatalf("step %d: refused (%v) after waiting the promised %v", i, ra2, ra)
		}
	}
	if refusals == 0 {
		t.Fatal("the demand pattern never hit the limit; the test checks nothing")
	}
}

func TestBackoffSchedule(t *testing.T) {
	const base, maxDelay = time.Second, 30 * time.Second
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, 0},
		{2, 0},
		{3, 0}, // Free = 3
		{4, base},
		{5, 2 * base},
		{6, 4 * base},
		{7, 8 * base},
		{8, 16 * base},
		{9, maxDelay}, // 32s capped at 30s
		{10, maxDelay},
		{50, maxDelay},
		{200, maxDelay}, // far past where doubling would overflow
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.failures, " failures"), func(t *testing.T) {
			var c clock
			b := NewBackoff(BackoffOptions{Free: 3, Base: base, Max: maxDelay, Forget: time.Hour, Now: c.Now})
			for range tc.failures {
				b.Fail("user")
			}
			if got := b.Check("user"); got != tc.want {
				t.Fatalf("Check right after %d failures = %v, want %v", tc.failures, got, tc.want)
			}
			if tc.want == 0 {
				return
			}
			// The wait runs from the last failure.
			c.Advance(tc.want / 2)
			if got := b.Check("user"); got != tc.want-tc.want/2 {
				t.Errorf("halfway: Check = %v, want %v", got, tc.want-tc.want/2)
			}
			c.Advance(tc.want - tc.want/2)
			if got := b.Check("user"); got != 0 {
				t.Errorf("after the delay: Check = %v, want 0", got)
			}
		})
	}
}

// Failing each time the wait is over (what a patient attacker does) walks
// the same schedule, measured from each failure.
func TestBackoffAttemptsAtEachDeadline(t *testing.T) {
	var c clock
	b := NewBackoff(BackoffOptions{Free: 2, Base: time.Second, Max: 5 * time.Second, Forget: time.Minute, Now: c.Now})
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		b.Fail("k")
		got := b.Check("k")
		if got != w {
			t.Fatalf("after failure %d: Check = %v, want %v", i+1, got, w)
		}
		c.Advance(got)
		if got := b.Check("k"); got != 0 {
			t.Fatalf("after failure %d and its wait: Check = %v, want 0", i+1, got)
		}
	}
}

// An injected clock that steps back must not stretch the wait past the
// delay (and so past Max).
func TestBackoffClockStepsBack(t *testing.T) {
	var c clock
	b := NewBackoff(BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	for range 3 {
		b.Fail("k")
	}
	c.Advance(-time.Hour)
	if got := b.Check("k"); got != 4*time.Second {
		t.Errorf("clock an hour behind the last failure: Check = %v, want the delay 4s", got)
	}
}

func TestBackoffForget(t *testing.T) {
	var c clock
	const forget = 15 * time.Minute
	b := NewBackoff(BackoffOptions{Free: 1, Base: time.Second, Max: time.Minute, Forget: forget, Now: c.Now})
	for range 3 {
		b.Fail("k") // failures: free, 1s, 2s
	}
	// Just before Forget the history is kept: the next failure is the
	// fourth (4s), not a first.
	c.Advance(forget - 1)
	if got := b.Check("k"); got != 0 {
		t.Fatalf("long after the delay: Check = %v, want 0", got)
	}
	b.Fail("k")
	if got := b.Check("k"); got != 4*time.Second {
		t.Fatalf("fourth failure within Forget: Check = %v, want 4s", got)
	}
	// A full Forget after the last failure, the key starts over: one free
	// failure, then Base.
	c.Advance(forget)
	if got := b.Check("k"); got != 0 {
		t.Fatalf("Forget after the last failure: Check = %v, want 0", got)
	}
	if b.Len() != 0 {
		t.Fatalf("Check of a forgotten key left it in memory: Len = %d", b.Len())
	}
	b.Fail("k")
	if got := b.Check("k"); got != 0 {
		t.Fatalf("first failure after Forget: Check = %v, want 0 (free)", got)
	}
	b.Fail("k")
	if got := b.Check("k"); got != time.Second {
		t.Fatalf("second failure after Forget: Check = %v, want Base", got)
	}

	// The same when nothing called Check in between: Fail itself resets a
	// key that was not swept.
	for range 3 {
		b.Fail("unchecked")
	}
	c.Advance(forget)
	b.Fail("unchecked")
	if got := b.Check("unchecked"); got != 0 {
		t.Fatalf("failure a Forget after the last, no Check between: Check = %v, want 0 (free)", got)
	}
}

func TestBackoffSucceedClears(t *testing.T) {
	var c clock
	b := NewBackoff(BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	for range 5 {
		b.Fail("k")
	}
	if b.Check("k") == 0 {
		t.Fatal("no delay after 5 failures with Free 0")
	}
	b.Succeed("k")
	if got := b.Check("k"); got != 0 {
		t.Fatalf("after Succeed: Check = %v, want 0", got)
	}
	if b.Len() != 0 {
		t.Errorf("after Succeed: Len = %d, want 0", b.Len())
	}
	b.Fail("k")
	if got := b.Check("k"); got != time.Second {
		t.Fatalf("first failure after Succeed: Check = %v, want Base", got)
	}
}

func TestBackoffKeysIndependent(t *testing.T) {
	var c clock
	b := NewBackoff(BackoffOptions{Free: 1, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	for range 4 {
		b.Fail(Key("alice", "10.0.0.1"))
	}
	if b.Check(Key("alice", "10.0.0.1")) == 0 {
		t.Fatal("no delay for the failing key")
	}
	for _, k := range []string{Key("alice", "10.0.0.2"), Key("bob", "10.0.0.1"), "alice"} {
		if got := b.Check(k); got != 0 {
			t.Errorf("Check(%q) = %v, want 0: another key's failures leaked", k, got)
		}
	}
	b.Fail("bob")
	b.Fail("bob")
	if got := b.Check("bob"); got != time.Second {
		t.Errorf("bob after 2 failures: Check = %v, want Base, unaffected by alice", got)
	}
	b.Succeed("bob")
	if b.Check(Key("alice", "10.0.0.1")) == 0 {
		t.Error("bob's success cleared alice's key")
	}
}

// However failures and time are interleaved, the wait never exceeds Max,
// and waiting it out always opens the door: slow down, never lock.
func TestBackoffNeverLocks(t *testing.T) {
	var c clock
	const maxDelay = 5 * time.Minute
	b := NewBackoff(BackoffOptions{Free: 3, Base: time.Second, Max: maxDelay, Forget: 15 * time.Minute, Now: c.Now})
	rng := rand.New(rand.NewPCG(3, 4))
	sawMax := false
	for i := range 20_000 {
		// Mostly bursts of failures (an attacker ignoring 429s), with
		// occasional pauses of up to 20 minutes.
		switch r := rng.IntN(100); {
		case r < 90:
			b.Fail("victim")
		case r < 99:
			c.Advance(time.Duration(rng.Int64N(int64(time.Minute))))
		default:
			c.Advance(time.Duration(rng.Int64N(int64(20 * time.Minute))))
		}
		wait := b.Check("victim")
		if wait < 0 || wait > maxDelay {
			t.Fatalf("step %d: wait %v outside [0, %v]", i, wait, maxDelay)
		}
		sawMax = sawMax || wait == maxDelay
		if rng.IntN(50) == 0 {
			// The legitimate user waits as told and can then try.
			c.Advance(wait)
			if got := b.Check("victim"); got != 0 {
				t.Fatalf("step %d: still %v to wait after waiting the %v asked", i, got, wait)
			}
		}
	}
	if !sawMax {
		t.Fatal("the loop never reached Max; the test checks too little")
	}
}

func TestMaxKeysBound(t *testing.T) {
	const maxKeys, distinct = 100, 10_000

	t.Run("Window", func(t *testing.T) {
		var c clock
		w := NewWindow(WindowOptions{Rate: 1, Per: time.Hour, Burst: 1, MaxKeys: maxKeys, Now: c.Now})
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
		var c clock
		b := NewBackoff(BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, MaxKeys: maxKeys, Now: c.Now})
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
	var c clock
	w := NewWindow(WindowOptions{Rate: 1, Per: time.Hour, Now: c.Now})
	for i := range DefaultMaxKeys + 50 {
		w.Allow(fmt.Sprint(i))
	}
	if w.Len() != DefaultMaxKeys {
		t.Errorf("Len = %d with MaxKeys unset, want DefaultMaxKeys %d", w.Len(), DefaultMaxKeys)
	}
}

func TestSweep(t *testing.T) {
	t.Run("Window", func(t *testing.T) {
		var c clock
		w := NewWindow(WindowOptions{Rate: 1, Per: time.Minute, Burst: 5, Now: c.Now})
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
		var c clock
		b := NewBackoff(BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute, Now: c.Now})
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

func TestKeyUnambiguous(t *testing.T) {
	pairs := [][2][]string{
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"ab", "c"}, {"a", "bc"}},
		{{"1:a"}, {"a"}},
		{{"1:a", ""}, {"1:a"}},
		{{""}, {}},
		{{"", ""}, {""}},
		{{"https://client.example/x", "2001:db8::1"}, {"https://client.example/x2001:db8::1"}},
		{{"3:abc"}, {"abc"}},
		{{"11:a", "b"}, {"1", "1:a", "b"}},
	}
	for _, p := range pairs {
		a, b := Key(p[0]...), Key(p[1]...)
		if a == b {
			t.Errorf("Key(%q) == Key(%q) == %q", p[0], p[1], a)
		}
	}
	if Key("a", "b") != Key("a", "b") {
		t.Error("Key is not deterministic")
	}
}

// TestKeyBounded: a key made of client-chosen parts never outgrows
// maxKeyLen (plus the digest's prefix), and long keys stay distinct.
func TestKeyBounded(t *testing.T) {
	long := strings.Repeat("x", 64<<10)
	a, b := Key("https://"+long, "2001:db8::/64"), Key("https://"+long+"y", "2001:db8::/64")
	for _, k := range []string{a, b} {
		if len(k) > maxKeyLen+len("sha256:") {
			t.Errorf("a key of a 64 KiB part is %d bytes long; want at most %d", len(k), maxKeyLen+len("sha256:"))
		}
	}
	if a == b {
		t.Error("two different long keys share a digest")
	}
	short := Key("alice", "203.0.113.1")
	if short != "5:alice11:203.0.113.1" {
		t.Errorf("a short key is %q; want it kept readable", short)
	}
	if edge := Key(strings.Repeat("y", maxKeyLen-4)); len(edge) != maxKeyLen || strings.HasPrefix(edge, "sha256:") {
		t.Errorf("a key of exactly maxKeyLen bytes became %q", edge)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0"},
		{0, "0"},
		{time.Nanosecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{1100 * time.Millisecond, "2"},
		{2 * time.Second, "2"},
		{5 * time.Minute, "300"},
		{1<<63 - 1, "9223372037"}, // no overflow at the top
	}
	for _, tc := range tests {
		if got := RetryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestConcurrentWindow(t *testing.T) {
	var c clock // frozen: exactly Burst events per key may pass
	const keys, burst, goroutines, perG = 4, 100, 32, 50
	w := NewWindow(WindowOptions{Rate: 1, Per: time.Hour, Burst: burst, MaxKeys: keys, Now: c.Now})
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	begin := make(chan struct{}) // start together, for real contention
	for g := range goroutines {
		wg.Go(func() {
			<-begin
			for i := range perG {
				k := (g + i) % keys
				if ok, _ := w.Allow(fmt.Sprint("k", k)); ok {
					allowed[k].Add(1)
				}
				_ = w.Len()
			}
		})
	}
	close(begin)
	wg.Wait()
	for k := range keys {
		if got := allowed[k].Load(); got != burst {
			t.Errorf("key %d: %d events allowed by %d goroutines, want exactly the burst %d", k, got, goroutines, burst)
		}
	}
	if w.Len() != keys {
		t.Errorf("Len = %d, want %d", w.Len(), keys)
	}
}

func TestConcurrentBackoff(t *testing.T) {
	var c clock
	const keys, failsPerKey = 4, 13 // Free 3: 10 delayed failures → 2^9 s
	b := NewBackoff(BackoffOptions{Free: 3, Base: time.Second, Max: time.Hour, Forget: 2 * time.Hour, Now: c.Now})
	var wg sync.WaitGroup
	begin := make(chan struct{}) // start together, for real contention
	for i := range keys * failsPerKey {
		wg.Go(func() {
			<-begin
			k := fmt.Sprint("k", i%keys)
			for range 20 {
				_ = b.Check(k)
				// A key nobody checks is cleared over and over meanwhile.
				b.Fail("other")
				b.Succeed("other")
			}
			b.Fail(k)
			for range 20 {
				_ = b.Check(k)
				b.Sweep()
				_ = b.Len()
			}
		})
	}
	close(begin)
	wg.Wait()
	for k := range keys {
		if got, want := b.Check(fmt.Sprint("k", k)), 512*time.Second; got != want {
			t.Errorf("key k%d after %d concurrent failures: Check = %v, want %v (lost or extra failures)", k, failsPerKey, got, want)
		}
	}
	b.Succeed("other")
	if b.Len() != keys {
		t.Errorf("Len = %d, want %d", b.Len(), keys)
	}
}

func TestRunSweeperStops(t *testing.T) {
	var c clock
	w := NewWindow(WindowOptions{Rate: 1, Per: time.Second, Now: c.Now})
	b := NewBackoff(BackoffOptions{Base: time.Second, Max: time.Second, Forget: time.Second, Now: c.Now})
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
	var w *Window
	var b *Backoff
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
	var none *Reservation
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
		"zero rate":       func() { NewWindow(WindowOptions{Per: time.Second}) },
		"zero per":        func() { NewWindow(WindowOptions{Rate: 1}) },
		"negative burst":  func() { NewWindow(WindowOptions{Rate: 1, Per: time.Second, Burst: -1}) },
		"negative keys":   func() { NewWindow(WindowOptions{Rate: 1, Per: time.Second, MaxKeys: -1}) },
		"burst overflows": func() { NewWindow(WindowOptions{Rate: 1, Per: time.Hour, Burst: 1 << 40}) },
		"negative free":   func() { NewBackoff(BackoffOptions{Free: -1, Base: 1, Max: 1, Forget: 1}) },
		"negative in flight": func() {
			NewBackoff(BackoffOptions{Base: 1, Max: 1, Forget: 1, MaxInFlight: -1})
		},
		"zero base":      func() { NewBackoff(BackoffOptions{Max: 1, Forget: 1}) },
		"max below base": func() { NewBackoff(BackoffOptions{Base: 2, Max: 1, Forget: 2}) },
		"forget below max": func() {
			NewBackoff(BackoffOptions{Base: time.Second, Max: time.Minute, Forget: time.Second})
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
func reserveOK(t *testing.T, b *Backoff, key string) *Reservation {
	t.Helper()
	r, wait := b.Reserve(key)
	if r == nil || wait != 0 {
		t.Fatalf("Reserve(%q) = %v, %v; want a reservation", key, r, wait)
	}
	return r
}

func TestBackoffReserve(t *testing.T) {
	var c clock
	b := NewBackoff(BackoffOptions{Free: 2, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})

	// One attempt in flight: a second one waits, at least Base.
	first := reserveOK(t, b, "k")
	if r, wait := b.Reserve("k"); r != nil || wait != time.Second {
		t.Fatalf("second attempt in flight: Reserve = %v, %v; want nil, 1s", r, wait)
	}
	if got := b.Check("k"); got != 0 {
		t.Errorf("Check with an attempt in flight = %v; Check ignores reservations", got)
	}
	first.Fail()
	first.Fail() // a second end changes nothing
	first.Cancel()

	// Free 2: the second failure is free too, the third earns 1s.
	reserveOK(t, b, "k").Fail()
	reserveOK(t, b, "k").Fail()
	if r, wait := b.Reserve("k"); r != nil || wait != time.Second {
		t.Fatalf("after 3 failures: Reserve = %v, %v; want nil, 1s", r, wait)
	}
	c.Advance(time.Second)
	r := reserveOK(t, b, "k")
	// In flight after 3 failures: if it fails, the next waits 2s.
	if r2, wait := b.Reserve("k"); r2 != nil || wait != 2*time.Second {
		t.Fatalf("in flight after 3 failures: Reserve = %v, %v; want nil, 2s", r2, wait)
	}
	// Cancel counts nothing: the key may try again at once.
	r.Cancel()
	reserveOK(t, b, "k").Succeed()
	// Success forgets the failures, and the key.
	if b.Len() != 0 {
		t.Errorf("Len = %d after a success, want 0", b.Len())
	}
	// A refused or cancelled attempt of a fresh key leaves nothing behind.
	reserveOK(t, b, "fresh").Cancel()
	if b.Len() != 0 {
		t.Errorf("Len = %d after a cancelled attempt of a fresh key, want 0", b.Len())
	}
}

func TestBackoffReserveMaxInFlight(t *testing.T) {
	var c clock
	b := NewBackoff(BackoffOptions{Free: 5, Base: time.Second, Max: time.Minute, Forget: time.Hour, MaxInFlight: 3, Now: c.Now})
	var held []*Reservation
	for range 3 {
		held = append(held, reserveOK(t, b, "ip"))
	}
	if r, wait := b.Reserve("ip"); r != nil || wait != time.Second {
		t.Fatalf("fourth attempt: Reserve = %v, %v; want nil, 1s", r, wait)
	}
	reserveOK(t, b, "other").Cancel() // keys are independent
	held[0].Succeed()
	held[1].Fail()
	reserveOK(t, b, "ip").Cancel()
	held[2].Cancel()
}

// TestBackoffReserveBurst is the race a parallel attacker runs: many
// goroutines reserve and fail at once, with the clock standing still.
// However they interleave, no more than Free+MaxInFlight attempts are
// tried before the first delay.
func TestBackoffReserveBurst(t *testing.T) {
	for _, inFlight := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("MaxInFlight ", inFlight), func(t *testing.T) {
			var c clock
			const free = 3
			b := NewBackoff(BackoffOptions{Free: free, Base: time.Second, Max: time.Minute, Forget: time.Hour, MaxInFlight: inFlight, Now: c.Now})
			var tried, refused atomic.Int64
			var wg sync.WaitGroup
			begin := make(chan struct{})
			for range 200 {
				wg.Go(func() {
					<-begin
					r, wait := b.Reserve("victim")
					if r == nil {
						if wait < time.Second {
							t.Errorf("refused with a wait of %v, want at least Base", wait)
						}
						refused.Add(1)
						return
					}
					tried.Add(1)
					r.Fail()
				})
			}
			close(begin)
			wg.Wait()
			if got, most := tried.Load(), int64(free+inFlight); got < 1 || got > most {
				t.Errorf("%d of 200 parallel attempts tried; want between 1 and Free+MaxInFlight = %d", got, most)
			}
			if tried.Load()+refused.Load() != 200 {
				t.Errorf("%d tried + %d refused, want 200 answered", tried.Load(), refused.Load())
			}
		})
	}
}

// TestBackoffInFlightKeysStay: a key with an attempt in flight is neither
// evicted by a flood of new keys nor swept, so that forgetting it cannot
// let a second attempt start beside the first.
func TestBackoffInFlightKeysStay(t *testing.T) {
	var c clock
	const maxKeys = 10
	b := NewBackoff(BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Minute, MaxKeys: maxKeys, Now: c.Now})
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
	var held []*Reservation
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
