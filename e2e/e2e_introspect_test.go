package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestIntrospectionAgainstBuiltInServer: resource servers that check
// tokens by introspection (OAUTH_INTROSPECT=always) against a real
// kanban-mcp running its built-in authorization server, whose RFC 7662
// endpoint they authenticate to with a confidential client the operator
// added (clients add -confidential). The built-in server issues tokens
// for its own resource only (AUTH_EXTRA_RESOURCES, which would let it
// issue them for others, is not built yet), so the resource servers name
// that resource as their audience (OAUTH_AUDIENCE), except the one that
// checks a foreign audience is refused.
func TestIntrospectionAgainstBuiltInServer(t *testing.T) {
	t.Parallel()
	as := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http"})
	out := secCLI(t, as, "", "clients", "add", "-name", "Resource server", "-redirect-uri", "https://rs.example/unused", "-confidential")
	clientID := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if clientID == nil || secret == nil {
		t.Fatalf("clients add printed no client_id and client_secret:\n%s", out)
	}
	resourceServer := func(cacheTTL, audience string) *testServer {
		env := map[string]string{
			"OAUTH_ISSUER":                      as.URL,
			"AUTH_SERVER":                       "off",
			"AUTH_CHALLENGE":                    "http",
			"OAUTH_INTROSPECTION_URL":           as.URL + "/oauth/introspect",
			"OAUTH_INTROSPECTION_CLIENT_ID":     clientID[1],
			"OAUTH_INTROSPECTION_CLIENT_SECRET": secret[1],
			"OAUTH_INTROSPECT":                  "always",
			"INTROSPECTION_CACHE_TTL":           cacheTTL,
		}
		if audience != "" {
			env["OAUTH_AUDIENCE"] = audience
		}
		rs := startServer(t, env)
		if strings.Contains(rs.Log.String(), secret[1]) {
			t.Errorf("the introspection client's secret reached the log")
		}
		return rs
	}
	quick := resourceServer("1s", as.MCP())   // revocations reach it within a second
	patient := resourceServer("1h", as.MCP()) // keeps answers through an outage
	foreign := resourceServer("1h", "")       // expects its own resource as the audience

	access, registered, _ := builtInToken(t, as, "kanban.write")
	unseen, _, _ := builtInToken(t, as, "kanban.write")

	t.Run("active", func(t *testing.T) {
		// The same caller as at the authorization server's own resource.
		want := as.mustCall(t, access, "whoami", nil).Structured
		who := quick.mustCall(t, access, "whoami", nil).Structured
		if str(who, "subject") != str(want, "subject") || str(who, "issuer") != as.URL || str(who, "client_id") != registered ||
			describe(who["scopes"]) != describe(want["scopes"]) {
			t.Errorf("whoami through introspection = %v, want the caller of %v", who, want)
		}
		quick.mustCall(t, access, "create_board", map[string]any{"title": "Checked by introspection"})
		patient.mustCall(t, access, "whoami", nil)
	})
	t.Run("missing scope", func(t *testing.T) {
		resp := quick.call(t, access, "share_board", map[string]any{"board_id": "b_aaaaaaaaaaaaaaaaaaaa", "visibility": "public"})
		if resp.Status != http.StatusForbidden {
			t.Fatalf("share_board with a write token: status %d, want 403; body %s", resp.Status, resp.Body)
		}
		if got := challengeParams(t, resp.Header.Get("WWW-Authenticate")); got["error"] != "insufficient_scope" || got["scope"] != "kanban.admin" {
			t.Errorf("challenge %v, want insufficient_scope for kanban.admin", got)
		}
	})
	t.Run("inactive", func(t *testing.T) {
		checkInvalidToken(t, quick, quick.call(t, "not-a-token-the-server-issued", "whoami", nil))
	})
	t.Run("foreign audience", func(t *testing.T) {
		resp := foreign.call(t, access, "whoami", nil)
		checkInvalidToken(t, foreign, resp)
		if !strings.Contains(challengeParams(t, resp.Header.Get("WWW-Authenticate"))["error_description"], "different audience") {
			t.Errorf("challenge %q does not say the audience is wrong", resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("revoked at the authorization server", func(t *testing.T) {
		secCLI(t, as, "", "grants", "revoke", grantIDOf(t, access))
		// The cached answer lasts at most INTROSPECTION_CACHE_TTL (1 s).
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp := quick.call(t, access, "whoami", nil)
			if resp.Status == http.StatusUnauthorized {
				checkInvalidToken(t, quick, resp)
				break
			}
			if resp.Status != http.StatusOK || time.Now().After(deadline) {
				t.Fatalf("after the grant was revoked: status %d, body %s; want 401 once the cached answer expires", resp.Status, resp.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("authorization server down", func(t *testing.T) {
		as.cancel()
		<-as.finished
		as.finished <- nil // for the cleanup, which waits for it too
		// The answer cached before the outage is served.
		patient.mustCall(t, access, "whoami", nil)
		// A token the server has not seen cannot be checked: 503, so that
		// the client keeps it and retries, never a 401.
		resp := patient.call(t, unseen, "whoami", nil)
		if resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("an unseen token while the issuer is down: status %d, Retry-After %q; want 503 with Retry-After",
				resp.Status, resp.Header.Get("Retry-After"))
		}
	})
}
