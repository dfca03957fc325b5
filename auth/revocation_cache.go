package auth

import (
	"context"
	"sync"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// CachedRevocations answers revocation checks from memory, so that the
// check every request needs costs a map lookup instead of SQL. version
// must return a number that changes whenever any revocation changes, in
// this process or another (sqldb.DB.RevocationVersion does, on SQLite and PostgreSQL); the whole
// cache is dropped when it does, so a revocation binds from the next
// request. A failing version or check is never cached and fails closed.
// The cache holds at most maxEntries principals; when full it starts over.
// m counts its hits and misses (nil counts nothing).
func CachedRevocations(inner RevocationChecker, version func() (uint64, error), maxEntries int, m *metrics.Auth) RevocationChecker {
	return &revocationCache{inner: inner, version: version, max: max(1, maxEntries), answers: make(map[revocationKey]bool), metrics: m}
}

type revocationCache struct {
	inner   RevocationChecker
	version func() (uint64, error)
	max     int
	metrics *metrics.Auth

	mu      sync.RWMutex
	current uint64 // the version the answers belong to
	answers map[revocationKey]bool
}

// revocationKey is everything a revocation decision depends on.
type revocationKey struct {
	issuer, subject, clientID, grantID string
}

func (c *revocationCache) Revoked(ctx context.Context, p *Principal) (bool, error) {
	if p == nil {
		return c.inner.Revoked(ctx, p)
	}
	v, err := c.version()
	if err != nil {
		return false, err
	}
	key := revocationKey{p.Issuer, p.Subject, p.ClientID, p.GrantID}
	c.mu.RLock()
	revoked, hit := c.answers[key]
	hit = hit && c.current == v
	c.mu.RUnlock()
	c.metrics.CacheLookup(metrics.CacheRevocation, hit)
	if hit {
		return revoked, nil
	}

	revoked, err = c.inner.Revoked(ctx, p)
	if err != nil {
		return revoked, err
	}
	c.mu.Lock()
	if c.current != v {
		// Revocations changed since the answers were gathered: start over.
		// An answer gathered under an older version than the cache's is
		// dropped, and one gathered before a later change is dropped with
		// its version at the next request.
		if v < c.current {
			c.mu.Unlock()
			return revoked, nil
		}
		clear(c.answers)
		c.current = v
	}
	if len(c.answers) >= c.max {
		clear(c.answers)
	}
	c.answers[key] = revoked
	c.mu.Unlock()
	return revoked, nil
}
