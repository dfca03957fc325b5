package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers tokens that verified, so that a client sending the
// same token again costs a hash and a map lookup instead of a signature
// check (SPEC-NOTES §5). It is keyed by the token's SHA-256, never the
// token itself; an entry lives no longer than the token's exp; it holds
// at most max entries. Refused tokens are never remembered, and a cached
// principal is still checked for revocation on every request, by the
// Authenticator.
type tokenCache struct {
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	principal Principal
	expires   time.Time
}

func newTokenCache(maxEntries int, now func() time.Time) *tokenCache {
	return &tokenCache{max: maxEntries, now: now, entries: make(map[[sha256.Size]byte]cachedToken)}
}

// get returns a copy of the principal of a cached, unexpired token.
func (c *tokenCache) get(key [sha256.Size]byte) (*Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	p := e.principal
	return &p, true
}

// put remembers a verified token until its expiry.
func (c *tokenCache) put(key [sha256.Size]byte, p *Principal) {
	if p.ExpiresAt.IsZero() || c.max <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		// Still full of live tokens: start over rather than track use.
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedToken{principal: *p, expires: p.ExpiresAt}
}
