package authserver

// Hostile cases of issue 3 ("Tests that must exist"), each asserting the
// exact OAuth error code, or the exact page behaviour, over real HTTP on
// loopback against a real Server on a real SQLite database.
//
// Items of that list that other files already assert exactly, and which are
// therefore not repeated here:
//
//   - wrong PKCE verifier: TestTokenRefusals ("wrong code_verifier", 400
//     invalid_grant) and TestTokenFailureLimitPerGrant;
//   - foreign resource: TestPagesErrorsRedirected ("foreign resource", 302
//     with error=invalid_target, state and iss), TestTokenRefusals
//     ("foreign resource", "two resources", "refresh with a foreign
//     resource": 400 invalid_target);
//   - CSRF token missing or from another session: TestPagesCSRF (403, no
//     Location, "Nothing was done", no grant, no consent),
//     TestPagesAccountListsAndRevokes (revoke form);
//   - ten wrong passwords: TestPagesSignInThrottledNeverLocked (429 with
//     Retry-After, the right password works after the wait);
//   - remembered consent and loopback: TestPagesRememberedConsent,
//     TestPagesPromptNone (consent_required for a loopback redirect URI);
//   - blocked client: TestTokenBlocked (400 invalid_grant, no token, for
//     code and refresh), TestPagesErrorsRedirected ("blocked client":
//     access_denied). A blocked CIMD client: TestCIMDFullFlow.
//
// What this file adds: the resource server's view (401 invalid_token) of
// every revocation, the refresh grace over HTTP, a disabled user over HTTP,
// the consent level as the token carries it, tampered redirect URIs in the
// posted forms, the alg and kid of every kind of issued token against the
// served JWK Set across a key rotation, and one whole flow with the log
// captured (TestSecretsNeverLogged).

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// hsPages lets the browser helpers of pages_test.go drive an epEnv: its
// clock follows the real time (so that the resource server's verifier,
// which uses the real clock, accepts what it mints), and it has the
// blocklist and the captured log of the endpoint tests.
func hsPages(t *testing.T, e *epEnv, client Client) *pageEnv {
	t.Helper()
	return &pageEnv{
		t: t, clock: e.clock, store: e.store, users: e.users, grants: e.grants, server: e.srv,
		http: e.ts, issuer: e.issuer, resource: e.resource, alice: e.alice, client: client,
	}
}

// hsParams is an authorization request of clientID for scope, with the
// challenge of a PKCE verifier, and changes applied ("" removes).
func hsParams(clientID, redirectURI, scope, challenge string, changes map[string]string) url.Values {
	v := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"state":                 {ptState},
		"scope":                 {scope},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	for k, val := range changes {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

// hsResource stands in for the MCP endpoint: the same auth.Authenticator,
// fed from the key table (Keys.KeySource) and asking the built-in issuer's
// revocation check and the operator blocklist, as main wires them.
type hsResource struct{ *httptest.Server }

func newHSResource(t *testing.T, e *epEnv) *hsResource {
	t.Helper()
	ks, err := e.keys.KeySource(t.Context())
	if err != nil {
		t.Fatalf("KeySource: %v", err)
	}
	v, err := auth.NewVerifier(t.Context(), auth.VerifierConfig{Issuer: e.issuer, Audience: e.resource, Keys: ks})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	authn := &auth.Authenticator{
		Verifier:         v,
		Revocations:      auth.AnyRevoked(e.grants.RevocationChecker(e.issuer), e.blocked),
		ResourceMetadata: e.issuer + "/.well-known/oauth-protected-resource/mcp",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authn.Authenticate(w, r)
		if !ok {
			return
		}
		if p == nil {
			auth.Challenge{ResourceMetadata: authn.ResourceMetadata}.WriteHTTP(w, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"sub": p.Subject, "client_id": p.ClientID, "scope": strings.Join(p.Scopes, " ")})
	}))
	t.Cleanup(srv.Close)
	return &hsResource{srv}
}

// hsAnswer is what a resource request got: the status, the error of the
// WWW-Authenticate challenge, and on success the principal's scope.
type hsAnswer struct {
	Status int
	Error  string
	Scope  string
}

var hsChallengeErrorRe = regexp.MustCompile(`(?:^|[ ,])error="([^"]*)"`)

func (r *hsResource) call(t *testing.T, token string) hsAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.URL+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatalf("resource request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := hsAnswer{Status: resp.StatusCode}
	if m := hsChallengeErrorRe.FindStringSubmatch(resp.Header.Get("WWW-Authenticate")); m != nil {
		a.Error = m[1]
	}
	if resp.StatusCode == http.StatusOK {
		var p struct{ Scope string }
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("resource answer %s: %v", body, err)
		}
		a.Scope = p.Scope
	}
	return a
}

// hsErr is a token endpoint answer reduced to what the hostile cases
// assert: the status, the RFC 6749 §5.2 error code, and whether any token
// came with it.
type hsErr struct {
	Status    int
	Error     string
	WithToken bool
}

func hsErrOf(t *testing.T, r epResp) hsErr {
	t.Helper()
	m := r.JSON(t)
	code, _ := m["error"].(string)
	_, access := m["access_token"]
	_, refresh := m["refresh_token"]
	return hsErr{Status: r.Status, Error: code, WithToken: access || refresh}
}

var (
	hsInvalidGrant = hsErr{Status: http.StatusBadRequest, Error: "invalid_grant"}
	hsInvalidScope = hsErr{Status: http.StatusBadRequest, Error: "invalid_scope"}
	hsRevokedToken = hsAnswer{Status: http.StatusUnauthorized, Error: "invalid_token"}
)

// TestHostileRefreshTokenReuse: the rotation rules of issue 3 §6 through
// the token endpoint, and what the resource server makes of the tokens
// afterwards. Reuse after the successor was used revokes the family; a
// retry within the grace succeeds, and the unused successor it replaces is
// dead (presenting it is a reuse, which revokes the family too).
func TestHostileRefreshTokenReuse(t *testing.T) {
	type step struct {
		advance time.Duration
		use     string // the refresh token presented, by name (R1 is the code exchange's)
		issue   string // the name of the answer's refresh token; "" when refused
		want    *hsErr // nil: a successful rotation
	}
	refused := &hsInvalidGrant
	for _, tc := range []struct {
		name        string
		steps       []step
		wantRevoked bool
	}{
		{name: "reuse after the new token was used revokes the family", steps: []step{
			{use: "R1", issue: "R2"},
			{advance: time.Second, use: "R2", issue: "R3"},
			{advance: time.Second, use: "R1", want: refused},
			{use: "R3", want: refused},
		}, wantRevoked: true},
		{name: "reuse once the grace is over revokes the family", steps: []step{
			{use: "R1", issue: "R2"},
			{advance: RefreshGrace, use: "R1", want: refused},
			{use: "R2", want: refused},
		}, wantRevoked: true},
		{name: "retry within the grace succeeds and the chain goes on from it", steps: []step{
			{use: "R1", issue: "R2"},
			{advance: 10 * time.Second, use: "R1", issue: "R3"},
			{advance: time.Second, use: "R3", issue: "R4"},
		}},
		{name: "retry within the grace kills the unused successor", steps: []step{
			{use: "R1", issue: "R2"},
			{advance: 10 * time.Second, use: "R1", issue: "R3"},
			{use: "R2", want: refused},
			{use: "R3", want: refused},
		}, wantRevoked: true},
		{name: "a second retry within the grace revokes the family", steps: []step{
			{use: "R1", issue: "R2"},
			{advance: 5 * time.Second, use: "R1", issue: "R3"},
			{advance: 5 * time.Second, use: "R1", want: refused},
			{use: "R3", want: refused},
		}, wantRevoked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEPEnv(t, nil)
			res := newHSResource(t, e)
			c := e.publicClient(t)
			first := e.connect(t, c.ID, epAuthz{scope: []string{"kanban.write"}})
			grantID := grantOf(t, first.AccessToken)
			refresh := map[string]string{"R1": first.RefreshToken}
			access := map[string]string{"R1": first.AccessToken}
			last := "R1"
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				r := e.postForm(t, PathToken, refreshForm(c.ID, refresh[s.use]))
				if s.want != nil {
					if diff := cmp.Diff(*s.want, hsErrOf(t, r)); diff != "" {
						t.Fatalf("step %d (%s): answer (-want +got):\n%s\nbody: %s", i+1, s.use, diff, r.Body)
					}
					continue
				}
				tok := tokens(t, r)
				for name, old := range refresh {
					if tok.RefreshToken == old {
						t.Fatalf("step %d: the new refresh token equals %s", i+1, name)
					}
				}
				refresh[s.issue], access[s.issue], last = tok.RefreshToken, tok.AccessToken, s.issue
			}
			if got := e.revoked(t, grantID); got != tc.wantRevoked {
				t.Errorf("grant revoked = %v, want %v", got, tc.wantRevoked)
			}
			if tc.wantRevoked {
				// The whole family: every access token it issued is
				// refused on the very next request.
				for name, tok := range access {
					if diff := cmp.Diff(hsRevokedToken, res.call(t, tok)); diff != "" {
						t.Errorf("resource with the access token issued with %s (-want +got):\n%s", name, diff)
					}
				}
				if !strings.Contains(e.logs.String(), "possible token theft") {
					t.Errorf("the reuse was not logged as a possible theft")
				}
				return
			}
			want := hsAnswer{Status: http.StatusOK, Scope: "kanban.write kanban.read"}
			if diff := cmp.Diff(want, res.call(t, access[last])); diff != "" {
				t.Errorf("resource with the live chain's access token (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHostileCodeReplay: a replayed code gets invalid_grant, and what the
// first exchange issued dies with it: the refresh token at the token
// endpoint, the access token at the resource.
func TestHostileCodeReplay(t *testing.T) {
	e := newEPEnv(t, nil)
	res := newHSResource(t, e)
	c := e.publicClient(t)
	code, verifier := e.authorize(t, c.ID, epAuthz{})
	first := tokens(t, e.postForm(t, PathToken, codeForm(c.ID, code, verifier)))
	if diff := cmp.Diff(hsAnswer{Status: http.StatusOK, Scope: "kanban.write kanban.read"}, res.call(t, first.AccessToken)); diff != "" {
		t.Fatalf("control: resource before the replay (-want +got):\n%s", diff)
	}

	e.clock.Advance(5 * time.Second)
	if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, codeForm(c.ID, code, verifier)))); diff != "" {
		t.Errorf("replayed code (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(hsRevokedToken, res.call(t, first.AccessToken)); diff != "" {
		t.Errorf("resource with the first exchange's access token after the replay (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, refreshForm(c.ID, first.RefreshToken)))); diff != "" {
		t.Errorf("the first exchange's refresh token after the replay (-want +got):\n%s", diff)
	}
}

// TestHostileDisabledUser: disabling a user refuses a refresh and a
// pending code with invalid_grant, and the user's access tokens with 401
// invalid_token, both at the resource and at userinfo, on the very next
// request.
func TestHostileDisabledUser(t *testing.T) {
	e := newEPEnv(t, nil)
	res := newHSResource(t, e)
	c := e.publicClient(t)
	tok := e.connect(t, c.ID, epAuthz{scope: []string{"kanban.write", "openid"}})
	pending, pendingVerifier := e.authorize(t, c.ID, epAuthz{})
	// Control: before, all of it works.
	if got := res.call(t, tok.AccessToken); got.Status != http.StatusOK {
		t.Fatalf("control: resource status %d before disabling", got.Status)
	}
	if r := e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok.AccessToken)); r.Status != http.StatusOK {
		t.Fatalf("control: userinfo status %d before disabling: %s", r.Status, r.Body)
	}

	if _, err := e.users.DisableUser(t.Context(), "alice"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}
	if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, refreshForm(c.ID, tok.RefreshToken)))); diff != "" {
		t.Errorf("refresh of a disabled user (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, codeForm(c.ID, pending, pendingVerifier)))); diff != "" {
		t.Errorf("code exchange of a disabled user (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(hsRevokedToken, res.call(t, tok.AccessToken)); diff != "" {
		t.Errorf("resource with a disabled user's access token (-want +got):\n%s", diff)
	}
	r := e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok.AccessToken))
	got := hsAnswer{Status: r.Status}
	if m := hsChallengeErrorRe.FindStringSubmatch(r.Header.Get("WWW-Authenticate")); m != nil {
		got.Error = m[1]
	}
	if diff := cmp.Diff(hsRevokedToken, got); diff != "" {
		t.Errorf("userinfo with a disabled user's access token (-want +got):\n%s", diff)
	}
}

// TestHostileLowerLevelChosen: the person chooses less than the client
// asked for on the consent page; the token answer, the access token's
// scope claim and the resource server all carry only the chosen level (and
// the levels it implies), and a refresh cannot climb back to what was
// asked.
func TestHostileLowerLevelChosen(t *testing.T) {
	for _, tc := range []struct {
		requested string
		preselect string // admin is sensitive: never pre-selected
		chosen    auth.Scope
		wantScope string
	}{
		{"kanban.admin", "kanban.write", scopeRead, "kanban.read"},
		{"kanban.admin", "kanban.write", scopeWrite, "kanban.write kanban.read"},
		{"kanban.write", "kanban.write", scopeRead, "kanban.read"},
	} {
		t.Run(tc.requested+"→"+string(tc.chosen), func(t *testing.T) {
			e := newEPEnv(t, nil)
			res := newHSResource(t, e)
			c := e.publicClient(t)
			b := hsPages(t, e, c).browser()
			verifier, challenge := newPKCE()
			p := b.signIn(b.authorize(hsParams(c.ID, epRedirect, tc.requested, challenge, nil)), "alice")
			if _, checked := offeredLevels(p.body); checked != tc.preselect {
				t.Fatalf("preselected level %q, want %q", checked, tc.preselect)
			}
			code := ptRedirectQueryOf(t, b.allow(p, tc.chosen), epRedirect).Get("code")

			r := e.postForm(t, PathToken, codeForm(c.ID, code, verifier))
			tok := tokens(t, r)
			_, claims := decodeJWT(t, tok.AccessToken)
			got := map[string]any{"answer scope": tok.Scope, "scope claim": claims["scope"]}
			want := map[string]any{"answer scope": tc.wantScope, "scope claim": tc.wantScope}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("token scope (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(hsAnswer{Status: http.StatusOK, Scope: tc.wantScope}, res.call(t, tok.AccessToken)); diff != "" {
				t.Errorf("resource (-want +got):\n%s", diff)
			}

			// Asking for the requested level at refresh is refused, and the
			// token still works afterwards at the chosen level.
			f := refreshForm(c.ID, tok.RefreshToken)
			f.Set("scope", tc.requested)
			if diff := cmp.Diff(hsInvalidScope, hsErrOf(t, e.postForm(t, PathToken, f))); diff != "" {
				t.Errorf("refresh asking for the requested level (-want +got):\n%s", diff)
			}
			if next := tokens(t, e.postForm(t, PathToken, refreshForm(c.ID, tok.RefreshToken))); next.Scope != tc.wantScope {
				t.Errorf("refreshed scope %q, want %q", next.Scope, tc.wantScope)
			}
		})
	}
}

// TestHostileRedirectURIOneCharacterOff: a redirect URI that differs from
// a registered one by one character gets an error page and never a
// redirect, whether it comes in the query or in a posted form's hidden
// field (a tampered sign-in or consent form); nothing is issued or
// remembered, and no session starts. (The GET with an https URI is in
// TestPagesErrorsBeforeRedirectIsVerified, the token endpoint's
// invalid_grant in TestTokenRefusals.)
func TestHostileRedirectURIOneCharacterOff(t *testing.T) {
	const loopback = "http://127.0.0.1/callback"
	// seen is what the test checks of the answer.
	type seen struct {
		Status            int
		Location          string
		HTML              bool
		FramingRefused    bool
		SaysNotRegistered bool
		HasForm           bool
	}
	wantPage := seen{Status: http.StatusBadRequest, HTML: true, FramingRefused: true, SaysNotRegistered: true}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e *epEnv, b *ptBrowser, c Client, challenge string) ptResponse
		// signedIn: the browser holds a session after the request (the
		// consent case signs in first, on purpose).
		signedIn bool
	}{
		{name: "GET, loopback path one character off", run: func(t *testing.T, e *epEnv, b *ptBrowser, c Client, ch string) ptResponse {
			return b.authorize(hsParams(c.ID, "http://127.0.0.1/callbacc", "kanban.read", ch, nil))
		}},
		{name: "GET, loopback address one character off", run: func(t *testing.T, e *epEnv, b *ptBrowser, c Client, ch string) ptResponse {
			return b.authorize(hsParams(c.ID, "http://127.0.0.2/callback", "kanban.read", ch, nil))
		}},
		{name: "GET, https scheme one character off", run: func(t *testing.T, e *epEnv, b *ptBrowser, c Client, ch string) ptResponse {
			return b.authorize(hsParams(c.ID, "http://app.example/callback", "kanban.read", ch, nil))
		}},
		{name: "sign-in form with a tampered redirect_uri", run: func(t *testing.T, e *epEnv, b *ptBrowser, c Client, ch string) ptResponse {
			p := b.authorize(hsParams(c.ID, epRedirect, "kanban.read", ch, nil))
			if !isSignInPage(p) {
				t.Fatalf("control: no sign-in page (status %d)", p.status)
			}
			return b.submit(p, map[string]string{"redirect_uri": epRedirect + "x", "username": "alice", "password": goodPassword})
		}},
		{name: "consent form with a tampered redirect_uri", signedIn: true, run: func(t *testing.T, e *epEnv, b *ptBrowser, c Client, ch string) ptResponse {
			p := b.signIn(b.authorize(hsParams(c.ID, epRedirect, "kanban.read", ch, nil)), "alice")
			return b.submit(p, map[string]string{"redirect_uri": "https://app.example/callbacK", "decision": "allow", "level": "kanban.read"})
		}},
		{name: "consent form with a tampered loopback redirect_uri", signedIn: true, run: func(t *testing.T, e *epEnv, b *ptBrowser, c Client, ch string) ptResponse {
			p := b.signIn(b.authorize(hsParams(c.ID, loopback, "kanban.read", ch, nil)), "alice")
			return b.submit(p, map[string]string{"redirect_uri": "http://127.0.0.1/callbac", "decision": "allow", "level": "kanban.read"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEPEnv(t, nil)
			c, _ := mustRegister(t, e.store, RegistrationRequest{
				RedirectURIs: []string{epRedirect, loopback}, TokenEndpointAuthMethod: AuthMethodNone, ClientName: "One-off",
			}, SourceDCR)
			b := hsPages(t, e, c).browser()
			_, challenge := newPKCE()
			p := tc.run(t, e, b, c, challenge)
			got := seen{
				Status:            p.status,
				Location:          p.header.Get("Location"),
				HTML:              strings.HasPrefix(p.header.Get("Content-Type"), "text/html"),
				FramingRefused:    strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'"),
				SaysNotRegistered: strings.Contains(p.body, "is not one that this application registered"),
				HasForm:           strings.Contains(p.body, "<form"),
			}
			if diff := cmp.Diff(wantPage, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s\nbody:\n%s", diff, p.body)
			}
			if gs := hsPages(t, e, c).grantsOf(e.alice); len(gs) != 0 {
				t.Errorf("grants after the refused request: %v", gs)
			}
			if _, ok, _ := e.grants.Consent(t.Context(), e.alice.Subject, c.ID); ok {
				t.Errorf("the refused request remembered a consent")
			}
			if has := b.cookie(sessionCookie) != ""; has != tc.signedIn {
				t.Errorf("session cookie present = %v, want %v", has, tc.signedIn)
			}
		})
	}
}

// hsJWK is one key of the served JWK Set.
type hsJWK struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kty string `json:"kty"`
}

// TestHostileTokensMatchJWKS: every kind of token the server issues (the
// code exchange's access and ID tokens, a refreshed access token, and the
// same after a key rotation) names in its header an alg and a kid that the
// served JWK Set publishes, with that alg on that key, and verifies against
// the served set alone.
func TestHostileTokensMatchJWKS(t *testing.T) {
	e := newEPEnv(t, nil)
	c := e.publicClient(t)
	kidBefore, _, err := e.keys.Signer(t.Context())
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	first := e.connect(t, c.ID, epAuthz{scope: []string{"kanban.read", "openid"}, nonce: "n-jwks"})
	refreshed := tokens(t, e.postForm(t, PathToken, refreshForm(c.ID, first.RefreshToken)))

	kidAfter, _, err := e.keys.Rotate(t.Context(), true)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if kidAfter == kidBefore {
		t.Fatalf("control: the rotation kept the kid %s", kidAfter)
	}
	rotated := tokens(t, e.postForm(t, PathToken, refreshForm(c.ID, refreshed.RefreshToken)))
	after := e.connect(t, c.ID, epAuthz{scope: []string{"kanban.read", "openid"}, nonce: "n-jwks-2"})

	served := e.do(t, http.MethodGet, PathJWKS, "", nil)
	if served.Status != http.StatusOK {
		t.Fatalf("JWKS: status %d", served.Status)
	}
	var set struct{ Keys []hsJWK }
	if err := json.Unmarshal(served.Body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", served.Body, err)
	}
	kf, err := keyfunc.NewJWKSetJSON(served.Body)
	if err != nil {
		t.Fatalf("keyfunc over the served JWKS: %v", err)
	}

	for _, tc := range []struct {
		name, token, wantKID string
		audience             string
		wantTyp              string
	}{
		{"access token of the code exchange", first.AccessToken, kidBefore, e.resource, "at+jwt"},
		{"ID token of the code exchange", first.IDToken, kidBefore, c.ID, "JWT"},
		{"access token of a refresh", refreshed.AccessToken, kidBefore, e.resource, "at+jwt"},
		{"access token of a refresh after the rotation", rotated.AccessToken, kidAfter, e.resource, "at+jwt"},
		{"access token of a code exchange after the rotation", after.AccessToken, kidAfter, e.resource, "at+jwt"},
		{"ID token of a code exchange after the rotation", after.IDToken, kidAfter, c.ID, "JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.token == "" {
				t.Fatalf("no token")
			}
			header, _ := decodeJWT(t, tc.token)
			kid, _ := header["kid"].(string)
			alg, _ := header["alg"].(string)
			i := slices.IndexFunc(set.Keys, func(k hsJWK) bool { return k.KID == kid })
			if i < 0 {
				t.Fatalf("kid %q is not in the served JWKS %+v", kid, set.Keys)
			}
			want := hsJWK{KID: tc.wantKID, Alg: "RS256", Use: "sig", Kty: "RSA"}
			got := hsJWK{KID: kid, Alg: alg, Use: set.Keys[i].Use, Kty: set.Keys[i].Kty}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("token header alg/kid and its JWK (-want +got):\n%s", diff)
			}
			if set.Keys[i].Alg != alg {
				t.Errorf("the JWK %s has alg %q, the token's header %q", kid, set.Keys[i].Alg, alg)
			}
			if header["typ"] != tc.wantTyp {
				t.Errorf("typ %v, want %s", header["typ"], tc.wantTyp)
			}
			if _, err := jwt.Parse(tc.token, kf.Keyfunc, jwt.WithValidMethods([]string{alg}),
				jwt.WithIssuer(e.issuer), jwt.WithAudience(tc.audience), jwt.WithExpirationRequired()); err != nil {
				t.Errorf("the token does not verify against the served JWKS: %v", err)
			}
		})
	}

	// Control: a token whose signature the published key does not verify
	// (same alg, same kid) is refused, so the check above can fail.
	forged := hsResign(t, first.AccessToken)
	if _, err := jwt.Parse(forged, kf.Keyfunc, jwt.WithValidMethods([]string{"RS256"})); err == nil {
		t.Errorf("a token with a forged signature verified against the JWKS")
	}
}

// hsResign returns tok with one bit of its signature flipped: same header
// (alg, kid), same claims, a signature the published key does not verify.
func hsResign(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	sig[len(sig)/2] ^= 0x01
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestSecretsNeverLogged runs one whole flow with the server's log
// captured (a slog handler at debug level): dynamic registration of a
// confidential client, the sign-in page with failed attempts, consent, code
// exchange with a wrong and then the right client secret, refresh, a grace
// retry and a reuse (logged as a warning), a code replay, userinfo, a
// remembered-consent authorization, RFC 7009 revocation, and revocation
// and sign-out on /account. Then it looks in the log for every secret
// that went over the wire: passwords, the client secret, codes, PKCE
// verifiers, access, refresh and ID tokens (whole and each JWT part), the
// session and pre-session cookies and the CSRF tokens, also in their URL
// encodings.
func TestSecretsNeverLogged(t *testing.T) {
	e := newEPEnv(t, nil)
	const (
		wrongPassword = "not-the-password-but-close-1"
		typoName      = "correct horse battery typed-as-name"
	)
	secrets := map[string]string{
		"password":                       goodPassword,
		"wrong password":                 wrongPassword,
		"password typed in the name box": typoName,
	}
	add := func(name, v string) {
		t.Helper()
		if v == "" {
			t.Fatalf("the secret %s is empty: the flow did not run as planned", name)
		}
		secrets[name] = v
	}

	// Registration: a confidential client.
	reg := e.do(t, http.MethodPost, PathRegister, "application/json", strings.NewReader(
		`{"redirect_uris":["`+epRedirect+`"],"grant_types":["authorization_code","refresh_token"],`+
			`"token_endpoint_auth_method":"client_secret_basic","client_name":"Log test"}`))
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: status %d, body %s", reg.Status, reg.Body)
	}
	clientID, _ := reg.JSON(t)["client_id"].(string)
	secret, _ := reg.JSON(t)["client_secret"].(string)
	add("client secret", secret)
	basic := withBasic(clientID, secret)

	// The browser: two failed sign-ins, then sign-in and consent.
	b := hsPages(t, e, Client{ID: clientID}).browser()
	verifier1, challenge1 := newPKCE()
	add("PKCE verifier 1", verifier1)
	params := hsParams(clientID, epRedirect, "kanban.write openid", challenge1, map[string]string{"nonce": "nonce-of-the-log-test"})
	p := b.authorize(params)
	add("sign-in CSRF token", ptCSRF(t, p.body))
	add("pre-session cookie", b.cookie(preSessionCookie))
	for _, wrong := range []map[string]string{
		{"username": "alice", "password": wrongPassword},
		{"username": typoName, "password": wrongPassword},
	} {
		if got := b.submit(p, wrong); got.status != http.StatusBadRequest {
			t.Fatalf("failed sign-in: status %d", got.status)
		}
	}
	p = b.signIn(p, "alice")
	add("session CSRF token", ptCSRF(t, p.body))
	add("session cookie", b.cookie(sessionCookie))
	code1 := ptRedirectQueryOf(t, b.allow(p, scopeWrite), epRedirect).Get("code")
	add("code 1", code1)

	// The client: a wrong secret, then the exchange, refresh, a grace
	// retry, the dead successor (reuse: the grant dies), a code replay.
	if r := e.postForm(t, PathToken, codeForm(clientID, code1, verifier1), withBasic(clientID, secret+"x")); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong client secret: status %d", r.Status)
	}
	form1 := codeForm(clientID, code1, verifier1)
	form1.Del("client_id")
	tok1 := tokens(t, e.postForm(t, PathToken, form1, basic))
	add("access token 1", tok1.AccessToken)
	add("refresh token 1", tok1.RefreshToken)
	add("ID token 1", tok1.IDToken)
	rf := func(tok string) url.Values { f := refreshForm(clientID, tok); f.Del("client_id"); return f }
	tok2 := tokens(t, e.postForm(t, PathToken, rf(tok1.RefreshToken), basic))
	add("access token 2", tok2.AccessToken)
	add("refresh token 2", tok2.RefreshToken)
	e.clock.Advance(5 * time.Second)
	tok3 := tokens(t, e.postForm(t, PathToken, rf(tok1.RefreshToken), basic))
	add("access token 3", tok3.AccessToken)
	add("refresh token 3", tok3.RefreshToken)
	if r := e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok3.AccessToken)); r.Status != http.StatusOK {
		t.Fatalf("userinfo: status %d, body %s", r.Status, r.Body)
	}
	if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, rf(tok2.RefreshToken), basic))); diff != "" {
		t.Fatalf("the dead successor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(hsInvalidGrant, hsErrOf(t, e.postForm(t, PathToken, form1, basic))); diff != "" {
		t.Fatalf("code replay (-want +got):\n%s", diff)
	}
	e.do(t, http.MethodGet, PathUserinfo, "", nil, withHeader("Authorization", "Bearer "+tok3.AccessToken)) // refused now

	// A second authorization: the consent is remembered (https redirect
	// URI), so the code comes at once; then RFC 7009 revocation.
	verifier2, challenge2 := newPKCE()
	add("PKCE verifier 2", verifier2)
	code2 := ptRedirectQueryOf(t, b.authorize(hsParams(clientID, epRedirect, "kanban.write", challenge2, nil)), epRedirect).Get("code")
	add("code 2", code2)
	form2 := codeForm(clientID, code2, verifier2)
	form2.Del("client_id")
	tok4 := tokens(t, e.postForm(t, PathToken, form2, basic))
	add("access token 4", tok4.AccessToken)
	add("refresh token 4", tok4.RefreshToken)
	if r := e.postForm(t, PathRevoke, url.Values{"token": {tok4.AccessToken}}, basic); r.Status != http.StatusOK {
		t.Fatalf("revoke: status %d, body %s", r.Status, r.Body)
	}
	e.postForm(t, PathRevoke, url.Values{"token": {tok4.RefreshToken}, "token_type_hint": {"refresh_token"}}, basic)

	// A third authorization, revoked on /account; then sign-out.
	_, challenge3 := newPKCE()
	code3 := ptRedirectQueryOf(t, b.authorize(hsParams(clientID, epRedirect, "kanban.write", challenge3, nil)), epRedirect).Get("code")
	add("code 3", code3)
	acct := b.get(PathAccount)
	add("account CSRF token", ptCSRF(t, acct.body))
	if m := ptGrantRe.FindStringSubmatch(acct.body); m != nil {
		b.post(pathAccountRevoke, url.Values{"csrf": {ptCSRF(t, acct.body)}, "grant": {m[1]}})
	}
	b.post(pathAccountSignOut, url.Values{"csrf": {ptCSRF(t, acct.body)}})

	log := e.logs.String()
	// Control: the flow ran as planned, and the log did record it.
	for _, event := range []string{"client registered", "sign-in failed", "signed in", "authorization approved",
		"token request refused", "tokens issued", "possible token theft", "grant revoked by its client",
		"grant revoked by the user", "signed out"} {
		if !strings.Contains(log, event) {
			t.Errorf("the log lacks %q, so the flow did not run as planned; log:\n%s", event, log)
		}
	}
	for name, s := range secrets {
		forms := []string{s, url.QueryEscape(s), url.PathEscape(s)}
		// A JWT's payload or signature alone is as telling as the whole.
		if parts := strings.Split(s, "."); len(parts) == 3 {
			forms = append(forms, parts[1], parts[2])
		}
		for _, f := range forms {
			if strings.Contains(log, f) {
				t.Errorf("the log contains the %s (%.10s…)", name, f)
			}
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
}
