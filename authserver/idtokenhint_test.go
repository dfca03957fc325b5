package authserver

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPagesIDTokenHint: an id_token_hint that this server issued to the
// client names the user the client expects. The session of that user is
// used; anyone else's is not: the person signs in afresh, with the named
// user's name filled in (prompt=none gets login_required). A hint that is
// not such an ID token (garbage, another client's, an access token) is an
// invalid_request; an expired one is still a hint.
func TestPagesIDTokenHint(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	ctx := t.Context()
	idToken := func(subject, clientID string, issuedAt time.Time) string {
		t.Helper()
		tok, err := MintIDToken(ctx, e.keys, IDTokenSpec{Issuer: e.issuer, Subject: subject, ClientID: clientID, IssuedAt: issuedAt, Lifetime: 5 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	b := e.browser()
	// Alice connects and remembers her consent.
	grant := e.redeem(b.connect(e.params(map[string]string{"scope": "kanban.write"}), "alice", scopeWrite), ptRedirect)

	t.Run("the signed-in user is the named one", func(t *testing.T) {
		p := b.authorize(e.params(map[string]string{"scope": "kanban.write", "id_token_hint": idToken(e.alice.Subject, e.client.ID, e.clock.Now())}))
		if q := ptRedirectQueryOf(t, p, ptRedirect); q.Get("code") == "" {
			t.Errorf("hint for the signed-in user: %v, want a code (remembered consent)", q)
		}
	})
	t.Run("an expired hint still names the user", func(t *testing.T) {
		old := idToken(e.alice.Subject, e.client.ID, e.clock.Now().Add(-48*time.Hour))
		p := b.authorize(e.params(map[string]string{"scope": "kanban.write", "id_token_hint": old}))
		if q := ptRedirectQueryOf(t, p, ptRedirect); q.Get("code") == "" {
			t.Errorf("expired hint for the signed-in user: %v, want a code", q)
		}
	})
	t.Run("another user is named: sign in afresh", func(t *testing.T) {
		p := b.authorize(e.params(map[string]string{"scope": "kanban.write", "id_token_hint": idToken(e.bob.Subject, e.client.ID, e.clock.Now())}))
		if p.status != http.StatusOK || !isSignInPage(p) {
			t.Fatalf("hint for bob while alice is signed in: status %d, want the sign-in page", p.status)
		}
		if !strings.Contains(p.body, `value="bob"`) {
			t.Errorf("the sign-in page does not start with bob's name:\n%s", p.body)
		}
		// Signing in goes on to the consent page: the hint forces a fresh
		// sign-in once, it does not loop.
		if after := b.signIn(p, "bob"); !isConsentPage(after) {
			t.Errorf("after signing in as bob: status %d, want the consent page", after.status)
		}
		p = b.authorize(e.params(map[string]string{"scope": "kanban.write", "prompt": "none", "id_token_hint": idToken(e.alice.Subject, e.client.ID, e.clock.Now())}))
		if q := ptRedirectQueryOf(t, p, ptRedirect); q.Get("error") != "login_required" {
			t.Errorf("prompt=none with a hint for alice while bob is signed in: %v, want login_required", q)
		}
	})
	other := e.registerClient("Other App", "https://other.example/callback")
	// An access token of the same user, signed by the same keys.
	access, _, err := MintAccessToken(ctx, e.keys, AccessTokenSpec{Issuer: e.issuer, Grant: grant})
	if err != nil {
		t.Fatal(err)
	}
	for name, hint := range map[string]string{
		"garbage":              "not-a-jwt",
		"another client's":     idToken(e.alice.Subject, other.ID, e.clock.Now()),
		"an access token":      access,
		"a tampered signature": idToken(e.alice.Subject, e.client.ID, e.clock.Now()) + "x",
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			p := b.authorize(e.params(map[string]string{"id_token_hint": hint}))
			if q := ptRedirectQueryOf(t, p, ptRedirect); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "id_token_hint") {
				t.Errorf("hint %s: %v, want invalid_request about id_token_hint", name, q)
			}
		})
	}
}
