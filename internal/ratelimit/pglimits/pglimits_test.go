package pglimits_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/limittest"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits/pglimitstest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestContract runs the contract suite on one database: its tests name
// their limiters apart.
func TestContract(t *testing.T) {
	b, _ := pglimitstest.Replica(t, pgtest.Shared(t).NewDatabase(t), pglimits.Options{})
	limittest.Run(t, func(*testing.T) ratelimit.Backend { return b })
}

// TestReplicasShareLimits: two replicas on one database are one limit:
// what one lets through counts on the other, failures through one slow
// the other down, and an attempt in flight on one holds the key on both.
func TestReplicasShareLimits(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	a, _ := pglimitstest.Replica(t, url, pglimits.Options{})
	b, _ := pglimitstest.Replica(t, url, pglimits.Options{})
	ctx := t.Context()
	var c limittest.Clock

	t.Run("window", func(t *testing.T) {
		o := ratelimit.WindowOptions{Rate: 10, Per: time.Hour, Now: c.Now}
		wa, wb := a.Window("register", o), b.Window("register", o)
		var got []bool
		for i := range 12 {
			w := wa
			if i%2 == 1 {
				w = wb
			}
			ok, _, err := w.AllowN(ctx, "203.0.113.0", 1)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ok)
		}
		want := []bool{true, true, true, true, true, true, true, true, true, true, false, false}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("12 events over two replicas with a burst of 10 (-want +got):\n%s", diff)
		}
	})

	t.Run("backoff", func(t *testing.T) {
		o := ratelimit.BackoffOptions{Free: 3, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now}
		ba, bb := a.Backoff("sign-in", o), b.Backoff("sign-in", o)
		for range 5 {
			r, wait, err := ba.Reserve(ctx, "alice")
			if err != nil || r == nil {
				t.Fatalf("Reserve on a = %v, %v, %v", r, wait, err)
			}
			if err := r.Fail(ctx); err != nil {
				t.Fatal(err)
			}
			c.Advance(wait + 2*time.Second) // the tries are spaced out as told
		}
		// Free 3, then 1s, then 2s: five failures through a ask b to wait
		// 4s after the last.
		c.Advance(-2 * time.Second)
		if r, wait, err := bb.Reserve(ctx, "alice"); r != nil || wait != 2*time.Second || err != nil {
			t.Errorf("Reserve on b after five failures on a = %v, %v, %v; want nil, 2s, nil", r, wait, err)
		}
		c.Advance(2 * time.Second)
		r, _, err := bb.Reserve(ctx, "alice")
		if err != nil || r == nil {
			t.Fatalf("Reserve on b after the wait = %v, %v", r, err)
		}
		// In flight on b: a must not start another beside it.
		if r2, wait, err := ba.Reserve(ctx, "alice"); r2 != nil || wait != 4*time.Second || err != nil {
			t.Errorf("Reserve on a while b's attempt is in flight = %v, %v, %v; want nil, 4s (what its failure would bring), nil", r2, wait, err)
		}
		if err := r.Succeed(ctx); err != nil {
			t.Fatal(err)
		}
		if wait, err := ba.Check(ctx, "alice"); wait != 0 || err != nil {
			t.Errorf("Check on a after a success on b = %v, %v; want 0", wait, err)
		}
	})
}

// TestAttemptLeaseEnds: an attempt whose replica never ends it (a crash)
// holds its key for one lease, not for ever; and its failure, should it
// come after all, still counts.
func TestAttemptLeaseEnds(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	const lease = time.Minute
	a, _ := pglimitstest.Replica(t, url, pglimits.Options{AttemptLease: lease})
	b, _ := pglimitstest.Replica(t, url, pglimits.Options{AttemptLease: lease})
	ctx := t.Context()
	var c limittest.Clock
	o := ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Hour, Forget: 2 * time.Hour, Now: c.Now}
	ba, bb := a.Backoff("sign-in", o), b.Backoff("sign-in", o)

	lost, _, err := ba.Reserve(ctx, "alice")
	if err != nil || lost == nil {
		t.Fatalf("Reserve = %v, %v", lost, err)
	}
	c.Advance(lease - 1)
	if r, wait, err := bb.Reserve(ctx, "alice"); r != nil || err != nil || wait != time.Second {
		t.Fatalf("Reserve within the lease = %v, %v, %v; want nil, 1s, nil", r, wait, err)
	}
	c.Advance(1)
	r, _, err := bb.Reserve(ctx, "alice")
	if err != nil || r == nil {
		t.Fatalf("Reserve once the lease ended = %v, %v; want an attempt", r, err)
	}
	if err := r.Fail(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lost.Fail(ctx); err != nil {
		t.Fatal(err)
	}
	// Free 0: two failures, 1s then 2s.
	if wait, err := bb.Check(ctx, "alice"); wait != 2*time.Second || err != nil {
		t.Errorf("Check after both attempts failed = %v, %v; want 2s (both counted)", wait, err)
	}
}

// TestSweep: rows whose state is back to "never seen" go, the others stay,
// and a swept key answers as a new one.
func TestSweep(t *testing.T) {
	var c limittest.Clock
	url := pgtest.Shared(t).NewDatabase(t)
	b, pool := pglimitstest.Replica(t, url, pglimits.Options{Now: c.Now, AttemptLease: time.Minute})
	ctx := t.Context()
	w := b.Window("w", ratelimit.WindowOptions{Rate: 1, Per: time.Minute, Burst: 5, Now: c.Now})
	bo := b.Backoff("b", ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute, Now: c.Now})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	allow := func(key string, n int) {
		t.Helper()
		if ok, _, err := w.AllowN(ctx, key, n); !ok || err != nil {
			t.Fatalf("AllowN(%q, %d) = %v, %v", key, n, ok, err)
		}
	}
	allow("light", 1) // full again after 1 minute
	allow("heavy", 5) // full again after 5 minutes
	must(bo.Fail(ctx, "old"))
	must(bo.Succeed(ctx, "old")) // nothing left to remember
	must(bo.Fail(ctx, "failed"))
	r, _, err := bo.Reserve(ctx, "reserved")
	must(err)

	keys := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT limiter || ':' || convert_from(key, 'UTF8') FROM ratelimit_windows
			UNION ALL SELECT limiter || ':' || convert_from(key, 'UTF8') FROM ratelimit_backoffs ORDER BY 1`)
		must(err)
		var got []string
		for rows.Next() {
			var k string
			must(rows.Scan(&k))
			got = append(got, k)
		}
		must(rows.Err())
		return got
	}
	sweep := func(want int64) {
		t.Helper()
		if n, err := b.Sweep(ctx); n != want || err != nil {
			t.Fatalf("Sweep = %d, %v; want %d", n, err, want)
		}
	}
	sweep(1)
	if diff := cmp.Diff([]string{"b:failed", "b:reserved", "w:heavy", "w:light"}, keys()); diff != "" {
		t.Errorf("after a sweep at once (-want +got):\n%s", diff)
	}
	c.Advance(time.Minute)
	sweep(2) // light's bucket is full, reserved's lease over
	if diff := cmp.Diff([]string{"b:failed", "w:heavy"}, keys()); diff != "" {
		t.Errorf("a minute later (-want +got):\n%s", diff)
	}
	// Sweeping kept heavy's state: one token back, not five.
	allow("heavy", 1)
	if ok, _, _ := w.AllowN(ctx, "heavy", 1); ok {
		t.Error("heavy allowed twice after a minute: the sweep reset a draining key")
	}
	must(r.Cancel(ctx)) // its row is gone; nothing to do
	c.Advance(10 * time.Minute)
	sweep(2)
	if got := keys(); len(got) != 0 {
		t.Errorf("after every state ran out: rows %q remain", got)
	}
	if wait, err := bo.Check(ctx, "failed"); wait != 0 || err != nil {
		t.Errorf("Check of a swept key = %v, %v; want 0", wait, err)
	}
}

// TestDatabaseDown: with the database unreachable, every decision fails
// within the timeout, and none is taken for a yes; once the database is
// back, the limits answer again.
func TestDatabaseDown(t *testing.T) {
	cluster := pgtest.Start(t)
	url := cluster.NewDatabase(t)
	b, _ := pglimitstest.Replica(t, url, pglimits.Options{Timeout: 5 * time.Second})
	ctx := t.Context()
	w := b.Window("w", ratelimit.WindowOptions{Rate: 1, Per: time.Hour})
	bo := b.Backoff("b", ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour})
	r, _, err := bo.Reserve(ctx, "before")
	if err != nil || r == nil {
		t.Fatalf("Reserve before the outage = %v, %v", r, err)
	}

	cluster.Stop(t)
	if ok, _, err := w.AllowN(ctx, "k", 1); ok || err == nil {
		t.Errorf("AllowN with the database down = %v, %v; want false and an error", ok, err)
	}
	if _, err := bo.Check(ctx, "k"); err == nil {
		t.Error("Check with the database down: no error")
	}
	if a, _, err := bo.Reserve(ctx, "k"); a != nil || err == nil {
		t.Errorf("Reserve with the database down = %v, %v; want nil and an error", a, err)
	}
	if err := bo.Fail(ctx, "k"); err == nil {
		t.Error("Fail with the database down: no error")
	}
	if err := r.Fail(ctx); err == nil {
		t.Error("an attempt's Fail with the database down: no error")
	}

	cluster.Start(t)
	// The pool's connections died with the server: the retry policy
	// replaces them.
	if ok, _, err := w.AllowN(ctx, "k", 1); !ok || err != nil {
		t.Errorf("AllowN after the restart = %v, %v; want true", ok, err)
	}
	// The lost Fail left its attempt in flight until the lease ends.
	if a, wait, err := bo.Reserve(ctx, "before"); a != nil || wait == 0 || err != nil {
		t.Errorf("Reserve of the key whose attempt's end was lost = %v, %v, %v; want a wait", a, wait, err)
	}
}

// TestOutcomesOutliveTheRequest: a failure counts even when the request
// that made it has been cancelled (the client went away after its guess
// was tried).
func TestOutcomesOutliveTheRequest(t *testing.T) {
	b, _ := pglimitstest.Replica(t, pgtest.Shared(t).NewDatabase(t), pglimits.Options{})
	var c limittest.Clock
	bo := b.Backoff("b", ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: time.Minute, Forget: time.Hour, Now: c.Now})
	ctx, cancel := context.WithCancel(t.Context())
	r, _, err := bo.Reserve(ctx, "k")
	if err != nil || r == nil {
		t.Fatalf("Reserve = %v, %v", r, err)
	}
	cancel()
	if err := r.Fail(ctx); err != nil {
		t.Fatalf("Fail after the request was cancelled: %v", err)
	}
	if err := bo.Fail(ctx, "k"); err != nil {
		t.Fatalf("Fail after the request was cancelled: %v", err)
	}
	if wait, err := bo.Check(t.Context(), "k"); wait != 2*time.Second || err != nil {
		t.Errorf("Check = %v, %v; want 2s: both failures counted", wait, err)
	}
}

// TestFailuresStopAtMax: failures are counted only up to where the delay
// reaches Max (as in memory), so a key failed without end cannot overflow
// its counter.
func TestFailuresStopAtMax(t *testing.T) {
	b, pool := pglimitstest.Replica(t, pgtest.Shared(t).NewDatabase(t), pglimits.Options{})
	var c limittest.Clock
	o := ratelimit.BackoffOptions{Free: 0, Base: time.Second, Max: 4 * time.Second, Forget: time.Hour, Now: c.Now}
	bo := b.Backoff("b", o)
	for range 10 {
		if err := bo.Fail(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := bo.Reserve(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := r.Fail(t.Context()); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour - 1) // past any delay, never stale
		if r, _, err = bo.Reserve(t.Context(), "other"); err != nil || r == nil {
			t.Fatalf("Reserve = %v, %v", r, err)
		}
	}
	rows, err := pool.Query(t.Context(), `SELECT failures FROM ratelimit_backoffs ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	want := o.Rule().MaxFailures() // 3: 1s, 2s, 4s
	if diff := cmp.Diff([]int{want, want}, got); diff != "" {
		t.Errorf("failures stored after 10 each (-want +got):\n%s", diff)
	}
}
