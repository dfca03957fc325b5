package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// TestIntrospectionAgainstBuiltInServer: resource servers that check
// tokens by introspection (OAUTH_INTROSPECT=always) against a real
// kanban-mcp running its built-in authorization server, which lists their
// resources in AUTH_EXTRA_RESOURCES and so issues tokens for them (RFC
// 8707): one sign-in there serves them all. They authenticate to its RFC
// 7662 endpoint with a confidential client the operator added (clients add
// -confidential).
func TestIntrospectionAgainstBuiltInServer(t *testing.T) {
	t.Parallel()
	// The resource servers' addresses are fixed first: the authorization
	// server's configuration names their resources.
	type planned struct {
		port int
		url  string
	}
	plan := func() planned {
		port := freePort(t)
		return planned{port, "http://localhost:" + strconv.Itoa(port)}
	}
	quickAt, patientAt, strangerAt := plan(), plan(), plan()
	as := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http",
		"AUTH_EXTRA_RESOURCES": quickAt.url + "/mcp," + patientAt.url + "/mcp"})
	clientID, secret := addConfidentialClient(t, as, "Resource server", "https://rs.example/unused")
	resourceServer := func(at planned, cacheTTL string) *testServer {
		return startServerOn(t, at.port, testissuer.New(t, testissuer.Options{}), map[string]string{
			"OAUTH_ISSUER":                      as.URL,
			"AUTH_SERVER":                       "off",
			"AUTH_CHALLENGE":                    "http",
			"OAUTH_INTROSPECTION_URL":           as.URL + "/oauth/introspect",
			"OAUTH_INTROSPECTION_CLIENT_ID":     clientID,
			"OAUTH_INTROSPECTION_CLIENT_SECRET": secret,
			"OAUTH_INTROSPECT":                  "always",
			"INTROSPECTION_CACHE_TTL":           cacheTTL,
		})
	}
	quick := resourceServer(quickAt, "1s")       // revocations reach it within a second
	patient := resourceServer(patientAt, "1h")   // keeps answers through an outage
	stranger := resourceServer(strangerAt, "1h") // not in AUTH_EXTRA_RESOURCES

	password, err := os.ReadFile(filepath.Join(filepath.Dir(as.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatal(err)
	}
	registered := secRegister(t, as, "Introspected client")
	tokenFor := func(rs *testServer) string {
		return secConnectFor(t, as, secBrowser(), registered, "demo", strings.TrimSpace(string(password)), string(tools.CreateBoard().Requires.Scope), rs.MCP()).Access
	}
	access, forPatient, unseen := tokenFor(quick), tokenFor(patient), tokenFor(patient)
	// Nothing secret reaches any server's log, whatever the subtests did.
	t.Cleanup(func() {
		for _, srv := range []*testServer{as, quick, patient, stranger} {
			for name, secretValue := range map[string]string{"client secret": secret, "access token": access, "unseen token": unseen} {
				if strings.Contains(srv.Log.String(), secretValue) {
					t.Errorf("the %s reached the log of %s", name, srv.URL)
				}
			}
		}
	})

	t.Run("active", func(t *testing.T) {
		// The same caller as a token for the authorization server's own
		// resource names.
		want := as.mustCall(t, tokenFor(as), "whoami", nil).Structured
		who := quick.mustCall(t, access, "whoami", nil).Structured
		if str(who, "subject") != str(want, "subject") || str(who, "issuer") != as.URL || str(who, "client_id") != registered ||
			describe(who["scopes"]) != describe(want["scopes"]) {
			t.Errorf("whoami through introspection = %v, want the caller of %v", who, want)
		}
		quick.mustCall(t, access, "create_board", map[string]any{"title": "Checked by introspection"})
		patient.mustCall(t, forPatient, "whoami", nil)
	})
	t.Run("missing scope", func(t *testing.T) {
		resp := quick.call(t, access, "share_board", map[string]any{"board_id": "b_aaaaaaaaaaaaaaaaaaaa", "visibility": "public"})
		if resp.Status != http.StatusForbidden {
			t.Fatalf("share_board with a write token: status %d, want 403; body %s", resp.Status, resp.Body)
		}
		need := string(tools.ShareBoard().Requires.Scope)
		if got := challengeParams(t, resp.Header.Get("WWW-Authenticate")); got["error"] != "insufficient_scope" || got["scope"] != need {
			t.Errorf("challenge %v, want insufficient_scope for %s", got, need)
		}
	})
	t.Run("inactive", func(t *testing.T) {
		checkInvalidToken(t, quick, quick.call(t, "not-a-token-the-server-issued", "whoami", nil))
	})
	t.Run("another server's token", func(t *testing.T) {
		// A token for quick is refused by patient, and the authorization
		// server's own resource refuses both.
		for _, tc := range []struct {
			rs    *testServer
			token string
		}{{patient, access}, {stranger, access}, {as, access}, {as, forPatient}} {
			resp := tc.rs.call(t, tc.token, "whoami", nil)
			checkInvalidToken(t, tc.rs, resp)
			if !strings.Contains(challengeParams(t, resp.Header.Get("WWW-Authenticate"))["error_description"], "different audience") {
				t.Errorf("%s: challenge %q does not say the audience is wrong", tc.rs.URL, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("a resource the authorization server does not serve", func(t *testing.T) {
		q := url.Values{"response_type": {"code"}, "client_id": {registered}, "redirect_uri": {secRedirect}, "scope": {string(tools.ListBoards().Requires.Scope)},
			"state": {"s"}, "resource": {stranger.MCP()}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
		resp := browse(t, secBrowser(), http.MethodGet, as.URL+"/oauth/authorize?"+q.Encode(), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.Status != http.StatusFound || loc == nil || loc.Query().Get("error") != "invalid_target" {
			t.Errorf("authorize for %s: %d Location %q, want a redirect with invalid_target", stranger.MCP(), resp.Status, resp.Header.Get("Location"))
		}
	})
	t.Run("revoked at the authorization server", func(t *testing.T) {
		secCLI(t, as, "", "grants", "revoke", grantIDOf(t, access))
		waitRefused(t, quick, access)
	})
	t.Run("authorization server down", func(t *testing.T) {
		as.cancel()
		<-as.finished
		as.finished <- nil // for the cleanup, which waits for it too
		// The answer cached before the outage is served.
		patient.mustCall(t, forPatient, "whoami", nil)
		// A token the server has not seen cannot be checked: 503, so that
		// the client keeps it and retries, never a 401.
		resp := patient.call(t, unseen, "whoami", nil)
		if resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("an unseen token while the issuer is down: status %d, Retry-After %q; want 503 with Retry-After",
				resp.Status, resp.Header.Get("Retry-After"))
		}
	})
}

// TestReferenceTokensEndToEnd: with AUTH_TOKEN_FORMAT=reference the
// built-in authorization server hands out opaque access tokens. Its own
// resource looks them up; another MCP server, in the default
// OAUTH_INTROSPECT=auto, introspects them because they are not JWTs; and
// a revocation at the authorization server reaches both.
func TestReferenceTokensEndToEnd(t *testing.T) {
	t.Parallel()
	rsPort := freePort(t)
	rsURL := "http://localhost:" + strconv.Itoa(rsPort)
	as := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http",
		"AUTH_TOKEN_FORMAT": "reference", "AUTH_EXTRA_RESOURCES": rsURL + "/mcp"})
	clientID, secret := addConfidentialClient(t, as, "Resource server", "https://rs.example/unused")
	rs := startServerOn(t, rsPort, testissuer.New(t, testissuer.Options{}), map[string]string{
		"OAUTH_ISSUER": as.URL, "AUTH_SERVER": "off", "AUTH_CHALLENGE": "http",
		"OAUTH_INTROSPECTION_URL": as.URL + "/oauth/introspect", "OAUTH_INTROSPECTION_CLIENT_ID": clientID,
		"OAUTH_INTROSPECTION_CLIENT_SECRET": secret, "INTROSPECTION_CACHE_TTL": "1s",
	})
	password, err := os.ReadFile(filepath.Join(filepath.Dir(as.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatal(err)
	}
	client := secRegister(t, as, "Reference client")
	connect := func(srv *testServer) string {
		tok := secConnectFor(t, as, secBrowser(), client, "demo", strings.TrimSpace(string(password)), string(tools.CreateBoard().Requires.Scope), srv.MCP()).Access
		if strings.Count(tok, ".") == 2 {
			t.Fatalf("the access token for %s is a JWT, want a reference token", srv.URL)
		}
		return tok
	}
	own, other := connect(as), connect(rs)

	ownWho := as.mustCall(t, own, "whoami", nil).Structured
	otherWho := rs.mustCall(t, other, "whoami", nil).Structured
	if str(ownWho, "subject") == "" || str(ownWho, "subject") != str(otherWho, "subject") || str(otherWho, "client_id") != client {
		t.Errorf("whoami: at the authorization server %v, through introspection %v; want the same person and client", ownWho, otherWho)
	}
	// Each token works only where it is meant to.
	checkInvalidToken(t, as, as.call(t, other, "whoami", nil))
	checkInvalidToken(t, rs, rs.call(t, own, "whoami", nil))

	// The client revokes its token for the other server (RFC 7009), which
	// ends that grant: the token stops there within the cache TTL; the
	// first one, another grant, stands.
	resp := browse(t, secBrowser(), http.MethodPost, as.URL+"/oauth/revoke", url.Values{"token": {other}, "client_id": {client}})
	if resp.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	waitRefused(t, rs, other)
	as.mustCall(t, own, "whoami", nil)
}

// waitRefused waits until rs refuses token whose grant was revoked at the
// authorization server: at once, or once rs's cached introspection answer
// (INTROSPECTION_CACHE_TTL, 1 s in these tests) has expired. Until then
// the token must still work; the refusal must be a proper 401.
func waitRefused(t *testing.T, rs *testServer, token string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp := rs.call(t, token, "whoami", nil)
		if resp.Status == http.StatusUnauthorized {
			checkInvalidToken(t, rs, resp)
			return
		}
		if resp.Status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("after the grant was revoked: status %d, body %s; want 401 once the cached answer expires", resp.Status, resp.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
