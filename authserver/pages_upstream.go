package authserver

// Sign-in through an upstream OpenID Connect provider (federation).
//
// The sign-in page's "Sign in with <provider>" button posts here like the
// password form (CSRF-checked, the authorization request re-validated), and
// the person is sent to the provider with the code flow, PKCE, state and
// nonce (upstream.Provider). The pending sign-in is stored (upstream_logins)
// with the request to continue and the browser that started it. The
// provider sends the person back to PathUpstreamCallback, which takes the
// pending sign-in (once: a replayed state finds nothing), redeems the code,
// checks the ID token, applies the admission policy, maps (issuer, sub) to
// a local user (created on first sign-in), starts a session, and goes on
// exactly as after a password sign-in: the consent page, or the account
// page.
//
// A federated session lasts at most the grants' UpstreamSessionMaxAge, and
// so does every grant made in it: its refreshes stop then (Grants.Refresh),
// and the client must send the person through the provider again. Someone
// removed at the provider therefore loses access within that time.

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// PathUpstreamCallback is the redirect URI to register at the provider,
// relative to the issuer.
const PathUpstreamCallback = "/oauth/upstream/callback"

// UpstreamOptions turn on sign-in through an upstream OpenID provider.
type UpstreamOptions struct {
	Provider *upstream.Provider
	// Policy decides who may come in; it must admit someone (a list, or
	// AllowAny).
	Policy upstream.Policy
	// How long a sign-in at the provider is trusted is the Grants'
	// UpstreamSessionMaxAge, which they need for refreshes.

	// Only hides the password form and refuses password sign-ins.
	Only bool
}

// checkUpstream validates o against the grants, which must know how long
// a federated sign-in is trusted.
func checkUpstream(o *UpstreamOptions, grants *Grants) error {
	switch {
	case o.Provider == nil:
		return errors.New("authserver: Upstream.Provider is required")
	case o.Policy.Empty():
		return errors.New("authserver: the upstream policy admits nobody; list emails, domains or tenants, or set AllowAny")
	case grants.UpstreamSessionMaxAge() <= 0:
		return errors.New("authserver: federation needs the grants' UpstreamSessionMaxAge (how long a sign-in at the provider is trusted)")
	}
	return nil
}

// withUpstream adds the provider's button to a sign-in page, and reports
// whether there is one.
func (s *Server) withUpstream(p *page) bool {
	up := s.opts.Upstream
	if up == nil {
		return false
	}
	p.Upstream, p.UpstreamOnly = up.Provider.Name(), up.Only
	return true
}

// passwordSignInOff refuses a password sign-in when only the provider
// signs people in (the form is hidden, but a post can still be made).
func (s *Server) passwordSignInOff(w http.ResponseWriter, r *http.Request) bool {
	up := s.opts.Upstream
	if up == nil || !up.Only {
		return false
	}
	s.errorPage(w, r, http.StatusBadRequest, "Password sign-in is off",
		"This server signs people in through "+up.Provider.Name()+" only.", "Go back and use the “Sign in with "+up.Provider.Name()+"” button.")
	return true
}

// federatedSessionEnded reports whether a session signed in through the
// provider is older than such a sign-in is trusted, or federation is off.
func (s *Server) federatedSessionEnded(sess Session) bool {
	return sess.Federated && (s.opts.Upstream == nil ||
		!s.now().Before(sess.CreatedAt.Add(s.opts.Grants.UpstreamSessionMaxAge())))
}

// startUpstream sends the person to the provider. request is the
// authorization request to continue afterwards (form-encoded), or "" for
// the account page. The caller has checked the form's CSRF token, so the
// browser has its sign-in cookie, to which the pending sign-in is bound.
func (s *Server) startUpstream(w http.ResponseWriter, r *http.Request, request string, promptLogin bool) {
	ctx := r.Context()
	up := s.opts.Upstream
	if up == nil {
		s.errorPage(w, r, http.StatusNotFound, "Unknown form", "This server does not sign in through another provider.", "")
		return
	}
	ip := s.clientIP(r)
	// Each start stores a row until the person comes back or it expires;
	// an address gets a person's worth of them, not a table's.
	if !s.upstreamTripAllowed(w, r, "start", ip) {
		return
	}
	start := upstream.NewStart()
	start.PromptLogin = promptLogin
	target, err := up.Provider.AuthURL(ctx, start)
	if errors.Is(err, upstream.ErrUnavailable) {
		s.upstreamUnavailable(w, r, err)
		return
	}
	if err != nil {
		s.serverErrorPage(w, r, "upstream sign-in: building the provider's URL failed", err)
		return
	}
	err = s.opts.Store.saveUpstreamLogin(ctx, upstreamLogin{
		State: start.State, Nonce: start.Nonce, Verifier: start.Verifier,
		Browser: s.cookieValue(r, preSessionCookie), Request: request,
	})
	var invalid *ValidationError
	switch {
	case errors.As(err, &invalid):
		s.errorPage(w, r, http.StatusBadRequest, "This request cannot be completed",
			"The authorization request is too large to carry through the sign-in.", "Go back to the application and connect again.")
		return
	case errors.Is(err, errTooManyUpstreamLogins):
		s.log.WarnContext(ctx, "upstream sign-in refused: too many under way", "ip", ip)
		w.Header().Set("Retry-After", "60")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Too many sign-ins right now",
			"Too many sign-ins through "+up.Provider.Name()+" are under way.", "Try again in a minute.")
		return
	case err != nil:
		s.serverErrorPage(w, r, "upstream sign-in: saving it failed", err)
		return
	}
	s.log.InfoContext(ctx, "upstream sign-in started", "provider", up.Provider.Issuer(), "ip", ip)
	// 303: the browser follows with a GET, never reposting the form.
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// upstreamUnavailable answers 503 when the provider cannot be asked.
func (s *Server) upstreamUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.WarnContext(r.Context(), "upstream sign-in: the provider cannot be reached", "err", err)
	w.Header().Set("Retry-After", "30")
	name := s.opts.Upstream.Provider.Name()
	s.errorPage(w, r, http.StatusServiceUnavailable, name+" cannot be reached",
		"Signing in through "+name+" is not possible right now.", "Try again in a minute.")
}

// handleUpstreamCallback is where the provider sends the person back.
func (s *Server) handleUpstreamCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	up := s.opts.Upstream
	if up == nil {
		s.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no such page.", "")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page answers GET only.", "")
		return
	}
	name := up.Provider.Name()
	q := r.URL.Query()
	ip := s.clientIP(r)
	again := "Go back to the app, or to your account page, and sign in again."
	// Each callback writes (it takes the pending sign-in): an address gets
	// as many as it may start, not a flood of the single writer.
	if !s.upstreamTripAllowed(w, r, "callback", ip) {
		return
	}

	pending, err := s.opts.Store.takeUpstreamLogin(ctx, q.Get("state"), s.cookieValue(r, preSessionCookie))
	if errors.Is(err, ErrNotFound) {
		s.log.InfoContext(ctx, "upstream callback refused: no such sign-in in this browser", "ip", ip)
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in cannot continue",
			"The answer from "+name+" does not belong to a sign-in started in this browser, or that sign-in was finished or has expired.", again)
		return
	}
	if err != nil {
		s.serverErrorPage(w, r, "upstream callback: reading the sign-in failed", err)
		return
	}
	// From here on the answer belongs to a sign-in of this browser, and
	// ends it: each way it fails is counted, except the provider's or
	// this server's being unavailable, which says nothing about the
	// person. (An answer without one is no sign-in, and is not counted.)
	failed := func() { s.opts.Metrics.SignIn(metrics.SignInFailed, signInUpstream) }
	// RFC 9207: a provider that names itself must be ours (mix-up).
	if iss, ok := q["iss"]; ok && (len(iss) != 1 || iss[0] != up.Provider.Issuer()) {
		s.log.WarnContext(ctx, "upstream callback refused: another issuer", "ip", ip)
		failed()
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in cannot continue", "The answer does not come from "+name+".", again)
		return
	}
	if code := q.Get("error"); code != "" {
		failed()
		s.upstreamError(w, r, pending, code)
		return
	}
	if q.Get("code") == "" {
		failed()
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in cannot continue", "The answer from "+name+" carries no code.", again)
		return
	}
	id, err := up.Provider.Finish(ctx, q.Get("code"), upstream.Start{State: pending.State, Nonce: pending.Nonce, Verifier: pending.Verifier})
	switch {
	case errors.Is(err, upstream.ErrUnavailable):
		s.upstreamUnavailable(w, r, err)
		return
	case errors.Is(err, upstream.ErrRejected):
		s.log.WarnContext(ctx, "upstream sign-in refused", "ip", ip, "err", err)
		failed()
		s.errorPage(w, r, http.StatusBadRequest, "The sign-in could not be verified",
			"What "+name+" sent back did not pass this server's checks.", again)
		return
	case err != nil:
		s.serverErrorPage(w, r, "upstream callback: finishing the sign-in failed", err)
		return
	}
	if err := up.Policy.Admit(id); err != nil {
		var refused *upstream.RefusedError
		errors.As(err, &refused)
		s.log.InfoContext(ctx, "upstream sign-in refused by the allow-lists", "ip", ip, "email_verified", id.EmailVerified)
		failed()
		s.errorPage(w, r, http.StatusForbidden, "You cannot use this server", refused.Reason,
			"Ask the people who run it to allow your account, or sign in to "+name+" with another account.")
		return
	}
	user, created, err := s.opts.Users.SignInUpstream(ctx, id)
	if errors.Is(err, ErrUserDisabled) {
		s.log.InfoContext(ctx, "upstream sign-in refused: account disabled", "sub", user.Subject, "ip", ip)
		failed()
		s.errorPage(w, r, http.StatusForbidden, "This account is disabled",
			"Your account on this server has been disabled.", "Ask the people who run it to enable it again.")
		return
	}
	if err != nil {
		s.serverErrorPage(w, r, "upstream callback: mapping the user failed", err)
		return
	}
	// Counted where a password sign-in is: once the account is accepted,
	// whatever becomes of the session.
	s.opts.Metrics.SignIn(metrics.SignInOK, signInUpstream)
	sess, err := s.startSession(w, r, user.Subject, s.opts.Grants.UpstreamSessionMaxAge())
	if err != nil {
		s.serverErrorPage(w, r, "upstream callback: creating the session failed", err)
		return
	}
	sess.Federated = true
	s.usersExist.Store(true)
	s.log.InfoContext(ctx, "signed in through the upstream provider", "sub", user.Subject, "new_user", created, "ip", ip)

	if pending.Request == "" {
		seeOther(w, PathAccount)
		return
	}
	params, err := url.ParseQuery(pending.Request)
	if err != nil {
		s.serverErrorPage(w, r, "upstream callback: reading the saved request failed", err)
		return
	}
	// Validated again, as every post of the forms is: the client may
	// have been blocked or deleted meanwhile.
	req, ok := s.authorizeRequest(w, r, params, http.StatusSeeOther)
	if !ok {
		return
	}
	s.authorizeDecide(w, r, req, sess, http.StatusSeeOther)
}

// upstreamError handles an error answer from the provider: a person who
// declined there goes back to the client with access_denied, as if they
// had declined here; anything else is a page.
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, pending upstreamLogin, code string) {
	name := s.opts.Upstream.Provider.Name()
	if len(code) > 64 {
		code = code[:64]
	}
	s.log.InfoContext(r.Context(), "upstream sign-in ended with an error", "error", code, "ip", s.clientIP(r))
	if code == authzErrAccessDenied && pending.Request != "" {
		if params, err := url.ParseQuery(pending.Request); err == nil {
			if req, ok := s.authorizeRequest(w, r, params, http.StatusSeeOther); ok {
				s.authzRedirectError(w, req, http.StatusSeeOther, authzErrAccessDenied, "The sign-in at "+name+" was cancelled.")
			}
			return
		}
	}
	s.errorPage(w, r, http.StatusBadRequest, "The sign-in did not finish",
		name+" ended the sign-in with the error “"+code+"”.", "Go back to the app and try again.")
}

// upstreamTripAllowed counts one trip of kind ("start" or "callback")
// from ip's network against the upstream limit. When the trip is over the
// limit, or the limit cannot be checked, it has answered (429 or 503,
// with Retry-After) and returns false.
func (s *Server) upstreamTripAllowed(w http.ResponseWriter, r *http.Request, kind, ip string) bool {
	ok, wait, err := s.limits.upstreamTrips.AllowN(r.Context(), ratelimit.Key(kind, clientip.Network(ip)), 1)
	switch {
	case err != nil:
		s.limitUncheckedPage(w, r, "upstream sign-in", err)
	case !ok:
		// Refused before the person was checked, at the start or at the
		// callback: a sign-in ends at one or the other. (The callback's
		// limit comes before its sign-in is looked up, so a stray
		// callback over the limit counts too.)
		s.opts.Metrics.SignIn(metrics.SignInThrottled, signInUpstream)
		w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(wait))
		s.errorPage(w, r, http.StatusTooManyRequests, "Too many sign-ins", tooManyMessage(wait), "")
	}
	return err == nil && ok
}
