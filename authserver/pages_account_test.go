package authserver

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// grantIDsOnPage returns the grant ids of the page's Revoke buttons.
func grantIDsOnPage(body string) []string {
	var ids []string
	for _, m := range ptGrantRe.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestPagesAccountSignIn(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	p := b.get(PathAccount)
	if p.status != http.StatusOK || !isSignInPage(p) {
		t.Fatalf("GET /account without a session: status %d, want the sign-in page", p.status)
	}
	if m := ptActionRe.FindStringSubmatch(p.body); m == nil || m[1] != pathAccountSignIn {
		t.Errorf("the account sign-in form posts to %v, want %s", m, pathAccountSignIn)
	}
	if h := ptHidden(p.body); h.Has("client_id") || h.Has("redirect_uri") {
		t.Errorf("the account sign-in form carries authorization parameters: %v", h)
	}

	bad := b.submit(p, map[string]string{"username": "alice", "password": "wrong password, twelve+"})
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, msgSignInWrong) {
		t.Errorf("wrong password: status %d, want 400 with %q", bad.status, msgSignInWrong)
	}
	if got := b.submit(p, map[string]string{"username": "alice", "password": goodPassword, "csrf": ""}); got.status != http.StatusForbidden {
		t.Errorf("sign-in without CSRF: status %d, want 403", got.status)
	}

	p = b.submit(p, map[string]string{"username": "alice", "password": goodPassword})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != PathAccount {
		t.Fatalf("sign-in: status %d, Location %q; want 303 to %s", p.status, p.header.Get("Location"), PathAccount)
	}
	p = b.get(PathAccount)
	if !strings.Contains(p.body, "Connected apps") || !strings.Contains(p.body, "alice") || !strings.Contains(p.body, "No application is connected") {
		t.Errorf("the account page after sign-in:\n%s", p.body)
	}
}

func TestPagesAccountListsAndRevokes(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	alice, bob := e.browser(), e.browser()
	alice.connect(e.params(map[string]string{"scope": "kanban.admin"}), "alice", scopeWrite)
	e.clock.Advance(time.Hour)
	code := alice.connect(e.params(map[string]string{"scope": "kanban.read"}), "alice", scopeRead) // remembered: no page
	e.redeem(code, ptRedirect)                                                                     // marks it used
	bob.connect(e.params(nil), "bob", scopeWrite)

	aliceGrants := e.grantsOf(e.alice) // newest first
	bobGrants := e.grantsOf(e.bob)
	if len(aliceGrants) != 2 || len(bobGrants) != 1 {
		t.Fatalf("alice has %d grants, bob %d; want 2 and 1", len(aliceGrants), len(bobGrants))
	}

	p := alice.get(PathAccount)
	if diff := cmp.Diff([]string{aliceGrants[0].ID, aliceGrants[1].ID}, grantIDsOnPage(p.body)); diff != "" {
		t.Errorf("Revoke buttons (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		ptClientName, e.client.ID,
		"Read and write", "kanban.write kanban.read", "Read", // levels and scopes
		pageTime(aliceGrants[1].CreatedAt), pageTime(aliceGrants[0].CreatedAt), pageTime(aliceGrants[0].LastUsedAt),
		"never", // the first grant's code was never redeemed
		"Active",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	if strings.Contains(p.body, bobGrants[0].ID) {
		t.Errorf("alice's account page shows bob's grant")
	}
	csrf := ptCSRF(t, p.body)

	// Another user's grant: 404, and nothing changes.
	got := alice.post(pathAccountRevoke, url.Values{"csrf": {csrf}, "grant": {bobGrants[0].ID}})
	if got.status != http.StatusNotFound {
		t.Errorf("revoking bob's grant: status %d, want 404", got.status)
	}
	if g := e.grantsOf(e.bob)[0]; g.Revoked() {
		t.Errorf("bob's grant was revoked by alice")
	}
	if _, ok, _ := e.grants.Consent(t.Context(), e.bob.Subject, e.client.ID); !ok {
		t.Errorf("bob's consent was forgotten by alice's attempt")
	}
	if got := alice.post(pathAccountRevoke, url.Values{"csrf": {csrf}, "grant": {"g_nosuchgrant"}}); got.status != http.StatusNotFound {
		t.Errorf("revoking an unknown grant: status %d, want 404", got.status)
	}

	// Without or with a foreign CSRF token: 403, nothing changes.
	bobCSRF := ptCSRF(t, bob.get(PathAccount).body)
	for _, tok := range []string{"", bobCSRF} {
		got := alice.post(pathAccountRevoke, url.Values{"csrf": {tok}, "grant": {aliceGrants[0].ID}})
		if got.status != http.StatusForbidden {
			t.Errorf("revoke with CSRF %q: status %d, want 403", tok, got.status)
		}
	}
	if e.grantsOf(e.alice)[0].Revoked() {
		t.Fatalf("a refused revoke revoked the grant")
	}

	// Revoke alice's newer grant.
	got = alice.post(pathAccountRevoke, url.Values{"csrf": {csrf}, "grant": {aliceGrants[0].ID}})
	if got.status != http.StatusSeeOther || got.header.Get("Location") != PathAccount+"?done=revoked" {
		t.Fatalf("revoke: status %d, Location %q", got.status, got.header.Get("Location"))
	}
	g, err := e.grants.Grant(t.Context(), aliceGrants[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Revoked() || g.RevokeReason != RevokeReasonUser {
		t.Errorf("grant after revoke: revoked %v, reason %q; want revoked by the user", g.Revoked(), g.RevokeReason)
	}
	if revoked, _ := e.grants.GrantRevoked(t.Context(), g.ID); !revoked {
		t.Errorf("GrantRevoked is false after the revoke")
	}
	if _, ok, _ := e.grants.Consent(t.Context(), e.alice.Subject, e.client.ID); ok {
		t.Errorf("the consent is still remembered after the revoke")
	}
	p = alice.get(PathAccount + "?done=revoked")
	if diff := cmp.Diff([]string{aliceGrants[1].ID}, grantIDsOnPage(p.body)); diff != "" {
		t.Errorf("Revoke buttons after the revoke (-want +got):\n%s", diff)
	}
	for _, want := range []string{"Access revoked", "Revoked", RevokeReasonUser} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the account page after the revoke lacks %q", want)
		}
	}

	// The next connection asks again.
	if p := alice.authorize(e.params(nil)); !isConsentPage(p) {
		t.Errorf("after the revoke, authorize shows no consent page (status %d)", p.status)
	}
	// Bob's grant is untouched.
	if e.grantsOf(e.bob)[0].Revoked() {
		t.Errorf("bob's grant was revoked")
	}
}

func TestPagesAccountToleratesRemovedClient(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	b.connect(e.params(nil), "alice", scopeRead)
	if err := e.store.RemoveClient(t.Context(), e.client.ID); err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	p := b.get(PathAccount)
	if p.status != http.StatusOK || !strings.Contains(p.body, "A removed application") || len(grantIDsOnPage(p.body)) != 1 {
		t.Errorf("status %d; want the grant of a removed client listed with a Revoke button:\n%s", p.status, p.body)
	}
}

func TestPagesAccountSignOut(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	b.connect(e.params(nil), "alice", scopeRead)
	p := b.get(PathAccount)
	csrf := ptCSRF(t, p.body)
	oldSession := b.cookie(sessionCookie)

	if got := b.post(pathAccountSignOut, url.Values{"csrf": {"wrong"}}); got.status != http.StatusForbidden {
		t.Errorf("sign-out with a wrong CSRF token: status %d, want 403", got.status)
	}
	if got := b.get(PathAccount); isSignInPage(got) {
		t.Fatalf("a refused sign-out signed out")
	}

	got := b.post(pathAccountSignOut, url.Values{"csrf": {csrf}})
	if got.status != http.StatusSeeOther || got.header.Get("Location") != PathAccount+"?done=signedout" {
		t.Fatalf("sign-out: status %d, Location %q", got.status, got.header.Get("Location"))
	}
	if b.cookie(sessionCookie) != "" {
		t.Errorf("the session cookie survived the sign-out")
	}
	p = b.get(PathAccount + "?done=signedout")
	if !isSignInPage(p) || !strings.Contains(p.body, "You are signed out") {
		t.Errorf("after sign-out the account page does not ask to sign in:\n%s", p.body)
	}
	// The old cookie, replayed, is dead: the session row is gone.
	if _, err := e.store.LookupSession(t.Context(), oldSession); err == nil {
		t.Errorf("the session still exists after sign-out")
	}
	// Signing out without a session is harmless.
	if got := e.browser().post(pathAccountSignOut, url.Values{}); got.status != http.StatusSeeOther {
		t.Errorf("sign-out without a session: status %d, want 303", got.status)
	}
}

// TestPagesAccountFlagsSelfChosenNames: as on the consent page, a name a
// client chose for itself (dynamic registration) carries a note; the name
// of a client the operator registered does not, nor does a CIMD client,
// which is named by the host that publishes its metadata.
func TestPagesAccountFlagsSelfChosenNames(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	b.connect(e.params(nil), "alice", scopeRead) // e.client: registered dynamically

	reg, err := ValidateRegistration(RegistrationRequest{RedirectURIs: []string{ptRedirect}, TokenEndpointAuthMethod: AuthMethodNone, ClientName: "Operator app"})
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := e.store.RegisterClient(t.Context(), reg, SourcePreregistered)
	if err != nil {
		t.Fatal(err)
	}
	for _, clientID := range []string{operator.ID, "https://app.example/client.json"} {
		req := CodeRequest{Subject: e.alice.Subject, ClientID: clientID, RedirectURI: ptRedirect,
			CodeChallenge: gtChallenge, Resource: e.resource, Scope: []string{"kanban.read"}}
		if _, err := e.grants.IssueCode(t.Context(), req); err != nil {
			t.Fatalf("IssueCode for %s: %v", clientID, err)
		}
	}

	p := b.get(PathAccount)
	var headings []string
	for _, h := range regexp.MustCompile(`(?s)<h2>(.*?)</h2>`).FindAllStringSubmatch(p.body, -1) {
		headings = append(headings, h[1])
	}
	want := []string{
		ptClientName + ` <span class="note">(name chosen by the application)</span>`,
		"Operator app",
		"app.example",
	}
	if diff := cmp.Diff(want, headings, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("client names on /account (-want +got):\n%s", diff)
	}
}
