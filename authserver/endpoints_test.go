package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
)

// Names of the endpoint tests' fixtures.
const (
	// epIPHeader is the TrustedProxyHeader of the test server, so that a
	// test can send requests "from" any address.
	epIPHeader = "X-Test-Client-IP"
	epRedirect = "https://app.example/callback"
)

// epEnv is a real Server, on a real SQLite database and an httptest
// server, with a clock that tests move. The clock starts at the real time
// (to the second), because the verifiers that check issued tokens use the
// real clock.
type epEnv struct {
	clock    *testClock
	store    *Store
	users    *Users
	grants   *Grants
	keys     *Keys
	srv      *Server
	ts       *httptest.Server
	issuer   string
	resource string
	logs     *syncbuf.Buffer
	blocked  *epBlocklist
	alice    User
}

// newEPEnv starts a server with the user alice; mod may change its
// options before NewServer.
func newEPEnv(t testing.TB, mod func(*ServerOptions)) *epEnv {
	t.Helper()
	e := newEPEnvWithoutUsers(t, mod)
	e.alice = mustAddUser(t, e.users, "alice", goodPassword, "")
	return e
}

// newEPEnvWithoutUsers starts a server on a database without users.
func newEPEnvWithoutUsers(t testing.TB, mod func(*ServerOptions)) *epEnv {
	t.Helper()
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	return newEPEnvOn(t, openTestStore(t, clock), clock, mod)
}

// newEPEnvOn starts a server on store, whose clock is clock.
func newEPEnvOn(t testing.TB, store *Store, clock *testClock, mod func(*ServerOptions)) *epEnv {
	t.Helper()
	users := NewUsers(store, testHasher(t, testHashParams, 2))
	grants, err := store.Grants(users, GrantOptions{Scopes: testScopes(t)})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	keys, err := store.Keys(t.Context(), KeyOptions{})
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	e := &epEnv{
		clock:    clock,
		store:    store,
		users:    users,
		grants:   grants,
		keys:     keys,
		ts:       ts,
		issuer:   ts.URL,
		resource: ts.URL + "/mcp",
		logs:     &syncbuf.Buffer{},
		blocked:  &epBlocklist{ids: map[string]bool{}},
	}
	opts := ServerOptions{
		Issuer:             e.issuer,
		Resource:           e.resource,
		Store:              store,
		Keys:               keys,
		Users:              users,
		Grants:             grants,
		CIMD:               NewCIMDFetcher(CIMDOptions{}),
		Blocked:            e.blocked,
		TrustedProxyHeader: epIPHeader,
		Logger:             slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:                clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	if e.srv, err = NewServer(opts); err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	e.srv.Routes(mux)
	return e
}

// epBlocklist stands in for the operator blocklist (the revocation
// package, which has its own tests): it refuses the subjects and client
// IDs it lists.
type epBlocklist struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (b *epBlocklist) set(id string, blocked bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ids[id] = blocked
}

func (b *epBlocklist) Revoked(_ context.Context, p *auth.Principal) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return (p.Subject != "" && b.ids[p.Subject]) || (p.ClientID != "" && b.ids[p.ClientID]), nil
}

// epResp is an answer as the client saw it.
type epResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object.
func (r epResp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %d body %q is not a JSON object: %v", r.Status, r.Body, err)
	}
	return m
}

// epMod changes a request before it is sent.
type epMod func(*http.Request)

// fromIP makes the request come from ip, through the trusted proxy header.
func fromIP(ip string) epMod { return func(r *http.Request) { r.Header.Set(epIPHeader, ip) } }

// withBasic authenticates with HTTP Basic as RFC 6749 §2.3.1 says: id and
// secret form-urlencoded, then joined and base64-encoded.
func withBasic(id, secret string) epMod {
	return withRawBasic(url.QueryEscape(id), url.QueryEscape(secret))
}

// withRawBasic sends id and secret as given, without encoding them.
func withRawBasic(id, secret string) epMod {
	return func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	}
}

func withHeader(name, value string) epMod { return func(r *http.Request) { r.Header.Set(name, value) } }

// withQuery sets the request's query string.
func withQuery(q string) epMod { return func(r *http.Request) { r.URL.RawQuery = q } }

// do sends a request to the test server and reads the whole answer.
func (e *epEnv) do(t testing.TB, method, path, contentType string, body io.Reader, mods ...epMod) epResp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.ts.URL+path, body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, m := range mods {
		m(req)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer of %s %s: %v", method, path, err)
	}
	return epResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// postForm posts form to path as application/x-www-form-urlencoded.
func (e *epEnv) postForm(t testing.TB, path string, form url.Values, mods ...epMod) epResp {
	t.Helper()
	return e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), mods...)
}

// publicClient registers a public client (auth method none) with the
// grant types given (default: authorization_code and refresh_token).
func (e *epEnv) publicClient(t testing.TB, grantTypes ...string) Client {
	t.Helper()
	if len(grantTypes) == 0 {
		grantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	c, _ := mustRegister(t, e.store, RegistrationRequest{
		RedirectURIs: []string{epRedirect}, TokenEndpointAuthMethod: AuthMethodNone, GrantTypes: grantTypes, ClientName: "Public",
	}, SourceDCR)
	return c
}

// confidentialClient registers a client with the auth method and returns
// it with its secret.
func (e *epEnv) confidentialClient(t *testing.T, method string) (Client, string) {
	t.Helper()
	return mustRegister(t, e.store, RegistrationRequest{
		RedirectURIs: []string{epRedirect}, TokenEndpointAuthMethod: method,
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, ClientName: "Confidential",
	}, SourceDCR)
}

// newPKCE returns a fresh verifier and its S256 challenge, computed here
// from RFC 7636 §4.2 rather than with the package's own s256.
func newPKCE() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// epAuthz is an authorization as the pages would approve it.
type epAuthz struct {
	subject  string // default alice
	scope    []string
	nonce    string
	resource string // default the server's own
}

// authorize issues a code for clientID as the authorization endpoint
// would after sign-in and consent, and returns it with its verifier.
func (e *epEnv) authorize(t *testing.T, clientID string, a epAuthz) (code, verifier string) {
	t.Helper()
	if a.subject == "" {
		a.subject = e.alice.Subject
	}
	if a.scope == nil {
		a.scope = []string{"kanban.write"}
	}
	if a.resource == "" {
		a.resource = e.resource
	}
	verifier, challenge := newPKCE()
	code, err := e.grants.IssueCode(t.Context(), CodeRequest{
		Subject: a.subject, ClientID: clientID, RedirectURI: epRedirect, CodeChallenge: challenge,
		Resource: a.resource, Scope: a.scope, Nonce: a.nonce,
	})
	if err != nil {
		t.Fatalf("IssueCode: %v", err)
	}
	return code, verifier
}

// codeForm is the token request that redeems code for a public client.
func codeForm(clientID, code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {GrantAuthorizationCode},
		"code":          {code},
		"redirect_uri":  {epRedirect},
		"code_verifier": {verifier},
		"client_id":     {clientID},
	}
}

// refreshForm is the token request that rotates token for a public client.
func refreshForm(clientID, token string) url.Values {
	return url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {token}, "client_id": {clientID}}
}

// epTokens is a successful token answer.
type epTokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
}

// tokens checks that r is a successful token answer and decodes it.
func tokens(t *testing.T, r epResp) epTokens {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("token request: status %d, body %s; want 200", r.Status, r.Body)
	}
	var tok epTokens
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		t.Fatalf("token answer %s: %v", r.Body, err)
	}
	return tok
}

// connect runs a whole authorization for a public client: code, then
// exchange, and returns the tokens.
func (e *epEnv) connect(t *testing.T, clientID string, a epAuthz, mods ...epMod) epTokens {
	t.Helper()
	code, verifier := e.authorize(t, clientID, a)
	return tokens(t, e.postForm(t, PathToken, codeForm(clientID, code, verifier), mods...))
}

// verifyAccess checks tok the way the resource server does: keyfunc over
// the key table (Keys.KeySource), the issuer and the Resource audience.
func (e *epEnv) verifyAccess(t *testing.T, tok string) *auth.Principal {
	t.Helper()
	ks, err := e.keys.KeySource(t.Context())
	if err != nil {
		t.Fatalf("KeySource: %v", err)
	}
	v, err := auth.NewVerifier(t.Context(), auth.VerifierConfig{Issuer: e.issuer, Audience: e.resource, Keys: ks})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("the access token does not verify: %v", err)
	}
	return p
}

// revoked reports whether the grant is refused now.
func (e *epEnv) revoked(t *testing.T, grantID string) bool {
	t.Helper()
	r, err := e.grants.GrantRevoked(t.Context(), grantID)
	if err != nil {
		t.Fatalf("GrantRevoked: %v", err)
	}
	return r
}

// grantOf returns the grant_id claim of an access token (unverified).
func grantOf(t *testing.T, accessToken string) string {
	t.Helper()
	_, claims := decodeJWT(t, accessToken)
	id, _ := claims[auth.GrantIDClaim].(string)
	if id == "" {
		t.Fatalf("access token has no %s claim: %v", auth.GrantIDClaim, claims)
	}
	return id
}

func strs(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestMetadataDocuments(t *testing.T) {
	e := newEPEnv(t, nil)
	is := e.issuer
	as := map[string]any{
		"issuer":                                         is,
		"authorization_endpoint":                         is + "/oauth/authorize",
		"token_endpoint":                                 is + "/oauth/token",
		"registration_endpoint":                          is + "/oauth/register",
		"revocation_endpoint":                            is + "/oauth/revoke",
		"jwks_uri":                                       is + "/oauth/jwks.json",
		"scopes_supported":                               strs(append(auth.Strings(testScopes(t).Names()), "openid", "profile")...),
		"response_types_supported":                       strs("code"),
		"response_modes_supported":                       strs("query"),
		"grant_types_supported":                          strs("authorization_code", "refresh_token"),
		"code_challenge_methods_supported":               strs("S256"),
		"token_endpoint_auth_methods_supported":          strs("none", "client_secret_basic", "client_secret_post"),
		"revocation_endpoint_auth_methods_supported":     strs("none", "client_secret_basic", "client_secret_post"),
		"introspection_endpoint":                         is + "/oauth/introspect",
		"introspection_endpoint_auth_methods_supported":  strs("client_secret_basic", "client_secret_post"),
		"client_id_metadata_document_supported":          true,
		"authorization_response_iss_parameter_supported": true,
	}
	oidc := map[string]any{
		"userinfo_endpoint":                     is + "/oauth/userinfo",
		"subject_types_supported":               strs("public"),
		"id_token_signing_alg_values_supported": strs("RS256"),
		"claims_supported": strs("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
			"preferred_username", "email", "email_verified"),
		"request_uri_parameter_supported": false,
	}
	for k, v := range as {
		oidc[k] = v
	}

	for _, tc := range []struct {
		path string
		want map[string]any
	}{
		{"/.well-known/oauth-authorization-server", as},
		{"/.well-known/openid-configuration", oidc},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do(t, http.MethodGet, tc.path, "", nil, withHeader("Origin", "https://app.example"))
			if r.Status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.Status, r.Body)
			}
			if diff := cmp.Diff(tc.want, r.JSON(t)); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
			gotHeaders := map[string]string{}
			for _, h := range []string{"Content-Type", "Cache-Control", "Access-Control-Allow-Origin"} {
				gotHeaders[h] = r.Header.Get(h)
			}
			wantHeaders := map[string]string{
				"Content-Type":                "application/json",
				"Cache-Control":               "public, max-age=300",
				"Access-Control-Allow-Origin": "*",
			}
			if diff := cmp.Diff(wantHeaders, gotHeaders); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}

			post := e.do(t, http.MethodPost, tc.path, "application/json", strings.NewReader("{}"))
			if post.Status != http.StatusMethodNotAllowed || !strings.Contains(post.Header.Get("Allow"), "GET") {
				t.Errorf("POST: status %d, Allow %q; want 405 allowing GET", post.Status, post.Header.Get("Allow"))
			}
		})
	}
}

func TestJWKSMatchesKeys(t *testing.T) {
	e := newEPEnv(t, nil)
	r := e.do(t, http.MethodGet, PathJWKS, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
	want, err := e.keys.JWKS(t.Context())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var wantSet, gotSet any
	if err := json.Unmarshal(want, &wantSet); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.Body, &gotSet); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	if diff := cmp.Diff(wantSet, gotSet); diff != "" {
		t.Errorf("JWK set (-want +got):\n%s", diff)
	}
	for h, want := range map[string]string{
		"Content-Type":                "application/jwk-set+json",
		"Cache-Control":               "public, max-age=300",
		"Access-Control-Allow-Origin": "*",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// A rotation shows at once: the endpoint reads the table.
	kid, _, err := e.keys.Rotate(t.Context(), false)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if kids := jwksKIDs(t, e); !slices.Contains(kids, kid) {
		t.Errorf("after Rotate, the JWKS kids are %v; want them to include %s", kids, kid)
	}
}

// jwksKIDs fetches the JWKS endpoint and returns the kids it publishes,
// after checking that each key is an RS256 signing key.
func jwksKIDs(t *testing.T, e *epEnv) []string {
	t.Helper()
	r := e.do(t, http.MethodGet, PathJWKS, "", nil)
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			Kty string `json:"kty"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", r.Body, err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Alg != "RS256" || k.Use != "sig" || k.Kty != "RSA" {
			t.Errorf("JWK %+v: want kty RSA, alg RS256, use sig", k)
		}
		kids = append(kids, k.KID)
	}
	return kids
}

func TestRegister(t *testing.T) {
	e := newEPEnv(t, nil)
	big := `{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("a", maxRequestBody) + `"}`
	for i, tc := range []struct {
		name        string
		contentType string
		body        string
		method      string
		wantStatus  int
		// wantBody is compared with the answer; for 201, client_id and
		// client_secret are replaced by "<set>" after their checks.
		wantBody map[string]any
	}{{
		name:        "public client, unknown members ignored",
		contentType: "application/json",
		body: `{"redirect_uris":["https://app.example/cb","http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
			"grant_types":["authorization_code","refresh_token"],"client_name":" MCP Inspector ","scope":"kanban.read",
			"logo_uri":"https://app.example/logo.png","contacts":["ops@app.example"]}`,
		wantStatus: http.StatusCreated,
		wantBody: map[string]any{
			"client_id": "<set>", "client_id_issued_at": float64(e.clock.Now().Unix()), "client_name": "MCP Inspector",
			"redirect_uris": strs("https://app.example/cb", "http://127.0.0.1/cb"),
			"grant_types":   strs("authorization_code", "refresh_token"), "response_types": strs("code"),
			"token_endpoint_auth_method": "none", "application_type": "web",
		},
	}, {
		name:        "confidential by default, charset accepted",
		contentType: "application/json; charset=utf-8",
		body:        `{"redirect_uris":["https://app.example/cb"],"application_type":"native"}`,
		wantStatus:  http.StatusCreated,
		wantBody: map[string]any{
			"client_id": "<set>", "client_secret": "<set>", "client_secret_expires_at": float64(0),
			"client_id_issued_at": float64(e.clock.Now().Unix()),
			"redirect_uris":       strs("https://app.example/cb"),
			"grant_types":         strs("authorization_code"), "response_types": strs("code"),
			"token_endpoint_auth_method": "client_secret_basic", "application_type": "native",
		},
	}, {
		name:        "http on a public host",
		contentType: "application/json",
		body:        `{"redirect_uris":["http://app.example/cb"],"token_endpoint_auth_method":"none"}`,
		wantStatus:  http.StatusBadRequest,
		wantBody:    map[string]any{"error": "invalid_redirect_uri", "error_description": "<set>"},
	}, {
		name:        "fragment",
		contentType: "application/json",
		body:        `{"redirect_uris":["https://app.example/cb#x"],"token_endpoint_auth_method":"none"}`,
		wantStatus:  http.StatusBadRequest,
		wantBody:    map[string]any{"error": "invalid_redirect_uri", "error_description": "<set>"},
	}, {
		name:        "no redirect URI",
		contentType: "application/json",
		body:        `{"token_endpoint_auth_method":"none"}`,
		wantStatus:  http.StatusBadRequest,
		wantBody:    map[string]any{"error": "invalid_redirect_uri", "error_description": "<set>"},
	}, {
		name:        "unsupported grant type",
		contentType: "application/json",
		body:        `{"redirect_uris":["https://app.example/cb"],"grant_types":["client_credentials"]}`,
		wantStatus:  http.StatusBadRequest,
		wantBody:    map[string]any{"error": "invalid_client_metadata", "error_description": "<set>"},
	}, {
		name:        "member of the wrong type",
		contentType: "application/json",
		body:        `{"redirect_uris":"https://app.example/cb"}`,
		wantStatus:  http.StatusBadRequest,
		wantBody: map[string]any{"error": "invalid_client_metadata",
			"error_description": `The client metadata member "redirect_uris" has the wrong type (it must be an array of strings).`},
	}, {
		name:        "not an object",
		contentType: "application/json",
		body:        `["https://app.example/cb"]`,
		wantStatus:  http.StatusBadRequest,
		wantBody:    map[string]any{"error": "invalid_client_metadata", "error_description": "<set>"},
	}, {
		name:        "data after the object",
		contentType: "application/json",
		body:        `{"redirect_uris":["https://app.example/cb"]} {}`,
		wantStatus:  http.StatusBadRequest,
		wantBody:    map[string]any{"error": "invalid_client_metadata", "error_description": "<set>"},
	}, {
		name:        "form instead of JSON",
		contentType: "application/x-www-form-urlencoded",
		body:        `redirect_uris=https://app.example/cb`,
		wantStatus:  http.StatusUnsupportedMediaType,
		wantBody:    map[string]any{"error": "invalid_client_metadata", "error_description": "<set>"},
	}, {
		name:        "too large",
		contentType: "application/json",
		body:        big,
		wantStatus:  http.StatusRequestEntityTooLarge,
		wantBody:    map[string]any{"error": "invalid_client_metadata", "error_description": "<set>"},
	}, {
		name:       "GET",
		method:     http.MethodGet,
		wantStatus: http.StatusMethodNotAllowed,
		wantBody:   map[string]any{"error": "invalid_request", "error_description": "<set>"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			// Each case from its own address, clear of the registration limit.
			r := e.do(t, method, PathRegister, tc.contentType, strings.NewReader(tc.body), fromIP("198.51.100."+strconv.Itoa(i+1)))
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, body %s; want %d", r.Status, r.Body, tc.wantStatus)
			}
			got := r.JSON(t)
			id, _ := got["client_id"].(string)
			secret, _ := got["client_secret"].(string)
			for _, k := range []string{"client_id", "client_secret", "error_description"} {
				if s, ok := got[k].(string); ok && s != "" && tc.wantBody[k] == "<set>" {
					got[k] = "<set>"
				}
			}
			if diff := cmp.Diff(tc.wantBody, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if cc := r.Header.Get("Cache-Control"); tc.method == "" && cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if r.Status != http.StatusCreated {
				return
			}
			stored, err := e.store.Client(t.Context(), id)
			if err != nil {
				t.Fatalf("the registered client is not stored: %v", err)
			}
			if stored.Source != SourceDCR {
				t.Errorf("stored client source = %q, want %q", stored.Source, SourceDCR)
			}
			if diff := cmp.Diff(tc.wantBody["redirect_uris"], strs(stored.RedirectURIs...)); diff != "" {
				t.Errorf("stored redirect URIs (-answered +stored):\n%s", diff)
			}
			if secret != "" {
				if err := e.store.VerifyClientSecret(t.Context(), id, secret); err != nil {
					t.Errorf("the returned secret does not verify: %v", err)
				}
			}
		})
	}
}

func TestRegisterRateLimitPerIP(t *testing.T) {
	e := newEPEnv(t, nil)
	register := func(ip string) epResp {
		return e.do(t, http.MethodPost, PathRegister, "application/json",
			strings.NewReader(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`), fromIP(ip))
	}
	// The burst (10), then a refusal.
	for i := range 10 {
		if r := register("203.0.113.1"); r.Status != http.StatusCreated {
			t.Fatalf("registration %d: status %d, body %s; want 201", i+1, r.Status, r.Body)
		}
	}
	r := register("203.0.113.1")
	// 20 per hour: the next one is allowed 3 minutes later.
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "180" {
		t.Fatalf("registration 11: status %d, Retry-After %q, body %s; want 429 and 180", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if got := r.JSON(t)["error"]; got != "slow_down" {
		t.Errorf("error = %v, want slow_down", got)
	}
	// Another address is not affected.
	if r := register("203.0.113.2"); r.Status != http.StatusCreated {
		t.Errorf("another address: status %d, want 201", r.Status)
	}
	// And the limited one recovers after the wait.
	e.clock.Advance(180 * time.Second)
	if r := register("203.0.113.1"); r.Status != http.StatusCreated {
		t.Errorf("after the wait: status %d, body %s; want 201", r.Status, r.Body)
	}

	// An IPv6 /64 counts as one address: changing the interface bits does
	// not earn fresh registrations; another /64 does.
	for i := range 10 {
		if r := register(fmt.Sprintf("2001:db8:1:2::%x", i+1)); r.Status != http.StatusCreated {
			t.Fatalf("IPv6 registration %d: status %d; want 201", i+1, r.Status)
		}
	}
	if r := register("2001:db8:1:2:ffff::1"); r.Status != http.StatusTooManyRequests {
		t.Errorf("11th registration from the same /64: status %d, want 429", r.Status)
	}
	if r := register("2001:db8:1:3::1"); r.Status != http.StatusCreated {
		t.Errorf("another /64: status %d, want 201", r.Status)
	}
}

// TestRegisterWhileUnavailable: registration stays open while no user
// exists yet, when the token endpoint answers 503; the first user added
// opens the token endpoint without a restart.
func TestRegisterWhileUnavailable(t *testing.T) {
	e := newEPEnvWithoutUsers(t, func(o *ServerOptions) { o.SetupHint = "Run: kanban-mcp users add NAME" })
	r := e.do(t, http.MethodPost, PathRegister, "application/json",
		strings.NewReader(`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`))
	if r.Status != http.StatusCreated {
		t.Errorf("registration: status %d, body %s; want 201", r.Status, r.Body)
	}
	id, _ := r.JSON(t)["client_id"].(string)
	form := codeForm(id, "no-such-code", strings.Repeat("v", 43))
	tok := e.postForm(t, PathToken, form)
	if tok.Status != http.StatusServiceUnavailable || !strings.Contains(string(tok.Body), "kanban-mcp users add NAME") ||
		tok.JSON(t)["error"] != "temporarily_unavailable" || tok.Header.Get("Retry-After") == "" {
		t.Errorf("token: status %d, body %s; want 503 temporarily_unavailable naming the setup command, with Retry-After", tok.Status, tok.Body)
	}
	if cc := tok.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token: Cache-Control = %q, want no-store", cc)
	}

	mustAddUser(t, e.users, "alice", goodPassword, "")
	tok = e.postForm(t, PathToken, form)
	if tok.Status != http.StatusBadRequest || tok.JSON(t)["error"] != "invalid_grant" {
		t.Errorf("token with a user: status %d, body %s; want 400 invalid_grant", tok.Status, tok.Body)
	}
}
