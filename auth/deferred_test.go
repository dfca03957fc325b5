package auth_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

func TestDeferredChallenge(t *testing.T) {
	t.Parallel()
	if d := auth.DeferredChallengeFrom(context.Background()); d != nil {
		t.Errorf("DeferredChallengeFrom(bare context) = %v, want nil", d)
	}

	ctx, d := auth.WithDeferredChallenge(context.Background())
	if got := auth.DeferredChallengeFrom(ctx); got != d {
		t.Fatalf("DeferredChallengeFrom(ctx) = %p, want the one returned by WithDeferredChallenge (%p)", got, d)
	}
	// A child context still reaches it.
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if got := auth.DeferredChallengeFrom(child); got != d {
		t.Errorf("DeferredChallengeFrom(child) = %p, want %p", got, d)
	}

	status, c, ok := d.Get()
	if ok || status != 0 || !cmp.Equal(c, auth.Challenge{}) {
		t.Errorf("Get() on an empty DeferredChallenge = (%d, %+v, %v), want (0, {}, false)", status, c, ok)
	}

	first := auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.write"}, Error: auth.ErrInsufficientScope, Description: "first"}
	second := auth.Challenge{ResourceMetadata: testPRM, Scope: auth.Scopes{"kanban.read"}}
	d.Set(http.StatusForbidden, first)
	d.Set(http.StatusUnauthorized, second)

	status, c, ok = d.Get()
	if !ok {
		t.Fatal("Get() after Set: ok = false, want true")
	}
	if status != http.StatusForbidden {
		t.Errorf("status = %d, want %d (the first Set wins)", status, http.StatusForbidden)
	}
	if diff := cmp.Diff(first, c); diff != "" {
		t.Errorf("challenge mismatch, the first Set must win (-want +got):\n%s", diff)
	}

	// Two requests never share one.
	_, other := auth.WithDeferredChallenge(context.Background())
	if _, _, ok := other.Get(); ok {
		t.Error("a fresh DeferredChallenge already holds a challenge")
	}
}

func TestDeferredChallengeConcurrentSet(t *testing.T) {
	t.Parallel()
	_, d := auth.WithDeferredChallenge(context.Background())
	done := make(chan struct{})
	for i := range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			d.Set(400+i, auth.Challenge{Error: auth.ErrInvalidToken})
			d.Get()
		}()
	}
	for range 20 {
		<-done
	}
	status, _, ok := d.Get()
	if !ok || status < 400 || status >= 420 {
		t.Errorf("Get() = (%d, _, %v), want one of the statuses set", status, ok)
	}
	// And it no longer changes.
	d.Set(999, auth.Challenge{})
	if again, _, _ := d.Get(); again != status {
		t.Errorf("status changed from %d to %d after a later Set", status, again)
	}
}
