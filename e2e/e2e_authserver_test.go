package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/app"
	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

// TestBuiltInAuthServerFlow runs `go run .`'s default setup (no
// OAUTH_ISSUER: the built-in authorization server, a local demo user)
// through a whole sign-in by plain HTTP, as a browser and a client would:
// registration, sign-in and consent form posts with the CSRF token taken
// from the pages, the code exchange, a tool call with the token, and the
// person's own revocation on /account, after which the next call is
// refused.
func TestBuiltInAuthServerFlow(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http"})
	access, clientID, browser := builtInToken(t, srv, "kanban.write")

	// The token works on the resource server, with exactly the chosen level.
	who := srv.mustCall(t, access, "whoami", nil).Structured
	if str(who, "client_id") != clientID || !strings.Contains(describe(who["scopes"]), "kanban.write") || strings.Contains(describe(who["scopes"]), "kanban.admin") {
		t.Fatalf("whoami = %v", who)
	}
	srv.mustCall(t, access, "create_board", map[string]any{"title": "Signed in"})
	if resp := srv.call(t, access, "share_board", map[string]any{"board_id": "b_x", "visibility": "public"}); resp.Status != http.StatusForbidden {
		t.Errorf("admin tool with a write token: status %d, want 403", resp.Status)
	}

	// The person revokes the connection on /account; the very next call
	// with the token is refused.
	page := fetchPage(t, browser, http.MethodGet, srv.URL+"/account", nil)
	revoke := regexp.MustCompile(`(?s)<form[^>]*action="([^"]*revoke[^"]*)"[^>]*>(.*?)</form>`).FindStringSubmatch(page)
	if revoke == nil {
		t.Fatalf("no revoke form on /account:\n%s", page)
	}
	target, _ := url.Parse(html.UnescapeString(revoke[1]))
	resp := browse(t, browser, http.MethodPost, srv.URL+target.Path, hiddenFields(revoke[2]))
	if resp.Status >= 400 {
		t.Fatalf("revoke on /account: %d %s", resp.Status, resp.Body)
	}
	checkInvalidToken(t, srv, srv.call(t, access, "whoami", nil))
}

// builtInToken runs the whole authorization flow against the built-in
// authorization server over plain HTTP, as an MCP client and a person at a
// browser would: discovery, registration, sign-in as the demo user,
// consent at level, code exchange. It returns the access token, the
// client's ID and the browser (signed in, for /account).
func builtInToken(t *testing.T, srv *testServer, level string) (access, clientID string, browser *http.Client) {
	t.Helper()
	password, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatalf("demo password file: %v\nlog:\n%s", err, srv.Log.String())
	}
	if strings.Contains(srv.Log.String(), strings.TrimSpace(string(password))) {
		t.Fatal("the demo password reached the log")
	}

	// The protected-resource metadata names the built-in issuer, whose
	// metadata names the endpoints.
	var prm struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(t, srv.PRM(), &prm)
	if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != srv.URL {
		t.Fatalf("authorization_servers = %v, want [%s]", prm.AuthorizationServers, srv.URL)
	}
	var meta struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
		Register  string `json:"registration_endpoint"`
	}
	getJSON(t, srv.URL+"/.well-known/oauth-authorization-server", &meta)
	// secConnect and secRegister use these endpoints by their paths.
	want := map[string]string{"authorization_endpoint": srv.URL + "/oauth/authorize", "token_endpoint": srv.URL + "/oauth/token",
		"registration_endpoint": srv.URL + "/oauth/register"}
	got := map[string]string{"authorization_endpoint": meta.Authorize, "token_endpoint": meta.Token, "registration_endpoint": meta.Register}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("authorization server metadata endpoints (-want +got):\n%s", diff)
	}

	// Dynamic client registration, as an MCP client does it; then the
	// browser signs in and chooses level on the consent page, and the
	// client exchanges the code.
	clientID = secRegister(t, srv, "Flow test")
	browser = secBrowser()
	tok := secConnect(t, srv, browser, clientID, "demo", strings.TrimSpace(string(password)), level)
	return tok.Access, clientID, browser
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// hiddenFields collects a page's hidden form fields.
func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// browse sends one request with the browser client (its cookies, no
// redirects followed) and reads the answer.
func browse(t *testing.T, c *http.Client, method, target string, form url.Values) rpcResponse {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rpcResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// fetchPage loads a page with the browser client and returns its HTML; it
// fails on anything but 200.
func fetchPage(t *testing.T, c *http.Client, method, target string, form url.Values) string {
	t.Helper()
	resp := browse(t, c, method, target, form)
	if resp.Status != http.StatusOK {
		t.Fatalf("%s %s: %d\n%s", method, target, resp.Status, resp.Body)
	}
	return string(resp.Body)
}

func getJSON(t *testing.T, target string, v any) {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
}

func postJSON(t *testing.T, target string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(target, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func postForm(t *testing.T, target string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %v", target, resp.StatusCode, m)
	}
	return m
}

func randomVerifier(t *testing.T) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TestDemoUserIsRetiredOffLocal: a database first made by a local run keeps
// its demo user; started as a reachable server, that account is disabled.
func TestDemoUserIsRetiredOffLocal(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "kanban.db")
	local := launchServer(t, testissuerForBuiltIn(t), map[string]string{"OAUTH_ISSUER": "", "DATABASE_URL": dbPath})
	local.cancel()
	<-local.exited

	public := launchServer(t, testissuerForBuiltIn(t), map[string]string{
		"OAUTH_ISSUER": "", "DATABASE_URL": dbPath, "BASE_URL": "https://kanban.example.com",
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(public.Log.String(), "disabled the demo user") {
		if time.Now().After(deadline) {
			t.Fatalf("no demo-user warning; log:\n%s", public.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var out bytes.Buffer
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": dbPath}[k] }
	if code := app.Run(context.Background(), "test", []string{"users", "list"}, getenv, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "disabled") {
		t.Fatalf("users list (exit %d):\n%s", code, out.String())
	}
}

// testissuerForBuiltIn gives launchServer the issuer it wants; with
// OAUTH_ISSUER empty the built-in server is used and this one is ignored.
func testissuerForBuiltIn(t *testing.T) *testissuer.Issuer {
	return testissuer.New(t, testissuer.Options{})
}

// TestCLIRevokesBuiltInGrantsAtOnce: the operator's grant and user
// commands run in another process, beside the server that has already
// answered (and so remembered) the tokens' revocation checks; the very
// next request with each token must be refused all the same.
func TestCLIRevokesBuiltInGrantsAtOnce(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	getenv := func(k string) string { return srv.Env[k] }
	cli := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if code := app.Run(context.Background(), "test", args, getenv, strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("kanban-mcp %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
		}
	}

	first, _, _ := builtInToken(t, srv, "kanban.read")
	second, _, _ := builtInToken(t, srv, "kanban.read")
	for _, tok := range []string{first, second} {
		srv.mustCall(t, tok, "whoami", nil) // the server now remembers: not revoked
	}

	cli("grants", "revoke", grantIDOf(t, first))
	checkInvalidToken(t, srv, srv.call(t, first, "whoami", nil))
	srv.mustCall(t, second, "whoami", nil) // another grant: untouched

	cli("users", "disable", "demo")
	checkInvalidToken(t, srv, srv.call(t, second, "whoami", nil))
}

// grantIDOf reads the grant an access token of the built-in server names.
func grantIDOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	id, _ := claims[auth.GrantIDClaim].(string)
	if id == "" {
		t.Fatalf("token names no grant: %v", claims)
	}
	return id
}
