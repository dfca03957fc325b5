package authserver

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// TestHousekeep runs the housekeeping loop on a real store: a registered
// client never used for longer than the limit is removed at once, a
// pre-registered one stays, and the loop stops with its context.
func TestHousekeep(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	req := RegistrationRequest{RedirectURIs: []string{"https://app.example/cb"}, TokenEndpointAuthMethod: "none"}
	unused, _ := mustRegister(t, e.store, req, SourceDCR)
	kept, _ := mustRegister(t, e.store, req, SourcePreregistered)
	e.clock.Advance(48 * time.Hour)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { Housekeep(ctx, e.store, e.grants, 24*time.Hour, slog.New(slog.DiscardHandler)); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.store.Client(t.Context(), unused.ID)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unused client was not removed within 10s (%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.store.Client(t.Context(), kept.ID); err != nil {
		t.Errorf("the pre-registered client was removed: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Housekeep did not stop when its context ended")
	}
}
