package auth_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

// TestVerifierCacheOfVerifiedTokens checks what the cache of verified
// tokens may and may not do: answer the same token again, never outlive
// the token's exp, never answer for a different token, and never
// remember a refusal.
func TestVerifierCacheOfVerifiedTokens(t *testing.T) {
	iss := testissuer.New(t, testissuer.Options{Alg: "ES256"})
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL, Now: clock})
	waitReady(t, v)

	claims := standardClaims(iss.URL)
	token := iss.Mint(t, claims)
	first, err := v.Verify(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("the same token the second time: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("cached principal differs (-first +second):\n%s", diff)
	}
	// Each caller gets its own copy.
	second.Subject = "changed by a caller"
	if third, _ := v.Verify(t.Context(), token); third.Subject != "user-1" {
		t.Errorf("a caller's change leaked into the cache: subject %q", third.Subject)
	}

	// A token differing in one character is another token: refused.
	tampered := token[:len(token)-2] + flip(token[len(token)-2]) + token[len(token)-1:]
	if _, err := v.Verify(t.Context(), tampered); err == nil {
		t.Error("a tampered copy of a cached token verified")
	}

	// A refused token is refused again (it was not remembered as good).
	expired := iss.Mint(t, withClaims(claims, "exp", time.Now().Add(-time.Hour).Unix()))
	for i := range 2 {
		if _, err := v.Verify(t.Context(), expired); err == nil {
			t.Fatalf("attempt %d: an expired token verified", i+1)
		}
	}

	// Past exp (and the leeway), the cached token is refused like any.
	now.Store(clock().Add(15*time.Minute + auth.Leeway + time.Second).UnixNano())
	_, err = v.Verify(t.Context(), token)
	if te := tokenError(t, err); te.Description == "" {
		t.Errorf("expired cached token: %v", err)
	}
}

func TestVerifierCacheIsBounded(t *testing.T) {
	iss := testissuer.New(t, testissuer.Options{Alg: "ES256"})
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL, CacheEntries: 2})
	waitReady(t, v)
	// More distinct tokens than the cache holds all verify, again and again:
	// a full cache starts over instead of refusing or growing.
	var tokens []string
	for i := range 5 {
		tokens = append(tokens, iss.Mint(t, withClaims(standardClaims(iss.URL), "jti", string(rune('a'+i)))))
	}
	for round := range 2 {
		for i, tok := range tokens {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatalf("round %d, token %d: %v", round, i, err)
			}
		}
	}
}

func withClaims(c testissuer.Claims, kv ...any) testissuer.Claims {
	out := testissuer.Claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}
