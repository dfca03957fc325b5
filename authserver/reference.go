package authserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// Access token formats (ServerOptions.TokenFormat).
const (
	// TokenFormatJWT: signed JWTs, which any resource server verifies
	// with the published keys.
	TokenFormatJWT = "jwt"
	// TokenFormatReference: opaque reference tokens, which only this
	// server can read (its introspection endpoint, its own resource).
	TokenFormatReference = "reference"
)

// ReferenceTokenPrefix starts every reference access token, so that one
// is told from a refresh token (random base64url too) without a look-up.
const ReferenceTokenPrefix = "at_"

// ReferenceToken is what a reference access token stands for.
type ReferenceToken struct {
	GrantID   string
	Subject   string
	ClientID  string
	Scope     []string
	Resource  string
	ExpiresAt time.Time
}

// IssueReferenceToken stores and returns a new reference access token of
// gr for resource, valid until expires. The write is committed before the
// token is returned: a token the client holds is always one we know.
func (g *Grants) IssueReferenceToken(ctx context.Context, gr Grant, resource string, expires time.Time) (string, error) {
	secret, _ := newSecret()
	token := ReferenceTokenPrefix + secret
	_, err := g.s.db.ExecWrite(ctx,
		`INSERT INTO reference_tokens (hash, grant_id, scope, resource, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hashSecret(token), gr.ID, gr.ScopeString(), resource, expires.UnixNano())
	if err != nil {
		return "", fmt.Errorf("authserver: issue a reference token: %w", err)
	}
	return token, nil
}

// LookupReferenceToken returns what token stands for, or ErrNotFound when
// it is not one of ours or has expired. Whether its grant is still live
// is the revocation check's to say (GrantRevocations), as for JWTs.
func (g *Grants) LookupReferenceToken(ctx context.Context, token string) (ReferenceToken, error) {
	if !strings.HasPrefix(token, ReferenceTokenPrefix) {
		return ReferenceToken{}, ErrNotFound
	}
	var rt ReferenceToken
	var scope string
	var expires int64
	err := g.s.db.Reader.QueryRowContext(ctx, `SELECT r.grant_id, g.subject, g.client_id, r.scope, r.resource, r.expires_at
		FROM reference_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1`, hashSecret(token)).
		Scan(&rt.GrantID, &rt.Subject, &rt.ClientID, &scope, &rt.Resource, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ReferenceToken{}, ErrNotFound
	}
	if err != nil {
		return ReferenceToken{}, fmt.Errorf("authserver: look up a reference token: %w", err)
	}
	rt.Scope = strings.Fields(scope)
	rt.ExpiresAt = fromNano(expires)
	if !g.s.now().Before(rt.ExpiresAt) {
		return ReferenceToken{}, ErrNotFound
	}
	return rt, nil
}

// principal is the caller a reference token names, as a verified JWT of
// ours would name it.
func (rt ReferenceToken) principal(issuer string) *auth.Principal {
	return &auth.Principal{Issuer: issuer, Subject: rt.Subject, ClientID: rt.ClientID, Scopes: rt.Scope,
		GrantID: rt.GrantID, Audience: rt.Resource, ExpiresAt: rt.ExpiresAt}
}

// ReferenceTokens returns the verifier of reference access tokens for our
// own resource, for its Authenticator beside the JWT verifier
// (auth.ByShape). Revocation is checked after it, as for JWTs.
func (s *Server) ReferenceTokens() auth.TokenVerifier { return referenceVerifier{s: s} }

// referenceVerifier looks reference tokens up: for the server's own
// resource only (its resource server), or for any resource it issues
// tokens for (its own endpoints: userinfo, revocation, introspection).
type referenceVerifier struct {
	s           *Server
	anyResource bool
}

// Verify is auth.TokenVerifier. A failed look-up is
// auth.ErrCheckUnavailable (503), never a verdict on the token.
func (v referenceVerifier) Verify(ctx context.Context, raw string) (*auth.Principal, error) {
	rt, err := v.s.opts.Grants.LookupReferenceToken(ctx, raw)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, &auth.TokenError{Description: "The access token is not valid: unknown or expired.", Reason: auth.ResultInactive}
	case err != nil:
		v.s.log.ErrorContext(ctx, "reference token look-up failed", "err", err)
		return nil, fmt.Errorf("%w: %w", auth.ErrCheckUnavailable, err)
	case !v.anyResource && rt.Resource != v.s.opts.Resource:
		return nil, &auth.TokenError{Description: "The access token is meant for a different audience.", Reason: auth.ResultWrongAudience}
	}
	return rt.principal(v.s.opts.Issuer), nil
}
