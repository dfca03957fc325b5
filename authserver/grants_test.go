package authserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

const (
	gtClient   = "https://client.example/oauth/client.json"
	gtOther    = "other-client"
	gtRedirect = "https://client.example/callback"
	gtResource = "https://kanban.example/mcp"
	// gtVerifier is RFC 7636 Appendix B's verifier; gtChallenge its S256
	// challenge as the RFC gives it.
	gtVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	gtChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	gtIssuer    = "https://kanban.example"
)

var (
	secretPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	grantIDPattern = regexp.MustCompile(`^g_[a-z2-7]{26}$`)
)

// grantEnv is a store with two users and its Grants, on a fake clock.
type grantEnv struct {
	clock  *testClock
	store  *Store
	users  *Users
	grants *Grants
	alice  User
	bob    User
}

func newGrantEnv(t *testing.T, opts GrantOptions) *grantEnv {
	t.Helper()
	clock := newTestClock()
	s := openTestStore(t, clock)
	users := NewUsers(s, testHasher(t, testHashParams, 2))
	if opts.Scopes == nil {
		opts.Scopes = testScopes(t)
	}
	g, err := s.Grants(users, opts)
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	return &grantEnv{
		clock:  clock,
		store:  s,
		users:  users,
		grants: g,
		alice:  mustAddUser(t, users, "alice", goodPassword, ""),
		bob:    mustAddUser(t, users, "bob", goodPassword, ""),
	}
}

// codeRequest is alice's approval of gtClient at kanban.write.
func (e *grantEnv) codeRequest() CodeRequest {
	return CodeRequest{
		Subject:       e.alice.Subject,
		ClientID:      gtClient,
		RedirectURI:   gtRedirect,
		CodeChallenge: gtChallenge,
		Resource:      gtResource,
		Scope:         []string{"kanban.write"},
	}
}

func (e *grantEnv) issueCode(t *testing.T, req CodeRequest) string {
	t.Helper()
	code, err := e.grants.IssueCode(t.Context(), req)
	if err != nil {
		t.Fatalf("IssueCode: %v", err)
	}
	return code
}

// redeemRequest is the token request that matches codeRequest.
func redeemRequest(code string) RedeemRequest {
	return RedeemRequest{Code: code, ClientID: gtClient, RedirectURI: gtRedirect, CodeVerifier: gtVerifier}
}

func (e *grantEnv) redeem(t *testing.T, req RedeemRequest) Grant {
	t.Helper()
	g, err := e.grants.RedeemCode(t.Context(), req)
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	return g
}

func (e *grantEnv) issueRefresh(t *testing.T, grantID string) string {
	t.Helper()
	tok, _, err := e.grants.IssueRefreshToken(t.Context(), grantID)
	if err != nil {
		t.Fatalf("IssueRefreshToken: %v", err)
	}
	return tok
}

// connect runs a whole authorization for req: code, redemption, first
// refresh token.
func (e *grantEnv) connect(t *testing.T, req CodeRequest) (Grant, string) {
	t.Helper()
	code := e.issueCode(t, req)
	rr := redeemRequest(code)
	rr.ClientID = req.ClientID
	g := e.redeem(t, rr)
	return g, e.issueRefresh(t, g.ID)
}

func (e *grantEnv) refresh(t *testing.T, token string) string {
	t.Helper()
	_, next, err := e.grants.Refresh(t.Context(), RefreshRequest{Token: token, ClientID: gtClient})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return next
}

func (e *grantEnv) revoked(t *testing.T, grantID string) bool {
	t.Helper()
	r, err := e.grants.GrantRevoked(t.Context(), grantID)
	if err != nil {
		t.Fatalf("GrantRevoked: %v", err)
	}
	return r
}

func (e *grantEnv) grant(t *testing.T, grantID string) Grant {
	t.Helper()
	g, err := e.grants.Grant(t.Context(), grantID)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	return g
}

// tokErr is what a test checks of a *TokenRequestError.
type tokErr struct {
	Code    string
	Revoked bool
}

var (
	errRefused   = &tokErr{Code: ErrCodeInvalidGrant}
	errRevokes   = &tokErr{Code: ErrCodeInvalidGrant, Revoked: true}
	errBadTarget = &tokErr{Code: ErrCodeInvalidTarget}
)

// summarize returns nil for nil, and the tokErr of a *TokenRequestError;
// any other error fails the test. It also checks that the description is
// there and does not echo the secrets.
func summarize(t *testing.T, err error, secrets ...string) *tokErr {
	t.Helper()
	if err == nil {
		return nil
	}
	var te *TokenRequestError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *TokenRequestError", err, err)
	}
	if te.Description == "" {
		t.Errorf("error %+v has no description", te)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(te.Error(), s) {
			t.Errorf("error %q shows a secret", te.Error())
		}
	}
	return &tokErr{Code: te.Code, Revoked: te.Revoked}
}

func TestS256IsRFC7636(t *testing.T) {
	if got := s256(gtVerifier); got != gtChallenge {
		t.Errorf("s256(RFC 7636 verifier) = %q, want %q", got, gtChallenge)
	}
	for _, tc := range []struct {
		challenge string
		want      bool
	}{
		{gtChallenge, true},
		{gtChallenge[:42], false},
		{gtChallenge + "A", false},
		{gtChallenge[:42] + "+", false},
		{gtChallenge + "=", false},
		{gtChallenge[:42] + "N", false},  // its last character has bits beyond 256
		{strings.Repeat("a", 50), false}, // a "plain" challenge: the verifier itself
		{"", false},
	} {
		if got := ValidCodeChallenge(tc.challenge); got != tc.want {
			t.Errorf("ValidCodeChallenge(%q) = %v, want %v", tc.challenge, got, tc.want)
		}
	}
}

func TestCodeToRefreshChain(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	t0 := e.clock.Now()
	req := e.codeRequest()
	req.Scope = []string{"profile", "kanban.write", "openid"}
	req.Nonce = "n-0S6_WzA2Mj"
	req.AuthTime = t0.Add(-5 * time.Minute)

	code := e.issueCode(t, req)
	if !secretPattern.MatchString(code) {
		t.Errorf("code %q is not 43 base64url characters", code)
	}
	e.clock.Advance(10 * time.Second)
	got := e.redeem(t, redeemRequest(code))
	if !grantIDPattern.MatchString(got.ID) {
		t.Errorf("grant ID %q does not match %v", got.ID, grantIDPattern)
	}
	want := Grant{
		ID:         got.ID,
		Subject:    e.alice.Subject,
		ClientID:   gtClient,
		Scope:      []string{"kanban.write", "kanban.read", "openid", "profile"},
		Resource:   gtResource,
		AuthTime:   req.AuthTime,
		CreatedAt:  t0,
		LastUsedAt: t0.Add(10 * time.Second),
		Nonce:      "n-0S6_WzA2Mj",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("RedeemCode grant (-want +got):\n%s", diff)
	}
	if !got.Has(ScopeOpenID) || got.ScopeString() != "kanban.write kanban.read openid profile" {
		t.Errorf("Has(openid), ScopeString = %v, %q", got.Has(ScopeOpenID), got.ScopeString())
	}

	tok, expires, err := e.grants.IssueRefreshToken(ctx, got.ID)
	if err != nil {
		t.Fatalf("IssueRefreshToken: %v", err)
	}
	if !secretPattern.MatchString(tok) {
		t.Errorf("refresh token %q is not 43 base64url characters", tok)
	}
	if wantExp := e.clock.Now().Add(DefaultRefreshTokenLifetime); !expires.Equal(wantExp) {
		t.Errorf("refresh token expires at %v, want %v", expires, wantExp)
	}
	if _, _, err := e.grants.IssueRefreshToken(ctx, got.ID); err == nil {
		t.Errorf("a second IssueRefreshToken for the grant succeeded; a grant has one chain")
	}

	seen := map[string]bool{code: true, tok: true}
	want.Nonce = "" // only the redemption carries it
	for i := range 3 {
		e.clock.Advance(time.Hour)
		g, next, err := e.grants.Refresh(ctx, RefreshRequest{Token: tok, ClientID: gtClient, Resource: gtResource})
		if err != nil {
			t.Fatalf("Refresh %d: %v", i+1, err)
		}
		want.LastUsedAt = e.clock.Now()
		if diff := cmp.Diff(want, g); diff != "" {
			t.Errorf("Refresh %d grant (-want +got):\n%s", i+1, diff)
		}
		if seen[next] || !secretPattern.MatchString(next) {
			t.Errorf("Refresh %d returned %q: repeated or malformed", i+1, next)
		}
		seen[next] = true
		tok = next
	}

	if e.revoked(t, got.ID) {
		t.Errorf("GrantRevoked = true for a live grant")
	}
	list, err := e.grants.ListGrants(ctx, e.alice.Subject)
	if err != nil {
		t.Fatalf("ListGrants: %v", err)
	}
	if diff := cmp.Diff([]Grant{want}, list); diff != "" {
		t.Errorf("ListGrants (-want +got):\n%s", diff)
	}
}

func TestRedeemCodeRefusals(t *testing.T) {
	longVerifier := strings.Repeat("A1-._~z", 19)[:128]
	for _, tc := range []struct {
		name string
		// verifier is the PKCE verifier whose challenge the code is bound
		// to, and that the token request sends; "" means gtVerifier.
		verifier string
		advance  time.Duration
		mod      func(*RedeemRequest)
		want     *tokErr
		// retry: after the failure, the correct request still redeems the
		// code (a refused attempt does not burn it).
		retry bool
	}{
		{name: "ok", want: nil},
		{name: "ok just before expiry", advance: CodeLifetime - time.Nanosecond},
		{name: "ok with the bound resource repeated", mod: func(r *RedeemRequest) { r.Resource = gtResource }},
		{name: "ok with a 128-character verifier", verifier: longVerifier},
		{name: "expired at 60 s", advance: CodeLifetime, want: errRefused},
		{name: "expired at 61 s", advance: 61 * time.Second, want: errRefused},
		{name: "unknown code", mod: func(r *RedeemRequest) { r.Code, _ = newSecret() }, want: errRefused},
		{name: "empty code", mod: func(r *RedeemRequest) { r.Code = "" }, want: errRefused},
		{name: "wrong client", mod: func(r *RedeemRequest) { r.ClientID = gtOther }, want: errRefused, retry: true},
		{name: "redirect URI with one more character", mod: func(r *RedeemRequest) { r.RedirectURI += "/" }, want: errRefused, retry: true},
		{name: "redirect URI with one character changed", mod: func(r *RedeemRequest) { r.RedirectURI = strings.TrimSuffix(gtRedirect, "k") + "K" }, want: errRefused, retry: true},
		{name: "no redirect URI", mod: func(r *RedeemRequest) { r.RedirectURI = "" }, want: errRefused, retry: true},
		{name: "wrong verifier", mod: func(r *RedeemRequest) { r.CodeVerifier = strings.Repeat("x", 43) }, want: errRefused, retry: true},
		{name: "no verifier", mod: func(r *RedeemRequest) { r.CodeVerifier = "" }, want: errRefused, retry: true},
		{name: "verifier given as the challenge", mod: func(r *RedeemRequest) { r.CodeVerifier = gtChallenge }, want: errRefused, retry: true},
		// These codes are bound to the bad verifier's own challenge, so
		// only the verifier's shape can refuse them.
		{name: "verifier of 42 characters", verifier: strings.Repeat("a", 42), want: errRefused},
		{name: "verifier of 129 characters", verifier: longVerifier + "a", want: errRefused},
		{name: "verifier with a character outside the alphabet", verifier: strings.Repeat("a", 42) + "+", want: errRefused},
		{name: "verifier with a space", verifier: strings.Repeat("a", 21) + " " + strings.Repeat("a", 21), want: errRefused},
		{name: "foreign resource", mod: func(r *RedeemRequest) { r.Resource = "https://evil.example/mcp" }, want: errBadTarget, retry: true},
		{name: "resource differing by a slash", mod: func(r *RedeemRequest) { r.Resource = gtResource + "/" }, want: errBadTarget, retry: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrantEnv(t, GrantOptions{})
			verifier := gtVerifier
			if tc.verifier != "" {
				verifier = tc.verifier
			}
			cr := e.codeRequest()
			cr.CodeChallenge = s256(verifier)
			code := e.issueCode(t, cr)
			e.clock.Advance(tc.advance)
			rr := redeemRequest(code)
			rr.CodeVerifier = verifier
			if tc.mod != nil {
				tc.mod(&rr)
			}
			g, err := e.grants.RedeemCode(t.Context(), rr)
			if diff := cmp.Diff(tc.want, summarize(t, err, code, verifier)); diff != "" {
				t.Fatalf("RedeemCode error (-want +got):\n%s\nerr = %v", diff, err)
			}
			list, lerr := e.grants.ListGrants(t.Context(), "")
			if lerr != nil || len(list) != 1 {
				t.Fatalf("ListGrants = %v, %v; want the one grant", list, lerr)
			}
			if e.revoked(t, list[0].ID) {
				t.Errorf("the grant is revoked after a refused redemption; only a replay revokes")
			}
			if tc.want == nil {
				if g.ID != list[0].ID || g.Resource != gtResource || g.ClientID != gtClient {
					t.Errorf("RedeemCode = %+v, want the grant %s for %s", g, list[0].ID, gtResource)
				}
				return
			}
			if tc.retry {
				ok := redeemRequest(code)
				if g := e.redeem(t, ok); g.ID != list[0].ID {
					t.Errorf("retry redeemed grant %s, want %s", g.ID, list[0].ID)
				}
			}
		})
	}
}

func TestRedeemCodeReplayRevokesGrant(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*RedeemRequest)
	}{
		{"same request", func(*RedeemRequest) {}},
		{"by another client", func(r *RedeemRequest) { r.ClientID = gtOther }},
		{"with a wrong verifier", func(r *RedeemRequest) { r.CodeVerifier = strings.Repeat("x", 43) }},
		{"after the code expired", func(*RedeemRequest) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrantEnv(t, GrantOptions{})
			ctx := t.Context()
			code := e.issueCode(t, e.codeRequest())
			g := e.redeem(t, redeemRequest(code))
			tok := e.issueRefresh(t, g.ID)
			if tc.name == "after the code expired" {
				e.clock.Advance(CodeLifetime)
			}

			replay := redeemRequest(code)
			tc.mod(&replay)
			_, err := e.grants.RedeemCode(ctx, replay)
			if diff := cmp.Diff(errRevokes, summarize(t, err, code)); diff != "" {
				t.Fatalf("replay error (-want +got):\n%s", diff)
			}
			if !e.revoked(t, g.ID) {
				t.Errorf("GrantRevoked = false after a replay")
			}
			if got := e.grant(t, g.ID); got.RevokeReason != RevokeReasonCodeReplay || !got.RevokedAt.Equal(e.clock.Now()) {
				t.Errorf("grant revoked at %v for %q, want %v for %q", got.RevokedAt, got.RevokeReason, e.clock.Now(), RevokeReasonCodeReplay)
			}
			_, _, err = e.grants.Refresh(ctx, RefreshRequest{Token: tok, ClientID: gtClient})
			if diff := cmp.Diff(errRefused, summarize(t, err, tok)); diff != "" {
				t.Errorf("Refresh with the first redemption's token (-want +got):\n%s", diff)
			}
			// The grant is revoked already: a further replay fails without
			// claiming to revoke it again.
			_, err = e.grants.RedeemCode(ctx, redeemRequest(code))
			if diff := cmp.Diff(errRefused, summarize(t, err, code)); diff != "" {
				t.Errorf("second replay (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRefreshRotationAndGrace pins every rule of rotation and its grace.
// Each step moves the clock by advance, then presents the token named use
// (a name not issued yet is sent as it is) and names the new token issue.
func TestRefreshRotationAndGrace(t *testing.T) {
	type step struct {
		advance  time.Duration
		use      string
		client   string // "" means gtClient
		resource string
		issue    string
		want     *tokErr
	}
	const month = 30 * 24 * time.Hour
	for _, tc := range []struct {
		name        string
		steps       []step
		wantRevoked bool
	}{
		{name: "rotation on every use", steps: []step{
			{advance: time.Hour, use: "T1", issue: "T2"},
			{advance: time.Hour, use: "T2", issue: "T3"},
			{advance: time.Hour, use: "T3", issue: "T4"},
		}},
		{name: "grace retry returns a new token and the chain goes on from it", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: 30 * time.Second, use: "T1", issue: "T3"},
			{advance: time.Hour, use: "T3", issue: "T4"},
			{advance: time.Hour, use: "T4", issue: "T5"},
		}},
		{name: "grace retry at the last instant of the grace", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: RefreshGrace - time.Nanosecond, use: "T1", issue: "T3"},
			{use: "T3", issue: "T4"},
		}},
		{name: "the successor that a grace retry replaced is dead: using it revokes", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: 30 * time.Second, use: "T1", issue: "T3"},
			{use: "T2", want: errRevokes},
			{use: "T3", want: errRefused},
		}, wantRevoked: true},
		{name: "(a) reuse at the end of the grace revokes", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: RefreshGrace, use: "T1", want: errRevokes},
			{use: "T2", want: errRefused},
		}, wantRevoked: true},
		{name: "(a) reuse long after the grace revokes", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: 24 * time.Hour, use: "T1", want: errRevokes},
			{use: "T2", want: errRefused},
		}, wantRevoked: true},
		{name: "(b) a second retry within the grace revokes", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: 10 * time.Second, use: "T1", issue: "T3"},
			{advance: 10 * time.Second, use: "T1", want: errRevokes},
			{use: "T3", want: errRefused},
		}, wantRevoked: true},
		{name: "(c) a retry after the successor was used revokes", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: time.Second, use: "T2", issue: "T3"},
			{advance: time.Second, use: "T1", want: errRevokes},
			{use: "T3", want: errRefused},
		}, wantRevoked: true},
		{name: "the grace is per token: a retry-issued token has its own", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: 10 * time.Second, use: "T1", issue: "T3"},
			{advance: time.Hour, use: "T3", issue: "T4"},
			{advance: 10 * time.Second, use: "T3", issue: "T5"},
			{use: "T5", issue: "T6"},
			{use: "T4", want: errRevokes},
		}, wantRevoked: true},
		{name: "(d) an expired token is refused without revoking", steps: []step{
			{advance: month, use: "T1", want: errRefused},
		}},
		{name: "ok just before expiry", steps: []step{
			{advance: month - time.Nanosecond, use: "T1", issue: "T2"},
		}},
		{name: "(d) an expired rotated token is refused without revoking; its live successor works", steps: []step{
			{advance: time.Hour, use: "T1", issue: "T2"},
			{advance: month - time.Hour, use: "T1", want: errRefused},
			{use: "T2", issue: "T3"},
		}},
		{name: "another client is refused, and the token still works", steps: []step{
			{use: "T1", client: gtOther, want: errRefused},
			{use: "T1", issue: "T2"},
		}},
		{name: "a retry by another client within the grace is refused and kills nothing", steps: []step{
			{use: "T1", issue: "T2"},
			{advance: time.Second, use: "T1", client: gtOther, want: errRefused},
			{use: "T2", issue: "T3"},
		}},
		{name: "a foreign resource is invalid_target, and the token still works", steps: []step{
			{use: "T1", resource: "https://evil.example/mcp", want: errBadTarget},
			{use: "T1", resource: gtResource, issue: "T2"},
		}},
		{name: "an unknown token is refused", steps: []step{
			{use: "not-a-token", want: errRefused},
			{use: "", want: errRefused},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrantEnv(t, GrantOptions{})
			g, t1 := e.connect(t, e.codeRequest())
			tokens := map[string]string{"T1": t1}
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				client := s.client
				if client == "" {
					client = gtClient
				}
				presented, ok := tokens[s.use]
				if !ok {
					presented = s.use
				}
				_, next, err := e.grants.Refresh(t.Context(), RefreshRequest{Token: presented, ClientID: client, Resource: s.resource})
				if diff := cmp.Diff(s.want, summarize(t, err, presented)); diff != "" {
					t.Fatalf("step %d (%s): error (-want +got):\n%s\nerr = %v", i+1, s.use, diff, err)
				}
				if s.want != nil {
					if next != "" {
						t.Errorf("step %d: a refused refresh returned a token", i+1)
					}
					continue
				}
				for name, old := range tokens {
					if next == old {
						t.Fatalf("step %d: new token equals %s", i+1, name)
					}
				}
				tokens[s.issue] = next
			}
			if got := e.revoked(t, g.ID); got != tc.wantRevoked {
				t.Errorf("GrantRevoked = %v, want %v", got, tc.wantRevoked)
			}
			if tc.wantRevoked {
				if got := e.grant(t, g.ID).RevokeReason; got != RevokeReasonRefreshReuse {
					t.Errorf("revoke reason = %q, want %q", got, RevokeReasonRefreshReuse)
				}
			}
		})
	}
}

func TestRefreshTokenLifetimeOption(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{RefreshTokenLifetime: time.Hour})
	g, t1 := e.connect(t, e.codeRequest())
	e.clock.Advance(30 * time.Minute)
	t2 := e.refresh(t, t1) // a fresh hour from now
	e.clock.Advance(45 * time.Minute)
	t3 := e.refresh(t, t2)
	e.clock.Advance(time.Hour)
	_, _, err := e.grants.Refresh(t.Context(), RefreshRequest{Token: t3, ClientID: gtClient})
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("Refresh after the configured lifetime (-want +got):\n%s", diff)
	}
	if e.revoked(t, g.ID) {
		t.Errorf("expiry revoked the grant")
	}

	if _, err := e.store.Grants(e.users, GrantOptions{Scopes: testScopes(t), RefreshTokenLifetime: -time.Second}); err == nil {
		t.Errorf("Grants accepted a negative lifetime")
	}
	if _, err := e.store.Grants(nil, GrantOptions{Scopes: testScopes(t)}); err == nil {
		t.Errorf("Grants accepted no UserStatus")
	}
}

func TestIssueCodeScopes(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"kanban.read"}, []string{"kanban.read"}},
		{[]string{"kanban.write"}, []string{"kanban.write", "kanban.read"}},
		{[]string{"kanban.admin"}, []string{"kanban.admin", "kanban.write", "kanban.read"}},
		{[]string{"kanban.read", "kanban.admin", "kanban.write"}, []string{"kanban.admin", "kanban.write", "kanban.read"}},
		{[]string{"profile", "openid", "kanban.read", "openid"}, []string{"kanban.read", "openid", "profile"}},
		// A scope that stands alone sits beside the chain: the most
		// powerful first, then as declared.
		{[]string{"kanban.archive"}, []string{"kanban.archive"}},
		{[]string{"kanban.archive", "kanban.write"}, []string{"kanban.write", "kanban.read", "kanban.archive"}},
		{[]string{"kanban.archive", "kanban.admin", "openid"}, []string{"kanban.admin", "kanban.write", "kanban.read", "kanban.archive", "openid"}},
	} {
		t.Run(strings.Join(tc.in, " "), func(t *testing.T) {
			e := newGrantEnv(t, GrantOptions{})
			req := e.codeRequest()
			req.Scope = tc.in
			g := e.redeem(t, redeemRequest(e.issueCode(t, req)))
			if diff := cmp.Diff(tc.want, g.Scope); diff != "" {
				t.Errorf("scope (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIssueCodeRefusals(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	for _, tc := range []struct {
		name      string
		mod       func(*CodeRequest)
		wantField string // of the *ValidationError; "" means ErrNotFound
	}{
		{"no scope", func(r *CodeRequest) { r.Scope = nil }, "scope"},
		{"no kanban level", func(r *CodeRequest) { r.Scope = []string{"openid"} }, "scope"},
		{"unknown scope", func(r *CodeRequest) { r.Scope = []string{"kanban.read", "email"} }, "scope"},
		{"no subject", func(r *CodeRequest) { r.Subject = "" }, "subject"},
		{"no client", func(r *CodeRequest) { r.ClientID = "" }, "client_id"},
		{"no redirect URI", func(r *CodeRequest) { r.RedirectURI = "" }, "redirect_uri"},
		{"no resource", func(r *CodeRequest) { r.Resource = "" }, "resource"},
		{"no challenge", func(r *CodeRequest) { r.CodeChallenge = "" }, "code_challenge"},
		{"plain challenge", func(r *CodeRequest) { r.CodeChallenge = strings.Repeat("a", 50) }, "code_challenge"},
		{"challenge with bits beyond 256", func(r *CodeRequest) { r.CodeChallenge = gtChallenge[:42] + "N" }, "code_challenge"},
		{"nonce too long", func(r *CodeRequest) { r.Nonce = strings.Repeat("n", MaxNonceLen+1) }, "nonce"},
		{"unknown subject", func(r *CodeRequest) { r.Subject = "u_nobody" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := e.codeRequest()
			tc.mod(&req)
			code, err := e.grants.IssueCode(t.Context(), req)
			if code != "" {
				t.Errorf("IssueCode returned a code with an error")
			}
			var ve *ValidationError
			switch {
			case tc.wantField == "" && !errors.Is(err, ErrNotFound):
				t.Errorf("IssueCode error = %v, want ErrNotFound", err)
			case tc.wantField != "" && (!errors.As(err, &ve) || ve.Field != tc.wantField):
				t.Errorf("IssueCode error = %v, want a ValidationError of %q", err, tc.wantField)
			}
		})
	}
	list, err := e.grants.ListGrants(t.Context(), "")
	if err != nil || len(list) != 0 {
		t.Errorf("ListGrants after refusals = %v, %v; want none", list, err)
	}
}

func TestIssueRefreshTokenRefusals(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	if _, _, err := e.grants.IssueRefreshToken(ctx, "g_unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown grant: err = %v, want ErrNotFound", err)
	}
	g := e.redeem(t, redeemRequest(e.issueCode(t, e.codeRequest())))
	if _, err := e.grants.RevokeGrant(ctx, g.ID, RevokeReasonCodeReplay); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	_, _, err := e.grants.IssueRefreshToken(ctx, g.ID)
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("revoked grant (-want +got):\n%s", diff)
	}
}

func TestRevokeGrant(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	g, tok := e.connect(t, e.codeRequest())
	other, otherTok := e.connect(t, e.codeRequest())
	e.clock.Advance(time.Minute)

	if got, err := e.grants.RevokeGrant(ctx, g.ID, RevokeReasonUser); err != nil || !got {
		t.Fatalf("RevokeGrant = %v, %v; want true", got, err)
	}
	if got, err := e.grants.RevokeGrant(ctx, g.ID, RevokeReasonOperator); err != nil || got {
		t.Errorf("RevokeGrant again = %v, %v; want false", got, err)
	}
	if _, err := e.grants.RevokeGrant(ctx, "g_unknown", RevokeReasonOperator); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeGrant(unknown) err = %v, want ErrNotFound", err)
	}
	var ve *ValidationError
	if _, err := e.grants.RevokeGrant(ctx, other.ID, ""); !errors.As(err, &ve) {
		t.Errorf("RevokeGrant without a reason: err = %v, want a ValidationError", err)
	}

	if !e.revoked(t, g.ID) {
		t.Errorf("GrantRevoked = false after RevokeGrant")
	}
	want := g
	want.Nonce = ""
	want.RevokedAt = e.clock.Now()
	want.RevokeReason = RevokeReasonUser // the first reason stays
	if diff := cmp.Diff(want, e.grant(t, g.ID)); diff != "" {
		t.Errorf("revoked grant (-want +got):\n%s", diff)
	}
	_, _, err := e.grants.Refresh(ctx, RefreshRequest{Token: tok, ClientID: gtClient})
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("Refresh of a revoked grant (-want +got):\n%s", diff)
	}

	// The other grant of the same user and client is untouched.
	if e.revoked(t, other.ID) {
		t.Errorf("revoking one grant revoked another")
	}
	e.refresh(t, otherTok)
}

func TestRevokeRefreshToken(t *testing.T) {
	for _, tc := range []struct {
		name        string
		token       func(t1, t2 string) string
		client      string
		wantRevoked bool
	}{
		{"unknown token", func(string, string) string { return "no-such-token" }, gtClient, false},
		{"another client's token is ignored", func(_, t2 string) string { return t2 }, gtOther, false},
		{"the current token", func(_, t2 string) string { return t2 }, gtClient, true},
		{"an already rotated token", func(t1, _ string) string { return t1 }, gtClient, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGrantEnv(t, GrantOptions{})
			g, t1 := e.connect(t, e.codeRequest())
			e.clock.Advance(time.Hour)
			t2 := e.refresh(t, t1)
			if err := e.grants.RevokeRefreshToken(t.Context(), tc.token(t1, t2), tc.client); err != nil {
				t.Fatalf("RevokeRefreshToken: %v", err)
			}
			if got := e.revoked(t, g.ID); got != tc.wantRevoked {
				t.Fatalf("GrantRevoked = %v, want %v", got, tc.wantRevoked)
			}
			if tc.wantRevoked {
				if got := e.grant(t, g.ID).RevokeReason; got != RevokeReasonClient {
					t.Errorf("revoke reason = %q, want %q", got, RevokeReasonClient)
				}
				return
			}
			e.refresh(t, t2) // still works
		})
	}
}

func TestRevokeGrantsOfUser(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	var alices []Grant
	for range 3 {
		g, _ := e.connect(t, e.codeRequest())
		alices = append(alices, g)
	}
	bobReq := e.codeRequest()
	bobReq.Subject = e.bob.Subject
	bobs, _ := e.connect(t, bobReq)
	if _, err := e.grants.RevokeGrant(ctx, alices[0].ID, RevokeReasonUser); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}

	for _, tc := range []struct {
		subject string
		want    int64
	}{
		{e.alice.Subject, 2}, // the third was revoked already
		{e.alice.Subject, 0},
		{"u_nobody", 0},
	} {
		n, err := e.grants.RevokeGrantsOfUser(ctx, tc.subject, RevokeReasonUserDisabled)
		if err != nil || n != tc.want {
			t.Errorf("RevokeGrantsOfUser(%s) = %d, %v; want %d", tc.subject, n, err, tc.want)
		}
	}
	got := map[string]string{}
	for _, g := range append(alices, bobs) {
		got[g.ID] = e.grant(t, g.ID).RevokeReason
	}
	want := map[string]string{
		alices[0].ID: RevokeReasonUser,
		alices[1].ID: RevokeReasonUserDisabled,
		alices[2].ID: RevokeReasonUserDisabled,
		bobs.ID:      "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revoke reasons (-want +got):\n%s", diff)
	}
	if e.revoked(t, bobs.ID) {
		t.Errorf("bob's grant was revoked")
	}
}

func TestDisabledUserGetsNoTokens(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	g, tok := e.connect(t, e.codeRequest())
	code := e.issueCode(t, e.codeRequest())

	// First the account is only marked disabled (as UserDisabled sees it),
	// to show that the refusals themselves change nothing.
	setDisabled := func(disabled bool) {
		t.Helper()
		q := `UPDATE users SET disabled_at = NULL WHERE id = $1`
		args := []any{e.alice.Subject}
		if disabled {
			q, args = `UPDATE users SET disabled_at = $1 WHERE id = $2`, []any{e.store.now().UnixNano(), e.alice.Subject}
		}
		if _, err := e.store.db.ExecWrite(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	_, err := e.grants.RedeemCode(ctx, redeemRequest(code))
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("RedeemCode for a disabled user (-want +got):\n%s", diff)
	}
	_, _, err = e.grants.Refresh(ctx, RefreshRequest{Token: tok, ClientID: gtClient})
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("Refresh for a disabled user (-want +got):\n%s", diff)
	}
	if !e.revoked(t, g.ID) {
		t.Errorf("GrantRevoked = false for a disabled user's grant")
	}
	if e.grant(t, g.ID).Revoked() {
		t.Errorf("the refusals revoked the grant; only DisableUser revokes")
	}
	setDisabled(false)
	e.redeem(t, redeemRequest(code))
	tok = e.refresh(t, tok)
	if e.revoked(t, g.ID) {
		t.Errorf("GrantRevoked = true after the user was enabled again")
	}

	// DisableUser revokes the grants for good: enabling the account again
	// brings none of them back.
	if _, err := e.users.DisableUser(ctx, "alice"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}
	if _, err := e.users.EnableUser(ctx, "alice"); err != nil {
		t.Fatalf("EnableUser: %v", err)
	}
	if !e.grant(t, g.ID).Revoked() {
		t.Errorf("DisableUser left the grant live")
	}
	_, _, err = e.grants.Refresh(ctx, RefreshRequest{Token: tok, ClientID: gtClient})
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("Refresh after disable and enable (-want +got):\n%s", diff)
	}
}

// failingUsers is a UserStatus that cannot answer.
type failingUsers struct{}

func (failingUsers) UserDisabled(context.Context, string) (bool, error) {
	return true, errors.New("database is locked")
}

func TestUserStatusFailureFailsClosed(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	_, tok := e.connect(t, e.codeRequest())
	code := e.issueCode(t, e.codeRequest())
	broken, err := e.store.Grants(failingUsers{}, GrantOptions{Scopes: testScopes(t)})
	if err != nil {
		t.Fatalf("Grants: %v", err)
	}
	var te *TokenRequestError
	if _, err := broken.RedeemCode(ctx, redeemRequest(code)); err == nil || errors.As(err, &te) {
		t.Errorf("RedeemCode with a failing UserStatus: err = %v, want a server error", err)
	}
	if _, _, err := broken.Refresh(ctx, RefreshRequest{Token: tok, ClientID: gtClient}); err == nil || errors.As(err, &te) {
		t.Errorf("Refresh with a failing UserStatus: err = %v, want a server error", err)
	}
	// Nothing was consumed.
	e.redeem(t, redeemRequest(code))
	e.refresh(t, tok)
}

func TestGrantRevocationChecker(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	live, _ := e.connect(t, e.codeRequest())
	revoked, _ := e.connect(t, e.codeRequest())
	if _, err := e.grants.RevokeGrant(ctx, revoked.ID, RevokeReasonUser); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	bobReq := e.codeRequest()
	bobReq.Subject = e.bob.Subject
	bobs, _ := e.connect(t, bobReq)
	if _, err := e.users.DisableUser(ctx, "bob"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}

	checker := e.grants.RevocationChecker(gtIssuer)
	var _ auth.RevocationChecker = checker
	for _, tc := range []struct {
		name string
		p    *auth.Principal
		want bool
	}{
		{"anonymous", nil, false},
		{"another issuer, no grant id", &auth.Principal{Issuer: "https://idp.example", Subject: "x"}, false},
		{"another issuer naming a revoked grant", &auth.Principal{Issuer: "https://idp.example", GrantID: revoked.ID}, false},
		{"built-in issuer without grant id", &auth.Principal{Issuer: gtIssuer, Subject: e.alice.Subject}, true},
		{"revoked grant", &auth.Principal{Issuer: gtIssuer, Subject: e.alice.Subject, GrantID: revoked.ID}, true},
		{"live grant", &auth.Principal{Issuer: gtIssuer, Subject: e.alice.Subject, GrantID: live.ID}, false},
		{"unknown grant", &auth.Principal{Issuer: gtIssuer, Subject: e.alice.Subject, GrantID: "g_unknown"}, true},
		{"disabled user's grant", &auth.Principal{Issuer: gtIssuer, Subject: e.bob.Subject, GrantID: bobs.ID}, true},
		{"issuer compared exactly", &auth.Principal{Issuer: gtIssuer + "/", GrantID: "g_unknown"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checker.Revoked(ctx, tc.p)
			if err != nil || got != tc.want {
				t.Errorf("Revoked = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSecretsNotStoredInTheClear(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	var secrets []string
	code := e.issueCode(t, e.codeRequest())
	g := e.redeem(t, redeemRequest(code))
	t1 := e.issueRefresh(t, g.ID)
	t2 := e.refresh(t, t1)
	t3 := e.refresh(t, t1) // grace retry: t2 is invalidated
	t4 := e.refresh(t, t3)
	unused := e.issueCode(t, e.codeRequest())
	secrets = append(secrets, code, t1, t2, t3, t4, unused)

	file := dumpAllRows(t, ctx, e.store.db)
	for i, s := range secrets {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("secret %d is not base64url: %v", i, err)
		}
		if bytes.Contains(file, raw) {
			t.Errorf("secret %d is stored in the clear (decoded)", i)
		}
		// Any 16 consecutive characters: a store of a truncated or
		// re-encoded secret leaks too.
		for off := 0; off+16 <= len(s); off++ {
			if bytes.Contains(file, []byte(s[off:off+16])) {
				t.Errorf("secret %d: characters %d to %d are in the file", i, off, off+16)
				break
			}
		}
		// The control: the test reads the rows the secrets are kept in.
		if !bytes.Contains(file, hashSecret(s)) {
			t.Errorf("secret %d: its hash is not in the rows either; does the dump miss a table?", i)
		}
	}
}

// dumpAllRows returns every value of every row of every table of db, as
// bytes (text and blobs as they are, other values printed), concatenated.
func dumpAllRows(t *testing.T, ctx context.Context, db *sqldb.DB) []byte {
	t.Helper()
	tablesQuery := `SELECT name FROM sqlite_schema WHERE type = 'table'`
	if db.Dialect() == sqldb.Postgres {
		tablesQuery = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.Reader.QueryContext(ctx, tablesQuery)
	if err != nil {
		t.Fatalf("list the tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil || len(tables) == 0 {
		t.Fatalf("list the tables: %v (%d found)", err, len(tables))
	}
	var out []byte
	for _, table := range tables {
		rows, err := db.Reader.QueryContext(ctx, `SELECT * FROM `+table)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out = append(out, v...)
				case string:
					out = append(out, v...)
				default:
					out = fmt.Append(out, v)
				}
				out = append(out, 0)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
	}
	return out
}

func TestConsent(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	type lookup struct {
		Scopes []auth.Scope
		OK     bool
	}
	get := func(subject, client string) lookup {
		t.Helper()
		scopes, ok, err := e.grants.Consent(ctx, subject, client)
		if err != nil {
			t.Fatalf("Consent: %v", err)
		}
		return lookup{scopes, ok}
	}
	remember := func(subject, client string, scopes ...auth.Scope) {
		t.Helper()
		if err := e.grants.RememberConsent(ctx, subject, client, scopes); err != nil {
			t.Fatalf("RememberConsent: %v", err)
		}
	}
	rw := []auth.Scope{scopeRead, scopeWrite}
	all := []auth.Scope{scopeRead, scopeWrite, scopeAdmin}
	a, b := e.alice.Subject, e.bob.Subject
	every := func() map[string]lookup {
		return map[string]lookup{
			"alice/client": get(a, gtClient),
			"alice/other":  get(a, gtOther),
			"bob/client":   get(b, gtClient),
		}
	}
	for _, tc := range []struct {
		name string
		do   func()
		want map[string]lookup
	}{
		{"nothing remembered", func() {}, map[string]lookup{"alice/client": {}, "alice/other": {}, "bob/client": {}}},
		// Read back with what the remembered scopes imply.
		{"remember write", func() { remember(a, gtClient, scopeWrite) },
			map[string]lookup{"alice/client": {rw, true}, "alice/other": {}, "bob/client": {}}},
		{"a lower choice replaces it", func() { remember(a, gtClient, scopeRead) },
			map[string]lookup{"alice/client": {[]auth.Scope{scopeRead}, true}, "alice/other": {}, "bob/client": {}}},
		{"a set with a scope that stands alone", func() { remember(a, gtClient, scopeArchive, scopeRead) },
			map[string]lookup{"alice/client": {[]auth.Scope{scopeRead, scopeArchive}, true}, "alice/other": {}, "bob/client": {}}},
		{"other user and client are separate", func() { remember(b, gtClient, scopeAdmin); remember(a, gtOther, scopeWrite) },
			map[string]lookup{"alice/client": {[]auth.Scope{scopeRead, scopeArchive}, true}, "alice/other": {rw, true}, "bob/client": {all, true}}},
		{"forget", func() {
			if ok, err := e.grants.ForgetConsent(ctx, a, gtClient); err != nil || !ok {
				t.Errorf("ForgetConsent = %v, %v; want true", ok, err)
			}
			if ok, err := e.grants.ForgetConsent(ctx, a, gtClient); err != nil || ok {
				t.Errorf("ForgetConsent again = %v, %v; want false", ok, err)
			}
		}, map[string]lookup{"alice/client": {}, "alice/other": {rw, true}, "bob/client": {all, true}}},
	} {
		tc.do()
		if diff := cmp.Diff(tc.want, every()); diff != "" {
			t.Errorf("%s: consents (-want +got):\n%s", tc.name, diff)
		}
	}

	for _, bad := range [][]auth.Scope{nil, {""}, {"openid"}, {"kanban.delete"}, {"KANBAN.READ"}, {scopeRead, "kanban.delete"}} {
		var ve *ValidationError
		if err := e.grants.RememberConsent(ctx, a, gtClient, bad); !errors.As(err, &ve) {
			t.Errorf("RememberConsent(%q) err = %v, want a ValidationError", bad, err)
		}
	}
}

func TestListAndTouchGrants(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	t0 := e.clock.Now()
	a1, _ := e.connect(t, e.codeRequest())
	e.clock.Advance(time.Minute)
	bobReq := e.codeRequest()
	bobReq.Subject = e.bob.Subject
	b1, _ := e.connect(t, bobReq)
	e.clock.Advance(time.Minute)
	readReq := e.codeRequest()
	readReq.Scope = []string{"kanban.read"}
	readReq.ClientID = gtOther
	a2 := e.redeem(t, RedeemRequest{Code: e.issueCode(t, readReq), ClientID: gtOther, RedirectURI: gtRedirect, CodeVerifier: gtVerifier})
	if _, err := e.grants.RevokeGrant(ctx, a1.ID, RevokeReasonUser); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}

	e.clock.Advance(time.Hour)
	if err := e.grants.TouchGrant(ctx, b1.ID); err != nil {
		t.Fatalf("TouchGrant: %v", err)
	}
	if err := e.grants.TouchGrant(ctx, "g_unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchGrant(unknown) err = %v, want ErrNotFound", err)
	}

	type row struct {
		ID, ClientID, Scope string
		Created, LastUsed   time.Time
		Revoked             bool
	}
	rows := func(subject string) []row {
		t.Helper()
		list, err := e.grants.ListGrants(ctx, subject)
		if err != nil {
			t.Fatalf("ListGrants: %v", err)
		}
		out := []row{}
		for _, g := range list {
			out = append(out, row{g.ID, g.ClientID, g.ScopeString(), g.CreatedAt, g.LastUsedAt, g.Revoked()})
		}
		return out
	}
	ra1 := row{a1.ID, gtClient, "kanban.write kanban.read", t0, t0, true}
	rb1 := row{b1.ID, gtClient, "kanban.write kanban.read", t0.Add(time.Minute), t0.Add(time.Hour + 2*time.Minute), false}
	ra2 := row{a2.ID, gtOther, "kanban.read", t0.Add(2 * time.Minute), t0.Add(2 * time.Minute), false}
	for _, tc := range []struct {
		subject string
		want    []row
	}{
		{e.alice.Subject, []row{ra2, ra1}},
		{e.bob.Subject, []row{rb1}},
		{"", []row{ra2, rb1, ra1}},
		{"u_nobody", []row{}},
	} {
		if diff := cmp.Diff(tc.want, rows(tc.subject), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ListGrants(%q) (-want +got):\n%s", tc.subject, diff)
		}
	}
}

func TestPruneExpired(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{RefreshTokenLifetime: time.Hour})
	ctx := t.Context()
	hashes := func(table string) map[string]bool {
		t.Helper()
		rows, err := e.store.db.Reader.QueryContext(ctx, `SELECT hash FROM `+table)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			out[string(h)] = true
		}
		return out
	}
	set := func(secrets ...string) map[string]bool {
		out := map[string]bool{}
		for _, s := range secrets {
			out[string(hashSecret(s))] = true
		}
		return out
	}
	prune := func(want int64) {
		t.Helper()
		n, err := e.grants.PruneExpired(ctx)
		if err != nil || n != want {
			t.Errorf("PruneExpired = %d, %v; want %d", n, err, want)
		}
	}

	// At 0: A is connected; B is connected and revoked; C's code is never
	// redeemed.
	codeA := e.issueCode(t, e.codeRequest())
	gA := e.redeem(t, redeemRequest(codeA))
	tA1 := e.issueRefresh(t, gA.ID)
	codeB := e.issueCode(t, e.codeRequest())
	gB := e.redeem(t, redeemRequest(codeB))
	tB1 := e.issueRefresh(t, gB.ID)
	if _, err := e.grants.RevokeGrant(ctx, gB.ID, RevokeReasonUser); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	codeC := e.issueCode(t, e.codeRequest())
	if diff := cmp.Diff(set(tA1, tB1), hashes("refresh_tokens")); diff != "" {
		t.Fatalf("refresh tokens before pruning (-want +got):\n%s", diff)
	}

	// Within the code lifetime only B's code and token go, B being
	// revoked. A's used code stays, so that a replay is still recognised.
	e.clock.Advance(CodeLifetime / 2)
	prune(2)
	if diff := cmp.Diff(set(codeA, codeC), hashes("authorization_codes")); diff != "" {
		t.Errorf("codes after the first prune (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(set(tA1), hashes("refresh_tokens")); diff != "" {
		t.Errorf("refresh tokens after the first prune (-want +got):\n%s", diff)
	}
	_, err := e.grants.RedeemCode(ctx, redeemRequest(codeA))
	if diff := cmp.Diff(errRevokes, summarize(t, err)); diff != "" {
		t.Fatalf("replay of a used, unpruned code (-want +got):\n%s", diff)
	}

	// At 30 min, a new grant A2 (its token expires at 1 h 30) and an
	// unused code D (expires at 31 min). Pruned: A's code and token (A was
	// revoked by the replay) and C's expired code.
	e.clock.Advance(30*time.Minute - CodeLifetime/2)
	codeA2 := e.issueCode(t, e.codeRequest())
	gA2 := e.redeem(t, redeemRequest(codeA2))
	tA2 := e.issueRefresh(t, gA2.ID)
	codeD := e.issueCode(t, e.codeRequest())
	prune(3)
	if diff := cmp.Diff(set(codeA2, codeD), hashes("authorization_codes")); diff != "" {
		t.Errorf("codes after the second prune (-want +got):\n%s", diff)
	}
	e.clock.Advance(15 * time.Minute)
	tA3 := e.refresh(t, tA2) // expires at 1 h 45
	if diff := cmp.Diff(set(tA2, tA3), hashes("refresh_tokens")); diff != "" {
		t.Errorf("refresh tokens after the second prune (-want +got):\n%s", diff)
	}

	// At 1 h 30: the rotated tA2 has expired, and so have both codes;
	// tA3 has not.
	e.clock.Advance(45 * time.Minute)
	prune(3)
	if diff := cmp.Diff(set(tA3), hashes("refresh_tokens")); diff != "" {
		t.Errorf("refresh tokens after the third prune (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(set(), hashes("authorization_codes")); diff != "" {
		t.Errorf("codes after the third prune (-want +got):\n%s", diff)
	}
	// A pruned token is merely unknown: refused, without revoking.
	_, _, err = e.grants.Refresh(ctx, RefreshRequest{Token: tA2, ClientID: gtClient})
	if diff := cmp.Diff(errRefused, summarize(t, err)); diff != "" {
		t.Errorf("Refresh with a pruned token (-want +got):\n%s", diff)
	}
	e.refresh(t, tA3)
	if e.revoked(t, gA2.ID) {
		t.Errorf("the live grant was revoked")
	}
}

// TestGrantOfSecret: codes and refresh tokens lead to their grant; unknown
// secrets, and a secret looked up as the other kind, to none.
func TestGrantOfSecret(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	code := e.issueCode(t, e.codeRequest())
	byCode, found, err := e.grants.GrantOfSecret(t.Context(), SecretCode, code)
	if err != nil || !found {
		t.Fatalf("GrantOfSecret(code) = %v, %v", found, err)
	}
	g := e.redeem(t, redeemRequest(code))
	if byCode.ID != g.ID {
		t.Errorf("the code's grant is %s, want %s", byCode.ID, g.ID)
	}
	refresh := e.issueRefresh(t, g.ID)
	tests := []struct {
		name   string
		kind   SecretKind
		secret string
		want   string // grant ID, "" for none
	}{
		{"refresh token", SecretRefreshToken, refresh, g.ID},
		{"refresh token looked up as a code", SecretCode, refresh, ""},
		{"code looked up as a refresh token", SecretRefreshToken, code, ""},
		{"unknown", SecretRefreshToken, "no-such-token", ""},
	}
	for _, tt := range tests {
		gr, found, err := e.grants.GrantOfSecret(t.Context(), tt.kind, tt.secret)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := map[bool]string{true: gr.ID, false: ""}[found]; got != tt.want {
			t.Errorf("%s: grant %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestDisableUserEndsEverything: disabling an account revokes its grants,
// forgets its consents and ends its sessions in one step, and touches no
// one else's; enabling it restores none of that.
func TestDisableUserEndsEverything(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	aliceGrant, _ := e.connect(t, e.codeRequest())
	bobReq := e.codeRequest()
	bobReq.Subject = e.bob.Subject
	bobGrant, _ := e.connect(t, bobReq)
	for _, u := range []User{e.alice, e.bob} {
		if err := e.grants.RememberConsent(ctx, u.Subject, gtClient, []auth.Scope{scopeWrite}); err != nil {
			t.Fatal(err)
		}
	}
	sessionID, _, err := e.store.CreateSession(ctx, e.alice.Subject)
	if err != nil {
		t.Fatal(err)
	}

	if changed, err := e.users.DisableUser(ctx, "alice"); err != nil || !changed {
		t.Fatalf("DisableUser = %v, %v", changed, err)
	}
	if _, err := e.users.EnableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}

	g, err := e.grants.Grant(ctx, aliceGrant.ID)
	if err != nil || !g.Revoked() || g.RevokeReason != RevokeReasonUserDisabled {
		t.Errorf("alice's grant after disable: revoked %v (%q), %v", g.Revoked(), g.RevokeReason, err)
	}
	if _, ok, _ := e.grants.Consent(ctx, e.alice.Subject, gtClient); ok {
		t.Error("alice's consent survived the disable")
	}
	if _, err := e.store.LookupSession(ctx, sessionID); err == nil {
		t.Error("alice's session survived the disable")
	}
	if g, _ := e.grants.Grant(ctx, bobGrant.ID); g.Revoked() {
		t.Error("disabling alice revoked bob's grant")
	}
	if _, ok, _ := e.grants.Consent(ctx, e.bob.Subject, gtClient); !ok {
		t.Error("disabling alice forgot bob's consent")
	}
}

// TestSetPasswordRevokesGrants: a new password revokes the user's live
// grants (their refresh tokens stop working) and forgets their consents,
// and touches nobody else's; with KeepGrants it leaves them all alone.
func TestSetPasswordRevokesGrants(t *testing.T) {
	e := newGrantEnv(t, GrantOptions{})
	ctx := t.Context()
	consent := func(subject string) bool {
		t.Helper()
		_, ok, err := e.grants.Consent(ctx, subject, gtClient)
		if err != nil {
			t.Fatalf("Consent: %v", err)
		}
		return ok
	}
	mine, myToken := e.connect(t, e.codeRequest())
	theirsReq := e.codeRequest()
	theirsReq.Subject = e.bob.Subject
	theirs, theirToken := e.connect(t, theirsReq)
	for _, sub := range []string{e.alice.Subject, e.bob.Subject} {
		if err := e.grants.RememberConsent(ctx, sub, gtClient, []auth.Scope{scopeWrite}); err != nil {
			t.Fatal(err)
		}
	}

	// Kept: everything goes on working.
	done, err := e.users.SetPassword(ctx, "alice", "a first new long password", SetPasswordOptions{KeepGrants: true})
	if err != nil || done.GrantsRevoked != 0 {
		t.Fatalf("SetPassword(KeepGrants) = %+v, %v; want no grant revoked", done, err)
	}
	myToken = e.refresh(t, myToken)
	if e.revoked(t, mine.ID) || !consent(e.alice.Subject) {
		t.Errorf("KeepGrants: the grant or the consent is gone")
	}

	// Not kept: the grant is revoked, with the reason, and its refresh
	// token refused; the consent is forgotten; bob keeps his.
	done, err = e.users.SetPassword(ctx, "ALICE", "a second new long password", SetPasswordOptions{})
	if err != nil || done.GrantsRevoked != 1 {
		t.Fatalf("SetPassword = %+v, %v; want 1 grant revoked", done, err)
	}
	if g := e.grant(t, mine.ID); !g.Revoked() || g.RevokeReason != RevokeReasonPasswordChanged {
		t.Errorf("grant after the password change: revoked %v, reason %q; want revoked, %q", g.Revoked(), g.RevokeReason, RevokeReasonPasswordChanged)
	}
	_, _, err = e.grants.Refresh(ctx, RefreshRequest{Token: myToken, ClientID: gtClient})
	if te, ok := errors.AsType[*TokenRequestError](err); !ok || te.Code != ErrCodeInvalidGrant {
		t.Errorf("refresh after the password change: %v; want invalid_grant", err)
	}
	if consent(e.alice.Subject) {
		t.Errorf("the consent survived the password change")
	}
	if e.revoked(t, theirs.ID) || !consent(e.bob.Subject) {
		t.Errorf("another user's grant or consent was touched")
	}
	e.refresh(t, theirToken)

	// Nothing left to revoke: none counted.
	if done, err := e.users.SetPassword(ctx, "alice", "a third new long password", SetPasswordOptions{}); err != nil || done.GrantsRevoked != 0 {
		t.Errorf("SetPassword again = %+v, %v; want no grant revoked", done, err)
	}
}
