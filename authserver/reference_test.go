package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// TestReferenceTokens: with TokenFormatReference the token endpoint hands
// out opaque access tokens, which our own resource looks up, introspection
// reads, revocation ends, and which expire and are pruned like the rest.
func TestReferenceTokens(t *testing.T) {
	e := newEPEnv(t, func(o *ServerOptions) { o.TokenFormat = TokenFormatReference })
	public := e.publicClient(t)
	rs, rsSecret := mustRegister(t, e.store, RegistrationRequest{
		RedirectURIs: []string{epRedirect}, TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, ClientName: "Resource server",
	}, SourcePreregistered)
	introspect := func(tok string) map[string]any {
		t.Helper()
		r := e.postForm(t, PathIntrospect, url.Values{"token": {tok}}, withBasic(rs.ID, rsSecret))
		if r.Status != http.StatusOK {
			t.Fatalf("introspect: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)
	}

	tok := e.connect(t, public.ID, epAuthz{})
	if !strings.HasPrefix(tok.AccessToken, ReferenceTokenPrefix) || strings.Contains(tok.AccessToken, ".") {
		t.Fatalf("access token %q is not a reference token", tok.AccessToken)
	}

	// Our own resource looks it up: the caller a JWT would name.
	p, err := e.srv.ReferenceTokens().Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Issuer != e.issuer || p.Subject != e.alice.Subject || p.ClientID != public.ID || p.GrantID == "" ||
		strings.Join(p.Scopes, " ") != tok.Scope || !p.ExpiresAt.After(e.clock.Now()) {
		t.Errorf("principal %+v does not name the grant of the token answer %+v", p, tok)
	}
	want := map[string]any{"active": true, "scope": tok.Scope, "client_id": public.ID, "sub": e.alice.Subject,
		"aud": e.resource, "iss": e.issuer, "exp": float64(p.ExpiresAt.Unix()), "token_type": "Bearer"}
	if diff := cmp.Diff(want, introspect(tok.AccessToken)); diff != "" {
		t.Errorf("introspection (-want +got):\n%s", diff)
	}
	for _, bad := range []string{ReferenceTokenPrefix + "made-up", "no-prefix", tok.RefreshToken} {
		var te *auth.TokenError
		if _, err := e.srv.ReferenceTokens().Verify(t.Context(), bad); !errors.As(err, &te) {
			t.Errorf("Verify(%q) = %v, want a TokenError", bad, err)
		}
		if got := introspect(bad); got["active"] != false {
			t.Errorf("introspect(%q) = %v, want inactive", bad, got)
		}
	}

	// Revoking the access token ends its grant: the revocation check
	// refuses it, introspection says inactive.
	if r := e.postForm(t, PathRevoke, revokeForm(public.ID, tok.AccessToken, "")); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if revoked, err := e.grants.RevocationChecker(e.issuer).Revoked(t.Context(), p); err != nil || !revoked {
		t.Errorf("after revocation: Revoked = %v, %v; want true", revoked, err)
	}
	if got := introspect(tok.AccessToken); got["active"] != false {
		t.Errorf("introspection after revocation = %v, want inactive", got)
	}

	// Another token expires with the access-token lifetime, and is pruned.
	second := e.connect(t, public.ID, epAuthz{})
	e.clock.Advance(e.srv.opts.AccessTokenLifetime + time.Second)
	var te *auth.TokenError
	if _, err := e.srv.ReferenceTokens().Verify(t.Context(), second.AccessToken); !errors.As(err, &te) {
		t.Errorf("Verify of an expired token = %v, want a TokenError", err)
	}
	if got := introspect(second.AccessToken); got["active"] != false {
		t.Errorf("introspection of an expired token = %v, want inactive", got)
	}
	if _, err := e.grants.PruneExpired(t.Context()); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := e.store.db.Reader.QueryRowContext(t.Context(), `SELECT count(*) FROM reference_tokens`).Scan(&left); err != nil || left != 0 {
		t.Errorf("after pruning: %d reference tokens left (%v), want 0", left, err)
	}
}

// TestOwnTokensOfEveryResource: the server's own endpoints (userinfo,
// introspection, revocation) take a token it issued for any of its
// resources alike, whether a JWT or a reference token, while its resource
// server takes only tokens for its own resource.
func TestOwnTokensOfEveryResource(t *testing.T) {
	const other = "https://reports.example/mcp"
	for _, format := range []string{TokenFormatJWT, TokenFormatReference} {
		t.Run(format, func(t *testing.T) {
			e := newEPEnv(t, func(o *ServerOptions) { o.TokenFormat = format; o.ExtraResources = []string{other} })
			public := e.publicClient(t)
			rs, rsSecret := mustRegister(t, e.store, RegistrationRequest{
				RedirectURIs: []string{epRedirect}, TokenEndpointAuthMethod: AuthMethodClientSecretBasic,
				GrantTypes: []string{GrantAuthorizationCode}, ClientName: "Resource server",
			}, SourcePreregistered)
			tok := e.connect(t, public.ID, epAuthz{scope: []string{"kanban.read", ScopeOpenID}, resource: other})

			if r := e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok.AccessToken)); r.Status != http.StatusOK {
				t.Errorf("userinfo with a token for %s: %d %s", other, r.Status, r.Body)
			}
			r := e.postForm(t, PathIntrospect, url.Values{"token": {tok.AccessToken}}, withBasic(rs.ID, rsSecret))
			if got := r.JSON(t); got["active"] != true || got["aud"] != other {
				t.Errorf("introspection: %v, want active for %s", got, other)
			}
			if format == TokenFormatReference {
				if _, err := e.srv.ReferenceTokens().Verify(t.Context(), tok.AccessToken); err == nil {
					t.Errorf("the resource server of %s took a reference token for %s", e.resource, other)
				}
			}
			// The client revokes it like a token for the own resource.
			if r := e.postForm(t, PathRevoke, url.Values{"token": {tok.AccessToken}, "client_id": {public.ID}}); r.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			if r := e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok.AccessToken)); r.Status != http.StatusUnauthorized {
				t.Errorf("userinfo after the revocation: %d, want 401", r.Status)
			}
		})
	}
}
