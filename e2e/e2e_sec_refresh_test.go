package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefreshNarrowsScope: a refresh that asks for part of the grant gets
// an access token with exactly that part (RFC 6749 §6), in the token's
// scope claim and the answer's scope, and a tool that needs what was left
// out is refused with 403 insufficient_scope. The new refresh token keeps
// the whole grant: a later refresh without scope gets it all back, and a
// refresh asking for more than was granted is invalid_scope.
func TestRefreshNarrowsScope(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http"})
	clientID := secRegister(t, srv, "Narrowing agent")
	full := secConnect(t, srv, secBrowser(), clientID, "demo", hardDemoPassword(t, srv), "kanban.write")
	if full.Scope != "kanban.write kanban.read" {
		t.Fatalf("granted scope %q, want kanban.write kanban.read", full.Scope)
	}

	narrow := secTokensOf(t, secRefresh(t, srv, clientID, full.Refresh, "kanban.read"))
	if narrow.Scope != "kanban.read" {
		t.Errorf("narrowed refresh: answer's scope %q, want kanban.read", narrow.Scope)
	}
	if got := secScopeClaim(t, narrow.Access); got != "kanban.read" {
		t.Errorf("narrowed access token's scope claim %q, want kanban.read", got)
	}
	who := srv.mustCall(t, narrow.Access, "whoami", nil).Structured
	if diff := cmp.Diff([]any{"kanban.read"}, who["scopes"]); diff != "" {
		t.Errorf("whoami scopes with the narrowed token (-want +got):\n%s", diff)
	}
	resp := srv.call(t, narrow.Access, "create_board", map[string]any{"title": "Needs write"})
	if resp.Status != http.StatusForbidden {
		t.Fatalf("create_board with the narrowed token: status %d, want 403; body %s", resp.Status, resp.Body)
	}
	params := challengeParams(t, resp.Header.Get("WWW-Authenticate"))
	delete(params, "error_description")
	if diff := cmp.Diff(map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.write", "error": "insufficient_scope"}, params); diff != "" {
		t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
	}

	// The refresh token that came with the narrowed one is the grant's.
	again := secTokensOf(t, secRefresh(t, srv, clientID, narrow.Refresh, ""))
	if again.Scope != "kanban.write kanban.read" || secScopeClaim(t, again.Access) != "kanban.write kanban.read" {
		t.Errorf("refresh without scope after a narrowed one: scope %q, claim %q; want the whole grant", again.Scope, secScopeClaim(t, again.Access))
	}
	srv.mustCall(t, again.Access, "create_board", map[string]any{"title": "Write again"})

	// A scope naming nothing this server knows asks for the default scopes
	// (as far as the grant holds them), as it would at the authorization
	// endpoint, never for the whole grant.
	unknown := secTokensOf(t, secRefresh(t, srv, clientID, again.Refresh, "email KANBAN.WRITE"))
	if unknown.Scope != "kanban.write kanban.read" || secScopeClaim(t, unknown.Access) != "kanban.write kanban.read" {
		t.Errorf("refresh asking only for unknown scopes: scope %q, claim %q; want the defaults, kanban.write kanban.read", unknown.Scope, secScopeClaim(t, unknown.Access))
	}

	secOAuthError(t, secRefresh(t, srv, clientID, unknown.Refresh, "kanban.admin"), http.StatusBadRequest, "invalid_scope")
}

// secScopeClaim reads the scope claim of an access token of the built-in
// server (whose signature the server itself checks when it is used).
func secScopeClaim(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Scope string `json:"scope"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Scope
}
