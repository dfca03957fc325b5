package auth_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// countingRevocations is a revocation source whose answers the test sets
// and whose consultations it counts: the cache in front of it is what is
// under test.
type countingRevocations struct {
	calls   atomic.Int64
	revoked map[string]bool // by subject
	err     error
}

func (c *countingRevocations) Revoked(_ context.Context, p *auth.Principal) (bool, error) {
	c.calls.Add(1)
	if c.err != nil {
		return true, c.err
	}
	return c.revoked[p.Subject], nil
}

func TestCachedRevocations(t *testing.T) {
	inner := &countingRevocations{revoked: map[string]bool{"mallory": true}}
	var version atomic.Uint64
	var versionErr error
	cache := auth.CachedRevocations(inner, func() (uint64, error) { return version.Load(), versionErr }, 3, nil)
	alice := &auth.Principal{Issuer: "https://i", Subject: "alice", ClientID: "c", GrantID: "g1"}
	mallory := &auth.Principal{Issuer: "https://i", Subject: "mallory", ClientID: "c"}

	check := func(step string, p *auth.Principal, want bool, wantCalls int64) {
		t.Helper()
		got, err := cache.Revoked(t.Context(), p)
		if err != nil || got != want {
			t.Fatalf("%s: Revoked = %v, %v; want %v, nil", step, got, err, want)
		}
		if n := inner.calls.Load(); n != wantCalls {
			t.Fatalf("%s: the source was asked %d times in all, want %d", step, n, wantCalls)
		}
	}
	check("first check asks", alice, false, 1)
	check("second check is cached", alice, false, 1)
	check("a revoked principal", mallory, true, 2)
	check("cached too", mallory, true, 2)

	// A revocation anywhere changes the version: every answer is asked again.
	inner.revoked["alice"] = true
	version.Add(1)
	check("after a change", alice, true, 3)
	check("cached again", alice, true, 3)
	check("the other principal is asked again too", mallory, true, 4)

	// Another grant of the same user is another question.
	check("another grant", &auth.Principal{Issuer: "https://i", Subject: "alice", ClientID: "c", GrantID: "g2"}, true, 5)

	// Bounded: a fourth principal starts the cache over.
	check("third entry", &auth.Principal{Issuer: "https://i", Subject: "bob"}, false, 6)
	check("fourth entry clears", &auth.Principal{Issuer: "https://i", Subject: "carol"}, false, 7)
	check("so alice is asked again", alice, true, 8)

	// A failing source fails closed and is not cached.
	version.Add(1)
	inner.err = errors.New("database is down")
	if _, err := cache.Revoked(t.Context(), alice); err == nil {
		t.Fatal("a failing source: no error")
	}
	inner.err = nil
	check("after the failure the source is asked again", alice, true, 10)

	// A version that cannot be read fails closed without asking.
	versionErr = errors.New("signal file unreadable")
	if _, err := cache.Revoked(t.Context(), alice); err == nil {
		t.Fatal("an unreadable version: no error")
	}
	if n := inner.calls.Load(); n != 10 {
		t.Fatalf("an unreadable version asked the source (%d calls, want 10)", n)
	}
}

// TestCachedRevocationsDropsStaleAnswers covers the race the version
// guards against: an answer gathered before a revocation committed must
// not outlive the change's signal.
func TestCachedRevocationsDropsStaleAnswers(t *testing.T) {
	var version atomic.Uint64
	var cache auth.RevocationChecker
	alice := &auth.Principal{Issuer: "https://i", Subject: "alice"}
	revoked := false
	// The source revokes alice while the first answer is being gathered:
	// it answers "not revoked" (the state it read), then the change and
	// its signal happen.
	racing := revocationFunc(func(context.Context, *auth.Principal) (bool, error) {
		answer := revoked
		if !revoked {
			revoked = true
			version.Add(1)
		}
		return answer, nil
	})
	cache = auth.CachedRevocations(racing, func() (uint64, error) { return version.Load(), nil }, 10, nil)
	if got, _ := cache.Revoked(t.Context(), alice); got {
		t.Fatal("first answer: revoked; want the stale not-revoked the source read")
	}
	if got, _ := cache.Revoked(t.Context(), alice); !got {
		t.Fatal("after the change's signal the stale answer was still served")
	}
}

type revocationFunc func(context.Context, *auth.Principal) (bool, error)

func (f revocationFunc) Revoked(ctx context.Context, p *auth.Principal) (bool, error) {
	return f(ctx, p)
}

// TestCachedRevocationsHitAllocatesNothing: the check that every
// authenticated request makes allocates nothing when answered from the
// cache, counted or not.
func TestCachedRevocationsHitAllocatesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *metrics.Auth
	}{{"uncounted", nil}, {"counted", metrics.New().Auth}} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &countingRevocations{}
			var version atomic.Uint64
			cache := auth.CachedRevocations(inner, func() (uint64, error) { return version.Load(), nil }, 10, tc.m)
			alice := &auth.Principal{Issuer: "https://i", Subject: "alice", ClientID: "c", GrantID: "g1"}
			ctx := t.Context()
			if _, err := cache.Revoked(ctx, alice); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(1000, func() { _, _ = cache.Revoked(ctx, alice) }); n != 0 {
				t.Errorf("a cache hit allocates %v times, want 0", n)
			}
			if n := inner.calls.Load(); n != 1 {
				t.Errorf("the source was asked %d times, want once: the runs were not hits", n)
			}
		})
	}
}
