package auth

import (
	"context"
	"sync"
)

// DeferredChallenge carries a challenge from the place where a tool's
// declaration is enforced, deep inside mcp-go, out to the HTTP layer, which
// turns it into a 401 or 403 in AUTH_CHALLENGE=http mode. The HTTP layer
// places one in the request context before handing the request to mcp-go
// and reads it after mcp-go has answered; the decision is therefore taken
// from the body that mcp-go parsed, never from a header.
type DeferredChallenge struct {
	mu        sync.Mutex
	set       bool
	status    int
	challenge Challenge
}

type deferredKey struct{}

// WithDeferredChallenge returns a context carrying a new, empty
// DeferredChallenge, and that DeferredChallenge.
func WithDeferredChallenge(ctx context.Context) (context.Context, *DeferredChallenge) {
	d := &DeferredChallenge{}
	return context.WithValue(ctx, deferredKey{}, d), d
}

// DeferredChallengeFrom returns the context's DeferredChallenge, or nil.
func DeferredChallengeFrom(ctx context.Context) *DeferredChallenge {
	d, _ := ctx.Value(deferredKey{}).(*DeferredChallenge)
	return d
}

// Set records that the request must be answered with status and c. The
// first call wins.
func (d *DeferredChallenge) Set(status int, c Challenge) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.set {
		d.set, d.status, d.challenge = true, status, c
	}
}

// Get returns the recorded status and challenge; ok is false when none was
// recorded.
func (d *DeferredChallenge) Get() (status int, c Challenge, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status, d.challenge, d.set
}
