package authserver

// /account: the person's own "connected apps" page, their answer to "how
// do I stop this agent". It lists their grants with a Revoke button each;
// revoking takes effect on the very next request of the app (the resource
// server asks GrantRevoked every time), and forgets the remembered consent
// so that reconnecting asks the person again.

import (
	"errors"
	"net/http"
	"net/url"
)

// Account paths, below PathAccount.
const (
	pathAccountSignIn  = PathAccount + "/signin"
	pathAccountRevoke  = PathAccount + "/revoke"
	pathAccountSignOut = PathAccount + "/signout"
)

// handleAccount serves /account and its forms' targets.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	if s.notSetUp(w, r) {
		return
	}
	var handle func(http.ResponseWriter, *http.Request)
	method := http.MethodPost
	switch r.URL.Path {
	case PathAccount:
		handle, method = s.accountPage, http.MethodGet
	case pathAccountSignIn:
		handle = s.accountSignIn
	case pathAccountRevoke:
		handle = s.accountRevoke
	case pathAccountSignOut:
		handle = s.accountSignOut
	default:
		s.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no such page.", "")
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page answers "+method+" only.", "")
		return
	}
	handle(w, r)
}

// accountPage lists the signed-in person's grants, or asks them to sign in.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, err := s.currentSession(r)
	if err != nil {
		s.serverErrorPage(w, r, "account: session look-up failed", err)
		return
	}
	done := r.URL.Query().Get("done")
	if sess == nil {
		notice := ""
		if done == "signedout" {
			notice = "You are signed out."
		}
		s.showAccountSignIn(w, r, http.StatusOK, "", "", notice)
		return
	}
	user, err := s.opts.Users.UserBySubject(ctx, sess.Subject)
	if err != nil {
		s.serverErrorPage(w, r, "account: user look-up failed", err)
		return
	}
	grants, err := s.opts.Grants.ListGrants(ctx, sess.Subject)
	if err != nil {
		s.serverErrorPage(w, r, "account: listing grants failed", err)
		return
	}
	type clientName struct {
		name       string
		unverified bool
	}
	names := map[string]clientName{}
	rows := make([]grantRow, 0, len(grants))
	for _, g := range grants {
		cn, ok := names[g.ClientID]
		if !ok {
			if cn.name, cn.unverified, err = s.grantClientName(r, g.ClientID); err != nil {
				s.serverErrorPage(w, r, "account: client look-up failed", err)
				return
			}
			names[g.ClientID] = cn
		}
		rows = append(rows, grantRow{
			ID:             g.ID,
			ClientName:     cn.name,
			NameUnverified: cn.unverified,
			ClientID:       g.ClientID,
			Access:         describeScopes(s.opts.Grants.Scopes(), s.opts.Grants.Declared(g.Scope)),
			Scope:          g.ScopeString(),
			Created:        pageTime(g.CreatedAt),
			LastUsed:       pageTime(g.LastUsedAt),
			Revoked:        g.Revoked(),
			RevokedAt:      pageTime(g.RevokedAt),
			RevokeReason:   g.RevokeReason,
		})
	}
	notice := ""
	if done == "revoked" {
		notice = "Access revoked. The application has to ask you again to reconnect."
	}
	s.renderPage(w, r, http.StatusOK, tmplAccount, page{
		Title:    "Connected apps",
		Notice:   notice,
		CSRF:     sess.csrf(),
		UserName: user.Name,
		Grants:   rows,
	})
}

// grantClientName names a grant's client without fetching anything: a
// CIMD client by the host that publishes its metadata (a page view must not
// make this server fetch URLs), a registered client by its name, and a
// client that was removed (an expired registration) as such. unverified
// says that the name is one the client chose for itself (dynamic
// registration), which the page says, as the consent page does
// (clientDisplay): anyone can register as "ChatGPT".
func (s *Server) grantClientName(r *http.Request, clientID string) (name string, unverified bool, err error) {
	if IsCIMDClientID(clientID) {
		if u, err := url.Parse(clientID); err == nil && u.Host != "" {
			return u.Host, false, nil
		}
	}
	c, err := s.opts.Store.Client(r.Context(), clientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return "A removed application", false, nil
	case err != nil:
		return "", false, err
	}
	name, unverified, _, _ = clientDisplay(c)
	return name, unverified, nil
}

// showAccountSignIn renders the sign-in form that leads to /account.
func (s *Server) showAccountSignIn(w http.ResponseWriter, r *http.Request, status int, userName, errMsg, notice string) {
	p := page{
		Title:    "Sign in",
		Error:    errMsg,
		Notice:   notice,
		CSRF:     s.signInCSRF(w, r),
		Action:   pathAccountSignIn,
		UserName: userName,
	}
	if s.withUpstream(&p) {
		// The upstream button's post ends in a redirect to the provider,
		// which form-action 'self' would stop (see allowFormRedirects).
		allowFormRedirects(w)
	}
	s.renderPage(w, r, status, tmplSignIn, p)
}

// accountSignIn handles the account page's sign-in form.
func (s *Server) accountSignIn(w http.ResponseWriter, r *http.Request) {
	form, ok := s.parsePostForm(w, r)
	if !ok {
		return
	}
	if !s.signInCSRFValid(r, form.Get("csrf")) {
		s.csrfFailed(w, r)
		return
	}
	if form.Get("step") == "upstream" {
		s.startUpstream(w, r, "", false)
		return
	}
	if s.passwordSignInOff(w, r) {
		return
	}
	userName := form.Get("username")
	user, failure, err := s.attemptSignIn(w, r, userName, form.Get("password"))
	if err != nil {
		s.serverErrorPage(w, r, "account: sign-in failed", err)
		return
	}
	if failure != nil {
		s.showSignInFailure(w, failure, func(st int, msg string) { s.showAccountSignIn(w, r, st, userName, msg, "") })
		return
	}
	if _, err := s.startSession(w, r, user.Subject, SessionLifetime); err != nil {
		s.serverErrorPage(w, r, "account: creating the session failed", err)
		return
	}
	seeOther(w, PathAccount)
}

// accountRevoke revokes one of the signed-in person's grants and forgets
// their consent for its client. A grant of someone else is answered exactly
// like one that does not exist.
func (s *Server) accountRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, ok := s.parsePostForm(w, r)
	if !ok {
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.serverErrorPage(w, r, "account: session look-up failed", err)
		return
	}
	if sess == nil || !csrfValid(sess.id, csrfLabelSession, form.Get("csrf")) {
		s.csrfFailed(w, r)
		return
	}
	g, err := s.opts.Grants.Grant(ctx, form.Get("grant"))
	if errors.Is(err, ErrNotFound) || err == nil && g.Subject != sess.Subject {
		s.log.InfoContext(ctx, "account: revoke of an unknown or foreign grant refused", "sub", sess.Subject)
		s.errorPage(w, r, http.StatusNotFound, "Connection not found",
			"There is no such connection on your account.", "Go back to your account page and reload it.")
		return
	}
	if err != nil {
		s.serverErrorPage(w, r, "account: grant look-up failed", err)
		return
	}
	if _, err := s.opts.Grants.RevokeGrant(ctx, g.ID, RevokeReasonUser); err != nil {
		s.serverErrorPage(w, r, "account: revoking the grant failed", err)
		return
	}
	if _, err := s.opts.Grants.ForgetConsent(ctx, sess.Subject, g.ClientID); err != nil {
		s.serverErrorPage(w, r, "account: forgetting the consent failed", err)
		return
	}
	s.log.InfoContext(ctx, "grant revoked by the user", "sub", sess.Subject, "grant_id", g.ID, "client_id", g.ClientID)
	seeOther(w, PathAccount+"?done=revoked")
}

// accountSignOut ends the session. Without a session there is nothing to
// protect, and the answer is the same.
func (s *Server) accountSignOut(w http.ResponseWriter, r *http.Request) {
	form, ok := s.parsePostForm(w, r)
	if !ok {
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.serverErrorPage(w, r, "account: session look-up failed", err)
		return
	}
	if sess != nil && !csrfValid(sess.id, csrfLabelSession, form.Get("csrf")) {
		s.csrfFailed(w, r)
		return
	}
	if err := s.endSession(w, r); err != nil {
		s.serverErrorPage(w, r, "account: sign-out failed", err)
		return
	}
	if sess != nil {
		s.log.InfoContext(r.Context(), "signed out", "sub", sess.Subject)
	}
	seeOther(w, PathAccount+"?done=signedout")
}

// seeOther answers a post with 303 to a path of this server, without a
// body.
func seeOther(w http.ResponseWriter, path string) {
	w.Header().Set("Location", path)
	w.WriteHeader(http.StatusSeeOther)
}
