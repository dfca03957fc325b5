package authserver

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"

	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// The pages are tested as a browser uses them: a real Server on an
// httptest server, a net/http client with a cookie jar, and real form
// posts whose hidden fields (the CSRF token included) are read from the
// served HTML.

const (
	ptRedirect         = "https://app.example/callback"
	ptRedirectQuery    = "https://app.example/cb?tenant=a%20b&x=1"
	ptRedirectLoopback = "http://127.0.0.1/callback"
	ptState            = "st-123/xyz"
	ptClientName       = "Test App"
)

// ptBlocklist is the operator blocklist: blocked clients and subjects.
type ptBlocklist struct {
	mu       sync.Mutex
	clients  map[string]bool
	subjects map[string]bool
}

func (b *ptBlocklist) Revoked(_ context.Context, p *auth.Principal) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clients[p.ClientID] || b.subjects[p.Subject], nil
}

func (b *ptBlocklist) block(client, subject string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if client != "" {
		b.clients[client] = true
	}
	if subject != "" {
		b.subjects[subject] = true
	}
}

// pageEnv is a running authorization server with two users and a
// registered public client.
type pageEnv struct {
	t        *testing.T
	clock    *testClock
	store    *Store
	users    *Users
	grants   *Grants
	keys     *Keys
	server   *Server
	mux      *http.ServeMux
	http     *httptest.Server // nil when the env is used through recorders only
	issuer   string
	resource string
	log      *syncbuf.Buffer
	blocks   *ptBlocklist
	alice    User
	bob      User
	client   Client
}

type pageEnvOptions struct {
	// issuer, when set, is used instead of the httptest server's URL,
	// and no httptest server is started (tests use recorders).
	issuer    string
	setupHint string
	cimd      *CIMDFetcher
	noUsers   bool // start with no user at all
	// extraResources are ServerOptions.ExtraResources.
	extraResources []string
	// upstream, when set, makes ServerOptions.Upstream for the issuer;
	// upstreamMaxAge is then the grants' UpstreamSessionMaxAge.
	upstream       func(issuer string) *UpstreamOptions
	upstreamMaxAge time.Duration
	// limits is ServerOptions.Limits.
	limits ratelimit.Backend
	// metrics is ServerOptions.Metrics.
	metrics *metrics.AuthServer
}

func newPageEnv(t *testing.T, opts pageEnvOptions) *pageEnv {
	t.Helper()
	clock := newTestClock()
	st := openTestStore(t, clock)
	users := NewUsers(st, testHasher(t, testHashParams, 2))
	grants, err := st.Grants(users, GrantOptions{Scopes: testScopes(t), UpstreamSessionMaxAge: opts.upstreamMaxAge})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	keys, err := st.Keys(t.Context(), KeyOptions{})
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	keySource, err := keys.KeySource(t.Context())
	if err != nil {
		t.Fatalf("KeySource: %v", err)
	}
	e := &pageEnv{
		t: t, clock: clock, store: st, users: users, grants: grants, keys: keys,
		mux:    http.NewServeMux(),
		log:    &syncbuf.Buffer{},
		blocks: &ptBlocklist{clients: map[string]bool{}, subjects: map[string]bool{}},
	}
	if !opts.noUsers {
		e.alice = mustAddUser(t, users, "alice", goodPassword, "")
		e.bob = mustAddUser(t, users, "bob", goodPassword, "")
	}
	e.issuer = opts.issuer
	if e.issuer == "" {
		e.http = httptest.NewServer(e.mux)
		t.Cleanup(e.http.Close)
		e.issuer = e.http.URL
	}
	e.resource = e.issuer + "/mcp"
	cimd := opts.cimd
	if cimd == nil {
		cimd = NewCIMDFetcher(CIMDOptions{})
	}
	var up *UpstreamOptions
	if opts.upstream != nil {
		up = opts.upstream(e.issuer)
	}
	e.server, err = NewServer(ServerOptions{
		Upstream: up,
		Issuer:   e.issuer, Resource: e.resource, ExtraResources: opts.extraResources,
		Store: st, Keys: keys, IDTokenKeys: keySource, Users: users, Grants: grants, CIMD: cimd,
		Blocked:   e.blocks,
		SetupHint: opts.setupHint,
		Limits:    opts.limits,
		Metrics:   opts.metrics,
		Logger:    slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       clock.Now,
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	e.server.Routes(e.mux)
	e.client = e.registerClient(ptClientName, ptRedirect, ptRedirectQuery, ptRedirectLoopback)
	return e
}

func (e *pageEnv) registerClient(name string, redirects ...string) Client {
	e.t.Helper()
	reg, err := ValidateRegistration(RegistrationRequest{RedirectURIs: redirects, TokenEndpointAuthMethod: AuthMethodNone, ClientName: name})
	if err != nil {
		e.t.Fatalf("ValidateRegistration: %v", err)
	}
	c, _, err := e.store.RegisterClient(e.t.Context(), reg, SourceDCR)
	if err != nil {
		e.t.Fatalf("RegisterClient: %v", err)
	}
	return c
}

// params is a valid authorization request of e.client for kanban.write,
// with changes applied (an empty value removes the parameter).
func (e *pageEnv) params(changes map[string]string) url.Values {
	v := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.client.ID},
		"redirect_uri":          {ptRedirect},
		"state":                 {ptState},
		"scope":                 {"kanban.write"},
		"code_challenge":        {gtChallenge},
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

func (e *pageEnv) grantsOf(u User) []Grant {
	e.t.Helper()
	gs, err := e.grants.ListGrants(e.t.Context(), u.Subject)
	if err != nil {
		e.t.Fatalf("ListGrants: %v", err)
	}
	return gs
}

// ptResponse is a response as the test sees it.
type ptResponse struct {
	status int
	header http.Header
	body   string
}

// ptBrowser is one browser: its own cookie jar; redirects are not
// followed, so that each step can be inspected.
type ptBrowser struct {
	t   *testing.T
	env *pageEnv
	hc  *http.Client
}

func (e *pageEnv) browser() *ptBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatalf("cookiejar: %v", err)
	}
	return &ptBrowser{t: e.t, env: e, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *ptBrowser) do(method, path string, form url.Values) ptResponse {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.env.http.URL+path, body)
	if err != nil {
		b.t.Fatalf("NewRequest: %v", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read body: %v", err)
	}
	return ptResponse{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *ptBrowser) get(path string) ptResponse { b.t.Helper(); return b.do(http.MethodGet, path, nil) }

func (b *ptBrowser) post(path string, form url.Values) ptResponse {
	b.t.Helper()
	return b.do(http.MethodPost, path, form)
}

func (b *ptBrowser) authorize(params url.Values) ptResponse {
	b.t.Helper()
	return b.get(PathAuthorize + "?" + params.Encode())
}

// cookie returns the value of the browser's cookie name, "" if none.
func (b *ptBrowser) cookie(name string) string {
	u, _ := url.Parse(b.env.http.URL)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var (
	ptHiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	ptActionRe = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	ptLevelRe  = regexp.MustCompile(`<input type="radio" name="level" id="[^"]*" value="([^"]*)"( checked)?>`)
	ptGrantRe  = regexp.MustCompile(`<input type="hidden" name="grant" value="([^"]*)">`)
)

// ptHidden returns the hidden fields of the page's forms.
func ptHidden(body string) url.Values {
	v := url.Values{}
	for _, m := range ptHiddenRe.FindAllStringSubmatch(body, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// ptCSRF returns the page's CSRF token, failing the test when there is
// none.
func ptCSRF(t *testing.T, body string) string {
	t.Helper()
	tok := ptHidden(body).Get("csrf")
	if tok == "" {
		t.Fatalf("the page has no csrf hidden field:\n%s", body)
	}
	return tok
}

// submit posts the page's (only or first) form with its hidden fields and
// set (an empty value removes the field).
func (b *ptBrowser) submit(p ptResponse, set map[string]string) ptResponse {
	b.t.Helper()
	return b.submitValues(p, set, nil)
}

// submitValues is submit that also adds the values of add (several
// checkboxes of one name).
func (b *ptBrowser) submitValues(p ptResponse, set map[string]string, add url.Values) ptResponse {
	b.t.Helper()
	m := ptActionRe.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("the page has no form (status %d):\n%s", p.status, p.body)
	}
	fields := ptHidden(p.body)
	for k, v := range set {
		if v == "" {
			fields.Del(k)
		} else {
			fields.Set(k, v)
		}
	}
	for k, vs := range add {
		for _, v := range vs {
			fields.Add(k, v)
		}
	}
	return b.post(html.UnescapeString(m[1]), fields)
}

func isSignInPage(p ptResponse) bool { return strings.Contains(p.body, `name="password"`) }
func isConsentPage(p ptResponse) bool {
	return strings.Contains(p.body, `name="decision" value="allow"`)
}

// signIn posts credentials on a sign-in page and expects the consent page.
func (b *ptBrowser) signIn(p ptResponse, name string) ptResponse {
	b.t.Helper()
	if !isSignInPage(p) {
		b.t.Fatalf("expected the sign-in page, got status %d:\n%s", p.status, p.body)
	}
	return b.submit(p, map[string]string{"username": name, "password": goodPassword})
}

// allow approves a consent page at level.
func (b *ptBrowser) allow(p ptResponse, level auth.Scope) ptResponse {
	b.t.Helper()
	if !isConsentPage(p) {
		b.t.Fatalf("expected the consent page, got status %d:\n%s", p.status, p.body)
	}
	return b.submit(p, map[string]string{"decision": "allow", "level": string(level)})
}

// connect runs a whole authorization as name, choosing level when the
// consent page shows, and returns the code.
func (b *ptBrowser) connect(params url.Values, name string, level auth.Scope) string {
	b.t.Helper()
	p := b.authorize(params)
	if isSignInPage(p) {
		p = b.signIn(p, name)
	}
	if isConsentPage(p) {
		p = b.allow(p, level)
	}
	q := ptRedirectQueryOf(b.t, p, params.Get("redirect_uri"))
	if q.Get("code") == "" {
		b.t.Fatalf("redirect without a code: %v", q)
	}
	return q.Get("code")
}

// ptRedirectQueryOf checks that p redirects to redirectURI (its own query
// kept as it was) and returns the parameters added to it.
func ptRedirectQueryOf(t *testing.T, p ptResponse, redirectURI string) url.Values {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect to %s; body:\n%s", p.status, redirectURI, p.body)
	}
	loc := p.header.Get("Location")
	prefix := redirectURI + "?"
	if strings.Contains(redirectURI, "?") {
		prefix = redirectURI + "&"
	}
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("Location %q does not start with %q", loc, prefix)
	}
	q, err := url.ParseQuery(strings.TrimPrefix(loc, prefix))
	if err != nil {
		t.Fatalf("Location %q: %v", loc, err)
	}
	if code := q.Get("code"); code != "" && strings.Contains(p.body, code) {
		t.Errorf("the redirect's body contains the code")
	}
	return q
}

// redeem redeems code as e.client with the PKCE verifier.
func (e *pageEnv) redeem(code, redirectURI string) Grant {
	e.t.Helper()
	g, err := e.grants.RedeemCode(e.t.Context(), RedeemRequest{Code: code, ClientID: e.client.ID, RedirectURI: redirectURI, CodeVerifier: gtVerifier})
	if err != nil {
		e.t.Fatalf("RedeemCode: %v", err)
	}
	return g
}

func scopeStrings(ss ...auth.Scope) []string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s))
	}
	return out
}

// offeredLevels returns the levels a consent page offers and the one
// preselected.
func offeredLevels(body string) (levels []string, checked string) {
	for _, m := range ptLevelRe.FindAllStringSubmatch(body, -1) {
		levels = append(levels, m[1])
		if m[2] != "" {
			checked = m[1]
		}
	}
	return levels, checked
}

func TestPagesAuthorizeFullFlow(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	params := e.params(map[string]string{"scope": "kanban.write openid email", "nonce": "n-1", "resource": e.resource})

	p := b.authorize(params)
	if p.status != http.StatusOK || !isSignInPage(p) {
		t.Fatalf("GET authorize: status %d, want 200 and the sign-in page:\n%s", p.status, p.body)
	}
	ptCSRF(t, p.body)
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q, want frame-ancestors 'none'", csp)
	}
	if !strings.Contains(p.body, ptClientName) {
		t.Errorf("the sign-in page does not name the client %q", ptClientName)
	}

	p = b.signIn(p, "alice")
	if p.status != http.StatusOK || !isConsentPage(p) {
		t.Fatalf("sign-in: status %d, want 200 and the consent page:\n%s", p.status, p.body)
	}
	levels, checked := offeredLevels(p.body)
	if diff := cmp.Diff([]string{"kanban.read", "kanban.write"}, levels); diff != "" {
		t.Errorf("offered levels (-want +got):\n%s", diff)
	}
	if checked != "kanban.write" {
		t.Errorf("preselected level %q, want kanban.write", checked)
	}
	for _, want := range []string{ptClientName, e.client.ID, "app.example", "alice", "name chosen by the application"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the consent page does not show %q", want)
		}
	}
	ptCSRF(t, p.body)

	signedInAt := e.clock.Now()
	e.clock.Advance(5 * time.Second) // on the consent page
	p = b.allow(p, scopeWrite)
	if p.status != http.StatusSeeOther {
		t.Errorf("allow: status %d, want 303 (never 307 after a post)", p.status)
	}
	q := ptRedirectQueryOf(t, p, ptRedirect)
	code := q.Get("code")
	q.Del("code")
	if diff := cmp.Diff(url.Values{"state": {ptState}, "iss": {e.issuer}}, q); diff != "" {
		t.Errorf("redirect parameters besides code (-want +got):\n%s", diff)
	}
	if p.body != "" {
		t.Errorf("the redirect has a body: %q", p.body)
	}

	g := e.redeem(code, ptRedirect)
	type view struct {
		Subject, ClientID, Resource, Nonce string
		Scope                              []string
		AuthTime                           string
	}
	want := view{e.alice.Subject, e.client.ID, e.resource, "n-1", []string{"kanban.write", "kanban.read", "openid"}, signedInAt.UTC().String()}
	got := view{g.Subject, g.ClientID, g.Resource, g.Nonce, g.Scope, g.AuthTime.UTC().String()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("redeemed grant (-want +got):\n%s", diff)
	}
	remembered, ok, err := e.grants.Consent(t.Context(), e.alice.Subject, e.client.ID)
	if err != nil || !ok || !slices.Equal(remembered, []auth.Scope{scopeRead, scopeWrite}) {
		t.Errorf("remembered consent = %q, %v, %v; want kanban.read and kanban.write", remembered, ok, err)
	}
}

func TestPagesConsentLowerLevel(t *testing.T) {
	tests := []struct {
		requested string
		chosen    auth.Scope
		want      []string
	}{
		{"kanban.admin", scopeRead, scopeStrings(scopeRead)},
		{"kanban.admin", scopeWrite, scopeStrings(scopeWrite, scopeRead)},
		{"kanban.admin", scopeAdmin, scopeStrings(scopeAdmin, scopeWrite, scopeRead)},
		{"kanban.write profile", scopeRead, []string{"kanban.read", "profile"}},
	}
	for _, tt := range tests {
		t.Run(tt.requested+"→"+string(tt.chosen), func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{})
			code := e.browser().connect(e.params(map[string]string{"scope": tt.requested}), "alice", tt.chosen)
			g := e.redeem(code, ptRedirect)
			if diff := cmp.Diff(tt.want, g.Scope); diff != "" {
				t.Errorf("grant scope (-want +got):\n%s", diff)
			}
			remembered, _, _ := e.grants.Consent(t.Context(), e.alice.Subject, e.client.ID)
			if want := e.grants.Scopes().Grants(tt.chosen); !slices.Equal(remembered, want) {
				t.Errorf("remembered %q, want the chosen %q with what it implies", remembered, want)
			}
		})
	}
}

func TestPagesConsentOffersNothingAboveRequested(t *testing.T) {
	tests := []struct {
		scope       string
		wantLevels  []string
		wantChecked string
	}{
		{"kanban.read", []string{"kanban.read"}, "kanban.read"},
		{"kanban.write", []string{"kanban.read", "kanban.write"}, "kanban.write"},
		// kanban.admin is sensitive: offered, never pre-selected.
		{"kanban.read kanban.admin", []string{"kanban.read", "kanban.write", "kanban.admin"}, "kanban.write"},
		{"kanban.admin", []string{"kanban.read", "kanban.write", "kanban.admin"}, "kanban.write"},
		// Nothing requested that this server knows: the default scopes.
		{"", []string{"kanban.read", "kanban.write"}, "kanban.write"},
		{"email profile", []string{"kanban.read", "kanban.write"}, "kanban.write"},
	}
	for _, tt := range tests {
		// Never an empty subtest name: its "#00" would end up in the
		// database path, where sqlitedb's DSN reads "#" as a fragment.
		t.Run("scope="+tt.scope, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{})
			b := e.browser()
			p := b.signIn(b.authorize(e.params(map[string]string{"scope": tt.scope})), "alice")
			levels, checked := offeredLevels(p.body)
			if diff := cmp.Diff(tt.wantLevels, levels); diff != "" {
				t.Errorf("offered levels (-want +got):\n%s", diff)
			}
			if checked != tt.wantChecked {
				t.Errorf("preselected %q, want %q", checked, tt.wantChecked)
			}
			if !slices.Contains(tt.wantLevels, "kanban.admin") && strings.Contains(p.body, "kanban.admin") {
				t.Errorf("the page mentions kanban.admin, which was not requested")
			}
		})
	}
}

func TestPagesConsentRefusesLevelAboveRequested(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	p := b.signIn(b.authorize(e.params(map[string]string{"scope": "kanban.write"})), "alice")
	for _, level := range []string{"kanban.admin", "email", ""} {
		got := b.submit(p, map[string]string{"decision": "allow", "level": level})
		if got.status != http.StatusBadRequest || got.header.Get("Location") != "" || !isConsentPage(got) {
			t.Errorf("level %q: status %d, Location %q; want 400 and the consent page again", level, got.status, got.header.Get("Location"))
		}
	}
	if gs := e.grantsOf(e.alice); len(gs) != 0 {
		t.Errorf("grants after refused levels: %v", gs)
	}
}

func TestPagesConsentDeny(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	p := b.signIn(b.authorize(e.params(nil)), "alice")
	p = b.submit(p, map[string]string{"decision": "deny"})
	q := ptRedirectQueryOf(t, p, ptRedirect)
	want := url.Values{"error": {"access_denied"}, "error_description": {"The user denied the request."}, "state": {ptState}, "iss": {e.issuer}}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("deny redirect (-want +got):\n%s", diff)
	}
	if gs := e.grantsOf(e.alice); len(gs) != 0 {
		t.Errorf("grants after deny: %v", gs)
	}
	if _, ok, _ := e.grants.Consent(t.Context(), e.alice.Subject, e.client.ID); ok {
		t.Errorf("deny remembered a consent")
	}
}

func TestPagesErrorsBeforeRedirectIsVerified(t *testing.T) {
	cimdSrv := newCIMDServer(t)
	missingDoc := cimdSrv.route("/missing.json", cimdRoute{status: http.StatusNotFound, body: "{}"})
	e := newPageEnv(t, pageEnvOptions{cimd: newTestCIMDFetcher(cimdSrv, CIMDOptions{})})
	tests := []struct {
		name    string
		changes map[string]string
		extra   url.Values // added (duplicates)
		want    string     // in the page
	}{
		{"unknown client", map[string]string{"client_id": "no-such-client"}, nil, "No application is registered with this client_id"},
		{"missing client_id", map[string]string{"client_id": ""}, nil, "client_id is missing"},
		{"redirect one character off", map[string]string{"redirect_uri": ptRedirect + "x"}, nil, "is not one that this application registered"},
		{"redirect case differs", map[string]string{"redirect_uri": strings.Replace(ptRedirect, "callback", "Callback", 1)}, nil, "is not one that this application registered"},
		{"redirect of another client's", map[string]string{"redirect_uri": "https://evil.example/callback"}, nil, "is not one that this application registered"},
		{"missing redirect_uri", map[string]string{"redirect_uri": ""}, nil, "redirect_uri is missing"},
		{"redirect_uri twice", nil, url.Values{"redirect_uri": {"https://evil.example/callback"}}, "gives redirect_uri more than once"},
		{"client_id twice", nil, url.Values{"client_id": {"other"}}, "gives client_id more than once"},
		{"CIMD document missing", map[string]string{"client_id": missingDoc, "redirect_uri": "https://client.example/callback"}, nil, "metadata document could not be used"},
		// Even with PKCE missing too: the redirect is checked first.
		{"bad redirect and no PKCE", map[string]string{"redirect_uri": ptRedirect + "/", "code_challenge": ""}, nil, "is not one that this application registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := e.params(tt.changes)
			for k, v := range tt.extra {
				params[k] = append(params[k], v...)
			}
			p := e.browser().authorize(params)
			if p.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", p.status)
			}
			if loc := p.header.Get("Location"); loc != "" {
				t.Errorf("Location %q: an unverified redirect URI must not be redirected to", loc)
			}
			if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want an HTML page", ct)
			}
			if !strings.Contains(p.body, tt.want) {
				t.Errorf("the page lacks %q:\n%s", tt.want, p.body)
			}
			if strings.Contains(p.body, "<form") {
				t.Errorf("the error page offers a form")
			}
		})
	}
}

func TestPagesErrorsRedirected(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	blockedClient := e.registerClient("Blocked", ptRedirect)
	e.blocks.block(blockedClient.ID, "")
	tests := []struct {
		name      string
		changes   map[string]string
		extra     url.Values
		redirect  string // default ptRedirect
		wantError string
	}{
		{"plain PKCE", map[string]string{"code_challenge_method": "plain"}, nil, "", "invalid_request"},
		{"PKCE method missing", map[string]string{"code_challenge_method": ""}, nil, "", "invalid_request"},
		{"PKCE challenge missing", map[string]string{"code_challenge": ""}, nil, "", "invalid_request"},
		{"PKCE challenge malformed", map[string]string{"code_challenge": "short"}, nil, "", "invalid_request"},
		{"foreign resource", map[string]string{"resource": "https://other.example/mcp"}, nil, "", "invalid_target"},
		{"second, foreign resource", nil, url.Values{"resource": {"https://other.example/mcp"}}, "", "invalid_target"},
		{"token response type", map[string]string{"response_type": "token"}, nil, "", "unsupported_response_type"},
		{"response type missing", map[string]string{"response_type": ""}, nil, "", "invalid_request"},
		{"scope twice", nil, url.Values{"scope": {"kanban.admin"}}, "", "invalid_request"},
		{"state twice", nil, url.Values{"state": {"other"}}, "", "invalid_request"},
		{"prompt none with consent", map[string]string{"prompt": "none consent"}, nil, "", "invalid_request"},
		{"request object", map[string]string{"request": "eyJ.e30."}, nil, "", "request_not_supported"},
		{"blocked client", map[string]string{"client_id": blockedClient.ID}, nil, "", "access_denied"},
		{"query of the redirect URI kept", map[string]string{"redirect_uri": ptRedirectQuery, "code_challenge_method": "plain"}, nil, ptRedirectQuery, "invalid_request"},
		{"loopback on another port", map[string]string{"redirect_uri": "http://127.0.0.1:5173/callback", "resource": "https://other.example/"}, nil, "http://127.0.0.1:5173/callback", "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := e.params(tt.changes)
			for k, v := range tt.extra {
				params[k] = append(params[k], v...)
			}
			redirect := tt.redirect
			if redirect == "" {
				redirect = ptRedirect
			}
			p := e.browser().authorize(params)
			if p.status != http.StatusFound {
				t.Errorf("status %d, want 302", p.status)
			}
			q := ptRedirectQueryOf(t, p, redirect)
			if q.Get("error_description") == "" {
				t.Errorf("no error_description")
			}
			q.Del("error_description")
			// With state given twice, the first is returned.
			want := url.Values{"error": {tt.wantError}, "iss": {e.issuer}, "state": {ptState}}
			if diff := cmp.Diff(want, q); diff != "" {
				t.Errorf("redirect parameters (-want +got):\n%s", diff)
			}
		})
	}
	if gs := e.grantsOf(e.alice); len(gs) != 0 {
		t.Errorf("grants after refused requests: %v", gs)
	}
}

func TestPagesErrorRedirectWithoutState(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	p := e.browser().authorize(e.params(map[string]string{"state": "", "resource": "https://other.example/mcp"}))
	q := ptRedirectQueryOf(t, p, ptRedirect)
	q.Del("error_description")
	if diff := cmp.Diff(url.Values{"error": {"invalid_target"}, "iss": {e.issuer}}, q); diff != "" {
		t.Errorf("redirect parameters (-want +got):\n%s", diff)
	}
}

func TestPagesScopesAndResource(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    []string
	}{
		{"unknown scopes dropped", map[string]string{"scope": "kanban.read email offline_access"}, []string{"kanban.read"}},
		{"no scope means the defaults", map[string]string{"scope": ""}, []string{"kanban.write", "kanban.read"}},
		{"only unknown scopes mean the defaults", map[string]string{"scope": "email"}, []string{"kanban.write", "kanban.read"}},
		{"openid and profile kept", map[string]string{"scope": "profile email openid"}, []string{"kanban.write", "kanban.read", "openid", "profile"}},
		{"a sensitive scope asked for is not pre-selected", map[string]string{"scope": "kanban.read kanban.admin kanban.write"}, []string{"kanban.write", "kanban.read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{})
			b := e.browser()
			p := b.signIn(b.authorize(e.params(tt.changes)), "alice")
			_, checked := offeredLevels(p.body)
			g := e.redeem(ptRedirectQueryOf(t, b.allow(p, auth.Scope(checked)), ptRedirect).Get("code"), ptRedirect)
			if diff := cmp.Diff(tt.want, g.Scope); diff != "" {
				t.Errorf("grant scope (-want +got):\n%s", diff)
			}
			if g.Resource != e.resource {
				t.Errorf("resource %q, want the default %q", g.Resource, e.resource)
			}
		})
	}
}

func TestPagesCSRF(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *pageEnv, alice, mallory *ptBrowser) ptResponse
	}{
		{"sign-in without token", func(e *pageEnv, alice, _ *ptBrowser) ptResponse {
			return alice.submit(alice.authorize(e.params(nil)), map[string]string{"username": "alice", "password": goodPassword, "csrf": ""})
		}},
		{"sign-in with another browser's token", func(e *pageEnv, alice, mallory *ptBrowser) ptResponse {
			alice.authorize(e.params(nil)) // alice has her own pre-session cookie
			fields := ptHidden(mallory.authorize(e.params(nil)).body)
			fields.Set("username", "alice")
			fields.Set("password", goodPassword)
			return alice.post(PathAuthorize, fields)
		}},
		{"sign-in without the pre-session cookie", func(e *pageEnv, _, mallory *ptBrowser) ptResponse {
			fields := ptHidden(mallory.authorize(e.params(nil)).body)
			fields.Set("username", "alice")
			fields.Set("password", goodPassword)
			return e.browser().post(PathAuthorize, fields) // a fresh browser: the token, not the cookie
		}},
		{"consent without token", func(e *pageEnv, alice, _ *ptBrowser) ptResponse {
			p := alice.signIn(alice.authorize(e.params(nil)), "alice")
			return alice.submit(p, map[string]string{"decision": "allow", "level": "kanban.write", "csrf": ""})
		}},
		{"consent with another session's token", func(e *pageEnv, alice, mallory *ptBrowser) ptResponse {
			p := alice.signIn(alice.authorize(e.params(nil)), "alice")
			other := ptCSRF(e.t, mallory.signIn(mallory.authorize(e.params(nil)), "bob").body)
			return alice.submit(p, map[string]string{"decision": "allow", "level": "kanban.write", "csrf": other})
		}},
		{"consent with the sign-in token", func(e *pageEnv, alice, _ *ptBrowser) ptResponse {
			signInPage := alice.authorize(e.params(nil))
			p := alice.signIn(signInPage, "alice")
			return alice.submit(p, map[string]string{"decision": "allow", "level": "kanban.write", "csrf": ptCSRF(e.t, signInPage.body)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{})
			alice, mallory := e.browser(), e.browser()
			p := tt.run(e, alice, mallory)
			if p.status != http.StatusForbidden {
				t.Errorf("status %d, want 403; body:\n%s", p.status, p.body)
			}
			if p.header.Get("Location") != "" {
				t.Errorf("Location %q on a refused form", p.header.Get("Location"))
			}
			if !strings.Contains(p.body, "Nothing was done") {
				t.Errorf("the page does not say that nothing was done:\n%s", p.body)
			}
			if gs := e.grantsOf(e.alice); len(gs) != 0 {
				t.Errorf("alice has grants after a refused form: %v", gs)
			}
			if _, ok, _ := e.grants.Consent(t.Context(), e.alice.Subject, e.client.ID); ok {
				t.Errorf("a refused form remembered a consent")
			}
		})
	}
}

func TestPagesCSRFRefusedSignInStartsNoSession(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	p := b.submit(b.authorize(e.params(nil)), map[string]string{"username": "alice", "password": goodPassword, "csrf": "x"})
	if p.status != http.StatusForbidden {
		t.Fatalf("status %d, want 403", p.status)
	}
	if v := b.cookie(sessionCookie); v != "" {
		t.Errorf("a session cookie was set by a refused sign-in")
	}
	if got := b.get(PathAccount); !isSignInPage(got) {
		t.Errorf("the account page does not ask to sign in after a refused sign-in")
	}
}

func TestPagesSignInFailuresAreGeneric(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	if _, err := e.users.DisableUser(t.Context(), "bob"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}
	tests := []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong password, long enough"},
		{"unknown user", "mallory", goodPassword},
		{"disabled user", "bob", goodPassword},
	}
	var bodies []string
	for _, tt := range tests {
		b := e.browser()
		p := b.submit(b.authorize(e.params(nil)), map[string]string{"username": tt.user, "password": tt.password})
		if p.status != http.StatusBadRequest || !isSignInPage(p) {
			t.Errorf("%s: status %d, want 400 and the sign-in form again", tt.name, p.status)
		}
		if !strings.Contains(p.body, msgSignInWrong) {
			t.Errorf("%s: the page lacks %q", tt.name, msgSignInWrong)
		}
		if strings.Contains(p.body, tt.password) {
			t.Errorf("%s: the page repeats the password", tt.name)
		}
		// The pages differ only in the CSRF token and the name typed.
		body := strings.ReplaceAll(p.body, ptCSRF(t, p.body), "CSRF")
		bodies = append(bodies, strings.ReplaceAll(body, `value="`+tt.user+`"`, `value="NAME"`))
	}
	for i := 1; i < len(bodies); i++ {
		if diff := cmp.Diff(bodies[0], bodies[i]); diff != "" {
			t.Errorf("%s and %s give different pages (-first +other):\n%s", tests[0].name, tests[i].name, diff)
		}
	}
}

func TestPagesSignInThrottledNeverLocked(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	signInPage := b.authorize(e.params(nil))
	wrong := map[string]string{"username": "alice", "password": "not the password at all"}

	// Ten wrong passwords, each tried (a throttled attempt is refused
	// without being tried, so the test waits as told and tries again).
	var throttled []string
	for tried := 0; tried < 10; {
		p := b.submit(signInPage, wrong)
		switch p.status {
		case http.StatusBadRequest:
			tried++
		case http.StatusTooManyRequests:
			ra := p.header.Get("Retry-After")
			if ra == "" || ra == "0" {
				t.Fatalf("429 with Retry-After %q", ra)
			}
			if !strings.Contains(p.body, "Too many attempts; try again in "+ra+" second") {
				t.Fatalf("429 page lacks a readable wait of %s seconds:\n%s", ra, p.body)
			}
			if !isSignInPage(p) {
				t.Fatalf("429 without the sign-in form")
			}
			throttled = append(throttled, ra)
			e.clock.Advance(ptSeconds(t, ra))
		default:
			t.Fatalf("status %d:\n%s", p.status, p.body)
		}
	}
	if len(throttled) == 0 {
		t.Fatalf("ten wrong passwords were never throttled")
	}

	// The right password, at once: still delayed, not accepted, not locked.
	right := map[string]string{"username": "alice", "password": goodPassword}
	p := b.submit(signInPage, right)
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("right password right after ten failures: status %d, want 429", p.status)
	}
	if v := b.cookie(sessionCookie); v != "" {
		t.Errorf("a throttled sign-in set a session cookie")
	}
	e.clock.Advance(ptSeconds(t, p.header.Get("Retry-After")))
	p = b.submit(signInPage, right)
	if p.status != http.StatusOK || !isConsentPage(p) {
		t.Fatalf("right password after the wait: status %d, want 200 and the consent page:\n%s", p.status, p.body)
	}
	t.Logf("Retry-After values: %v", throttled)
}

// ptSeconds parses a Retry-After header of whole seconds.
func ptSeconds(t *testing.T, retryAfter string) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(retryAfter)
	if err != nil || n <= 0 {
		t.Fatalf("Retry-After %q is not a positive number of seconds", retryAfter)
	}
	return time.Duration(n) * time.Second
}

func TestPagesRememberedConsent(t *testing.T) {
	tests := []struct {
		name      string
		redirect  string
		first     string // scope of the first, consented authorization
		second    map[string]string
		wantPage  bool   // the consent page shows again
		wantScope string // else: the level the skipped authorization gets
	}{
		{"same level, https", ptRedirect, "kanban.write", nil, false, "kanban.write"},
		{"lower level, https", ptRedirect, "kanban.write", map[string]string{"scope": "kanban.read"}, false, "kanban.read"},
		{"higher level, https", ptRedirect, "kanban.write", map[string]string{"scope": "kanban.admin"}, true, ""},
		{"prompt=consent", ptRedirect, "kanban.write", map[string]string{"prompt": "consent"}, true, ""},
		{"loopback redirect", ptRedirectLoopback, "kanban.write", nil, true, ""},
		{"loopback on another port", ptRedirectLoopback, "kanban.write", map[string]string{"redirect_uri": "http://127.0.0.1:8123/callback"}, true, ""},
		{"remembered for https, asked from loopback", ptRedirect, "kanban.write", map[string]string{"redirect_uri": ptRedirectLoopback}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{})
			b := e.browser()
			b.connect(e.params(map[string]string{"redirect_uri": tt.redirect, "scope": tt.first}), "alice", auth.Scope(tt.first))

			second := e.params(map[string]string{"redirect_uri": tt.redirect, "scope": tt.first})
			for k, v := range tt.second {
				second.Set(k, v)
			}
			p := b.authorize(second)
			if got := isConsentPage(p); got != tt.wantPage {
				t.Fatalf("consent page shown = %v, want %v (status %d)", got, tt.wantPage, p.status)
			}
			if tt.wantPage {
				return
			}
			if p.status != http.StatusFound {
				t.Errorf("status %d, want 302", p.status)
			}
			q := ptRedirectQueryOf(t, p, second.Get("redirect_uri"))
			if q.Get("state") != ptState || q.Get("iss") != e.issuer {
				t.Errorf("skipped consent redirect lacks state or iss: %v", q)
			}
			g := e.redeem(q.Get("code"), second.Get("redirect_uri"))
			if g.Scope[0] != tt.wantScope {
				t.Errorf("grant scope %q, want %q first", g.Scope, tt.wantScope)
			}
		})
	}
}

func TestPagesPromptNone(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	none := map[string]string{"prompt": "none"}

	q := ptRedirectQueryOf(t, b.authorize(e.params(none)), ptRedirect)
	if q.Get("error") != "login_required" || q.Get("state") != ptState || q.Get("iss") != e.issuer {
		t.Errorf("prompt=none without a session: %v, want login_required with state and iss", q)
	}

	// Signed in, but no consent yet.
	b.signIn(b.authorize(e.params(nil)), "alice")
	q = ptRedirectQueryOf(t, b.authorize(e.params(none)), ptRedirect)
	if q.Get("error") != "consent_required" {
		t.Errorf("prompt=none without consent: %v, want consent_required", q)
	}

	b.connect(e.params(nil), "alice", scopeWrite)
	q = ptRedirectQueryOf(t, b.authorize(e.params(none)), ptRedirect)
	if q.Get("code") == "" {
		t.Errorf("prompt=none with a remembered consent: %v, want a code", q)
	}
	q = ptRedirectQueryOf(t, b.authorize(e.params(map[string]string{"prompt": "none", "redirect_uri": ptRedirectLoopback})), ptRedirectLoopback)
	if q.Get("error") != "consent_required" {
		t.Errorf("prompt=none to a loopback redirect URI: %v, want consent_required", q)
	}
}

func TestPagesPromptLoginAsksAgain(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	b.connect(e.params(nil), "alice", scopeWrite)
	e.clock.Advance(10 * time.Minute)
	p := b.authorize(e.params(map[string]string{"prompt": "login"}))
	if !isSignInPage(p) {
		t.Fatalf("prompt=login did not show the sign-in page (status %d)", p.status)
	}
	reauth := e.clock.Now()
	p = b.signIn(p, "alice")
	// The remembered consent still applies after signing in again.
	g := e.redeem(ptRedirectQueryOf(t, p, ptRedirect).Get("code"), ptRedirect)
	if !g.AuthTime.Equal(reauth) {
		t.Errorf("auth_time %v, want the new sign-in %v", g.AuthTime, reauth)
	}
}

func TestPagesBlockedAndDisabledUser(t *testing.T) {
	t.Run("blocked after sign-in", func(t *testing.T) {
		e := newPageEnv(t, pageEnvOptions{})
		e.blocks.block("", e.alice.Subject)
		b := e.browser()
		p := b.signIn(b.authorize(e.params(nil)), "alice")
		q := ptRedirectQueryOf(t, p, ptRedirect)
		if q.Get("error") != "access_denied" || q.Get("state") != ptState || q.Get("iss") != e.issuer {
			t.Errorf("blocked user: %v, want access_denied with state and iss", q)
		}
		if gs := e.grantsOf(e.alice); len(gs) != 0 {
			t.Errorf("a blocked user got grants: %v", gs)
		}
	})
	t.Run("blocked on the consent page", func(t *testing.T) {
		e := newPageEnv(t, pageEnvOptions{})
		b := e.browser()
		p := b.signIn(b.authorize(e.params(nil)), "alice")
		e.blocks.block("", e.alice.Subject)
		q := ptRedirectQueryOf(t, b.allow(p, scopeRead), ptRedirect)
		if q.Get("error") != "access_denied" {
			t.Errorf("blocked between page and answer: %v, want access_denied", q)
		}
	})
	t.Run("disabled while signed in", func(t *testing.T) {
		e := newPageEnv(t, pageEnvOptions{})
		b := e.browser()
		p := b.signIn(b.authorize(e.params(nil)), "alice")
		if _, err := e.users.DisableUser(t.Context(), "alice"); err != nil {
			t.Fatalf("DisableUser: %v", err)
		}
		p = b.allow(p, scopeRead)
		if !isSignInPage(p) || p.header.Get("Location") != "" {
			t.Errorf("consent by a disabled user: status %d, want the sign-in page and no redirect", p.status)
		}
		if gs := e.grantsOf(e.alice); len(gs) != 0 {
			t.Errorf("a disabled user got grants: %v", gs)
		}
	})
}

func TestPagesSessionExpiresWhileConsentPageIsOpen(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	p := b.signIn(b.authorize(e.params(nil)), "alice")
	e.clock.Advance(SessionIdleTimeout + time.Second)
	p = b.allow(p, scopeWrite)
	if !isSignInPage(p) || !strings.Contains(p.body, "Your sign-in has expired") {
		t.Fatalf("status %d, want the sign-in page saying the sign-in expired:\n%s", p.status, p.body)
	}
	// Signing in again resumes the same authorization.
	p = b.signIn(p, "alice")
	q := ptRedirectQueryOf(t, b.allow(p, scopeWrite), ptRedirect)
	if q.Get("code") == "" || q.Get("state") != ptState {
		t.Errorf("resumed authorization: %v", q)
	}
}

func TestPagesCIMDClientShowsItsHost(t *testing.T) {
	cimdSrv := newCIMDServer(t)
	clientID := cimdSrv.URL + "/oauth/client.json"
	cimdSrv.route("/oauth/client.json", cimdRoute{body: cimdDoc(clientID, map[string]any{"client_name": "ChatGPT"})})
	e := newPageEnv(t, pageEnvOptions{cimd: newTestCIMDFetcher(cimdSrv, CIMDOptions{})})
	b := e.browser()
	params := e.params(map[string]string{"client_id": clientID, "redirect_uri": "https://client.example/callback"})
	p := b.signIn(b.authorize(params), "alice")
	host := strings.TrimPrefix(cimdSrv.URL, "https://")
	for _, want := range []string{"ChatGPT", "Published by", "<code>" + host + "</code>", "<code>client.example</code>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the consent page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "name chosen by the application") {
		t.Errorf("a CIMD client's name is flagged as unverified; its host is shown instead")
	}
	q := ptRedirectQueryOf(t, b.allow(p, scopeRead), "https://client.example/callback")
	g, err := e.grants.RedeemCode(t.Context(), RedeemRequest{Code: q.Get("code"), ClientID: clientID, RedirectURI: "https://client.example/callback", CodeVerifier: gtVerifier})
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	if g.ClientID != clientID {
		t.Errorf("grant client %q, want %q", g.ClientID, clientID)
	}

	// The account page names it by its host without fetching it again.
	before := cimdSrv.hitCount("/oauth/client.json")
	acct := b.get(PathAccount)
	if !strings.Contains(acct.body, "<h2>"+host+"</h2>") {
		t.Errorf("the account page does not name the CIMD client by its host %q:\n%s", host, acct.body)
	}
	if after := cimdSrv.hitCount("/oauth/client.json"); after != before {
		t.Errorf("the account page fetched the metadata document (%d → %d)", before, after)
	}
}

func TestPagesMethodsAndPaths(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	tests := []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodPut, PathAuthorize, http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodHead, PathAuthorize, http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodPost, PathAccount, http.StatusMethodNotAllowed, "GET"},
		{http.MethodGet, pathAccountRevoke, http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, pathAccountSignOut, http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, PathAccount + "/nope", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		p := e.browser().do(tt.method, tt.path, nil)
		if p.status != tt.want || p.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: status %d, Allow %q; want %d, %q", tt.method, tt.path, p.status, p.header.Get("Allow"), tt.want, tt.allow)
		}
	}
	p := e.browser().post(PathAuthorize, url.Values{"step": {"other"}})
	if p.status != http.StatusBadRequest {
		t.Errorf("unknown step: status %d, want 400", p.status)
	}
}

func TestPagesNotSetUp(t *testing.T) {
	const hint = "Add one on the server with: kanban-mcp users add <name>"
	e := newPageEnv(t, pageEnvOptions{setupHint: hint, noUsers: true})
	paths := []string{PathAuthorize + "?" + e.params(nil).Encode(), PathAccount}
	for _, path := range paths {
		p := e.browser().get(path)
		if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" {
			t.Errorf("%s: status %d, Retry-After %q; want 503 with Retry-After", path, p.status, p.header.Get("Retry-After"))
		}
		if !strings.Contains(p.body, html.EscapeString(hint)) {
			t.Errorf("%s: the page lacks the hint:\n%s", path, p.body)
		}
	}
	// The operator adds the first user (the CLI, another process): the
	// pages open without a restart.
	mustAddUser(t, e.users, "carol", goodPassword, "")
	for _, path := range paths {
		if p := e.browser().get(path); p.status != http.StatusOK {
			t.Errorf("%s after the first user was added: status %d, want 200", path, p.status)
		}
	}
}

func TestPagesCookies(t *testing.T) {
	tests := []struct {
		issuer     string
		wantSecure bool
		wantPrefix string
	}{
		{"http://localhost:8080", false, ""},
		{"https://kanban.example", true, "__Host-"},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			e := newPageEnv(t, pageEnvOptions{issuer: tt.issuer})
			rec := httptest.NewRecorder()
			e.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathAuthorize+"?"+e.params(nil).Encode(), nil))
			pre := ptCookieNamed(t, rec.Result().Cookies(), tt.wantPrefix+preSessionCookie)
			ptCheckCookie(t, pre, tt.wantSecure)
			if pre.MaxAge != 0 || !pre.Expires.IsZero() {
				t.Errorf("pre-session cookie: MaxAge %d, Expires %v; want a browser-session cookie", pre.MaxAge, pre.Expires)
			}

			fields := ptHidden(rec.Body.String())
			fields.Set("username", "alice")
			fields.Set("password", goodPassword)
			req := httptest.NewRequest(http.MethodPost, PathAuthorize, strings.NewReader(fields.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(pre)
			rec = httptest.NewRecorder()
			e.mux.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("sign-in: status %d:\n%s", rec.Code, rec.Body)
			}
			sess := ptCookieNamed(t, rec.Result().Cookies(), tt.wantPrefix+sessionCookie)
			ptCheckCookie(t, sess, tt.wantSecure)
			if sess.MaxAge != int(SessionLifetime.Seconds()) {
				t.Errorf("session cookie MaxAge %d, want %d", sess.MaxAge, int(SessionLifetime.Seconds()))
			}
			if !wellFormedSecret(sess.Value) {
				t.Errorf("session cookie value %q is not 256 random bits", sess.Value)
			}
		})
	}
}

func ptCookieNamed(t *testing.T, cookies []*http.Cookie, name string) *http.Cookie {
	t.Helper()
	for _, c := range cookies {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %q among %v", name, cookies)
	return nil
}

func ptCheckCookie(t *testing.T, c *http.Cookie, wantSecure bool) {
	t.Helper()
	type attrs struct {
		HttpOnly, Secure bool
		SameSite         http.SameSite
		Path, Domain     string
	}
	want := attrs{HttpOnly: true, Secure: wantSecure, SameSite: http.SameSiteLaxMode, Path: "/"}
	got := attrs{c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cookie %s attributes (-want +got):\n%s", c.Name, diff)
	}
}

func TestPagesLogsHoldNoSecrets(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	const typoName = "correct-horse-typed-as-a-name"
	var secrets []string

	p := b.authorize(e.params(nil))
	secrets = append(secrets, ptCSRF(t, p.body))
	// A failed attempt with the password typed into the name field.
	b.submit(p, map[string]string{"username": typoName, "password": "another secret password"})
	p = b.signIn(p, "alice")
	device := b.cookie(deviceCookie)
	secrets = append(secrets, ptCSRF(t, p.body), b.cookie(sessionCookie), b.cookie(preSessionCookie), device)
	if parts := strings.Split(device, "."); len(parts) == 4 {
		secrets = append(secrets, parts[1], parts[3]) // its device id and MAC
	}
	// A failed attempt from the known device.
	b.submit(b.authorize(e.params(map[string]string{"prompt": "login"})), map[string]string{"username": "alice", "password": "another secret password"})
	q := ptRedirectQueryOf(t, b.allow(p, scopeWrite), ptRedirect)
	secrets = append(secrets, q.Get("code"))
	acct := b.get(PathAccount)
	secrets = append(secrets, ptCSRF(t, acct.body))
	b.post(pathAccountRevoke, url.Values{"csrf": {ptCSRF(t, acct.body)}, "grant": {ptGrantRe.FindStringSubmatch(acct.body)[1]}})
	b.post(pathAccountSignOut, url.Values{"csrf": {ptCSRF(t, acct.body)}})

	logs := e.log.String()
	if !strings.Contains(logs, "sign-in failed") || !strings.Contains(logs, "signed in") || !strings.Contains(logs, "authorization approved") {
		t.Fatalf("the log lacks the expected events:\n%s", logs)
	}
	for _, s := range append(secrets, goodPassword, "another secret password", typoName) {
		if s == "" {
			t.Fatalf("a secret to look for is empty")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log contains %q:\n%s", s, logs)
		}
	}
}
