package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// expiringCache holds what was learnt about tokens, keyed by a token's
// SHA-256 (never the token itself), each entry until its own time. It
// holds at most max entries: past that, a put drops the expired entries,
// then the expendable ones, and if that is not enough, all of them (the
// next uses check again) rather than track use. The verifier's cache of
// verified tokens and the introspector's cache of answers are both one.
type expiringCache[V any] struct {
	max int
	now func() time.Time
	// expendable, when set, names entries to drop before live ones that
	// matter more (the introspector's refusals, so that a flood of made-up
	// tokens cannot push out the answers that keep real callers working
	// through an outage).
	expendable func(V) bool

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]expiring[V]
}

type expiring[V any] struct {
	v     V
	until time.Time
}

func newExpiringCache[V any](maxEntries int, now func() time.Time, expendable func(V) bool) *expiringCache[V] {
	return &expiringCache[V]{max: maxEntries, now: now, expendable: expendable, entries: make(map[[sha256.Size]byte]expiring[V])}
}

// get returns the entry of key while it has not expired.
func (c *expiringCache[V]) get(key [sha256.Size]byte) (V, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put remembers v under key until until; a cache of max 0 or less
// remembers nothing.
func (c *expiringCache[V]) put(key [sha256.Size]byte, v V, until time.Time) {
	if c.max <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if c.expendable != nil {
			for k, e := range c.entries {
				if len(c.entries) < c.max {
					break
				}
				if c.expendable(e.v) {
					delete(c.entries, k)
				}
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = expiring[V]{v: v, until: until}
}

// tokenCache remembers tokens that verified, so that a client sending the
// same token again costs a hash and a map lookup instead of a signature
// check (SPEC-NOTES §5). An entry lives no longer than the token's exp.
// Refused tokens are never remembered, and a cached principal is still
// checked for revocation on every request, by the Authenticator.
type tokenCache struct{ c *expiringCache[Principal] }

func newTokenCache(maxEntries int, now func() time.Time) *tokenCache {
	return &tokenCache{c: newExpiringCache[Principal](maxEntries, now, nil)}
}

// get returns a copy of the principal of a cached, unexpired token.
func (t *tokenCache) get(key [sha256.Size]byte) (*Principal, bool) {
	p, ok := t.c.get(key)
	if !ok {
		return nil, false
	}
	return &p, true
}

// put remembers a verified token until its expiry; one without an expiry
// is not remembered.
func (t *tokenCache) put(key [sha256.Size]byte, p *Principal) {
	if !p.ExpiresAt.IsZero() {
		t.c.put(key, *p, p.ExpiresAt)
	}
}
