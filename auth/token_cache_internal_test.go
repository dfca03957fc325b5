package auth

import (
	"crypto/sha256"
	"testing"
	"time"
)

// TestExpiringCacheDropsInOrder: a full cache makes room by dropping the
// expired entries first, then the expendable ones, and only then all; an
// entry is served until its own time.
func TestExpiringCacheDropsInOrder(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	key := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	type verdict struct {
		name    string
		refusal bool
	}
	has := func(c *expiringCache[verdict], names ...string) map[string]bool {
		got := map[string]bool{}
		for _, n := range names {
			_, got[n] = c.get(key(n))
		}
		return got
	}
	c := newExpiringCache(3, clock, func(v verdict) bool { return v.refusal })
	c.put(key("old"), verdict{name: "old"}, now.Add(time.Second))
	c.put(key("active"), verdict{name: "active"}, now.Add(time.Hour))
	c.put(key("refused"), verdict{name: "refused", refusal: true}, now.Add(time.Hour))
	now = now.Add(2 * time.Second) // "old" expires
	if got := has(c, "old", "active", "refused"); got["old"] || !got["active"] || !got["refused"] {
		t.Fatalf("before the cache fills: %v", got)
	}

	// Full: the expired entry makes room; nothing live goes.
	c.put(key("second"), verdict{name: "second"}, now.Add(time.Hour))
	if got := has(c, "active", "refused", "second"); !got["active"] || !got["refused"] || !got["second"] {
		t.Errorf("after dropping the expired entry: %v, want every live one", got)
	}
	// Full of live entries: the refusal goes, the active answers stay.
	c.put(key("third"), verdict{name: "third"}, now.Add(time.Hour))
	if got := has(c, "active", "refused", "second", "third"); got["refused"] || !got["active"] || !got["second"] || !got["third"] {
		t.Errorf("after dropping the refusal: %v, want the three active answers", got)
	}
	// Full of what matters: everything goes, then the new one is kept.
	c.put(key("fourth"), verdict{name: "fourth"}, now.Add(time.Hour))
	if got := has(c, "active", "second", "third", "fourth"); got["active"] || got["second"] || got["third"] || !got["fourth"] {
		t.Errorf("after starting over: %v, want only the newest", got)
	}
	// Off: a cache of no entries keeps nothing.
	off := newExpiringCache[verdict](0, clock, nil)
	off.put(key("x"), verdict{}, now.Add(time.Hour))
	if _, ok := off.get(key("x")); ok {
		t.Error("a cache of max 0 kept an entry")
	}
}
