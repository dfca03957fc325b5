package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// tokenResponse is the RFC 6749 §5.1 success answer (plus the OIDC
// id_token).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token,omitempty"`

	grantID string // for the log and the limits, never sent
}

// handleToken is the token endpoint (RFC 6749 §3.2): the
// authorization_code grant with PKCE, and refresh_token with rotation.
//
// Order of checks, so that no request does costly work before its limits
// are consulted and no one can exhaust another's limits:
//
//  1. method, form (content type, size, repeated parameters, secrets in
//     the URL) and grant_type: malformed requests, not counted;
//  2. failures of this (client_id, IP) so far: 429 while backing off. The
//     key needs both because every ChatGPT user shares one CIMD client_id
//     and OpenAI's addresses: a limit on either alone would let one
//     attacker lock all of them out;
//  3. client authentication (a failure counts for the pair);
//  4. the generous ceiling on requests per (client_id, IP), counted only
//     once the client is authenticated, so that nobody without the
//     client's secret can spend a confidential client's allowance;
//  5. failures of the grant the code or refresh token belongs to: 429
//     while backing off. Only a holder of that code or token can cause
//     them, so the limit cannot be turned against anyone else; it slows
//     down guessing against one grant from many addresses;
//  6. the grant itself; invalid_grant counts against the pair and the
//     grant, success clears both.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	// unavailable answers in plain text; a token endpoint answer must
	// never be cached, whatever it is.
	w.Header().Set("Cache-Control", "no-store")
	if s.unavailable(w, r) {
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)

	form, f := readForm(w, r, "client_secret", "code", "code_verifier", "refresh_token")
	if f != nil {
		writeFailure(w, f)
		return
	}
	grantType := form.Get("grant_type")
	switch grantType {
	case GrantAuthorizationCode, GrantRefreshToken:
	case "":
		writeFailure(w, badRequest(errInvalidRequest, "grant_type is required."))
		return
	default:
		writeFailure(w, badRequest(errUnsupportedGrantType,
			fmt.Sprintf("The grant_type %s is not supported; use %q or %q.", quoteShort(grantType), GrantAuthorizationCode, GrantRefreshToken)))
		return
	}
	client, pair, ok := s.authenticatedClient(w, r, form, "token request", "grant_type", grantType)
	if !ok {
		return
	}
	ok, wait, err := s.limits.tokenSuccesses.AllowN(ctx, pair, 1)
	if err != nil {
		writeFailure(w, s.limitUnchecked(ctx, "token request", err))
		return
	}
	if !ok {
		s.log.WarnContext(ctx, "token requests over the ceiling", "client_id", client.ID, "ip", ip, "wait", wait)
		writeTooMany(w, wait, "Too many token requests for this client from this address; retry later.")
		return
	}
	if !slices.Contains(client.GrantTypes, grantType) {
		writeFailure(w, badRequest(errUnauthorizedClient,
			fmt.Sprintf("The client did not register the grant type %q.", grantType)))
		return
	}

	var resp *tokenResponse
	if grantType == GrantAuthorizationCode {
		resp, f = s.exchangeCode(ctx, form, client, ip)
	} else {
		resp, f = s.refresh(ctx, form, client, ip)
	}
	if f != nil {
		// An invalid_grant counts against its grant only, never against
		// the (client_id, IP) pair: every ChatGPT user shares one client
		// ID and OpenAI's addresses, and an attacker can make ChatGPT's
		// backend exchange made-up codes, so counting them per pair would
		// lock everyone out. Unknown 256-bit secrets cannot be guessed, so
		// they need no count at all; the pair counts client
		// authentication failures only.
		if f.code == ErrCodeInvalidGrant && f.grantID != "" {
			s.logUncounted(ctx, s.limits.grantFailures.Fail(ctx, f.grantID))
		}
		writeFailure(w, f)
		return
	}
	s.logUncounted(ctx, s.limits.tokenFailures.Succeed(ctx, pair))
	s.logUncounted(ctx, s.limits.grantFailures.Succeed(ctx, resp.grantID))
	if client.Source != SourceCIMD {
		// Keeps the client from expiring as unused. CIMD clients are not
		// stored, so there is nothing to touch.
		if err := s.opts.Store.TouchClient(ctx, client.ID); err != nil {
			s.log.WarnContext(ctx, "recording the client's use failed", "client_id", client.ID, "err", err)
		}
	}
	s.log.InfoContext(ctx, "tokens issued", "grant_type", grantType, "client_id", client.ID, "grant_id", resp.grantID,
		"ip", ip, "refresh_token", resp.RefreshToken != "", "id_token", resp.IDToken != "")
	s.opts.Metrics.TokenIssued(grantType)
	writeJSON(w, http.StatusOK, resp)
}

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.5, RFC 8707 §2.2).
func (s *Server) exchangeCode(ctx context.Context, form url.Values, client Client, ip string) (*tokenResponse, *failure) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	for _, p := range []struct{ name, value string }{{"code", code}, {"redirect_uri", redirectURI}, {"code_verifier", verifier}} {
		if p.value == "" {
			return nil, badRequest(errInvalidRequest, p.name+" is required.")
		}
	}
	if _, _, f := s.grantWithBackoff(ctx, SecretCode, code); f != nil {
		return nil, f
	}
	gr, err := s.opts.Grants.RedeemCode(ctx, RedeemRequest{
		Code: code, ClientID: client.ID, RedirectURI: redirectURI, CodeVerifier: verifier, Resource: form.Get("resource"),
	})
	if err != nil {
		return nil, s.grantFailure(ctx, err, GrantAuthorizationCode, client.ID, ip)
	}
	// After the redemption, on the authoritative grant: the code is spent
	// either way, and a blocked client or user must not get anything.
	if s.blocked(ctx, gr.Subject, client.ID) {
		s.log.InfoContext(ctx, "token refused: blocked by the operator", "client_id", client.ID, "grant_id", gr.ID, "ip", ip)
		return nil, badRequest(ErrCodeInvalidGrant, "Access for this client or user is blocked by the operator.")
	}
	var refresh string
	if slices.Contains(client.GrantTypes, GrantRefreshToken) {
		// A client that did not register refresh_token gets none: it
		// could not use it. MCP clients register it.
		refresh, _, err = s.opts.Grants.IssueRefreshToken(ctx, gr.ID)
		if err != nil {
			return nil, s.grantFailure(ctx, err, GrantAuthorizationCode, client.ID, ip)
		}
	}
	return s.mintTokens(ctx, gr, refresh, true)
}

// refresh rotates a refresh token (RFC 6749 §6, OAuth 2.1 §4.3).
func (s *Server) refresh(ctx context.Context, form url.Values, client Client, ip string) (*tokenResponse, *failure) {
	token := form.Get("refresh_token")
	if token == "" {
		return nil, badRequest(errInvalidRequest, "refresh_token is required.")
	}
	pre, found, f := s.grantWithBackoff(ctx, SecretRefreshToken, token)
	if f != nil {
		return nil, f
	}
	// Scope and blocklist are checked before Refresh rotates the token,
	// so that a refused request leaves the client's chain as it was.
	if found && pre.ClientID == client.ID {
		if _, f := refreshScope(form.Get("scope"), pre, s.opts.Grants.Scopes()); f != nil {
			return nil, f
		}
		if s.blocked(ctx, pre.Subject, client.ID) {
			s.log.InfoContext(ctx, "refresh refused: blocked by the operator", "client_id", client.ID, "grant_id", pre.ID, "ip", ip)
			return nil, badRequest(ErrCodeInvalidGrant, "Access for this client or user is blocked by the operator.")
		}
	}
	gr, next, err := s.opts.Grants.Refresh(ctx, RefreshRequest{Token: token, ClientID: client.ID, Resource: form.Get("resource")})
	if err != nil {
		return nil, s.grantFailure(ctx, err, GrantRefreshToken, client.ID, ip)
	}
	// The grant's scope never changes, so this is what was checked above;
	// it is taken from the grant Refresh returned all the same, so that
	// no token is ever minted with more than its own grant holds.
	scope, f := refreshScope(form.Get("scope"), gr, s.opts.Grants.Scopes())
	if f != nil {
		return nil, f
	}
	// The access token carries the requested scope; the new refresh
	// token (next) stays the grant's, with the grant's whole scope: RFC
	// 6749 §6 requires a new refresh token's scope to be "identical to
	// that of the refresh token included by the client in the request",
	// so a later refresh may ask for the whole grant again.
	gr.Scope = scope
	return s.mintTokens(ctx, gr, next, false)
}

// refreshScope is the scope of the access token a refresh request asks
// for: RFC 6749 §6 lets the client ask for part of what was granted, never
// more, and then the token must carry exactly that part.
//
// Without a scope parameter the token carries the whole grant (RFC 6749
// §6: omitted is "equal to the scope originally granted"). A parameter
// naming no scope this server knows ("email", "KANBAN.ADMIN") asks, as at
// the authorization endpoint, for the default scopes: never for more than
// the same request would get there. A declared scope asks for itself and
// what it implies (kanban.write: kanban.write and kanban.read), as at the
// authorization endpoint; openid and profile ask for themselves. A known
// scope that was not granted (kanban.write on a read grant, openid without
// it) is invalid_scope: the client must go through consent. A scope this
// server does not know is ignored, as at the authorization endpoint: a
// client that requested "email" there and repeats its request here must
// not be disconnected for it. The scope is returned in the grant's order,
// which the response's scope repeats.
func refreshScope(raw string, gr Grant, scopes *auth.ScopeSet) ([]string, *failure) {
	held := auth.Scopes(gr.Scope)
	var asked []auth.Scope
	var oidc []string
	for _, sc := range strings.Fields(raw) {
		switch {
		case scopes.Known(auth.Scope(sc)):
			if !scopes.Allow(held, auth.Scope(sc)) {
				return nil, badRequest(errInvalidScope, fmt.Sprintf(
					"The scope %s was not granted (granted: %s); more access needs a new authorization.", quoteShort(sc), gr.ScopeString()))
			}
			asked = append(asked, auth.Scope(sc))
		case sc == ScopeOpenID || sc == ScopeProfile:
			if !gr.Has(sc) {
				return nil, badRequest(errInvalidScope, fmt.Sprintf(
					"The scope %s was not granted (granted: %s).", quoteShort(sc), gr.ScopeString()))
			}
			oidc = append(oidc, sc)
		}
	}
	if len(asked) == 0 && len(oidc) == 0 {
		if strings.TrimSpace(raw) == "" {
			return slices.Clone(gr.Scope), nil
		}
		for _, d := range scopes.Defaults() {
			if scopes.Allow(held, d) {
				asked = append(asked, d)
			}
		}
		if len(asked) == 0 {
			return nil, badRequest(errInvalidScope, fmt.Sprintf(
				"The scope names nothing this server grants, and the grant holds none of the default scopes (granted: %s).", gr.ScopeString()))
		}
	}
	want := scopes.Grants(asked...)
	var scope []string
	for _, sc := range gr.Scope {
		if slices.Contains(want, auth.Scope(sc)) || slices.Contains(oidc, sc) {
			scope = append(scope, sc)
		}
	}
	return scope, nil
}

// grantWithBackoff returns the grant that secret (a code or a refresh
// token) belongs to, and answers 429 when that grant has failed
// too often lately. An unknown secret has no grant (found is false) and
// passes: the grant call will refuse it.
func (s *Server) grantWithBackoff(ctx context.Context, kind SecretKind, secret string) (gr Grant, found bool, f *failure) {
	gr, found, err := s.opts.Grants.GrantOfSecret(ctx, kind, secret)
	if err != nil {
		s.log.ErrorContext(ctx, "looking up a code's or token's grant failed", "err", err)
		return Grant{}, false, s.serverError(err)
	}
	if !found {
		return Grant{}, false, nil
	}
	wait, err := s.limits.grantFailures.Check(ctx, gr.ID)
	if err != nil {
		return Grant{}, false, s.limitUnchecked(ctx, "token request", err)
	}
	if wait > 0 {
		s.log.InfoContext(ctx, "token request throttled after failures on its grant", "grant_id", gr.ID, "wait", wait)
		return Grant{}, false, &failure{status: http.StatusTooManyRequests, retryAfter: wait,
			description: "Too many failed requests with this authorization; retry later."}
	}
	return gr, true, nil
}

// grantFailure turns an error of RedeemCode, IssueRefreshToken or Refresh
// into the answer, and logs it: a replayed code or a reused refresh token
// is a sign of theft and is logged as a warning.
func (s *Server) grantFailure(ctx context.Context, err error, grantType, clientID, ip string) *failure {
	te, ok := errors.AsType[*TokenRequestError](err)
	if !ok {
		s.log.ErrorContext(ctx, "token request failed", "grant_type", grantType, "client_id", clientID, "err", err)
		return s.serverError(err)
	}
	if te.Revoked {
		s.log.WarnContext(ctx, "possible token theft: a used code or refresh token was presented again; the grant is revoked",
			"grant_type", grantType, "client_id", clientID, "grant_id", te.GrantID, "ip", ip)
		// Of a refresh, only Refresh's reuse check revokes (a replayed
		// code, or a step-up whose grant went, is the code exchange's).
		if grantType == GrantRefreshToken {
			s.opts.Metrics.RefreshReuse()
		}
	} else {
		s.log.InfoContext(ctx, "token request refused", "grant_type", grantType, "client_id", clientID,
			"grant_id", te.GrantID, "ip", ip, "error", te.Code, "reason", te.Description)
	}
	f := badRequest(te.Code, te.Description)
	f.grantID = te.GrantID
	return f
}

// mintTokens signs the access token of gr (and, for a code exchange with
// openid, the ID token) and assembles the answer.
func (s *Server) mintTokens(ctx context.Context, gr Grant, refresh string, fromCode bool) (*tokenResponse, *failure) {
	resource, ok := s.knownResource(gr.Resource)
	if !ok {
		// A grant made before the server's BASE_URL or its extra
		// resources changed: its tokens would be refused anyway.
		return nil, &failure{status: http.StatusBadRequest, code: ErrCodeInvalidGrant, grantID: gr.ID,
			description: "The authorization is for a resource this server no longer issues tokens for; authorize again."}
	}
	now := s.now()
	var access string
	var err error
	if s.opts.TokenFormat == TokenFormatReference {
		access, err = s.opts.Grants.IssueReferenceToken(ctx, gr, resource, now.Add(s.opts.AccessTokenLifetime))
	} else {
		access, _, err = MintAccessToken(ctx, s.opts.Keys, AccessTokenSpec{
			Issuer:   s.opts.Issuer,
			Grant:    gr,
			Audience: resource,
			Lifetime: s.opts.AccessTokenLifetime,
			IssuedAt: now,
		})
	}
	if err != nil {
		s.log.ErrorContext(ctx, "minting an access token failed", "grant_id", gr.ID, "err", err)
		return nil, s.serverError(err)
	}
	resp := &tokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.opts.AccessTokenLifetime / time.Second),
		RefreshToken: refresh,
		Scope:        gr.ScopeString(),
		grantID:      gr.ID,
	}
	// OpenID Connect Core §3.1.3.3: the code exchange returns an ID token
	// when openid was granted. A refresh may, but need not (§12.2); it
	// does not here, since the nonce and auth_time belong to the sign-in.
	if fromCode && gr.Has(ScopeOpenID) {
		resp.IDToken, err = MintIDToken(ctx, s.opts.Keys, IDTokenSpec{
			Issuer:   s.opts.Issuer,
			Subject:  gr.Subject,
			ClientID: gr.ClientID,
			Nonce:    gr.Nonce,
			AuthTime: gr.AuthTime,
			Lifetime: s.opts.IDTokenLifetime,
			IssuedAt: now,
		})
		if err != nil {
			s.log.ErrorContext(ctx, "minting an ID token failed", "grant_id", gr.ID, "err", err)
			return nil, s.serverError(err)
		}
	}
	return resp, nil
}
