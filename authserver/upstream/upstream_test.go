package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

const (
	clientID    = "kanban-federation"
	secret      = "s3cret-for-tests"
	redirectURL = "http://127.0.0.1:9/oauth/upstream/callback"
)

// newProvider starts a test issuer that signs people in, and a Provider
// configured for it.
func newProvider(t *testing.T) (*testissuer.Issuer, *upstream.Provider) {
	t.Helper()
	iss := testissuer.New(t, testissuer.Options{})
	iss.EnableLogin(t, clientID, secret)
	p, err := upstream.New(upstream.Options{Issuer: iss.URL, ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURL})
	if err != nil {
		t.Fatal(err)
	}
	return iss, p
}

// visit follows the provider's authorization URL as a browser would, up to
// the redirect back to the callback, and returns the callback's query.
func visit(t *testing.T, authURL string) url.Values {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint: status %d, want 302", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), redirectURL+"?") {
		t.Fatalf("redirect to %q, want the callback %s", resp.Header.Get("Location"), redirectURL)
	}
	return back.Query()
}

// signIn runs one sign-in as login and returns what Finish gave.
func signIn(t *testing.T, iss *testissuer.Issuer, p *upstream.Provider, login testissuer.Login) (upstream.Identity, error) {
	t.Helper()
	iss.SetLogin(login)
	s := upstream.NewStart()
	authURL, err := p.AuthURL(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(authURL[strings.IndexByte(authURL, '?')+1:])
	for name, want := range map[string]string{"state": s.State, "nonce": s.Nonce, "code_challenge_method": "S256", "client_id": clientID, "redirect_uri": redirectURL, "scope": "openid email profile"} {
		if got := q.Get(name); got != want {
			t.Errorf("authorization URL: %s = %q, want %q", name, got, want)
		}
	}
	back := visit(t, authURL)
	if back.Get("state") != s.State {
		t.Fatalf("state came back as %q, want %q", back.Get("state"), s.State)
	}
	return p.Finish(context.Background(), back.Get("code"), s)
}

func TestFinishReadsTheProvidersClaimShapes(t *testing.T) {
	iss, p := newProvider(t)
	tests := []struct {
		name  string
		login testissuer.Login
		want  upstream.Identity
	}{
		{
			name:  "email in the ID token, verified",
			login: testissuer.Login{Claims: testissuer.Claims{"sub": "okta-1", "email": "alice@example.com", "email_verified": true, "name": "Alice"}},
			want:  upstream.Identity{Subject: "okta-1", Email: "alice@example.com", EmailVerified: true, Name: "Alice"},
		},
		{
			name:  "email_verified as a string (Cognito)",
			login: testissuer.Login{Claims: testissuer.Claims{"sub": "c-1", "email": "bob@example.com", "email_verified": "true"}},
			want:  upstream.Identity{Subject: "c-1", Email: "bob@example.com", EmailVerified: true},
		},
		{
			name:  "Entra: tenant, no email_verified",
			login: testissuer.Login{Claims: testissuer.Claims{"sub": "entra-1", "tid": "9188040d-6c67-4c5b-b112-36a304b66dad", "email": "carol@contoso.com", "preferred_username": "carol@contoso.com"}},
			want:  upstream.Identity{Subject: "entra-1", Email: "carol@contoso.com", TenantID: "9188040d-6c67-4c5b-b112-36a304b66dad", PreferredUsername: "carol@contoso.com"},
		},
		{
			name:  "Google Workspace: hosted domain",
			login: testissuer.Login{Claims: testissuer.Claims{"sub": "g-1", "email": "dave@corp.example", "email_verified": true, "hd": "corp.example"}},
			want:  upstream.Identity{Subject: "g-1", Email: "dave@corp.example", EmailVerified: true, HostedDomain: "corp.example"},
		},
		{
			name: "email only from userinfo (kanban-mcp's own ID tokens)",
			login: testissuer.Login{Claims: testissuer.Claims{"sub": "u_abc", "preferred_username": "erin"},
				Userinfo: testissuer.Claims{"email": "erin@example.com", "email_verified": true}},
			want: upstream.Identity{Subject: "u_abc", Email: "erin@example.com", EmailVerified: true, PreferredUsername: "erin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signIn(t, iss, p, tt.login)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			tt.want.Issuer = iss.URL
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFinishRefuses(t *testing.T) {
	iss, p := newProvider(t)
	tests := []struct {
		name  string
		login testissuer.Login
		want  string // in the error
	}{
		{"another sign-in's nonce", testissuer.Login{Claims: testissuer.Claims{"sub": "x"}, Nonce: "a-nonce-from-elsewhere"}, "nonce"},
		{"another client's ID token", testissuer.Login{Claims: testissuer.Claims{"sub": "x"}, Audience: "some-other-client"}, "audience"},
		{"several audiences without azp", testissuer.Login{Claims: testissuer.Claims{"sub": "x"}, Audience: []string{clientID, "other"}}, "azp"},
		{"expired ID token", testissuer.Login{Claims: testissuer.Claims{"sub": "x", "exp": 1000}}, "expired"},
		{"another issuer", testissuer.Login{Claims: testissuer.Claims{"sub": "x", "iss": "https://evil.example"}}, "different provider"},
		{"userinfo of another subject", testissuer.Login{Claims: testissuer.Claims{"sub": "x"}, Userinfo: testissuer.Claims{"sub": "y", "email": "y@example.com"}}, "another subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signIn(t, iss, p, tt.login)
			if !errors.Is(err, upstream.ErrRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Finish: %v; want ErrRejected mentioning %q", err, tt.want)
			}
		})
	}
}

func TestFinishRefusesAReplayedCodeAndAnotherVerifier(t *testing.T) {
	iss, p := newProvider(t)
	iss.SetLogin(testissuer.Login{Claims: testissuer.Claims{"sub": "x", "email": "x@example.com", "email_verified": true}})
	ctx := context.Background()

	s := upstream.NewStart()
	authURL, err := p.AuthURL(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	code := visit(t, authURL).Get("code")
	other := upstream.NewStart()
	other.Nonce = s.Nonce
	if _, err := p.Finish(ctx, code, other); !errors.Is(err, upstream.ErrRejected) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("Finish with another sign-in's PKCE verifier: %v; want ErrRejected (invalid_grant)", err)
	}

	s = upstream.NewStart()
	authURL, _ = p.AuthURL(ctx, s)
	code = visit(t, authURL).Get("code")
	if _, err := p.Finish(ctx, code, s); err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	if _, err := p.Finish(ctx, code, s); !errors.Is(err, upstream.ErrRejected) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("replayed code: %v; want ErrRejected (invalid_grant)", err)
	}
}

func TestProviderDown(t *testing.T) {
	iss, p := newProvider(t)
	iss.SetDown(true)
	if _, err := p.AuthURL(context.Background(), upstream.NewStart()); !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("AuthURL with discovery down: %v; want ErrUnavailable", err)
	}
	// A provider down for the first sign-in is asked again later, not
	// given up on. (RetryDiscoveryAfter is 5 s; a fresh provider shows it.)
	iss.SetDown(false)
	p2, err := upstream.New(upstream.Options{Issuer: iss.URL, ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.AuthURL(context.Background(), upstream.NewStart()); err != nil {
		t.Fatalf("AuthURL once the provider is back: %v", err)
	}

	// Down after discovery: the token endpoint is unreachable.
	iss2, p3 := newProvider(t)
	iss2.SetLogin(testissuer.Login{Claims: testissuer.Claims{"sub": "x"}})
	s := upstream.NewStart()
	authURL, err := p3.AuthURL(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	code := visit(t, authURL).Get("code")
	iss2.Server.Close()
	if _, err := p3.Finish(context.Background(), code, s); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("Finish with the provider gone: %v; want ErrUnavailable", err)
	}
}

func TestPolicy(t *testing.T) {
	const tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
	policy := upstream.Policy{
		Emails:  []string{"Guest@Gmail.com", "boss@corp.example", "sam@example.org"},
		Domains: []string{"example.com", "corp.example"},
		Tenants: []string{tenant},
	}
	tests := []struct {
		name string
		id   upstream.Identity
		want bool
	}{
		{"listed email, verified, any case", upstream.Identity{Issuer: "https://idp.example", Email: "guest@gmail.com", EmailVerified: true}, true},
		{"listed email, unverified", upstream.Identity{Issuer: "https://idp.example", Email: "guest@gmail.com"}, false},
		{"domain, verified", upstream.Identity{Issuer: "https://idp.example", Email: "alice@EXAMPLE.com", EmailVerified: true}, true},
		{"domain, unverified", upstream.Identity{Issuer: "https://idp.example", Email: "alice@example.com"}, false},
		{"subdomain is not the domain", upstream.Identity{Issuer: "https://idp.example", Email: "alice@mail.example.com", EmailVerified: true}, false},
		{"look-alike domain", upstream.Identity{Issuer: "https://idp.example", Email: "alice@evilexample.com", EmailVerified: true}, false},
		{"another domain", upstream.Identity{Issuer: "https://idp.example", Email: "mallory@other.example", EmailVerified: true}, false},
		{"no email", upstream.Identity{Issuer: "https://idp.example"}, false},
		{"Google: verified address at the domain, no hd", upstream.Identity{Issuer: upstream.GoogleIssuer, Email: "alice@corp.example", EmailVerified: true}, false},
		{"Google: hosted domain", upstream.Identity{Issuer: upstream.GoogleIssuer, Email: "alice@corp.example", EmailVerified: true, HostedDomain: "corp.example"}, true},
		{"Google: another hosted domain", upstream.Identity{Issuer: upstream.GoogleIssuer, Email: "alice@corp.example", EmailVerified: true, HostedDomain: "other.example"}, false},
		{"Google: listed email still admitted", upstream.Identity{Issuer: upstream.GoogleIssuer, Email: "guest@gmail.com", EmailVerified: true}, true},
		{"Google: listed work address on a personal account (no hd)", upstream.Identity{Issuer: upstream.GoogleIssuer, Email: "boss@corp.example", EmailVerified: true}, false},
		{"Google: listed work address in its Workspace", upstream.Identity{Issuer: upstream.GoogleIssuer, Email: "boss@corp.example", EmailVerified: true, HostedDomain: "corp.example"}, true},
		{"Entra: listed tenant, no email_verified", upstream.Identity{Issuer: "https://login.microsoftonline.com/" + tenant + "/v2.0", Email: "carol@contoso.com", TenantID: tenant}, true},
		{"Entra: another tenant", upstream.Identity{Issuer: "https://login.microsoftonline.com/x/v2.0", Email: "carol@example.com", TenantID: "00000000-0000-0000-0000-000000000001"}, false},
		{"a listed tid from a provider that is not that directory", upstream.Identity{Issuer: "https://sso.example/realms/staff", Email: "x@evil.example", TenantID: tenant}, false},
		{"Unicode case folding is no match (long s for s)", upstream.Identity{Issuer: "https://idp.example", Email: "\u017fam@example.org", EmailVerified: true}, false},
		{"ASCII case is ignored", upstream.Identity{Issuer: "https://idp.example", Email: "SAM@Example.ORG", EmailVerified: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := policy.Admit(tt.id)
			var refused *upstream.RefusedError
			if got := err == nil; got != tt.want || (err != nil && !errors.As(err, &refused)) {
				t.Errorf("Admit(%+v) = %v; want admitted %v (refusals as *RefusedError)", tt.id, err, tt.want)
			}
		})
	}
	if err := (upstream.Policy{AllowAny: true}).Admit(upstream.Identity{Subject: "anyone"}); err != nil {
		t.Errorf("AllowAny refused: %v", err)
	}
	if !(upstream.Policy{}).Empty() || policy.Empty() || (upstream.Policy{AllowAny: true}).Empty() {
		t.Error("Empty is wrong")
	}
}

func TestDisplayName(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://accounts.google.com":                   "Google",
		"https://login.microsoftonline.com/tenant/v2.0": "Microsoft",
		"https://dev-123.okta.com/oauth2/default":       "Okta",
		"https://tenant.eu.auth0.com/":                  "Auth0",
		"https://sso.example.com/realms/staff":          "sso.example.com",
		"http://127.0.0.1:8080":                         "127.0.0.1:8080",
	} {
		if got := upstream.DisplayName(issuer); got != want {
			t.Errorf("DisplayName(%q) = %q, want %q", issuer, got, want)
		}
	}
}

func TestDiscoveryNamesAMismatchedIssuer(t *testing.T) {
	iss, _ := newProvider(t)
	p, err := upstream.New(upstream.Options{Issuer: iss.URL + "/", ClientID: clientID, ClientSecret: secret, RedirectURL: redirectURL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.AuthURL(context.Background(), upstream.NewStart())
	if !errors.Is(err, upstream.ErrUnavailable) || !strings.Contains(err.Error(), "UPSTREAM_OIDC_ISSUER must be exactly") {
		t.Errorf("AuthURL with the issuer off by a slash: %v; want an error naming UPSTREAM_OIDC_ISSUER", err)
	}
}
