package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestPasswdRevokesConnectedApps: `users passwd` run beside a server whose
// revocation cache already answered for the token refuses that token on
// the very next request (401 invalid_token, "revoked") and its refresh
// token (invalid_grant), and says so; the browser session signed in with
// the old password ends too. With -keep-grants the connected app keeps
// working.
func TestPasswdRevokesConnectedApps(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	clientID := secRegister(t, srv, "Agent connected with a leaked password")

	browser := secBrowser()
	stolen := secConnect(t, srv, browser, clientID, "demo", hardDemoPassword(t, srv), "kanban.read")
	srv.mustCall(t, stolen.Access, "whoami", nil) // the server now remembers: not revoked
	if page := fetchPage(t, browser, http.MethodGet, srv.URL+"/account", nil); !strings.Contains(page, "Connected apps") {
		t.Fatalf("the browser is not signed in before the change:\n%s", page)
	}

	const newPassword = "a brand new long password"
	out := secCLI(t, srv, newPassword+"\n", "users", "passwd", "demo", "-password-stdin")
	for _, want := range []string{"password of demo changed", "signed out of 1 browser session", "revoked 1 grant", "must be connected again"} {
		if !strings.Contains(out, want) {
			t.Errorf("users passwd output lacks %q:\n%s", want, out)
		}
	}

	resp := srv.call(t, stolen.Access, "whoami", nil)
	checkInvalidToken(t, srv, resp)
	if got := challengeParams(t, resp.Header.Get("WWW-Authenticate"))["error_description"]; !strings.Contains(got, "revoked") {
		t.Errorf("error_description = %q, want it to say the access was revoked", got)
	}
	secOAuthError(t, secRefresh(t, srv, clientID, stolen.Refresh, ""), http.StatusBadRequest, "invalid_grant")
	if page := fetchPage(t, browser, http.MethodGet, srv.URL+"/account", nil); !strings.Contains(page, `name="password"`) {
		t.Errorf("the browser session survived the password change:\n%s", page)
	}

	// -keep-grants: the operator's choice to leave connected apps alone.
	kept := secConnect(t, srv, secBrowser(), clientID, "demo", newPassword, "kanban.read")
	srv.mustCall(t, kept.Access, "whoami", nil)
	out = secCLI(t, srv, "yet another long password\n", "users", "passwd", "demo", "-password-stdin", "-keep-grants")
	if !strings.Contains(out, "connected apps keep their access") || strings.Contains(out, "revoked") {
		t.Errorf("users passwd -keep-grants output:\n%s", out)
	}
	srv.mustCall(t, kept.Access, "whoami", nil)
	refreshed := secTokensOf(t, secRefresh(t, srv, clientID, kept.Refresh, ""))
	srv.mustCall(t, refreshed.Access, "whoami", nil)
}
