package e2e

// Helpers of the e2e_sec_* tests: the built-in authorization server's flow
// by plain HTTP, for any client, user and password, keeping the whole
// token response (the refresh token included).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/app"
)

// secRedirect is the redirect URI of the clients these tests register.
const secRedirect = "http://127.0.0.1:9/callback"

// secRegister registers a public client by DCR under name and returns its
// client_id.
func secRegister(t *testing.T, srv *testServer, name string) string {
	t.Helper()
	reg := postJSON(t, srv.URL+"/oauth/register", map[string]any{
		"client_name": name, "redirect_uris": []string{secRedirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	})
	id, _ := reg["client_id"].(string)
	if id == "" {
		t.Fatalf("registration: %v", reg)
	}
	return id
}

// secBrowser is a fresh browser: its own cookies, redirects not followed.
func secBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// secTokens is a token endpoint answer.
type secTokens struct {
	Access, Refresh, Scope string
}

// secConnect authorizes clientID at level in browser, signing in as user
// with password when the browser has no session, and exchanges the code.
func secConnect(t *testing.T, srv *testServer, browser *http.Client, clientID, user, password, level string) secTokens {
	t.Helper()
	return secConnectFor(t, srv, browser, clientID, user, password, level, srv.MCP())
}

// secConnectFor is secConnect for a token for resource (RFC 8707), which
// may be another server's that srv issues tokens for.
func secConnectFor(t *testing.T, srv *testServer, browser *http.Client, clientID, user, password, level, resource string) secTokens {
	t.Helper()
	verifier := randomVerifier(t)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {secRedirect},
		"scope": {level}, "state": {"sec-state"}, "resource": {resource},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	page := fetchPage(t, browser, http.MethodGet, srv.URL+"/oauth/authorize?"+q.Encode(), nil)
	if strings.Contains(page, `name="password"`) {
		form := hiddenFields(page)
		form.Set("username", user)
		form.Set("password", password)
		page = fetchPage(t, browser, http.MethodPost, srv.URL+"/oauth/authorize", form)
	}
	if !strings.Contains(page, `name="level"`) {
		t.Fatalf("no consent page:\n%s", page)
	}
	form := hiddenFields(page)
	form.Set("level", level)
	form.Set("decision", "allow")
	resp := browse(t, browser, http.MethodPost, srv.URL+"/oauth/authorize", form)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Status != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("consent answered %d Location %q", resp.Status, resp.Header.Get("Location"))
	}
	if loc.Query().Get("state") != "sec-state" || loc.Query().Get("iss") != srv.URL {
		t.Errorf("redirect %s lacks the state or the iss (RFC 9207)", loc)
	}
	tok := postForm(t, srv.URL+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {secRedirect},
		"client_id": {clientID}, "code_verifier": {verifier}, "resource": {resource},
	})
	got := secTokens{}
	got.Access, _ = tok["access_token"].(string)
	got.Refresh, _ = tok["refresh_token"].(string)
	got.Scope, _ = tok["scope"].(string)
	if got.Access == "" || got.Refresh == "" {
		t.Fatalf("token response: %v", tok)
	}
	return got
}

// secRefresh sends a refresh request (scope "" leaves the parameter out)
// and returns the raw answer.
func secRefresh(t *testing.T, srv *testServer, clientID, refresh, scope string) rpcResponse {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return hardForm(t, hardClient, srv.URL+"/oauth/token", form, "", "")
}

// secTokensOf decodes a successful token answer.
func secTokensOf(t *testing.T, r rpcResponse) secTokens {
	t.Helper()
	var body struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
		Scope   string `json:"scope"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &body) != nil || body.Access == "" {
		t.Fatalf("token answer %d %s, want 200 with tokens", r.Status, r.Body)
	}
	return secTokens{Access: body.Access, Refresh: body.Refresh, Scope: body.Scope}
}

// secOAuthError asserts an OAuth error answer of status and code.
func secOAuthError(t *testing.T, r rpcResponse, status int, code string) {
	t.Helper()
	var body map[string]any
	if r.Status != status || json.Unmarshal(r.Body, &body) != nil || body["error"] != code {
		t.Fatalf("answer %d %s, want %d with error %q", r.Status, r.Body, status, code)
	}
}

// secCLI runs an operator command against srv's database, as a separate
// invocation beside the running server, and returns its output.
func secCLI(t *testing.T, srv *testServer, stdin string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	getenv := func(k string) string { return srv.Env[k] }
	if code := app.Run(context.Background(), "test", args, getenv, strings.NewReader(stdin), &out, &out); code != 0 {
		t.Fatalf("kanban-mcp %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
	return out.String()
}

// addConfidentialClient adds a confidential client at srv with the
// operator's CLI (clients add -confidential) and returns the client ID and
// the secret it printed once.
func addConfidentialClient(t *testing.T, srv *testServer, name, redirectURI string) (clientID, secret string) {
	t.Helper()
	out := secCLI(t, srv, "", "clients", "add", "-name", name, "-redirect-uri", redirectURI, "-confidential")
	id := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	sec := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if id == nil || sec == nil {
		t.Fatalf("clients add printed no client_id and client_secret:\n%s", out)
	}
	return id[1], sec[1]
}
