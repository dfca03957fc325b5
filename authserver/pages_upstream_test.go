package authserver

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

const (
	upClientID = "kanban-at-the-provider"
	upSecret   = "provider-secret-for-tests"
	upMaxAge   = time.Hour
)

// upEnv is a pageEnv that signs people in through a test provider.
type upEnv struct {
	*pageEnv
	provider *testissuer.Issuer
}

// newUpstreamEnv starts a pageEnv whose provider admits example.com and
// guest@elsewhere.example; mods may set more of its options.
func newUpstreamEnv(t *testing.T, only bool, mods ...func(*pageEnvOptions)) *upEnv {
	t.Helper()
	iss := testissuer.New(t, testissuer.Options{})
	iss.EnableLogin(t, upClientID, upSecret)
	opts := pageEnvOptions{upstreamMaxAge: upMaxAge, upstream: func(issuer string) *UpstreamOptions {
		p, err := upstream.New(upstream.Options{
			Issuer: iss.URL, ClientID: upClientID, ClientSecret: upSecret,
			RedirectURL: issuer + PathUpstreamCallback, DisplayName: "Example SSO",
		})
		if err != nil {
			t.Fatal(err)
		}
		return &UpstreamOptions{
			Provider: p,
			Policy:   upstream.Policy{Domains: []string{"example.com"}, Emails: []string{"guest@elsewhere.example"}},
			Only:     only,
		}
	}}
	for _, mod := range mods {
		mod(&opts)
	}
	return &upEnv{pageEnv: newPageEnv(t, opts), provider: iss}
}

// person is an identity at the provider with a verified email.
func person(sub, email string) testissuer.Login {
	return testissuer.Login{Claims: testissuer.Claims{"sub": sub, "email": email, "email_verified": true, "name": "Someone"}}
}

var upFormRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)

// upstreamForm returns the action and fields of the page's "Sign in with
// …" button's form.
func upstreamForm(t *testing.T, p ptResponse) (string, url.Values) {
	t.Helper()
	return formOfStep(t, p, "upstream")
}

// formOfStep returns the action and hidden fields of the page's form with
// that step (the sign-in page has one per way in).
func formOfStep(t *testing.T, p ptResponse, step string) (string, url.Values) {
	t.Helper()
	for _, m := range upFormRe.FindAllStringSubmatch(p.body, -1) {
		fields := ptHidden(m[2])
		if fields.Get("step") == step {
			return html.UnescapeString(m[1]), fields
		}
	}
	t.Fatalf("no %s form on the page (status %d):\n%s", step, p.status, p.body)
	return "", nil
}

// toProvider presses the page's upstream button and returns where the
// browser is sent: the provider's authorization URL.
func (b *ptBrowser) toProvider(p ptResponse) *url.URL {
	b.t.Helper()
	action, fields := upstreamForm(b.t, p)
	resp := b.post(action, fields)
	if resp.status != http.StatusSeeOther {
		b.t.Fatalf("upstream button: status %d, want 303; body:\n%s", resp.status, resp.body)
	}
	u, err := url.Parse(resp.header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// atProvider visits the provider's authorization URL, which signs the
// person in at once, and returns the callback path and query it sends the
// browser back with.
func atProvider(t *testing.T, e *upEnv, authURL *url.URL) string {
	t.Helper()
	if !strings.HasPrefix(authURL.String(), e.provider.Server.URL+"/authorize?") {
		t.Fatalf("sent to %s, not the provider's authorization endpoint", authURL)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(back, e.issuer+PathUpstreamCallback+"?") {
		t.Fatalf("provider: status %d, Location %q; want 302 to the callback", resp.StatusCode, back)
	}
	return strings.TrimPrefix(back, e.issuer)
}

// signInUpstream runs the sign-in page's upstream round trip as login and
// returns the callback's answer.
func (b *ptBrowser) signInUpstream(e *upEnv, p ptResponse, login testissuer.Login) ptResponse {
	b.t.Helper()
	e.provider.SetLogin(login)
	return b.get(atProvider(b.t, e, b.toProvider(p)))
}

func TestUpstreamSignInCreatesAndMapsUsers(t *testing.T) {
	e := newUpstreamEnv(t, false)
	ctx := t.Context()
	b := e.browser()

	// The sign-in page offers both ways in.
	p := b.authorize(e.params(nil))
	if !strings.Contains(p.body, "Sign in with Example SSO") || !isSignInPage(p) {
		t.Fatalf("sign-in page lacks the upstream button or the password form:\n%s", p.body)
	}
	authURL := b.toProvider(p)
	q := authURL.Query()
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(name) == "" {
			t.Errorf("the provider's URL lacks %s: %s", name, authURL)
		}
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != e.issuer+PathUpstreamCallback || q.Get("client_id") != upClientID {
		t.Errorf("the provider's URL: %s", authURL)
	}
	e.provider.SetLogin(person("idp-carol", "carol.d+kanban@example.com"))
	p = b.get(atProvider(t, e, authURL))
	if !isConsentPage(p) {
		t.Fatalf("after the provider: status %d, want the consent page:\n%s", p.status, p.body)
	}
	carol, err := e.users.UserByName(ctx, "carol.d-kanban")
	if err != nil {
		t.Fatalf("the federated user was not created under the name made from the email: %v", err)
	}
	want := User{Subject: carol.Subject, Name: "carol.d-kanban", Email: "carol.d+kanban@example.com", EmailVerified: true,
		CreatedAt: carol.CreatedAt, UpstreamIssuer: e.provider.URL, UpstreamSubject: "idp-carol"}
	if diff := cmp.Diff(want, carol); diff != "" {
		t.Errorf("federated user (-want +got):\n%s", diff)
	}
	// A federated user has no password to sign in with.
	if _, err := e.users.Authenticate(ctx, carol.Name, goodPassword); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("password sign-in of a federated user: %v, want ErrInvalidCredentials", err)
	}
	if _, err := e.users.SetPassword(ctx, carol.Name, goodPassword, SetPasswordOptions{}); !errors.Is(err, ErrFederatedUser) {
		t.Errorf("SetPassword of a federated user: %v, want ErrFederatedUser", err)
	}
	p = b.allow(p, "kanban.write")
	code := ptRedirectQueryOf(t, p, ptRedirect).Get("code")
	gr := e.redeem(code, ptRedirect)
	if gr.Subject != carol.Subject {
		t.Errorf("grant subject %s, want the federated user %s", gr.Subject, carol.Subject)
	}

	// Signing in again with the same (issuer, sub) is the same user,
	// whose email follows the provider's.
	b2 := e.browser()
	p = b2.signInUpstream(e, b2.authorize(e.params(nil)), person("idp-carol", "carol@example.com"))
	if !isConsentPage(p) && p.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: status %d:\n%s", p.status, p.body)
	}
	again, err := e.users.UserBySubject(ctx, carol.Subject)
	if err != nil || again.Email != "carol@example.com" || again.Name != carol.Name {
		t.Errorf("after the second sign-in: %+v, %v; want the same user with the new email", again, err)
	}

	// Another subject with the very same email is another person: users
	// are never matched by email.
	b3 := e.browser()
	b3.signInUpstream(e, b3.authorize(e.params(nil)), person("idp-someone-else", "carol@example.com"))
	other, err := e.users.UserByName(ctx, "carol")
	if err != nil || other.Subject == carol.Subject || other.UpstreamSubject != "idp-someone-else" {
		t.Errorf("another subject with the same email: %+v, %v; want a new user", other, err)
	}
	// A name already taken (by the password user alice) gets a suffix.
	b4 := e.browser()
	b4.signInUpstream(e, b4.authorize(e.params(nil)), person("idp-alice", "alice@example.com"))
	if u, err := e.users.UserByName(ctx, "alice-2"); err != nil || u.UpstreamSubject != "idp-alice" {
		t.Errorf("federated alice: %+v, %v; want the name alice-2", u, err)
	}
	if u, _ := e.users.UserByName(ctx, "alice"); u.Subject != e.alice.Subject || u.Federated() {
		t.Errorf("the password user alice changed: %+v", u)
	}
}

func TestUpstreamAllowLists(t *testing.T) {
	tests := []struct {
		name   string
		login  testissuer.Login
		admit  bool
		reason string // on the refusal page
	}{
		{"domain", person("s1", "dan@example.com"), true, ""},
		{"listed address", person("s2", "guest@elsewhere.example"), true, ""},
		{"refused domain", person("s3", "eve@evil.example"), false, "eve@evil.example is not among those allowed"},
		{"subdomain", person("s4", "eve@x.example.com"), false, "not among those allowed"},
		{"unverified email", testissuer.Login{Claims: testissuer.Claims{"sub": "s5", "email": "frank@example.com", "email_verified": false}}, false, "does not confirm"},
		{"no email at all", testissuer.Login{Claims: testissuer.Claims{"sub": "s6"}}, false, "did not tell this server your email"},
	}
	e := newUpstreamEnv(t, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			before, _ := e.users.CountUsers(t.Context())
			p := b.signInUpstream(e, b.authorize(e.params(nil)), tt.login)
			after, _ := e.users.CountUsers(t.Context())
			if tt.admit {
				if !isConsentPage(p) || after != before+1 {
					t.Errorf("status %d, users %d → %d; want the consent page and a new user:\n%s", p.status, before, after, p.body)
				}
				return
			}
			if p.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(p.body), tt.reason) {
				t.Errorf("status %d, want 403 saying %q:\n%s", p.status, tt.reason, p.body)
			}
			if after != before || b.cookie(sessionCookie) != "" {
				t.Errorf("a refused person got a user (%d → %d) or a session", before, after)
			}
		})
	}
}

func TestUpstreamCallbackRefusals(t *testing.T) {
	e := newUpstreamEnv(t, false)
	e.provider.SetLogin(person("idp-gina", "gina@example.com"))
	badState := "This sign-in cannot continue"

	t.Run("unknown state", func(t *testing.T) {
		b := e.browser()
		b.authorize(e.params(nil)) // the sign-in cookie
		p := b.get(PathUpstreamCallback + "?code=whatever&state=not-a-state")
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, badState) {
			t.Errorf("status %d, want 400 %q:\n%s", p.status, badState, p.body)
		}
	})
	t.Run("state carried to another browser", func(t *testing.T) {
		victim, attacker := e.browser(), e.browser()
		attacker.authorize(e.params(nil))
		back := atProvider(t, e, victim.toProvider(victim.authorize(e.params(nil))))
		if p := attacker.get(back); p.status != http.StatusBadRequest || attacker.cookie(sessionCookie) != "" {
			t.Errorf("another browser: status %d, want 400 and no session", p.status)
		}
		// The sign-in stays the browser's own to finish.
		if p := victim.get(back); !isConsentPage(p) {
			t.Errorf("the browser that started it: status %d, want the consent page:\n%s", p.status, p.body)
		}
	})
	t.Run("callback replayed", func(t *testing.T) {
		b := e.browser()
		back := atProvider(t, e, b.toProvider(b.authorize(e.params(nil))))
		if p := b.get(back); !isConsentPage(p) {
			t.Fatalf("first use: status %d:\n%s", p.status, p.body)
		}
		if p := b.get(back); p.status != http.StatusBadRequest || !strings.Contains(p.body, badState) {
			t.Errorf("replayed callback: status %d, want 400:\n%s", p.status, p.body)
		}
	})
	t.Run("code replayed into another sign-in", func(t *testing.T) {
		b := e.browser()
		first, _ := url.Parse(atProvider(t, e, b.toProvider(b.authorize(e.params(nil)))))
		if p := b.get(first.String()); !isConsentPage(p) {
			t.Fatalf("first use: status %d", p.status)
		}
		// A second sign-in in the same browser (prompt=login, which the
		// provider is asked for too), handed the first's code.
		authURL := b.toProvider(b.authorize(e.params(map[string]string{"prompt": "login"})))
		if authURL.Query().Get("prompt") != "login" {
			t.Errorf("prompt=login did not reach the provider: %s", authURL)
		}
		second, _ := url.Parse(atProvider(t, e, authURL))
		q := second.Query()
		q.Set("code", first.Query().Get("code"))
		second.RawQuery = q.Encode()
		if p := b.get(second.String()); p.status != http.StatusBadRequest || !strings.Contains(p.body, "could not be verified") {
			t.Errorf("replayed code: status %d, want 400 could not be verified:\n%s", p.status, p.body)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		b := e.browser()
		login := person("idp-gina", "gina@example.com")
		login.Nonce = "the-nonce-of-another-sign-in"
		p := b.signInUpstream(e, b.authorize(e.params(nil)), login)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "could not be verified") || b.cookie(sessionCookie) != "" {
			t.Errorf("wrong nonce: status %d, want 400 and no session:\n%s", p.status, p.body)
		}
		if !strings.Contains(e.log.String(), "nonce") {
			t.Errorf("the log does not say the nonce was wrong:\n%s", e.log.String())
		}
	})
	t.Run("another issuer named in the answer", func(t *testing.T) {
		b := e.browser()
		back := atProvider(t, e, b.toProvider(b.authorize(e.params(nil))))
		if p := b.get(back + "&iss=" + url.QueryEscape("https://evil.example")); p.status != http.StatusBadRequest {
			t.Errorf("status %d, want 400", p.status)
		}
	})
	t.Run("declined at the provider", func(t *testing.T) {
		b := e.browser()
		state := b.toProvider(b.authorize(e.params(nil))).Query().Get("state")
		p := b.get(PathUpstreamCallback + "?error=access_denied&state=" + url.QueryEscape(state))
		q := ptRedirectQueryOf(t, p, ptRedirect)
		if q.Get("error") != "access_denied" || q.Get("state") != ptState {
			t.Errorf("redirect to the client: %v, want error=access_denied with the client's state", q)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		b := e.browser()
		b.signInUpstream(e, b.authorize(e.params(nil)), person("idp-hank", "hank@example.com"))
		if _, err := e.users.DisableUser(t.Context(), "hank"); err != nil {
			t.Fatal(err)
		}
		b2 := e.browser()
		p := b2.signInUpstream(e, b2.authorize(e.params(nil)), person("idp-hank", "hank@example.com"))
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "disabled") || b2.cookie(sessionCookie) != "" {
			t.Errorf("disabled user: status %d, want 403 and no session:\n%s", p.status, p.body)
		}
	})
	t.Run("provider down", func(t *testing.T) {
		down := newUpstreamEnv(t, false)
		down.provider.SetDown(true)
		b := down.browser()
		action, fields := upstreamForm(t, b.authorize(down.params(nil)))
		p := b.post(action, fields)
		if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", p.status, p.header.Get("Retry-After"))
		}
	})
}

func TestUpstreamSessionMaxAge(t *testing.T) {
	e := newUpstreamEnv(t, false)
	ctx := t.Context()
	b := e.browser()
	p := b.signInUpstream(e, b.authorize(e.params(nil)), person("idp-ivy", "ivy@example.com"))
	p = b.allow(p, "kanban.write")
	gr := e.redeem(ptRedirectQueryOf(t, p, ptRedirect).Get("code"), ptRedirect)
	refresh, _, err := e.grants.IssueRefreshToken(ctx, gr.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A password user's grant, made at the same time, has no such limit.
	pw := e.browser()
	action, fields := formOfStep(t, pw.authorize(e.params(nil)), "signin")
	fields.Set("username", "alice")
	fields.Set("password", goodPassword)
	p = pw.allow(pw.post(action, fields), "kanban.write")
	pwGrant := e.redeem(ptRedirectQueryOf(t, p, ptRedirect).Get("code"), ptRedirect)
	pwRefresh, _, err := e.grants.IssueRefreshToken(ctx, pwGrant.ID)
	if err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(upMaxAge - time.Minute)
	if _, refresh, err = e.grants.Refresh(ctx, RefreshRequest{Token: refresh, ClientID: e.client.ID}); err != nil {
		t.Fatalf("refresh within the max age: %v", err)
	}
	e.clock.Advance(time.Minute)
	_, _, err = e.grants.Refresh(ctx, RefreshRequest{Token: refresh, ClientID: e.client.ID})
	var tre *TokenRequestError
	if !errors.As(err, &tre) || tre.Code != ErrCodeInvalidGrant || tre.Revoked {
		t.Fatalf("refresh after the max age: %v; want invalid_grant, without revoking", err)
	}
	if _, _, err := e.grants.Refresh(ctx, RefreshRequest{Token: pwRefresh, ClientID: e.client.ID}); err != nil {
		t.Errorf("a password user's refresh after the federated max age: %v", err)
	}
	// The session ended with the max age too: the person goes through the
	// provider again, although a password session would last longer.
	if p := b.authorize(e.params(nil)); !strings.Contains(p.body, "Sign in with Example SSO") {
		t.Errorf("authorize after the max age: status %d, want the sign-in page:\n%s", p.status, p.body)
	}
	if p := pw.authorize(e.params(nil)); strings.Contains(p.body, "Sign in with") {
		t.Errorf("the password user's session ended with the federated max age: status %d, the sign-in page", p.status)
	}
}

// TestUpstreamMaxAgeIsReadAtEachRefresh: lowering the max age, or turning
// federation off, reaches grants made before, whose refreshes stop.
func TestUpstreamMaxAgeIsReadAtEachRefresh(t *testing.T) {
	e := newUpstreamEnv(t, false)
	ctx := t.Context()
	b := e.browser()
	p := b.allow(b.signInUpstream(e, b.authorize(e.params(nil)), person("idp-kim", "kim@example.com")), "kanban.write")
	gr := e.redeem(ptRedirectQueryOf(t, p, ptRedirect).Get("code"), ptRedirect)
	refresh, _, err := e.grants.IssueRefreshToken(ctx, gr.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	for _, tt := range []struct {
		name   string
		maxAge time.Duration
	}{{"max age lowered below the grant's age", 5 * time.Minute}, {"federation off", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			later, err := e.store.Grants(e.users, GrantOptions{Scopes: testScopes(t), UpstreamSessionMaxAge: tt.maxAge})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = later.Refresh(ctx, RefreshRequest{Token: refresh, ClientID: e.client.ID})
			var tre *TokenRequestError
			if !errors.As(err, &tre) || tre.Code != ErrCodeInvalidGrant {
				t.Errorf("refresh: %v; want invalid_grant", err)
			}
		})
	}
	if _, _, err := e.grants.Refresh(ctx, RefreshRequest{Token: refresh, ClientID: e.client.ID}); err != nil {
		t.Errorf("refresh under the original max age: %v", err)
	}
}

func TestUpstreamOnly(t *testing.T) {
	e := newUpstreamEnv(t, true)
	b := e.browser()
	p := b.authorize(e.params(nil))
	if isSignInPage(p) || !strings.Contains(p.body, "Sign in with Example SSO") {
		t.Fatalf("UPSTREAM_ONLY sign-in page: want the button and no password field:\n%s", p.body)
	}
	// A password posted anyway is refused, even a right one.
	_, fields := upstreamForm(t, p)
	fields.Set("step", "signin")
	fields.Set("username", "alice")
	fields.Set("password", goodPassword)
	if r := b.post(PathAuthorize, fields); r.status != http.StatusBadRequest || b.cookie(sessionCookie) != "" {
		t.Errorf("password sign-in with UPSTREAM_ONLY: status %d, want 400 and no session", r.status)
	}
	// The account page signs in through the provider too, and comes back
	// to itself.
	acct := b.get(PathAccount)
	if csp := acct.header.Get("Content-Security-Policy"); strings.Contains(csp, "form-action") {
		t.Errorf("account sign-in page keeps form-action (%q), which would stop the redirect to the provider", csp)
	}
	e.provider.SetLogin(person("idp-jo", "jo@example.com"))
	back := b.get(atProvider(t, e, b.toProvider(acct)))
	if back.status != http.StatusSeeOther || back.header.Get("Location") != PathAccount {
		t.Errorf("account sign-in: status %d to %q, want 303 to %s", back.status, back.header.Get("Location"), PathAccount)
	}
	if p := b.get(PathAccount); !strings.Contains(p.body, "jo") {
		t.Errorf("the account page after signing in does not show the user:\n%s", p.body)
	}
}

func TestUpstreamOptionsRefuseAnEmptyPolicy(t *testing.T) {
	p, err := upstream.New(upstream.Options{Issuer: "https://idp.example", ClientID: "c", RedirectURL: "https://kanban.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	o := &UpstreamOptions{Provider: p}
	if err := checkUpstream(o, &Grants{upstreamMaxAge: time.Hour}); err == nil || !strings.Contains(err.Error(), "admits nobody") {
		t.Errorf("checkUpstream with no allow-list: %v", err)
	}
}

// TestUpstreamLoginsAreBounded: pending sign-ins are rows anyone can make,
// so their size and their number are bounded, and expired ones never
// count.
func TestUpstreamLoginsAreBounded(t *testing.T) {
	clock := newTestClock()
	st := openTestStore(t, clock)
	ctx := t.Context()
	login := func(state, request string) upstreamLogin {
		s := upstream.NewStart()
		return upstreamLogin{State: state, Nonce: s.Nonce, Verifier: s.Verifier, Browser: "browser", Request: request}
	}
	var invalid *ValidationError
	if err := st.saveUpstreamLogin(ctx, login("big", strings.Repeat("x", maxUpstreamRequestBytes+1))); !errors.As(err, &invalid) {
		t.Errorf("an oversized request: %v, want a *ValidationError", err)
	}
	// Fill the table to its bound in one transaction.
	tx, err := st.db.BeginWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	for i := range maxPendingUpstreamLogins {
		if _, err := tx.ExecContext(ctx, `INSERT INTO upstream_logins (state_hash, browser_hash, nonce, verifier, request, created_at, expires_at)
			VALUES ($1, $2, 'n', $3, '', $4, $5)`, hashSecret(fmt.Sprint("s", i)), hashSecret("b"), strings.Repeat("v", 43),
			now.UnixNano(), now.Add(UpstreamLoginLifetime).UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := st.saveUpstreamLogin(ctx, login("one-more", "")); !errors.Is(err, errTooManyUpstreamLogins) {
		t.Fatalf("beyond the bound: %v, want errTooManyUpstreamLogins", err)
	}
	clock.Advance(UpstreamLoginLifetime)
	if err := st.saveUpstreamLogin(ctx, login("after-expiry", "")); err != nil {
		t.Fatalf("once the others expired: %v", err)
	}
	if l, err := st.takeUpstreamLogin(ctx, "after-expiry", "browser"); err != nil || l.Nonce == "" {
		t.Errorf("takeUpstreamLogin: %+v, %v", l, err)
	}
}

// TestUpstreamTripsAreThrottled: each start stores a pending sign-in and
// each callback writes, so an address gets a burst of each (counted apart)
// and then 429 with Retry-After, without waiting on the clock.
func TestUpstreamTripsAreThrottled(t *testing.T) {
	e := newUpstreamEnv(t, false)
	b := e.browser()
	action, fields := upstreamForm(t, b.authorize(e.params(nil)))
	throttled := func(what string, try func() ptResponse) {
		t.Helper()
		for i := 0; ; i++ {
			p := try()
			if p.status == http.StatusTooManyRequests {
				if i == 0 || p.header.Get("Retry-After") == "" {
					t.Errorf("%s: 429 after %d tries, Retry-After %q; want a burst first and a Retry-After", what, i, p.header.Get("Retry-After"))
				}
				return
			}
			if i > 100 {
				t.Fatalf("%s: no 429 after %d tries (last status %d)", what, i, p.status)
			}
		}
	}
	throttled("starts", func() ptResponse { return b.post(action, fields) })
	// The callbacks have their own count: the starts spent none of it.
	throttled("callbacks", func() ptResponse { return b.get(PathUpstreamCallback + "?code=x&state=unknown") })
}
