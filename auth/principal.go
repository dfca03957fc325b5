package auth

import (
	"context"
	"time"
)

// Principal is the verified caller behind an access token: a user (issuer +
// subject) acting through an agent (client ID) with a set of scopes.
type Principal struct {
	Issuer   string
	Subject  string
	ClientID string // empty when the issuer names no client
	Scopes   Scopes
	TokenID  string // jti, when present
	// GrantID is the GrantIDClaim of tokens from the built-in
	// authorization server: the grant the token belongs to, so that
	// revoking the grant refuses the token at once.
	GrantID string
	// Audience is the resource the token is for, of those the verifier
	// accepts (VerifierConfig.Audience or one of ExtraAudiences); empty
	// for introspected tokens.
	Audience  string
	ExpiresAt time.Time
}

// GrantIDClaim is the access-token claim in which the built-in
// authorization server names the grant a token belongs to.
const GrantIDClaim = "grant_id"

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the verified caller, or nil for an anonymous
// request.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
