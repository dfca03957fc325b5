package authserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// handleRevoke is token revocation (RFC 7009). The client authenticates as
// at the token endpoint (a public client names itself with client_id), and
// failed authentications count against the same per-(client_id, IP)
// backoff.
//
// Either kind of token revokes its whole grant: a refresh token
// (Grants.RevokeRefreshToken), or an access token that we issued, whose
// signature, issuer, audience and expiry check out. The two kinds cannot
// be confused (refresh tokens are base64url without dots, access tokens
// are JWTs), so token_type_hint is not needed and is ignored (§2.1 allows
// it). A token that is unknown, expired, malformed or another client's is
// answered 200 all the same, as §2.2 requires: the client's goal, that
// the token be unusable by it, is met, and the answer reveals nothing.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	client, token, ok := s.tokenRequestOf(w, r, "revocation")
	if !ok {
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	var err error
	switch {
	case strings.HasPrefix(token, ReferenceTokenPrefix), auth.LooksLikeJWT(token):
		err = s.revokeAccessToken(ctx, token, client.ID, ip)
	default:
		err = s.opts.Grants.RevokeRefreshToken(ctx, token, client.ID)
		if err == nil {
			s.log.InfoContext(ctx, "refresh token revocation handled", "client_id", client.ID, "ip", ip)
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "revocation failed", "client_id", client.ID, "err", err)
		// RFC 7009 §2.2.1 has no server_error; 503 tells the client to
		// retry, which is what it should do.
		w.Header().Set("Retry-After", "5")
		writeOAuthError(w, http.StatusServiceUnavailable, errServerError, "The token could not be revoked right now; retry.")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// revokeAccessToken revokes the grant of an access token (a JWT or a
// reference token) issued by us to clientID. Tokens that do not verify, or
// that belong to another client, are ignored (nil), as RFC 7009 §2.2
// requires for invalid tokens and §2.1 for other clients' ones. An expired
// token does not verify and is ignored too: it grants nothing already, and
// the client disconnects for good by revoking its refresh token. A check
// that cannot run is an error (503), never "ignored".
func (s *Server) revokeAccessToken(ctx context.Context, token, clientID, ip string) error {
	verifier, _, err := s.ownTokens(ctx)
	if err != nil {
		return err
	}
	p, err := verifier.Verify(ctx, token)
	if errors.Is(err, auth.ErrCheckUnavailable) {
		return err
	}
	if err != nil || p.GrantID == "" {
		return s.revokeGrantOf(ctx, "", "", clientID, ip)
	}
	return s.revokeGrantOf(ctx, p.GrantID, p.ClientID, clientID, ip)
}

// revokeGrantOf revokes grantID, the grant of an access token issued to
// owner, when clientID, who asks, is that owner; anything else ("" for a
// token that is not a valid one of ours) is ignored and logged.
func (s *Server) revokeGrantOf(ctx context.Context, grantID, owner, clientID, ip string) error {
	if grantID == "" || owner != clientID {
		s.log.InfoContext(ctx, "access token revocation ignored: not a valid token of this client", "client_id", clientID, "ip", ip)
		return nil
	}
	revoked, err := s.opts.Grants.RevokeGrant(ctx, grantID, RevokeReasonClient)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "grant revoked by its client", "client_id", clientID, "grant_id", grantID, "ip", ip, "was_live", revoked)
	return nil
}

// userinfoResponse is the OpenID Connect Core §5.3.2 answer.
type userinfoResponse struct {
	Subject           string `json:"sub"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

// handleUserinfo is the OpenID Connect userinfo endpoint. It takes the
// access token from the Authorization header only (never the URL or the
// body, which leak into logs), checks it as the resource server does
// (signature, issuer, audience = the Resource, expiry, the grant not
// revoked, the user not disabled, the operator's blocklist) and answers
// RFC 6750 challenges: 401 invalid_token for a bad token, and 401 without
// an error code when none was sent (§3.1).
//
// A valid token without the openid scope gets 403 insufficient_scope,
// naming openid: OIDC Core §5.3 requires an access token obtained by an
// OpenID Connect request, and the token is valid, just not enough, which
// is what 403 means in RFC 6750 §3.1.
//
// The answer holds sub and preferred_username (the sign-in name), and
// email with email_verified only when the user has an email that an
// operator marked verified: an unverified address is the user's claim,
// and a client might treat any email it gets as proof of identity.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	ctx := r.Context()
	verifier, revocations, err := s.ownTokens(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "userinfo: no verifier", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, errServerError, "The token cannot be checked right now.")
		return
	}
	authn := auth.Authenticator{Verifier: verifier, Revocations: revocations, Logger: s.log}
	p, ok := authn.Authenticate(w, r)
	if !ok {
		return
	}
	if p == nil {
		// RFC 6750 §3.1: no error code when no token was sent.
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !slices.Contains(p.Scopes, ScopeOpenID) {
		auth.Challenge{Scope: auth.Scopes{ScopeOpenID}, Error: auth.ErrInsufficientScope,
			Description: "The userinfo endpoint needs an access token granted with the openid scope."}.WriteHTTP(w, http.StatusForbidden)
		return
	}
	user, err := s.opts.Users.UserBySubject(ctx, p.Subject)
	if errors.Is(err, ErrNotFound) {
		auth.Challenge{Error: auth.ErrInvalidToken, Description: "The token's user no longer exists."}.WriteHTTP(w, http.StatusUnauthorized)
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "userinfo: reading the user failed", "err", err)
		if f := s.serverError(err); f.status == http.StatusServiceUnavailable {
			writeFailure(w, f)
			return
		}
		writeOAuthError(w, http.StatusInternalServerError, errServerError, "The user cannot be read right now.")
		return
	}
	resp := userinfoResponse{Subject: user.Subject, PreferredUsername: user.Name}
	if user.Email != "" && user.EmailVerified {
		verified := true
		resp.Email = user.Email
		resp.EmailVerified = &verified
	}
	writeJSON(w, http.StatusOK, resp)
}
