package authserver

// The authorization endpoint (RFC 6749 §4.1, OAuth 2.1, RFC 7636 PKCE,
// RFC 8707 resource indicators, RFC 9207 iss) with its sign-in and consent
// pages.
//
// GET shows the sign-in page (no session) or the consent page (signed in),
// or redirects at once when a remembered consent applies. Both pages post
// back here: step=signin and step=consent.
//
// The authorization request travels through the forms as hidden fields,
// not as a server-side "pending request" row. Every POST parses and
// validates those fields exactly as the GET did (client, redirect URI,
// PKCE, resource, scopes, blocklist), so a tampered field can get nothing
// that the same request sent as a GET would not; the CSRF token ties the
// post to the browser's own session, so no other site can submit one. In
// exchange there is no table to fill (an open, unauthenticated endpoint
// would let anyone add rows to it), nothing to expire or prune, and Back,
// Reload and several tabs at once all keep working.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// Limits on authorization request parameters and forms.
const (
	// MaxStateLen bounds the state parameter, in bytes. Clients put a
	// random value or a small signed blob in it; the limit keeps the
	// forms, which carry it, well under maxFormBytes.
	MaxStateLen = 8 << 10
	// maxFormBytes bounds a posted form.
	maxFormBytes = 64 << 10
)

// Authorization error codes (RFC 6749 §4.1.2.1, RFC 8707 §2, OpenID
// Connect Core §3.1.2.6).
const (
	authzErrInvalidRequest          = "invalid_request"
	authzErrUnauthorizedClient      = "unauthorized_client"
	authzErrAccessDenied            = "access_denied"
	authzErrUnsupportedResponseType = "unsupported_response_type"
	authzErrInvalidTarget           = ErrCodeInvalidTarget
	authzErrLoginRequired           = "login_required"
	authzErrConsentRequired         = "consent_required"
	authzErrRequestNotSupported     = "request_not_supported"
	authzErrRequestURINotSupported  = "request_uri_not_supported"
)

// authzParamNames are the authorization request parameters this server
// reads, and so the ones the forms carry.
func authzParamNames() []string {
	return []string{"response_type", "client_id", "redirect_uri", "state", "scope",
		"code_challenge", "code_challenge_method", "resource", "nonce", "prompt", "id_token_hint"}
}

// authzRequest is a validated authorization request.
type authzRequest struct {
	client      Client
	redirectURI string
	state       string
	// requested are the declared scopes asked for, or the default scopes
	// when the request named none.
	requested     []auth.Scope
	oidc          []string // openid and/or profile, when requested
	codeChallenge string
	resource      string
	nonce         string
	promptNone    bool
	promptLogin   bool
	// hintSubject is the user an id_token_hint names (OIDC Core §3.1.2.1):
	// a session of anyone else is not used; the person signs in afresh.
	hintSubject   string
	promptConsent bool
	// hidden is the request as the forms carry it.
	hidden []hiddenField
}

// authzFailure is why a request was refused. With redirect false the
// request is not known to come from its client (an unknown client, a
// redirect URI not registered for it): the person gets an error page, and
// nothing goes to the redirect URI (RFC 6749 §4.1.2.1). Otherwise the error
// goes back to the client's verified redirect URI.
type authzFailure struct {
	redirect bool
	// Error page.
	status         int
	title, message string
	detail         string
	retryAfter     time.Duration // > 0: sent as Retry-After
	// Redirect.
	code, description string
}

func pageFailure(title, message, detail string) *authzFailure {
	return &authzFailure{status: http.StatusBadRequest, title: title, message: message, detail: detail}
}

func redirectFailure(code, description string) *authzFailure {
	return &authzFailure{redirect: true, code: code, description: description}
}

// handleAuthorize is the authorization endpoint.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if s.notSetUp(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.authorizeGet(w, r)
	case http.MethodPost:
		s.authorizePost(w, r)
	default:
		// Not even HEAD: a GET can issue a code (remembered consent),
		// which a HEAD must not.
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page answers GET and POST only.", "")
	}
}

func (s *Server) authorizeGet(w http.ResponseWriter, r *http.Request) {
	req, ok := s.authorizeRequest(w, r, r.URL.Query(), http.StatusFound)
	if !ok {
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.serverErrorPage(w, r, "authorize: session look-up failed", err)
		return
	}
	hinted := req.hintSubject != "" && (sess == nil || sess.Subject != req.hintSubject)
	if sess == nil || req.promptLogin || hinted {
		if req.promptNone {
			msg := "The user is not signed in."
			if hinted && sess != nil {
				msg = "The signed-in user is not the one id_token_hint names."
			}
			s.authzRedirectError(w, req, http.StatusFound, authzErrLoginRequired, msg)
			return
		}
		name := ""
		if hinted {
			// The sign-in page starts with the named user's name.
			if u, err := s.opts.Users.UserBySubject(r.Context(), req.hintSubject); err == nil {
				name = u.Name
			}
		}
		s.showSignIn(w, r, req, http.StatusOK, name, "", "")
		return
	}
	s.authorizeDecide(w, r, req, sess, http.StatusFound)
}

func (s *Server) authorizePost(w http.ResponseWriter, r *http.Request) {
	form, ok := s.parsePostForm(w, r)
	if !ok {
		return
	}
	params := url.Values{}
	for _, name := range authzParamNames() {
		if v, ok := form[name]; ok {
			params[name] = v
		}
	}
	// Responses to a post redirect with 303, never 307, which would repost
	// the form, password included, to the client (RFC 9700 §4.11).
	const status = http.StatusSeeOther
	switch step := form.Get("step"); step {
	case "signin", "upstream":
		// The two buttons of the sign-in page: the password form, and
		// "Sign in with" the upstream provider.
		if !s.signInCSRFValid(r, form.Get("csrf")) {
			s.csrfFailed(w, r)
			return
		}
		req, ok := s.authorizeRequest(w, r, params, status)
		if !ok {
			return
		}
		if step == "upstream" {
			s.startUpstream(w, r, params.Encode(), req.promptLogin)
			return
		}
		if s.passwordSignInOff(w, r) {
			return
		}
		userName := form.Get("username")
		user, failure, err := s.attemptSignIn(w, r, userName, form.Get("password"))
		if err != nil {
			s.serverErrorPage(w, r, "authorize: sign-in failed", err)
			return
		}
		if failure != nil {
			s.showSignInFailure(w, failure, func(st int, msg string) { s.showSignIn(w, r, req, st, userName, msg, "") })
			return
		}
		sess, err := s.startSession(w, r, user.Subject, SessionLifetime)
		if err != nil {
			s.serverErrorPage(w, r, "authorize: creating the session failed", err)
			return
		}
		s.authorizeDecide(w, r, req, sess, status)
	case "consent":
		sess, err := s.currentSession(r)
		if err != nil {
			s.serverErrorPage(w, r, "authorize: session look-up failed", err)
			return
		}
		if sess == nil {
			// Expired (or signed out in another tab) while the page was
			// open: nothing to check a token against, nothing done.
			req, ok := s.authorizeRequest(w, r, params, status)
			if ok {
				s.showSignIn(w, r, req, http.StatusOK, "", "", "Your sign-in has expired. Sign in again to continue.")
			}
			return
		}
		if !csrfValid(sess.id, csrfLabelSession, form.Get("csrf")) {
			s.csrfFailed(w, r)
			return
		}
		req, ok := s.authorizeRequest(w, r, params, status)
		if !ok {
			return
		}
		s.consentAnswer(w, r, req, sess, form)
	default:
		s.errorPage(w, r, http.StatusBadRequest, "Unknown form", "This form is not one of this server's.", "")
	}
}

// parsePostForm reads a posted form (the body only, never the query
// string, so a parameter cannot be slipped in through the form's URL).
func (s *Server) parsePostForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.errorPage(w, r, http.StatusRequestEntityTooLarge, "The form is too large", fmt.Sprintf("A form may hold at most %d bytes.", maxFormBytes), "Go back, reload the page and try again.")
			return nil, false
		}
		s.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "The form could not be read.", "Go back, reload the page and try again.")
		return nil, false
	}
	return r.PostForm, true
}

// decide is what happens once the person is signed in: refuse a blocked
// user, skip the consent page when a remembered consent covers the request,
// or show it.
//
// A remembered consent is never used for a loopback redirect URI: any
// program on the person's computer can listen there and present an
// approved client_id, so each such authorization must be seen and agreed
// to. prompt=consent asks again, too.
func (s *Server) authorizeDecide(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *signedIn, status int) {
	ctx := r.Context()
	if s.blocked(ctx, sess.Subject, req.client.ID) {
		s.log.InfoContext(ctx, "authorization refused: blocked", "sub", sess.Subject, "client_id", req.client.ID)
		s.authzRedirectError(w, req, status, authzErrAccessDenied, "The operator has blocked this account or application.")
		return
	}
	plan, up, err := s.planConsent(ctx, req, sess)
	if err != nil {
		s.serverErrorPage(w, r, "authorize: finding the live grant failed", err)
		return
	}
	// Remembered consent is per client, not per resource: it stands only
	// for this server's own resource, so that access to another service
	// (ExtraResources) is always asked for on a page that names it.
	if !req.promptConsent && !IsLoopbackRedirectURI(req.redirectURI) && req.resource == s.opts.Resource {
		remembered, ok, err := s.opts.Grants.Consent(ctx, sess.Subject, req.client.ID)
		if err != nil {
			s.serverErrorPage(w, r, "authorize: reading the remembered consent failed", err)
			return
		}
		if ok && plan.covers(remembered) {
			approved := s.opts.Grants.Scopes().Grants(append(plan.kept, plan.offered()...)...)
			s.authorizeApprove(w, r, req, sess, approved, up, false, status)
			return
		}
	}
	if req.promptNone {
		s.authzRedirectError(w, req, status, authzErrConsentRequired, "The user has not agreed to this access yet.")
		return
	}
	s.showConsent(w, r, req, sess, plan, http.StatusOK, "")
}

// stepUp is what a step-up authorization carries over from the client's
// live grant besides its declared scopes (which the plan keeps): which
// grant it replaces, and the OpenID scopes that grant held.
type stepUp struct {
	replaces string
	oidc     []string
}

// planConsent works out the consent page for req. When the client's live
// grant lacks something requested, the authorization is a step-up: the
// page offers only what is new, and the new grant keeps everything the live
// one holds and replaces it. Otherwise (a first connection, or a reconnect
// asking for no more than the client holds) the new grant stands beside any
// other, and up is empty.
func (s *Server) planConsent(ctx context.Context, req *authzRequest, sess *signedIn) (plan consentPlan, up stepUp, err error) {
	set := s.opts.Grants.Scopes()
	live, ok, err := s.opts.Grants.LiveGrant(ctx, sess.Subject, req.client.ID, req.resource)
	if err != nil || !ok {
		return planConsent(set, req.requested, nil), stepUp{}, err
	}
	held := set.Grants(s.opts.Grants.Declared(live.Scope)...)
	for _, sc := range set.Grants(req.requested...) {
		if !slices.Contains(held, sc) {
			up = stepUp{replaces: live.ID}
			for _, o := range []string{ScopeOpenID, ScopeProfile} {
				if live.Has(o) {
					up.oidc = append(up.oidc, o)
				}
			}
			return planConsent(set, req.requested, held), up, nil
		}
	}
	return planConsent(set, req.requested, nil), stepUp{}, nil
}

// consentAnswer handles the consent form: Deny, or Allow with the scopes
// chosen, never more than requested.
func (s *Server) consentAnswer(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *signedIn, form url.Values) {
	ctx := r.Context()
	const status = http.StatusSeeOther
	if s.blocked(ctx, sess.Subject, req.client.ID) {
		s.log.InfoContext(ctx, "authorization refused: blocked", "sub", sess.Subject, "client_id", req.client.ID)
		s.authzRedirectError(w, req, status, authzErrAccessDenied, "The operator has blocked this account or application.")
		return
	}
	switch form.Get("decision") {
	case "deny":
		s.log.InfoContext(ctx, "authorization denied by the user", "sub", sess.Subject, "client_id", req.client.ID)
		s.authzRedirectError(w, req, status, authzErrAccessDenied, "The user denied the request.")
	case "allow":
		plan, up, err := s.planConsent(ctx, req, sess)
		if err != nil {
			s.serverErrorPage(w, r, "authorize: finding the live grant failed", err)
			return
		}
		approved, err := plan.choose(s.opts.Grants.Scopes(), form)
		if err != nil {
			msg := "Choose among the options below."
			if errors.Is(err, errNothingChosen) {
				msg = "Choose at least one kind of access, or Deny."
			}
			s.showConsent(w, r, req, sess, plan, http.StatusBadRequest, msg)
			return
		}
		s.authorizeApprove(w, r, req, sess, approved, up, true, status)
	default:
		plan, _, err := s.planConsent(ctx, req, sess)
		if err != nil {
			s.serverErrorPage(w, r, "authorize: finding the live grant failed", err)
			return
		}
		s.showConsent(w, r, req, sess, plan, http.StatusBadRequest, "Choose Allow or Deny.")
	}
}

// approve issues the authorization code for approved (declared scopes
// with what they imply, plus openid/profile when requested or held by the
// grant a step-up replaces), remembers the consent when the person just
// gave it, and sends the code to the client.
func (s *Server) authorizeApprove(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *signedIn, approved []auth.Scope, up stepUp, remember bool, status int) {
	ctx := r.Context()
	scope := append(auth.Strings(approved), req.oidc...)
	for _, o := range up.oidc {
		if !slices.Contains(scope, o) {
			scope = append(scope, o)
		}
	}
	replaces := up.replaces
	code, err := s.opts.Grants.IssueCode(ctx, CodeRequest{
		Subject:       sess.Subject,
		ClientID:      req.client.ID,
		RedirectURI:   req.redirectURI,
		CodeChallenge: req.codeChallenge,
		Resource:      req.resource,
		Scope:         scope,
		Replaces:      replaces,
		Nonce:         req.nonce,
		AuthTime:      sess.CreatedAt,
	})
	if err != nil {
		s.serverErrorPage(w, r, "authorize: issuing the code failed", err)
		return
	}
	if remember {
		// Not fatal: the code is issued; the person is merely asked again
		// next time.
		if err := s.opts.Grants.RememberConsent(ctx, sess.Subject, req.client.ID, approved); err != nil {
			s.log.ErrorContext(ctx, "authorize: remembering the consent failed", "err", err)
		}
	}
	s.log.InfoContext(ctx, "authorization approved", "sub", sess.Subject, "client_id", req.client.ID,
		"scope", strings.Join(scope, " "), "replaces", replaces, "remembered_consent", !remember)
	s.authzRedirect(w, req, status, url.Values{"code": {code}})
}

// authorizeRequest validates an authorization request. On failure it has
// answered (an error page or an error redirect with status) and returns
// false.
func (s *Server) authorizeRequest(w http.ResponseWriter, r *http.Request, params url.Values, status int) (*authzRequest, bool) {
	req, failure, err := s.parseAuthorizeRequest(r.Context(), params, s.clientIP(r))
	switch {
	case err != nil:
		s.serverErrorPage(w, r, "authorize: client look-up failed", err)
		return nil, false
	case failure == nil:
		return req, true
	case failure.redirect:
		s.log.InfoContext(r.Context(), "authorization request refused", "client_id", req.client.ID, "error", failure.code, "description", failure.description)
		s.authzRedirectError(w, req, status, failure.code, failure.description)
		return nil, false
	default:
		s.log.InfoContext(r.Context(), "authorization request refused before its redirect URI was verified",
			"client_id", loggedClientID(params.Get("client_id")), "title", failure.title)
		if failure.retryAfter > 0 {
			w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(failure.retryAfter))
		}
		s.errorPage(w, r, failure.status, failure.title, failure.message, failure.detail)
		return nil, false
	}
}

// parseAuthorizeRequest checks params in the order RFC 6749 §4.1.2.1
// demands: first the client and its redirect URI, whose failures must not
// be redirected (the request might be an attempt to send the person, or a
// code, somewhere the client never registered); only then the rest, whose
// failures go to the now verified redirect URI. req is set whenever a
// redirect failure is returned. err is for failures that are not the
// request's (the database). ip is the caller's address, for the limits on
// fetching client metadata documents.
func (s *Server) parseAuthorizeRequest(ctx context.Context, params url.Values, ip string) (req *authzRequest, failure *authzFailure, err error) {
	const tryAgain = "Go back to the application and connect again. If this keeps happening, the application's settings need fixing."
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(params[name]) > 1 {
			return nil, pageFailure("This request cannot be completed",
				fmt.Sprintf("The request gives %s more than once.", name), tryAgain), nil
		}
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, pageFailure("This request cannot be completed",
			"The request does not say which application is asking (client_id is missing).", tryAgain), nil
	}
	client, err := s.lookupClient(ctx, clientID, ip)
	var cimdErr *CIMDError
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, pageFailure("Unknown application",
			"No application is registered with this client_id.",
			"Its registration may have expired. "+tryAgain), nil
	case errors.As(err, &cimdErr) && cimdErr.Limited():
		s.log.InfoContext(ctx, "client metadata document not fetched: limit reached", "client_id", loggedClientID(clientID),
			"kind", string(cimdErr.Kind), "ip", ip)
		f := pageFailure("Try again in a moment",
			"The application's metadata document could not be fetched just now.", cimdErr.Reason+".")
		f.status, f.retryAfter = http.StatusServiceUnavailable, cimdErr.RetryAfter
		if cimdErr.Kind == CIMDRateLimited {
			f.status = http.StatusTooManyRequests
		}
		return nil, f, nil
	case errors.As(err, &cimdErr):
		s.log.InfoContext(ctx, "client metadata document refused", "client_id", loggedClientID(clientID), "kind", string(cimdErr.Kind), "err", err)
		return nil, pageFailure("The application could not be verified",
			"The application's metadata document could not be used.", cimdErr.Error()), nil
	case err != nil:
		return nil, nil, err
	}

	redirectURI := params.Get("redirect_uri")
	switch {
	case redirectURI == "":
		return nil, pageFailure("This request cannot be completed",
			"The request does not say where to send you back to (redirect_uri is missing).", tryAgain), nil
	case !client.AllowsRedirect(redirectURI):
		return nil, pageFailure("This request cannot be completed",
			"The address to send you back to (redirect_uri) is not one that this application registered, so you were not sent there.",
			tryAgain), nil
	}

	// From here on, errors are redirected to redirectURI.
	req = &authzRequest{client: client, redirectURI: redirectURI, state: params.Get("state")}
	for _, name := range authzParamNames() {
		if name != "resource" && len(params[name]) > 1 { // resource may repeat (RFC 8707 §2)
			return req, redirectFailure(authzErrInvalidRequest, fmt.Sprintf("The %s parameter is given more than once.", name)), nil
		}
	}
	switch {
	case params.Has("request"):
		return req, redirectFailure(authzErrRequestNotSupported, "Request objects are not supported; send the parameters themselves."), nil
	case params.Has("request_uri"):
		return req, redirectFailure(authzErrRequestURINotSupported, "request_uri is not supported; send the parameters themselves."), nil
	case len(req.state) > MaxStateLen:
		return req, redirectFailure(authzErrInvalidRequest, fmt.Sprintf("state is longer than %d bytes.", MaxStateLen)), nil
	}

	switch rt := params.Get("response_type"); {
	case rt == "":
		return req, redirectFailure(authzErrInvalidRequest, "response_type is missing; use code."), nil
	case rt != ResponseTypeCode:
		return req, redirectFailure(authzErrUnsupportedResponseType, "Only response_type=code is supported."), nil
	case !slices.Contains(client.ResponseTypes, ResponseTypeCode):
		return req, redirectFailure(authzErrUnauthorizedClient, "The client is not registered for response_type=code."), nil
	}

	req.codeChallenge = params.Get("code_challenge")
	switch method := params.Get("code_challenge_method"); {
	case req.codeChallenge == "":
		return req, redirectFailure(authzErrInvalidRequest, "code_challenge is required: use PKCE with code_challenge_method=S256."), nil
	case method != "S256":
		return req, redirectFailure(authzErrInvalidRequest, "code_challenge_method must be S256; plain (also the default when it is missing) is not allowed."), nil
	case !ValidCodeChallenge(req.codeChallenge):
		return req, redirectFailure(authzErrInvalidRequest, "code_challenge must be the base64url-encoded SHA-256 of the code verifier (43 characters)."), nil
	}

	req.resource = s.opts.Resource
	for i, res := range params["resource"] {
		known, ok := s.knownResource(res)
		switch {
		case !ok:
			return req, redirectFailure(authzErrInvalidTarget, "This server issues tokens only for the resources "+strings.Join(s.resources(), ", ")+"."), nil
		case i > 0 && known != req.resource:
			// A grant, and its tokens' audience, is for one resource.
			return req, redirectFailure(authzErrInvalidTarget, "Name one resource per authorization; authorize again for another."), nil
		}
		req.resource = known
	}

	req.nonce = params.Get("nonce")
	if len(req.nonce) > MaxNonceLen {
		return req, redirectFailure(authzErrInvalidRequest, fmt.Sprintf("nonce is longer than %d bytes.", MaxNonceLen)), nil
	}

	for _, p := range strings.Fields(params.Get("prompt")) {
		switch p {
		case "none":
			req.promptNone = true
		case "login":
			req.promptLogin = true
		case "consent":
			req.promptConsent = true
		}
		// Other values (select_account) ask for nothing this server
		// could do differently: there is one account per sign-in.
	}
	if req.promptNone && (req.promptLogin || req.promptConsent) {
		return req, redirectFailure(authzErrInvalidRequest, "prompt=none cannot be combined with other prompt values."), nil
	}
	if hint := params.Get("id_token_hint"); hint != "" {
		sub, err := s.hintSubject(ctx, hint, client.ID)
		if err != nil {
			return req, redirectFailure(authzErrInvalidRequest, "id_token_hint is not an ID token that this server issued to this client."), nil
		}
		req.hintSubject = sub
	}

	// Unknown scopes are dropped, not refused: ChatGPT asks for email,
	// say, which this server does not release. What remains is granted
	// or narrowed on the consent page.
	set := s.opts.Grants.Scopes()
	for _, sc := range strings.Fields(params.Get("scope")) {
		switch {
		case set.Known(auth.Scope(sc)):
			if !slices.Contains(req.requested, auth.Scope(sc)) {
				req.requested = append(req.requested, auth.Scope(sc))
			}
		case sc == ScopeOpenID || sc == ScopeProfile:
			if !slices.Contains(req.oidc, sc) {
				req.oidc = append(req.oidc, sc)
			}
		}
	}
	if len(req.requested) == 0 {
		req.requested = set.Defaults()
	}

	if s.blocked(ctx, "", client.ID) {
		return req, redirectFailure(authzErrAccessDenied, "The operator has blocked this application."), nil
	}

	for _, name := range authzParamNames() {
		if v := params.Get(name); v != "" {
			req.hidden = append(req.hidden, hiddenField{Name: name, Value: v})
		}
	}
	return req, nil, nil
}

// authzRedirectError sends an authorization error to the client's verified
// redirect URI.
func (s *Server) authzRedirectError(w http.ResponseWriter, req *authzRequest, status int, code, description string) {
	s.authzRedirect(w, req, status, url.Values{"error": {code}, "error_description": {description}})
}

// redirect sends the person back to the client's verified redirect URI
// with v, the request's state and this server's issuer (RFC 9207, on
// every response, success or error). The parameters are appended to the
// redirect URI's own query, which is kept byte for byte (it was matched
// exactly, and the client may rely on it). The response has no body: the
// default one of http.Redirect would put the code in a page.
func (s *Server) authzRedirect(w http.ResponseWriter, req *authzRequest, status int, v url.Values) {
	if req.state != "" {
		v.Set("state", req.state)
	}
	v.Set("iss", s.opts.Issuer)
	loc := req.redirectURI
	switch {
	case !strings.Contains(loc, "?"):
		loc += "?"
	case !strings.HasSuffix(loc, "?") && !strings.HasSuffix(loc, "&"):
		loc += "&"
	}
	w.Header().Set("Location", loc+v.Encode())
	w.WriteHeader(status)
}

// clientDisplay says how the pages name a client: its name (chosen by the
// client itself unless the operator registered it), and what identifies
// it: the host of a CIMD client_id URL (e.g. chatgpt.com: whoever controls
// that host published the metadata), else the client_id.
func clientDisplay(c Client) (name string, unverified bool, idLabel, id string) {
	name, unverified = c.Name, c.Source == SourceDCR && c.Name != ""
	if name == "" {
		name = "An application"
	}
	if c.Source == SourceCIMD || IsCIMDClientID(c.ID) {
		if u, err := url.Parse(c.ID); err == nil && u.Host != "" {
			return name, unverified, "Published by", u.Host
		}
	}
	return name, unverified, "Client ID", c.ID
}

// allowFormRedirects drops the form-action directive from the page's
// Content-Security-Policy (set by pageHeaders; the rest stays). Chrome and
// Safari check form-action against every redirect that follows a form
// submission, not only against the form's target
// (w3c/webappsec-csp#8), and a post to the authorization endpoint ends in
// a redirect to the client: under form-action 'self' those browsers would
// refuse to deliver the code. Naming the redirect URI's origin would not
// do either, because some clients' https callbacks redirect on to an app's
// own scheme, and that hop is checked too. The directive adds little here:
// the forms are fixed markup posting to this server, html/template escapes
// everything a client or request supplies, and default-src 'none' still
// forbids scripts, frames and fetches.
func allowFormRedirects(w http.ResponseWriter) {
	h := w.Header()
	csp := h.Get("Content-Security-Policy")
	if csp == "" {
		return
	}
	var kept []string
	for d := range strings.SplitSeq(csp, ";") {
		if d = strings.TrimSpace(d); d != "" && !strings.HasPrefix(strings.ToLower(d), "form-action") {
			kept = append(kept, d)
		}
	}
	h.Set("Content-Security-Policy", strings.Join(kept, "; "))
}

// showSignIn renders the sign-in form of the authorization endpoint.
func (s *Server) showSignIn(w http.ResponseWriter, r *http.Request, req *authzRequest, status int, userName, errMsg, notice string) {
	name, _, _, _ := clientDisplay(req.client)
	allowFormRedirects(w)
	p := page{
		Title:      "Sign in",
		Error:      errMsg,
		Notice:     notice,
		CSRF:       s.signInCSRF(w, r),
		Action:     PathAuthorize,
		Hidden:     req.hidden,
		UserName:   userName,
		ClientName: name,
	}
	s.withUpstream(&p)
	s.renderPage(w, r, status, tmplSignIn, p)
}

// showConsent renders the consent page for plan: what the client keeps
// from its live grant, and the choices, each pre-selected unless it is
// sensitive.
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *signedIn, plan consentPlan, status int, errMsg string) {
	user, err := s.opts.Users.UserBySubject(r.Context(), sess.Subject)
	if err != nil {
		s.serverErrorPage(w, r, "authorize: user look-up failed", err)
		return
	}
	set := s.opts.Grants.Scopes()
	option := func(sc auth.Scope, checked bool) scopeOption {
		title, detail := scopeWords(set, sc)
		d, _ := set.Lookup(sc)
		return scopeOption{Value: string(sc), Title: title, Detail: detail, Checked: checked, Sensitive: d.Sensitive}
	}
	var kept []scopeOption
	for _, sc := range plan.kept {
		kept = append(kept, option(sc, true))
	}
	var groups []scopeGroupView
	n := 0
	for _, g := range plan.groups {
		view := scopeGroupView{Chain: g.chain, Field: g.field}
		for _, sc := range g.scopes {
			n++
			o := option(sc, slices.Contains(g.preselected, sc))
			o.ID = "scope-" + strconv.Itoa(n)
			view.Options = append(view.Options, o)
		}
		if g.none {
			n++
			view.Options = append([]scopeOption{{ID: "scope-" + strconv.Itoa(n), Value: "none", Title: "None of these",
				Checked: len(g.preselected) == 0}}, view.Options...)
		}
		groups = append(groups, view)
	}
	name, unverified, idLabel, id := clientDisplay(req.client)
	redirectHost := req.redirectURI
	if u, err := url.Parse(req.redirectURI); err == nil {
		redirectHost = u.Host
	}
	allowFormRedirects(w)
	s.renderPage(w, r, status, tmplConsent, page{
		Title:            "Allow access?",
		Error:            errMsg,
		CSRF:             sess.csrf(),
		Action:           PathAuthorize,
		Hidden:           req.hidden,
		UserName:         user.Name,
		ClientName:       name,
		NameUnverified:   unverified,
		ClientIDLabel:    idLabel,
		ClientID:         id,
		RedirectHost:     redirectHost,
		RedirectLoopback: IsLoopbackRedirectURI(req.redirectURI),
		Resource:         otherResource(req.resource, s.opts.Resource),
		Kept:             kept,
		ScopeGroups:      groups,
	})
}

// otherResource is resource when it is not this server's own, for the
// consent page to name; "" otherwise.
func otherResource(resource, own string) string {
	if resource == own {
		return ""
	}
	return resource
}
