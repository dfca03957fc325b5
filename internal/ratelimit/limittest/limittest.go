// Package limittest is the contract suite of ratelimit's backends: the
// same tests run against ratelimit.Memory and against every backend that
// keeps the state elsewhere (pglimits), so that a limit answers alike
// wherever its state is kept. A backend's test calls Run; what only one
// backend has (Memory's bound on keys, a database's outages and replicas)
// is tested in that backend's package.
package limittest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// Clock is a manual clock: time moves only when the test says so, which
// keeps every test free of sleeps and timing assertions.
type Clock struct {
	ns atomic.Int64 // nanoseconds after Start
}

// Start is where every Clock starts.
var Start = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// Now is the clock's time.
func (c *Clock) Now() time.Time { return Start.Add(time.Duration(c.ns.Load())) }

// Advance moves the clock by d, which may be negative.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Run runs the suite. newBackend returns the backend for one test; the
// tests name their limiters after themselves, so one backend (one
// database) may serve them all.
func Run(t *testing.T, newBackend func(t *testing.T) ratelimit.Backend) {
	tests := []struct {
		name string
		test func(*testing.T, ratelimit.Backend)
	}{
		{"WindowBurstThenRefuse", testWindowBurstThenRefuse},
		{"WindowRefillsAtRate", testWindowRefillsAtRate},
		{"WindowKeysIndependent", testWindowKeysIndependent},
		{"WindowTakesNTokens", testWindowTakesNTokens},
		{"WindowRetryAfterProperty", testWindowRetryAfterProperty},
		{"WindowConcurrent", testWindowConcurrent},
		{"BackoffSchedule", testBackoffSchedule},
		{"BackoffAttemptsAtEachDeadline", testBackoffAttemptsAtEachDeadline},
		{"BackoffClockStepsBack", testBackoffClockStepsBack},
		{"BackoffForget", testBackoffForget},
		{"BackoffSucceedClears", testBackoffSucceedClears},
		{"BackoffKeysIndependent", testBackoffKeysIndependent},
		{"BackoffNeverLocks", testBackoffNeverLocks},
		{"BackoffConcurrent", testBackoffConcurrent},
		{"BackoffReserve", testBackoffReserve},
		{"BackoffReserveMaxInFlight", testBackoffReserveMaxInFlight},
		{"BackoffReserveBurst", testBackoffReserveBurst},
		{"BackoffLongKeys", testBackoffLongKeys},
		{"AllowanceLeases", testAllowanceLeases},
		{"AllowancesShareTheSource", testAllowancesShareTheSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newBackend(t))
		})
	}
}

// window and backoff make a limiter named after the test, so that tests
// sharing a backend share no state.
func window(t *testing.T, b ratelimit.Backend, o ratelimit.WindowOptions) ratelimit.WindowLimiter {
	return b.Window(t.Name(), o)
}

func backoff(t *testing.T, b ratelimit.Backend, o ratelimit.BackoffOptions) ratelimit.BackoffLimiter {
	return b.Backoff(t.Name(), o)
}

// allow calls w.AllowN(key, 1) and fails the test on an error.
func allow(t testing.TB, w ratelimit.WindowLimiter, key string) (bool, time.Duration) {
	t.Helper()
	return allowN(t, w, key, 1)
}

func allowN(t testing.TB, w ratelimit.WindowLimiter, key string, n int) (bool, time.Duration) {
	t.Helper()
	ok, retryAfter, err := w.AllowN(context.Background(), key, n)
	if err != nil {
		t.Fatalf("AllowN(%q, %d): %v", key, n, err)
	}
	return ok, retryAfter
}

// check, fail and succeed call b's methods and fail the test on an error.
func check(t testing.TB, b ratelimit.BackoffLimiter, key string) time.Duration {
	t.Helper()
	wait, err := b.Check(context.Background(), key)
	if err != nil {
		t.Fatalf("Check(%q): %v", key, err)
	}
	return wait
}

func fail(t testing.TB, b ratelimit.BackoffLimiter, key string) {
	t.Helper()
	if err := b.Fail(context.Background(), key); err != nil {
		t.Fatalf("Fail(%q): %v", key, err)
	}
}

func succeed(t testing.TB, b ratelimit.BackoffLimiter, key string) {
	t.Helper()
	if err := b.Succeed(context.Background(), key); err != nil {
		t.Fatalf("Succeed(%q): %v", key, err)
	}
}

// reserve calls b.Reserve and fails the test on an error.
func reserve(t testing.TB, b ratelimit.BackoffLimiter, key string) (ratelimit.Attempt, time.Duration) {
	t.Helper()
	a, wait, err := b.Reserve(context.Background(), key)
	if err != nil {
		t.Fatalf("Reserve(%q): %v", key, err)
	}
	if (a == nil) == (wait == 0) {
		t.Fatalf("Reserve(%q) = %v, %v: want an attempt or a wait, not both or neither", key, a, wait)
	}
	return a, wait
}

// reserveOK reserves an attempt for key and fails the test if it is
// refused.
func reserveOK(t testing.TB, b ratelimit.BackoffLimiter, key string) ratelimit.Attempt {
	t.Helper()
	a, wait := reserve(t, b, key)
	if a == nil {
		t.Fatalf("Reserve(%q) refused with a wait of %v; want an attempt", key, wait)
	}
	return a
}

// end ends an attempt one way and fails the test on an error.
func end(t testing.TB, end func(context.Context) error) {
	t.Helper()
	if err := end(context.Background()); err != nil {
		t.Fatalf("ending an attempt: %v", err)
	}
}

func testWindowBurstThenRefuse(t *testing.T, b ratelimit.Backend) {
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
			var c Clock
			w := window(t, b, ratelimit.WindowOptions{Rate: tc.rate, Per: tc.per, Burst: tc.burst, Now: c.Now})
			for i := range tc.wantBurst {
				if ok, ra := allow(t, w, "k"); !ok || ra != 0 {
					t.Fatalf("event %d of the burst: Allow = %v, %v; want true, 0", i+1, ok, ra)
				}
			}
			ok, ra := allow(t, w, "k")
			if ok || ra != tc.wantInterval {
				t.Fatalf("event after the burst: Allow = %v, %v; want false, %v", ok, ra, tc.wantInterval)
			}
			// A refused event takes nothing: hammering does not push the
			// retry time out.
			for range 5 {
				if ok, again := allow(t, w, "k"); ok || again != ra {
					t.Fatalf("repeated refusal: Allow = %v, %v; want false, %v", ok, again, ra)
				}
			}
			c.Advance(ra - 1)
			if ok, left := allow(t, w, "k"); ok || left != 1 {
				t.Fatalf("1ns before retryAfter: Allow = %v, %v; want false, 1ns", ok, left)
			}
			c.Advance(1)
			if ok, _ := allow(t, w, "k"); !ok {
				t.Fatal("refused at retryAfter, which promised a token")
			}
			if ok, _ := allow(t, w, "k"); ok {
				t.Fatal("a second event allowed on one refilled token")
			}
		})
	}
}

func testWindowRefillsAtRate(t *testing.T, b ratelimit.Backend) {
	var c Clock
	const rate, burst = 6, 6
	w := window(t, b, ratelimit.WindowOptions{Rate: rate, Per: time.Minute, Burst: burst, Now: c.Now})
	for range burst {
		allow(t, w, "k")
	}
	// Over ten minutes of steady demand, exactly rate per minute get
	// through (plus nothing: the burst was spent up front).
	allowed := 0
	for range 10 * 60 {
		c.Advance(time.Second)
		for {
			ok, _ := allow(t, w, "k")
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
		if ok, _ := allow(t, w, "k"); !ok {
			break
		}
		n++
	}
	if n != burst {
		t.Errorf("after a quiet minute, %d events allowed, want the burst %d", n, burst)
	}
}

func testWindowKeysIndependent(t *testing.T, b ratelimit.Backend) {
	var c Clock
	w := window(t, b, ratelimit.WindowOptions{Rate: 1, Per: time.Minute, Burst: 2, Now: c.Now})
	allow(t, w, "a")
	allow(t, w, "a")
	if ok, _ := allow(t, w, "a"); ok {
		t.Fatal("a: third event allowed with a burst of 2")
	}
	for i := range 2 {
		if ok, _ := allow(t, w, "b"); !ok {
			t.Fatalf("b: event %d refused because a is exhausted", i+1)
		}
	}
	if ok, _ := allow(t, w, "b"); ok {
		t.Fatal("b: third event allowed with a burst of 2")
	}
}

// testWindowTakesNTokens: AllowN takes n tokens or none, and a refusal
// says when n will be there.
func testWindowTakesNTokens(t *testing.T, b ratelimit.Backend) {
	var c Clock
	w := window(t, b, ratelimit.WindowOptions{Rate: 5, Per: 5 * time.Second, Now: c.Now}) // 1 a second, burst 5
	if ok, _ := allowN(t, w, "k", 3); !ok {
		t.Fatal("3 of 5 tokens refused")
	}
	if ok, ra := allowN(t, w, "k", 3); ok || ra != time.Second {
		t.Fatalf("3 more with 2 left: AllowN = %v, %v; want false, 1s", ok, ra)
	}
	if ok, _ := allowN(t, w, "k", 2); !ok {
		t.Fatal("the 2 tokens left were refused")
	}
	if ok, _ := allowN(t, w, "k", 0); ok {
		t.Fatal("AllowN of 0 took nothing from an empty bucket; it counts as 1")
	}
	if ok, ra := allowN(t, w, "fresh", 6); ok || ra != time.Second {
		t.Fatalf("6 from a fresh bucket of 5: AllowN = %v, %v; want false, 1s", ok, ra)
	}
}

// The retry time promised on refusal is never more than one interval and
// is always honoured, whatever the pattern of demand.
func testWindowRetryAfterProperty(t *testing.T, b ratelimit.Backend) {
	var c Clock
	const interval = 250 * time.Millisecond
	w := window(t, b, ratelimit.WindowOptions{Rate: 4, Per: time.Second, Burst: 3, Now: c.Now})
	rng := rand.New(rand.NewPCG(1, 2))
	refusals := 0
	for i := range 5_000 {
		c.Advance(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		ok, ra := allow(t, w, "k")
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
		if ok, ra2 := allow(t, w, "k"); !ok {
			t.Fatalf("step %d: refused (%v) after waiting the promised %v", i, ra2, ra)
		}
	}
	if refusals == 0 {
		t.Fatal("the demand pattern never hit the limit; the test checks nothing")
	}
}

func testWindowConcurrent(t *testing.T, b ratelimit.Backend) {
	var c Clock // frozen: exactly Burst events per key may pass
	const keys, burst, goroutines, perG = 4, 100, 32, 50
	w := window(t, b, ratelimit.WindowOptions{Rate: 1, Per: time.Hour, Burst: burst, Now: c.Now})
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	begin := make(chan struct{}) // start together, for real contention
	for g := range goroutines {
		wg.Go(func() {
			<-begin
			for i := range perG {
				k := (g + i) % keys
				ok, _, err := w.AllowN(context.Background(), fmt.Sprint("k", k), 1)
				if err != nil {
					t.Errorf("AllowN: %v", err)
					return
				}
				if ok {
					allowed[k].Add(1)
				}
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
}

func testBackoffSchedule(t *testing.T, b ratelimit.Backend) {
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
			var c Clock
			bo := backoff(t, b, ratelimit.BackoffOptions{Free: 3, Base: base, Max: maxDelay, Forget: time.Hour, Now: c.Now})
			for range tc.failures {
				fail(t, bo, "user")
			}
			if got := check(t, bo, "user"); got != tc.want {
				t.Fatalf("Check right after %d failures = %v, want %v", tc.failures, got, tc.want)
			}
			if tc.want == 0 {
				return
			}
			// The wait runs from the last failure.
			c.Advance(tc.want / 2)
			if got := check(t, bo, "user"); got != tc.want-tc.want/2 {
				t.Errorf("halfway: Check = %v, want %v", got, tc.want-tc.want/2)
			}
			c.Advance(tc.want - tc.want/2)
			if got := check(t, bo, "user"); got != 0 {
				t.Errorf("after the delay: Check = %v, want 0", got)
			}
		})
	}
}

// Failing each time the wait is over (what a patient attacker does) walks
// the same schedule, measured from each failure.
func testBackoffAttemptsAtEachDeadline(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 2, Base: time.Second, Max: 5 * time.Second, Forget: time.Minute, Now: c.Now})
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		fail(t, bo, "k")
		got := check(t, bo, "k")
		if got != w {
			t.Fatalf("after failure %d: Check = %v, want %v", i+1, got, w)
		}
		c.Advance(got)
		if got := check(t, bo, "k"); got != 0 {
			t.Fatalf("after failure %d and its wait: Check = %v, want 0", i+1, got)
		}
	}
}

// An injected clock that steps back must not stretch the wait past the
// delay (and so past Max).
func testBackoffClockStepsBack(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	for range 3 {
		fail(t, bo, "k")
	}
	c.Advance(-time.Hour)
	if got := check(t, bo, "k"); got != 4*time.Second {
		t.Errorf("clock an hour behind the last failure: Check = %v, want the delay 4s", got)
	}
}

func testBackoffForget(t *testing.T, b ratelimit.Backend) {
	var c Clock
	const forget = 15 * time.Minute
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 1, Base: time.Second, Max: time.Minute, Forget: forget, Now: c.Now})
	for range 3 {
		fail(t, bo, "k") // failures: free, 1s, 2s
	}
	// Just before Forget the history is kept: the next failure is the
	// fourth (4s), not a first.
	c.Advance(forget - 1)
	if got := check(t, bo, "k"); got != 0 {
		t.Fatalf("long after the delay: Check = %v, want 0", got)
	}
	fail(t, bo, "k")
	if got := check(t, bo, "k"); got != 4*time.Second {
		t.Fatalf("fourth failure within Forget: Check = %v, want 4s", got)
	}
	// A full Forget after the last failure, the key starts over: one free
	// failure, then Base.
	c.Advance(forget)
	if got := check(t, bo, "k"); got != 0 {
		t.Fatalf("Forget after the last failure: Check = %v, want 0", got)
	}
	fail(t, bo, "k")
	if got := check(t, bo, "k"); got != 0 {
		t.Fatalf("first failure after Forget: Check = %v, want 0 (free)", got)
	}
	fail(t, bo, "k")
	if got := check(t, bo, "k"); got != time.Second {
		t.Fatalf("second failure after Forget: Check = %v, want Base", got)
	}

	// The same when nothing called Check in between: a failure itself
	// resets a key whose failures are stale, counted by Fail or by the end
	// of a reserved attempt.
	for key, failOnce := range map[string]func(key string){
		"Fail":    func(key string) { fail(t, bo, key) },
		"Reserve": func(key string) { end(t, reserveOK(t, bo, key).Fail) },
	} {
		for range 3 {
			fail(t, bo, key)
		}
		c.Advance(forget)
		failOnce(key)
		if got := check(t, bo, key); got != 0 {
			t.Fatalf("%s: a failure a Forget after the last, no Check between: Check = %v, want 0 (free)", key, got)
		}
	}
}

func testBackoffSucceedClears(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	for range 5 {
		fail(t, bo, "k")
	}
	if check(t, bo, "k") == 0 {
		t.Fatal("no delay after 5 failures with Free 0")
	}
	succeed(t, bo, "k")
	if got := check(t, bo, "k"); got != 0 {
		t.Fatalf("after Succeed: Check = %v, want 0", got)
	}
	fail(t, bo, "k")
	if got := check(t, bo, "k"); got != time.Second {
		t.Fatalf("first failure after Succeed: Check = %v, want Base", got)
	}
	succeed(t, bo, "never failed") // nothing to clear, and no error
}

func testBackoffKeysIndependent(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 1, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	for range 4 {
		fail(t, bo, ratelimit.Key("alice", "10.0.0.1"))
	}
	if check(t, bo, ratelimit.Key("alice", "10.0.0.1")) == 0 {
		t.Fatal("no delay for the failing key")
	}
	for _, k := range []string{ratelimit.Key("alice", "10.0.0.2"), ratelimit.Key("bob", "10.0.0.1"), "alice"} {
		if got := check(t, bo, k); got != 0 {
			t.Errorf("Check(%q) = %v, want 0: another key's failures leaked", k, got)
		}
	}
	fail(t, bo, "bob")
	fail(t, bo, "bob")
	if got := check(t, bo, "bob"); got != time.Second {
		t.Errorf("bob after 2 failures: Check = %v, want Base, unaffected by alice", got)
	}
	succeed(t, bo, "bob")
	if check(t, bo, ratelimit.Key("alice", "10.0.0.1")) == 0 {
		t.Error("bob's success cleared alice's key")
	}
	// Two limiters are apart too, even with one key.
	other := b.Backoff(t.Name()+"/other", ratelimit.BackoffOptions{Free: 1, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	if got := check(t, other, ratelimit.Key("alice", "10.0.0.1")); got != 0 {
		t.Errorf("another limiter's Check of alice's key = %v, want 0", got)
	}
}

// However failures and time are interleaved, the wait never exceeds Max,
// and waiting it out always opens the door: slow down, never lock.
func testBackoffNeverLocks(t *testing.T, b ratelimit.Backend) {
	var c Clock
	const maxDelay = 5 * time.Minute
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 3, Base: time.Second, Max: maxDelay, Forget: 15 * time.Minute, Now: c.Now})
	rng := rand.New(rand.NewPCG(3, 4))
	sawMax := false
	for i := range 5_000 {
		// Mostly bursts of failures (an attacker ignoring 429s), with
		// occasional pauses of up to 20 minutes.
		switch r := rng.IntN(100); {
		case r < 90:
			fail(t, bo, "victim")
		case r < 99:
			c.Advance(time.Duration(rng.Int64N(int64(time.Minute))))
		default:
			c.Advance(time.Duration(rng.Int64N(int64(20 * time.Minute))))
		}
		wait := check(t, bo, "victim")
		if wait < 0 || wait > maxDelay {
			t.Fatalf("step %d: wait %v outside [0, %v]", i, wait, maxDelay)
		}
		sawMax = sawMax || wait == maxDelay
		if rng.IntN(50) == 0 {
			// The legitimate user waits as told and can then try.
			c.Advance(wait)
			if got := check(t, bo, "victim"); got != 0 {
				t.Fatalf("step %d: still %v to wait after waiting the %v asked", i, got, wait)
			}
		}
	}
	if !sawMax {
		t.Fatal("the loop never reached Max; the test checks too little")
	}
}

func testBackoffConcurrent(t *testing.T, b ratelimit.Backend) {
	var c Clock
	const keys, failsPerKey = 4, 13 // Free 3: 10 delayed failures → 2^9 s
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 3, Base: time.Second, Max: time.Hour, Forget: 2 * time.Hour, Now: c.Now})
	ctx := context.Background()
	var wg sync.WaitGroup
	begin := make(chan struct{}) // start together, for real contention
	for i := range keys * failsPerKey {
		wg.Go(func() {
			<-begin
			k := fmt.Sprint("k", i%keys)
			for range 5 {
				_, err1 := bo.Check(ctx, k)
				// A key nobody checks is cleared over and over meanwhile.
				err2 := bo.Fail(ctx, "other")
				err3 := bo.Succeed(ctx, "other")
				if err := cmpErrs(err1, err2, err3); err != nil {
					t.Error(err)
					return
				}
			}
			if err := bo.Fail(ctx, k); err != nil {
				t.Error(err)
			}
			for range 5 {
				if _, err := bo.Check(ctx, k); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(begin)
	wg.Wait()
	for k := range keys {
		if got, want := check(t, bo, fmt.Sprint("k", k)), 512*time.Second; got != want {
			t.Errorf("key k%d after %d concurrent failures: Check = %v, want %v (lost or extra failures)", k, failsPerKey, got, want)
		}
	}
}

// cmpErrs returns the first non-nil error.
func cmpErrs(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func testBackoffReserve(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 2, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})

	// One attempt in flight: a second one waits, at least Base.
	first := reserveOK(t, bo, "k")
	if a, wait := reserve(t, bo, "k"); a != nil || wait != time.Second {
		t.Fatalf("second attempt in flight: Reserve = %v, %v; want nil, 1s", a, wait)
	}
	if got := check(t, bo, "k"); got != 0 {
		t.Errorf("Check with an attempt in flight = %v; Check ignores reservations", got)
	}
	end(t, first.Fail)
	end(t, first.Fail) // a second end changes nothing
	end(t, first.Cancel)

	// Free 2: the second failure is free too, the third earns 1s.
	end(t, reserveOK(t, bo, "k").Fail)
	if got := check(t, bo, "k"); got != 0 {
		t.Fatalf("after 2 failures (one ended twice): Check = %v, want 0", got)
	}
	end(t, reserveOK(t, bo, "k").Fail)
	if a, wait := reserve(t, bo, "k"); a != nil || wait != time.Second {
		t.Fatalf("after 3 failures: Reserve = %v, %v; want nil, 1s", a, wait)
	}
	c.Advance(time.Second)
	a := reserveOK(t, bo, "k")
	// In flight after 3 failures: if it fails, the next waits 2s.
	if a2, wait := reserve(t, bo, "k"); a2 != nil || wait != 2*time.Second {
		t.Fatalf("in flight after 3 failures: Reserve = %v, %v; want nil, 2s", a2, wait)
	}
	// Cancel counts nothing: the key may try again at once.
	end(t, a.Cancel)
	end(t, reserveOK(t, bo, "k").Succeed)
	// Success forgets the failures.
	for range 2 {
		end(t, reserveOK(t, bo, "k").Fail)
	}
	if got := check(t, bo, "k"); got != 0 {
		t.Errorf("two failures after a success: Check = %v, want 0 (Free 2)", got)
	}
	// A success after a cancel still counts, and a cancel after a
	// success changes nothing.
	s := reserveOK(t, bo, "k")
	end(t, s.Succeed)
	end(t, s.Cancel)
	end(t, reserveOK(t, bo, "k").Fail)
	end(t, reserveOK(t, bo, "k").Fail)
	end(t, reserveOK(t, bo, "k").Fail)
	if got := check(t, bo, "k"); got != time.Second {
		t.Errorf("three failures after a success: Check = %v, want 1s", got)
	}
}

func testBackoffReserveMaxInFlight(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 5, Base: time.Second, Max: time.Minute, Forget: time.Hour, MaxInFlight: 3, Now: c.Now})
	var held []ratelimit.Attempt
	for range 3 {
		held = append(held, reserveOK(t, bo, "ip"))
	}
	if a, wait := reserve(t, bo, "ip"); a != nil || wait != time.Second {
		t.Fatalf("fourth attempt: Reserve = %v, %v; want nil, 1s", a, wait)
	}
	end(t, reserveOK(t, bo, "other").Cancel) // keys are independent
	end(t, held[0].Succeed)
	end(t, held[1].Fail)
	end(t, reserveOK(t, bo, "ip").Cancel)
	end(t, held[2].Cancel)
	// Three slots again, the failure counted.
	for range 3 {
		held = append(held, reserveOK(t, bo, "ip"))
	}
	for _, a := range held[3:] {
		end(t, a.Fail)
	}
	// Four failures of Free 5: the next is free, the one after waits.
	end(t, reserveOK(t, bo, "ip").Fail)
	if got := check(t, bo, "ip"); got != 0 {
		t.Errorf("after five failures: Check = %v, want 0 (Free 5)", got)
	}
	end(t, reserveOK(t, bo, "ip").Fail)
	if got := check(t, bo, "ip"); got != time.Second {
		t.Errorf("after six failures: Check = %v, want 1s", got)
	}
}

// testBackoffReserveBurst is the race a parallel attacker runs: many
// goroutines reserve and fail at once, with the clock standing still.
// However they interleave, no more than Free+MaxInFlight attempts are
// tried before the first delay.
func testBackoffReserveBurst(t *testing.T, b ratelimit.Backend) {
	for _, inFlight := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("MaxInFlight ", inFlight), func(t *testing.T) {
			var c Clock
			const free = 3
			bo := backoff(t, b, ratelimit.BackoffOptions{Free: free, Base: time.Second, Max: time.Minute, Forget: time.Hour, MaxInFlight: inFlight, Now: c.Now})
			ctx := context.Background()
			var tried, refused atomic.Int64
			var wg sync.WaitGroup
			begin := make(chan struct{})
			for range 200 {
				wg.Go(func() {
					<-begin
					a, wait, err := bo.Reserve(ctx, "victim")
					if err != nil {
						t.Errorf("Reserve: %v", err)
						return
					}
					if a == nil {
						if wait < time.Second {
							t.Errorf("refused with a wait of %v, want at least Base", wait)
						}
						refused.Add(1)
						return
					}
					tried.Add(1)
					if err := a.Fail(ctx); err != nil {
						t.Errorf("Fail: %v", err)
					}
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

// testBackoffLongKeys: keys are any bytes, as Key makes them from names
// and client IDs that a client chose: not UTF-8, NUL, long.
func testBackoffLongKeys(t *testing.T, b ratelimit.Backend) {
	var c Clock
	bo := backoff(t, b, ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	w := window(t, b, ratelimit.WindowOptions{Rate: 1, Per: time.Hour, Now: c.Now})
	keys := []string{"\xff\xfe", "a\x00b", "a\x00c", ratelimit.Key(string(make([]byte, 1<<16)))}
	for _, k := range keys {
		fail(t, bo, k)
		if ok, _ := allow(t, w, k); !ok {
			t.Errorf("key %q: the first event refused", k)
		}
	}
	for _, k := range keys {
		if got := check(t, bo, k); got != time.Second {
			t.Errorf("key %q after one failure: Check = %v, want 1s (each key its own)", k, got)
		}
		if ok, _ := allow(t, w, k); ok {
			t.Errorf("key %q: a second event allowed with a burst of 1", k)
		}
	}
}

// testAllowanceLeases: an allowance spends what it leased, refuses beyond
// it without asking anybody, and takes another lease only when half of
// one is spent and the source has a lease's worth.
func testAllowanceLeases(t *testing.T, b ratelimit.Backend) {
	var c Clock
	ctx := context.Background()
	src := window(t, b, ratelimit.WindowOptions{Rate: 10, Per: time.Hour, Now: c.Now}) // burst 10, one per 6 min
	a := ratelimit.NewAllowance(ratelimit.AllowanceOptions{Source: src, Key: "*", Lease: 4})
	if a.Take(1) {
		t.Fatal("an allowance that leased nothing took a unit")
	}
	refill := func(want time.Duration) {
		t.Helper()
		got, err := a.Refill(ctx)
		if err != nil || got != want {
			t.Fatalf("Refill = %v, %v; want %v, nil", got, err, want)
		}
	}
	refill(0)
	if got := a.Held(); got != 4 {
		t.Fatalf("after a lease, Held = %d, want 4", got)
	}
	refill(0) // a full lease is held: nothing taken
	if !a.Take(2) {
		t.Fatal("2 of 4 held refused")
	}
	refill(0) // half a lease left: not low yet
	if !a.Take(1) {
		t.Fatal("1 of 2 held refused")
	}
	refill(0) // 1 of 4 left: topped up with 3
	if got := a.Held(); got != 4 {
		t.Fatalf("after a top-up, Held = %d, want 4", got)
	}
	if a.Take(5) {
		t.Fatal("5 taken from 4 held")
	}
	for range 4 {
		if !a.Take(1) {
			t.Fatal("a unit held refused")
		}
	}
	// The source gave 7 of 10: a lease of 4 waits for one more unit.
	refill(6 * time.Minute)
	if got := a.Held(); got != 0 {
		t.Fatalf("after a refused lease, Held = %d, want 0", got)
	}
	c.Advance(6 * time.Minute)
	refill(0)
	if got := a.Held(); got != 4 {
		t.Fatalf("after the wait, Held = %d, want 4", got)
	}
	// The source is spent: it lent 11 units, its burst and one refill.
	if ok, _ := allow(t, src, "*"); ok {
		t.Error("the source had a unit left after lending all of them")
	}
}

// testAllowancesShareTheSource: allowances of several processes on one
// source spend, together, never more than the source gives, however their
// takes interleave; and all of it but less than a lease, which may be too
// little for the top-up of any of them.
func testAllowancesShareTheSource(t *testing.T, b ratelimit.Backend) {
	var c Clock
	ctx := context.Background()
	const budget, lease = 60, 5
	src := window(t, b, ratelimit.WindowOptions{Rate: budget, Per: time.Hour, Now: c.Now})
	var as []*ratelimit.Allowance
	for range 3 {
		as = append(as, ratelimit.NewAllowance(ratelimit.AllowanceOptions{Source: src, Key: "*", Lease: lease}))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	spent := 0
	for quiet := 0; quiet < 100; {
		a := as[rng.IntN(len(as))]
		if rng.IntN(3) == 0 {
			if _, err := a.Refill(ctx); err != nil {
				t.Fatalf("Refill: %v", err)
			}
		}
		if a.Take(1) {
			spent++
			quiet = 0
		} else {
			quiet++
		}
	}
	if spent > budget || spent <= budget-lease {
		t.Errorf("%d units spent of a budget of %d by %d allowances of leases of %d; want at most the budget, and less than a lease short of it",
			spent, budget, len(as), lease)
	}
}
