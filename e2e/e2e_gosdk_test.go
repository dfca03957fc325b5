package e2e

// TestGoSDKOAuthFlow connects the official MCP Go SDK
// (github.com/modelcontextprotocol/go-sdk), an independent client
// implementation, to a real kanban-mcp running its built-in authorization
// server. The SDK does everything a spec client does by itself: discovery,
// dynamic client registration, PKCE, the authorization request, the code
// exchange, step-up on insufficient_scope and the refresh. The test plays
// only the person at the browser: it signs in and consents with plain HTTP
// form posts (the CSRF token taken from the served page), and revokes the
// connection on /account. An HTTP recorder between the SDK and the server
// lets every step be asserted exactly.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/kanban-mcp/kanban-mcp/tools"
)

// sdkRedirectURI is the SDK client's registered redirect URI: a native
// app's loopback callback. Nothing listens there; the browser stand-in
// reads the code from the Location header instead of following it.
const sdkRedirectURI = "http://127.0.0.1:9/callback"

func TestGoSDKOAuthFlow(t *testing.T) {
	t.Parallel()
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		testGoSDKHTTPChallenge(t)
	})
	t.Run("tool-result", func(t *testing.T) {
		t.Parallel()
		testGoSDKToolResultChallenge(t)
	})
	t.Run("plain connect", func(t *testing.T) {
		t.Parallel()
		testGoSDKPlainConnect(t)
	})
}

// testGoSDKPlainConnect: a client that connects before any tool asks for a
// scope (a host's "connect" button) has no scope from a challenge, so the
// SDK requests the protected resource metadata's scopes_supported (MCP
// 2026-07-28): the default scopes, never a sensitive one. The person sees
// the defaults offered with the most powerful of them chosen.
func testGoSDKPlainConnect(t *testing.T) {
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "http"})
	ctx := t.Context()
	c := newSDKClient(t, srv)
	// What the server answers a call without a token on a tool that needs
	// none in particular: resource_metadata, no scope.
	c.authorizeFromMeta(t, ctx, `Bearer resource_metadata="`+srv.PRM()+`"`)

	defaults := defaultScopes()
	for _, d := range tools.Scopes() {
		if d.Default && d.Sensitive {
			t.Errorf("scope %s is both a default and sensitive: a plain connect would ask for what the person must tick", d.Name)
		}
	}
	slices.Sort(defaults)
	round := c.checkAuthorization(t, "", 0, nil, defaults)
	cs := c.connect(t, ctx)
	defer cs.Close()
	c.rec.take()
	who := c.whoami(t, ctx, cs)
	if diff := cmp.Diff(c.whoamiWant(round.ClientID, defaults...), who); diff != "" {
		t.Errorf("whoami after a plain connect (-want +got):\n%s", diff)
	}
}

// testGoSDKHTTPChallenge: AUTH_CHALLENGE unset (auto), where the SDK reacts to 401
// and 403 by itself.
func testGoSDKHTTPChallenge(t *testing.T) {
	// No AUTH_CHALLENGE at all: auto, the default, answers the SDK with HTTP
	// challenges.
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": ""})
	ctx := t.Context()

	// 1. Anonymous: a session without an OAuth handler lists the tools.
	anonRec := newHTTPRecorder()
	anon, err := mcp.NewClient(&mcp.Implementation{Name: "kanban-e2e-anonymous", Version: "1.0.0"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.MCP(), HTTPClient: anonRec.client()}, nil)
	if err != nil {
		t.Fatalf("anonymous Connect: %v\nlog:\n%s", err, srv.Log.String())
	}
	defer anon.Close()
	checkToolList(t, ctx, anon)
	for _, ex := range anonRec.take() {
		if ex.Auth != "" || ex.Status >= 400 {
			t.Errorf("anonymous connect/list: %s answered %d with Authorization %q", ex.Request, ex.Status, ex.Auth)
		}
	}

	// 2. A protected call without a token: the server answers HTTP 401
	// with an empty body, which the SDK (with no OAuth handler to call)
	// surfaces as the transport error "sending \"tools/call\": Unauthorized"
	// and which breaks the session for good.
	searchArgs := map[string]any{"query": "board"}
	_, err = anon.CallTool(ctx, &mcp.CallToolParams{Name: "search_cards", Arguments: searchArgs})
	if want := `calling "tools/call": sending "tools/call": Unauthorized`; err == nil || err.Error() != want {
		t.Fatalf("anonymous search_cards: err = %v, want the SDK's transport error for HTTP 401: %s", err, want)
	}
	anonCalls := anonRec.take()
	if diff := cmp.Diff([]string{"POST /mcp tools/call search_cards -> 401"}, exchangeSummaries(anonCalls)); diff != "" {
		t.Fatalf("anonymous protected call, HTTP exchanges (-want +got):\n%s", diff)
	}
	readChallenge := map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.read"}
	if diff := cmp.Diff(readChallenge, challengeParams(t, anonCalls[0].Challenge)); diff != "" {
		t.Errorf("401 challenge seen by the SDK (-want +got):\n%s", diff)
	}
	if _, err := anon.ListTools(ctx, nil); !errors.Is(err, mcp.ErrConnectionClosed) {
		t.Errorf("ListTools after the 401: err = %v, want mcp.ErrConnectionClosed (the SDK v1.8.0 closes the session)", err)
	}
	// The same request, raw, for precision.
	raw := srv.call(t, "", "search_cards", searchArgs)
	if raw.Status != http.StatusUnauthorized || len(raw.Body) != 0 {
		t.Fatalf("raw anonymous search_cards: %d %q, want 401 with an empty body", raw.Status, raw.Body)
	}
	if diff := cmp.Diff(readChallenge, challengeParams(t, raw.Header.Get("WWW-Authenticate"))); diff != "" {
		t.Errorf("raw 401 WWW-Authenticate (-want +got):\n%s", diff)
	}

	// A session with the SDK's authorization-code handler: DCR, and the
	// test as the person at the browser.
	c := newSDKClient(t, srv)
	cs := c.connect(t, ctx)
	defer cs.Close()
	for _, ex := range c.rec.take() {
		if ex.Auth != "" || ex.Status != http.StatusOK || !strings.HasPrefix(ex.Request, "POST /mcp ") {
			t.Errorf("connect: %s -> %d with Authorization %q; want anonymous MCP requests that succeed", ex.Request, ex.Status, secretPrefix(ex.Auth))
		}
	}

	// 2–7. The first protected call: 401, then the SDK discovers, registers,
	// has the person authorize, exchanges the code, and retries.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_cards", Arguments: searchArgs})
	if err != nil {
		t.Fatalf("search_cards through the SDK: %v\nlog:\n%s", err, srv.Log.String())
	}
	checkToolOK(t, "search_cards", res)
	first := c.checkAuthorization(t, "search_cards", http.StatusUnauthorized, readChallenge, []string{"kanban.read"})
	who := c.whoami(t, ctx, cs)
	if diff := cmp.Diff(c.whoamiWant(first.ClientID, "kanban.read"), who); diff != "" {
		t.Errorf("whoami after sign-in (-want +got):\n%s", diff)
	}
	c.callOK(t, ctx, cs, "list_boards", nil)

	// 8. A write call with the read token: 403 insufficient_scope. The SDK
	// steps up by itself: a new authorization for the union of what it holds
	// and what the challenge asks for, which the person approves at "write".
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "create_board", Arguments: map[string]any{"title": "Stepped up"}})
	if err != nil {
		t.Fatalf("create_board through the SDK: %v\nlog:\n%s", err, srv.Log.String())
	}
	checkToolOK(t, "create_board", res)
	if board, _ := res.StructuredContent.(map[string]any); str(board, "title") != "Stepped up" {
		t.Errorf("created board = %v, want the title %q", res.StructuredContent, "Stepped up")
	}
	writeChallenge := map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.write", "error": "insufficient_scope"}
	second := c.checkAuthorization(t, "create_board", http.StatusForbidden, writeChallenge, []string{"kanban.read", "kanban.write"})
	if second.ClientID == first.ClientID {
		t.Errorf("step-up reused client %s; the SDK v1.8.0 registers anew on every authorization", first.ClientID)
	}
	who = c.whoami(t, ctx, cs)
	if diff := cmp.Diff(c.whoamiWant(second.ClientID, "kanban.read", "kanban.write"), who); diff != "" {
		t.Errorf("whoami after step-up (-want +got):\n%s", diff)
	}

	// 9. Refresh with rotation. The access token lives 15 minutes; the test
	// cannot wait, so it makes the SDK's token source see its token as
	// expired, and the SDK's own refresh machinery (oauth2.Config built by
	// the SDK) runs the refresh_token grant on the next call.
	before := c.tokens.expire(t)
	checkToolOK(t, "list_boards", c.call(t, ctx, cs, "list_boards", nil))
	refresh := c.rec.take()
	if diff := cmp.Diff([]string{"POST /oauth/token -> 200", "POST /mcp tools/call list_boards -> 200"}, exchangeSummaries(refresh)); diff != "" {
		t.Fatalf("refresh, HTTP exchanges (-want +got):\n%s", diff)
	}
	wantForm := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {before.RefreshToken}, "client_id": {second.ClientID}}
	if diff := cmp.Diff(wantForm, refresh[0].Form); diff != "" {
		t.Errorf("refresh request sent by the SDK (-want +got):\n%s", diff)
	}
	after := c.tokens.current(t)
	if after.RefreshToken == "" || after.RefreshToken == before.RefreshToken {
		t.Errorf("refresh token not rotated: before %q, after %q", secretPrefix(before.RefreshToken), secretPrefix(after.RefreshToken))
	}
	if after.AccessToken == "" || after.AccessToken == before.AccessToken {
		t.Error("the refresh returned the same access token")
	}
	if got := refresh[1].Auth; got != "Bearer "+after.AccessToken {
		t.Errorf("the call after the refresh sent %q, want the new access token", secretPrefix(got))
	}
	if got := tokenResponseField(t, refresh[0], "refresh_token"); got != after.RefreshToken {
		t.Errorf("the token endpoint answered refresh token %q, the SDK holds %q", secretPrefix(got), secretPrefix(after.RefreshToken))
	}
	who = c.whoami(t, ctx, cs)
	if diff := cmp.Diff(c.whoamiWant(second.ClientID, "kanban.read", "kanban.write"), who); diff != "" {
		t.Errorf("whoami after refresh (-want +got):\n%s", diff)
	}

	// 10. The person revokes the connection on /account (same browser), and
	// the SDK's next call gets 401 invalid_token. The SDK reacts by
	// starting a new authorization (discovery, a new registration, then the
	// browser); this time the person declines, and the call fails with that.
	c.user.revokeOnAccount(t, second.ClientID)
	c.user.startDeclining(errPersonDeclined)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_cards", Arguments: searchArgs})
	if !errors.Is(err, errPersonDeclined) {
		t.Fatalf("search_cards after revocation: err = %v, want the declined authorization", err)
	}
	revoked := c.rec.take()
	wantRevoked := []string{
		"POST /mcp tools/call search_cards -> 401",
		"GET /.well-known/oauth-protected-resource/mcp -> 200",
		"GET /.well-known/oauth-authorization-server -> 200",
		"POST /oauth/register -> 201",
	}
	if diff := cmp.Diff(wantRevoked, exchangeSummaries(revoked)); diff != "" {
		t.Fatalf("call after revocation, HTTP exchanges (-want +got):\n%s", diff)
	}
	if got := revoked[0].Auth; got != "Bearer "+after.AccessToken {
		t.Errorf("the call after revocation sent %q, want the revoked access token", secretPrefix(got))
	}
	got := withoutDescription(t, challengeParams(t, revoked[0].Challenge))
	if diff := cmp.Diff(map[string]string{"resource_metadata": srv.PRM(), "error": "invalid_token"}, got); diff != "" {
		t.Errorf("401 after revocation, challenge (-want +got):\n%s", diff)
	}
	// Raw, for precision: the revoked access token gets 401 invalid_token.
	checkInvalidToken(t, srv, srv.call(t, after.AccessToken, "search_cards", searchArgs))

	// The revocation took the refresh token too: once the access token has
	// expired, the SDK's refresh gets invalid_grant, the SDK sends the call
	// without a token, gets the plain 401 and asks the person again.
	c.tokens.expire(t)
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "search_cards", Arguments: searchArgs})
	if !errors.Is(err, errPersonDeclined) {
		t.Fatalf("search_cards after revocation and expiry: err = %v, want the declined authorization", err)
	}
	dead := c.rec.take()
	wantDead := slices.Concat([]string{"POST /oauth/token -> 400"}, wantRevoked)
	if diff := cmp.Diff(wantDead, exchangeSummaries(dead)); diff != "" {
		t.Fatalf("call after revocation and expiry, HTTP exchanges (-want +got):\n%s", diff)
	}
	if got := dead[0].Form.Get("refresh_token"); got != after.RefreshToken {
		t.Errorf("the SDK refreshed with %q, want its current refresh token", secretPrefix(got))
	}
	if got := tokenResponseField(t, dead[0], "error"); got != "invalid_grant" {
		t.Errorf("refresh after revocation: error %q, want invalid_grant", got)
	}
	if dead[1].Auth != "" {
		t.Errorf("after the failed refresh the SDK sent Authorization %q, want none", secretPrefix(dead[1].Auth))
	}
	if diff := cmp.Diff(readChallenge, challengeParams(t, dead[1].Challenge)); diff != "" {
		t.Errorf("401 without a token, challenge (-want +got):\n%s", diff)
	}
	if n := c.user.roundCount(); n != 4 {
		t.Errorf("authorization rounds = %d, want 4 (sign-in, step-up, two declined re-authorizations)", n)
	}
}

// testGoSDKToolResultChallenge: AUTH_CHALLENGE=tool-result (ChatGPT's
// mode). A refused call is an HTTP 200 isError result carrying the
// challenge in _meta["mcp/www_authenticate"]; the SDK does not look there,
// so the test reads it and hands it to the SDK handler's public entry point,
// Authorize, as the HTTP response it stands for.
func testGoSDKToolResultChallenge(t *testing.T) {
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": "", "AUTH_CHALLENGE": "tool-result"})
	ctx := t.Context()
	c := newSDKClient(t, srv)
	cs := c.connect(t, ctx)
	defer cs.Close()
	checkToolList(t, ctx, cs)
	c.rec.take()

	searchArgs := map[string]any{"query": "board"}
	res := c.call(t, ctx, cs, "search_cards", searchArgs)
	challenge := sdkMetaChallenge(t, res)
	if diff := cmp.Diff([]string{"POST /mcp tools/call search_cards -> 200"}, exchangeSummaries(c.rec.take())); diff != "" {
		t.Fatalf("anonymous call in tool-result mode, HTTP exchanges (-want +got):\n%s", diff)
	}
	params := withoutDescription(t, challengeParams(t, challenge))
	if diff := cmp.Diff(map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.read", "error": "invalid_token"}, params); diff != "" {
		t.Errorf("_meta challenge (-want +got):\n%s", diff)
	}

	c.authorizeFromMeta(t, ctx, challenge)
	first := c.checkAuthorization(t, "", 0, nil, []string{"kanban.read"})
	c.callOK(t, ctx, cs, "search_cards", searchArgs)
	who := c.whoami(t, ctx, cs)
	if diff := cmp.Diff(c.whoamiWant(first.ClientID, "kanban.read"), who); diff != "" {
		t.Errorf("whoami after sign-in (-want +got):\n%s", diff)
	}

	// Step-up from the tool result's insufficient_scope challenge.
	boardArgs := map[string]any{"title": "Stepped up from _meta"}
	res = c.call(t, ctx, cs, "create_board", boardArgs)
	challenge = sdkMetaChallenge(t, res)
	if diff := cmp.Diff([]string{"POST /mcp tools/call create_board -> 200"}, exchangeSummaries(c.rec.take())); diff != "" {
		t.Fatalf("write call with the read token in tool-result mode, HTTP exchanges (-want +got):\n%s", diff)
	}
	params = withoutDescription(t, challengeParams(t, challenge))
	if diff := cmp.Diff(map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.write", "error": "insufficient_scope"}, params); diff != "" {
		t.Errorf("_meta step-up challenge (-want +got):\n%s", diff)
	}
	c.authorizeFromMeta(t, ctx, challenge)
	second := c.checkAuthorization(t, "", 0, nil, []string{"kanban.read", "kanban.write"})
	c.callOK(t, ctx, cs, "create_board", boardArgs)
	who = c.whoami(t, ctx, cs)
	if diff := cmp.Diff(c.whoamiWant(second.ClientID, "kanban.read", "kanban.write"), who); diff != "" {
		t.Errorf("whoami after step-up (-want +got):\n%s", diff)
	}
}

// errPersonDeclined is what the browser stand-in answers when told to
// decline an authorization.
var errPersonDeclined = errors.New("the person declined the authorization")

// sdkClient is one SDK client: its OAuth handler, the person driving the
// browser, the token source and the HTTP recorder.
type sdkClient struct {
	srv     *testServer
	rec     *httpRecorder
	user    *browserUser
	tokens  *sdkTokenSource
	handler *sdkauth.AuthorizationCodeHandler
	checked int    // authorization rounds already checked
	subject string // the demo user's ID, from the first access token
}

func newSDKClient(t *testing.T, srv *testServer) *sdkClient {
	t.Helper()
	password, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatalf("demo password file: %v\nlog:\n%s", err, srv.Log.String())
	}
	c := &sdkClient{srv: srv, rec: newHTTPRecorder(), user: newBrowserUser(srv, strings.TrimSpace(string(password))), tokens: &sdkTokenSource{}}
	c.handler, err = sdkauth.NewAuthorizationCodeHandler(&sdkauth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &sdkauth.DynamicClientRegistrationConfig{
			Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName:              "Go SDK e2e",
				RedirectURIs:            []string{sdkRedirectURI},
				TokenEndpointAuthMethod: "none",
				GrantTypes:              []string{"authorization_code", "refresh_token"},
				ResponseTypes:           []string{"code"},
			},
		},
		AuthorizationCodeFetcher: c.user.authorize,
		// The issuer does not advertise offline_access (refresh tokens come
		// with the refresh_token grant type), so the requested scope stays
		// exactly what the challenges ask for.
		RequestRefreshToken: true,
		Client:              c.rec.client(),
		NewTokenSource:      c.tokens.build,
	})
	if err != nil {
		t.Fatalf("NewAuthorizationCodeHandler: %v", err)
	}
	return c
}

func (c *sdkClient) connect(t *testing.T, ctx context.Context) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "kanban-e2e-gosdk", Version: "1.0.0"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: c.srv.MCP(), HTTPClient: c.rec.client(), OAuthHandler: c.handler}, nil)
	if err != nil {
		t.Fatalf("Connect: %v\nlog:\n%s", err, c.srv.Log.String())
	}
	return cs
}

// call calls a tool through the SDK and fails on a transport error.
func (c *sdkClient) call(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s through the SDK: %v\nlog:\n%s", tool, err, c.srv.Log.String())
	}
	return res
}

// callOK calls a tool through the SDK, which must succeed in one HTTP
// request carrying the SDK's current access token.
func (c *sdkClient) callOK(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res := c.call(t, ctx, cs, tool, args)
	checkToolOK(t, tool, res)
	exs := c.rec.take()
	if diff := cmp.Diff([]string{"POST /mcp tools/call " + tool + " -> 200"}, exchangeSummaries(exs)); diff != "" {
		t.Fatalf("%s, HTTP exchanges (-want +got):\n%s", tool, diff)
	}
	if got, want := exs[0].Auth, "Bearer "+c.tokens.current(t).AccessToken; got != want {
		t.Errorf("%s sent Authorization %q, want the SDK's current access token", tool, secretPrefix(got))
	}
	return res
}

// whoami returns what the server says the SDK's token stands for.
func (c *sdkClient) whoami(t *testing.T, ctx context.Context, cs *mcp.ClientSession) map[string]any {
	t.Helper()
	res := c.callOK(t, ctx, cs, "whoami", nil)
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("whoami structuredContent is %T", res.StructuredContent)
	}
	// The scopes' order is not part of the contract.
	if list, ok := m["scopes"].([]any); ok {
		slices.SortFunc(list, func(a, b any) int { return strings.Compare(describe(a), describe(b)) })
	}
	// The subject is the demo user's opaque ID: the one in the access token,
	// the same in every grant.
	sub := jwtSubject(t, c.tokens.current(t).AccessToken)
	if !regexp.MustCompile(`^u_[a-z0-9]+$`).MatchString(sub) {
		t.Errorf("access token sub = %q, want a user ID", sub)
	}
	if c.subject == "" {
		c.subject = sub
	}
	if sub != c.subject {
		t.Errorf("access token sub = %q, earlier %q", sub, c.subject)
	}
	return m
}

// whoamiWant is whoami's answer for the demo user through clientID.
func (c *sdkClient) whoamiWant(clientID string, scopes ...string) map[string]any {
	list := make([]any, len(scopes))
	for i, s := range scopes {
		list[i] = s
	}
	// The Go SDK sends net/http's user agent: an SDK, answered with HTTP
	// challenges.
	return map[string]any{"authenticated": true, "issuer": c.srv.URL, "subject": c.subject, "client_id": clientID, "scopes": list, "client_family": "sdk"}
}

// jwtSubject reads the sub claim of a JWT without verifying it (the server
// verified it; this only names the user).
func jwtSubject(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("access token claims: %v", err)
	}
	return claims.Sub
}

// authorizeFromMeta starts the SDK's authorization flow from a challenge
// found in _meta["mcp/www_authenticate"]: it calls the handler's Authorize
// with the HTTP response the challenge stands for (403 for
// insufficient_scope, else 401), for the MCP endpoint.
func (c *sdkClient) authorizeFromMeta(t *testing.T, ctx context.Context, challenge string) {
	t.Helper()
	status := http.StatusUnauthorized
	if challengeParams(t, challenge)["error"] == "insufficient_scope" {
		status = http.StatusForbidden
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.srv.MCP(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := &http.Response{
		StatusCode: status,
		Header:     http.Header{"Www-Authenticate": {challenge}},
		Body:       io.NopCloser(strings.NewReader("")),
		Request:    req,
	}
	if err := c.handler.Authorize(ctx, req, resp); err != nil {
		t.Fatalf("Authorize from the _meta challenge: %v\nlog:\n%s", err, c.srv.Log.String())
	}
	ts, err := c.handler.TokenSource(ctx)
	if err != nil || ts == nil {
		t.Fatalf("after Authorize, TokenSource = %v, %v", ts, err)
	}
}

// checkAuthorization checks one authorization the SDK ran, from the HTTP
// exchanges recorded since the last check: when trigger is set, the
// refused call (status, challenge) and its retry after the flow; always
// discovery, DCR, the authorization request the SDK built, the person's
// pages and the code exchange with PKCE. wantScope is the scope the SDK
// must have requested; the person approves its highest level.
func (c *sdkClient) checkAuthorization(t *testing.T, trigger string, status int, challenge map[string]string, wantScope []string) authRound {
	t.Helper()
	exs := c.rec.take()
	want := []string{
		"GET /.well-known/oauth-protected-resource/mcp -> 200",
		"GET /.well-known/oauth-authorization-server -> 200",
		"POST /oauth/register -> 201",
		"POST /oauth/token -> 200",
	}
	if trigger != "" {
		want = slices.Concat([]string{fmt.Sprintf("POST /mcp tools/call %s -> %d", trigger, status)}, want,
			[]string{fmt.Sprintf("POST /mcp tools/call %s -> 200", trigger)})
	}
	if diff := cmp.Diff(want, exchangeSummaries(exs)); diff != "" {
		t.Fatalf("authorization, HTTP exchanges (-want +got):\n%s\nlog:\n%s", diff, c.srv.Log.String())
	}
	if trigger != "" {
		refused, retried := exs[0], exs[len(exs)-1]
		exs = exs[1 : len(exs)-1]
		if diff := cmp.Diff(challenge, withoutDescription(t, challengeParams(t, refused.Challenge))); diff != "" {
			t.Errorf("challenge the SDK reacted to (-want +got):\n%s", diff)
		}
		if got, want := retried.Auth, "Bearer "+c.tokens.current(t).AccessToken; got != want {
			t.Errorf("retried call sent Authorization %q, want the new access token", secretPrefix(got))
		}
		// A 401 here answers a call without a token; a 403, one with the
		// previous (too weak) token.
		if (status == http.StatusUnauthorized) != (refused.Auth == "") || refused.Auth == retried.Auth {
			t.Errorf("refused call (%d) sent Authorization %q", status, secretPrefix(refused.Auth))
		}
	}
	register, exchange := exs[2], exs[3]

	// DCR: what the SDK registered (application_type inferred from the
	// loopback redirect URI), and the client ID it got.
	var regBody map[string]any
	if err := json.Unmarshal(register.Body, &regBody); err != nil {
		t.Fatalf("registration request body: %v: %s", err, register.Body)
	}
	wantReg := map[string]any{
		"client_name": "Go SDK e2e", "redirect_uris": []any{sdkRedirectURI}, "token_endpoint_auth_method": "none",
		"grant_types": []any{"authorization_code", "refresh_token"}, "response_types": []any{"code"}, "application_type": "native",
	}
	if diff := cmp.Diff(wantReg, regBody); diff != "" {
		t.Errorf("registration sent by the SDK (-want +got):\n%s", diff)
	}
	clientID := tokenResponseField(t, register, "client_id")

	// The authorization request the SDK built, and what the person saw.
	rounds := c.user.allRounds()
	if len(rounds) != c.checked+1 {
		t.Fatalf("authorization rounds = %d, want %d", len(rounds), c.checked+1)
	}
	round := rounds[c.checked]
	c.checked++
	if round.Err != nil {
		t.Fatalf("the browser stand-in failed: %v", round.Err)
	}
	q := round.Query
	gotScope := strings.Fields(q.Get("scope"))
	slices.Sort(gotScope)
	if diff := cmp.Diff(wantScope, gotScope); diff != "" {
		t.Errorf("requested scope (-want +got):\n%s", diff)
	}
	if q.Get("state") == "" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("authorization request lacks state or an S256 code_challenge: %v", q)
	}
	wantQuery := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {sdkRedirectURI}, "scope": {q.Get("scope")},
		"state": {q.Get("state")}, "code_challenge": {q.Get("code_challenge")}, "code_challenge_method": {"S256"},
		"resource": {c.srv.MCP()},
	}
	if diff := cmp.Diff(wantQuery, q); diff != "" {
		t.Errorf("authorization request built by the SDK (-want +got):\n%s", diff)
	}
	var levels []string
	for _, l := range []string{"kanban.read", "kanban.write", "kanban.admin"} {
		levels = append(levels, l)
		if l == wantScope[len(wantScope)-1] {
			break
		}
	}
	offered := slices.Sorted(slices.Values(round.Offered))
	if diff := cmp.Diff(levels, offered); diff != "" {
		t.Errorf("levels offered on the consent page (-want +got):\n%s", diff)
	}
	if round.Chosen != wantScope[len(wantScope)-1] {
		t.Errorf("the person chose %q", round.Chosen)
	}
	// The first authorization asks the person to sign in; later ones ride
	// on the browser's session.
	if round.SignedIn != (c.checked == 1) {
		t.Errorf("authorization %d: sign-in page shown = %t", c.checked, round.SignedIn)
	}
	// RFC 9207: the redirect carries iss, which the SDK checked against the
	// issuer's metadata before exchanging the code.
	if round.Iss != c.srv.URL {
		t.Errorf("redirect iss = %q, want %s", round.Iss, c.srv.URL)
	}

	// The code exchange: the code the person's browser got, PKCE with the
	// verifier of the challenge sent, the resource indicator.
	verifier := exchange.Form.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if got := base64.RawURLEncoding.EncodeToString(sum[:]); verifier == "" || got != q.Get("code_challenge") {
		t.Errorf("code_verifier %q does not match code_challenge %q", verifier, q.Get("code_challenge"))
	}
	wantForm := url.Values{
		"grant_type": {"authorization_code"}, "code": {round.Code}, "redirect_uri": {sdkRedirectURI},
		"client_id": {clientID}, "code_verifier": {verifier}, "resource": {c.srv.MCP()},
	}
	if diff := cmp.Diff(wantForm, exchange.Form); diff != "" {
		t.Errorf("code exchange sent by the SDK (-want +got):\n%s", diff)
	}
	tok := c.tokens.current(t)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Errorf("token held by the SDK: type %q, access %t, refresh %t", tok.TokenType, tok.AccessToken != "", tok.RefreshToken != "")
	}
	granted := strings.Fields(tokenResponseField(t, exchange, "scope"))
	slices.Sort(granted)
	if diff := cmp.Diff(levels, granted); diff != "" {
		t.Errorf("token response scope (-want +got):\n%s", diff)
	}
	round.ClientID = clientID
	return round
}

// withoutDescription checks that a challenge with an error code has a
// description, and drops it for an exact comparison of the rest.
func withoutDescription(t *testing.T, m map[string]string) map[string]string {
	t.Helper()
	if m["error"] != "" && m["error_description"] == "" {
		t.Errorf("challenge with error %q lacks error_description", m["error"])
	}
	delete(m, "error_description")
	return m
}

func checkToolList(t *testing.T, ctx context.Context, cs *mcp.ClientSession) {
	t.Helper()
	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	// Every caller can list every declared tool.
	if diff := cmp.Diff(declaredToolNames(), names); diff != "" {
		t.Errorf("tools/list (-want +got):\n%s", diff)
	}
}

func checkToolOK(t *testing.T, tool string, res *mcp.CallToolResult) {
	t.Helper()
	if res.IsError {
		t.Fatalf("%s failed: %s", tool, sdkText(res))
	}
	if res.StructuredContent == nil {
		t.Errorf("%s: no structuredContent", tool)
	}
	if _, ok := res.Meta["mcp/www_authenticate"]; ok {
		t.Errorf("%s: success carries a challenge: %v", tool, res.Meta)
	}
}

// sdkMetaChallenge returns the one challenge of an isError result as the
// SDK decoded it.
func sdkMetaChallenge(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want an isError result, got success: %s", sdkText(res))
	}
	raw, ok := res.Meta["mcp/www_authenticate"]
	if !ok {
		t.Fatalf(`result has no _meta["mcp/www_authenticate"]; meta=%v text=%q`, res.Meta, sdkText(res))
	}
	list, ok := raw.([]any)
	if !ok || len(list) != 1 {
		t.Fatalf(`_meta["mcp/www_authenticate"] = %#v, want a one-element array`, raw)
	}
	s, ok := list[0].(string)
	if !ok {
		t.Fatalf("challenge is %T, want string", list[0])
	}
	if sdkText(res) == "" {
		t.Error("challenge result has no human text")
	}
	return s
}

func sdkText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// secretPrefix shows the start of a secret in a failure message.
func secretPrefix(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// --- The person at the browser ---------------------------------------------

// browserUser is the SDK's AuthorizationCodeFetcher: it does what a person
// does in a browser, with plain HTTP (a cookie jar, no redirects followed):
// open the authorization URL, sign in as the demo user if asked, approve the
// highest level the client asked for, and hand the code from the redirect
// back to the SDK. It never builds an OAuth request itself.
type browserUser struct {
	srv      *testServer
	password string
	client   *http.Client

	mu      sync.Mutex
	rounds  []authRound
	decline error
}

// authRound is one authorization the SDK asked the person for.
type authRound struct {
	Query    url.Values // the authorization request, as the SDK built it
	SignedIn bool       // the sign-in page was shown and filled in
	Offered  []string   // the levels on the consent page
	Chosen   string
	Code     string
	Iss      string // the redirect's iss (RFC 9207)
	ClientID string // filled in by checkAuthorization
	Err      error
}

func newBrowserUser(srv *testServer, password string) *browserUser {
	jar, _ := cookiejar.New(nil)
	return &browserUser{srv: srv, password: password, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browserUser) startDeclining(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decline = err
}

func (b *browserUser) roundCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.rounds)
}

func (b *browserUser) allRounds() []authRound {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.rounds)
}

var (
	formTag    = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	levelRadio = regexp.MustCompile(`<input type="radio" name="level" id="[^"]*" value="([^"]*)"`)
)

// authorize implements sdkauth.AuthorizationCodeFetcher. It may run off the
// test goroutine, so it reports problems as errors (the SDK returns them
// from the call) and records them in the round.
func (b *browserUser) authorize(ctx context.Context, args *sdkauth.AuthorizationArgs) (*sdkauth.AuthorizationResult, error) {
	round := authRound{}
	res, err := b.run(ctx, args.URL, &round)
	round.Err = err
	b.mu.Lock()
	b.rounds = append(b.rounds, round)
	b.mu.Unlock()
	return res, err
}

func (b *browserUser) run(ctx context.Context, authURL string, round *authRound) (*sdkauth.AuthorizationResult, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	round.Query = u.Query()
	b.mu.Lock()
	decline := b.decline
	b.mu.Unlock()
	if decline != nil {
		return nil, decline
	}

	pageURL := authURL
	page, err := b.page(ctx, http.MethodGet, pageURL, nil)
	if err != nil {
		return nil, err
	}
	if strings.Contains(page, `name="password"`) {
		round.SignedIn = true
		form := hiddenFields(page)
		if form.Get("csrf") == "" {
			return nil, fmt.Errorf("sign-in page has no CSRF field:\n%s", page)
		}
		form.Set("username", "demo")
		form.Set("password", b.password)
		if pageURL, err = pageFormAction(pageURL, page); err != nil {
			return nil, err
		}
		if page, err = b.page(ctx, http.MethodPost, pageURL, form); err != nil {
			return nil, err
		}
	}
	for _, m := range levelRadio.FindAllStringSubmatch(page, -1) {
		round.Offered = append(round.Offered, html.UnescapeString(m[1]))
	}
	if len(round.Offered) == 0 {
		return nil, fmt.Errorf("no consent page:\n%s", page)
	}
	requested := strings.Fields(round.Query.Get("scope"))
	for _, l := range []string{"kanban.admin", "kanban.write", "kanban.read"} {
		if slices.Contains(requested, l) {
			round.Chosen = l
			break
		}
	}
	if !slices.Contains(round.Offered, round.Chosen) {
		return nil, fmt.Errorf("consent page offers %v, not the requested level %q", round.Offered, round.Chosen)
	}
	form := hiddenFields(page)
	if form.Get("csrf") == "" {
		return nil, fmt.Errorf("consent page has no CSRF field:\n%s", page)
	}
	form.Set("level", round.Chosen)
	form.Set("decision", "allow")
	action, err := pageFormAction(pageURL, page)
	if err != nil {
		return nil, err
	}
	resp, body, err := b.do(ctx, http.MethodPost, action, form)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("consent answered %d, want a redirect:\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	q := loc.Query()
	loc.RawQuery = ""
	if loc.String() != sdkRedirectURI || q.Get("code") == "" {
		return nil, fmt.Errorf("consent redirected to %q, want %s with a code", resp.Header.Get("Location"), sdkRedirectURI)
	}
	round.Code, round.Iss = q.Get("code"), q.Get("iss")
	return &sdkauth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// pageFormAction resolves the first form's action against the page's URL.
func pageFormAction(pageURL, page string) (string, error) {
	m := formTag.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("no form on the page:\n%s", page)
	}
	base, err := url.Parse(pageURL)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", err
	}
	return base.ResolveReference(ref).String(), nil
}

func (b *browserUser) do(ctx context.Context, method, target string, form url.Values) (*http.Response, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

func (b *browserUser) page(ctx context.Context, method, target string, form url.Values) (string, error) {
	resp, body, err := b.do(ctx, method, target, form)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %d\n%s", method, target, resp.StatusCode, body)
	}
	return string(body), nil
}

var grantItem = regexp.MustCompile(`(?s)<li>(.*?)</li>`)

// revokeOnAccount revokes the grant of clientID on /account, clicking its
// Revoke button (a form post with the page's CSRF token).
func (b *browserUser) revokeOnAccount(t *testing.T, clientID string) {
	t.Helper()
	page := fetchPage(t, b.client, http.MethodGet, b.srv.URL+"/account", nil)
	var item string
	for _, m := range grantItem.FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[1], "<code>"+html.EscapeString(clientID)+"</code>") {
			item = m[1]
		}
	}
	if item == "" {
		t.Fatalf("/account does not list client %s:\n%s", clientID, page)
	}
	form := regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`).FindStringSubmatch(item)
	if form == nil || !strings.Contains(form[1], "revoke") {
		t.Fatalf("no revoke form for client %s:\n%s", clientID, item)
	}
	fields := hiddenFields(form[2])
	if fields.Get("csrf") == "" || fields.Get("grant") == "" {
		t.Fatalf("revoke form lacks csrf or grant: %v", fields)
	}
	target, err := url.Parse(html.UnescapeString(form[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp := browse(t, b.client, http.MethodPost, b.srv.URL+target.Path, fields)
	if resp.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/account?done=revoked" {
		t.Fatalf("revoke on /account: %d Location %q\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
	}
	page = fetchPage(t, b.client, http.MethodGet, b.srv.URL+"/account", nil)
	for _, m := range grantItem.FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[1], "<code>"+html.EscapeString(clientID)+"</code>") && !strings.Contains(m[1], "status-revoked") {
			t.Errorf("/account still shows client %s as active:\n%s", clientID, m[1])
		}
	}
}

// --- The SDK's token source --------------------------------------------------

// sdkTokenSource is the handler's NewTokenSource: it builds exactly what
// the SDK builds by default (oauth2.Config.TokenSource with the SDK's
// config and refresh context), and lets the test declare the current access
// token expired, which is what the passing of its lifetime would do.
type sdkTokenSource struct {
	mu   sync.Mutex
	ctx  context.Context
	cfg  *oauth2.Config
	src  oauth2.TokenSource
	last *oauth2.Token
}

func (s *sdkTokenSource) build(ctx context.Context, cfg *oauth2.Config, tok *oauth2.Token) (oauth2.TokenSource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx, s.cfg, s.last = ctx, cfg, tok
	s.src = cfg.TokenSource(ctx, tok)
	return s, nil
}

// Token is what the SDK's transport calls before every request.
func (s *sdkTokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, err := s.src.Token()
	if err == nil {
		s.last = tok
	}
	return tok, err
}

// current is the token the SDK holds now.
func (s *sdkTokenSource) current(t *testing.T) *oauth2.Token {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		t.Fatal("the SDK holds no token")
	}
	return s.last
}

// expire makes the SDK's token source see its access token as expired, so
// that the next request makes golang.org/x/oauth2 (as configured by the
// SDK) refresh it. It returns the token before.
func (s *sdkTokenSource) expire(t *testing.T) *oauth2.Token {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		t.Fatal("the SDK holds no token")
	}
	stale := *s.last
	stale.Expiry = time.Now().Add(-time.Minute)
	s.src = s.cfg.TokenSource(s.ctx, &stale)
	return s.last
}

// --- The HTTP recorder ---------------------------------------------------------

// recordedExchange is one HTTP request the SDK sent and the answer it got.
type recordedExchange struct {
	Request   string     // "POST /mcp tools/call search_cards", "GET /path"
	Status    int        // the answer's status
	Auth      string     // the request's Authorization header
	Body      []byte     // the request body
	Form      url.Values // the decoded body of a form post
	Challenge string     // the answer's WWW-Authenticate
	Response  []byte     // the answer's body, for /oauth/* only
}

// httpRecorder is the SDK's HTTP client's transport: it passes every
// request through unchanged and records it.
type httpRecorder struct {
	mu   sync.Mutex
	list []recordedExchange
}

func newHTTPRecorder() *httpRecorder { return &httpRecorder{} }

func (r *httpRecorder) client() *http.Client { return &http.Client{Transport: r} }

func (r *httpRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := recordedExchange{Request: req.Method + " " + req.URL.Path, Auth: req.Header.Get("Authorization")}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		ex.Body = b
		clone := req.Clone(req.Context())
		clone.Body = io.NopCloser(bytes.NewReader(b))
		req = clone
	}
	switch {
	case req.URL.Path == "/mcp" && req.Method == http.MethodPost:
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal(ex.Body, &msg) == nil && msg.Method != "" {
			ex.Request += " " + msg.Method
			if msg.Params.Name != "" {
				ex.Request += " " + msg.Params.Name
			}
		}
	case strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		ex.Form, _ = url.ParseQuery(string(ex.Body))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ex.Status = resp.StatusCode
	ex.Challenge = resp.Header.Get("WWW-Authenticate")
	if strings.HasPrefix(req.URL.Path, "/oauth/") {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		ex.Response = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	r.mu.Lock()
	r.list = append(r.list, ex)
	r.mu.Unlock()
	return resp, nil
}

// take returns the exchanges recorded since the last take.
func (r *httpRecorder) take() []recordedExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.list
	r.list = nil
	return list
}

func exchangeSummaries(exs []recordedExchange) []string {
	out := make([]string, len(exs))
	for i, ex := range exs {
		out[i] = fmt.Sprintf("%s -> %d", ex.Request, ex.Status)
	}
	return out
}

// tokenResponseField reads a string field of a recorded /oauth/* JSON answer.
func tokenResponseField(t *testing.T, ex recordedExchange, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ex.Response, &m); err != nil {
		t.Fatalf("%s answer is not JSON: %v", ex.Request, err)
	}
	s, _ := m[field].(string)
	if s == "" {
		t.Errorf("%s answer has no %s", ex.Request, field)
	}
	return s
}
