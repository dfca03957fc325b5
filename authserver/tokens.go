package authserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// TokenSigner signs JWTs. *Keys is the implementation: RS256 with the
// current key, whose kid goes into the header.
type TokenSigner interface {
	Sign(ctx context.Context, claims jwt.Claims, header map[string]any) (string, error)
}

var _ TokenSigner = (*Keys)(nil)

// Header types (RFC 9068 §2.1 for access tokens; ID tokens keep the
// plain JWT type that OpenID Connect clients expect).
const (
	accessTokenType = "at+jwt"
	idTokenType     = "JWT"
)

// AccessTokenSpec describes an access token to mint.
type AccessTokenSpec struct {
	Issuer string // the built-in server's issuer, exactly as published
	Grant  Grant  // as RedeemCode or Refresh returned it
	// Audience is the token's aud: the grant's Resource, which is also the
	// default. Any other value is refused, so a token can never be minted
	// for a resource the person did not authorize.
	Audience string
	// Lifetime is the token's lifetime, in whole seconds (JWT times are
	// seconds). Default DefaultTokenLifetime. It must not exceed the
	// KeyOptions.TokenLifetime of the keys, which keep a retired key
	// published only that long.
	Lifetime time.Duration
	// IssuedAt is the token's iat and nbf; zero means now. The resource
	// server checks exp against its real clock.
	IssuedAt time.Time
}

// MintAccessToken signs an RFC 9068 access token for a grant and returns
// it with its expiry. Header: typ "at+jwt" (and the signer's alg and kid).
// Claims: iss; sub, the user's stable random id; aud, an array holding the
// grant's resource; exp, iat and nbf; jti, random; client_id; scope, the
// grant's space-separated scope; and auth.GrantIDClaim, the grant id, by
// which the resource server refuses the token as soon as the grant is
// revoked.
func MintAccessToken(ctx context.Context, signer TokenSigner, spec AccessTokenSpec) (string, time.Time, error) {
	g := spec.Grant
	audience := spec.Audience
	if audience == "" {
		audience = g.Resource
	}
	switch {
	case spec.Issuer == "":
		return "", time.Time{}, errors.New("authserver: mint access token: no issuer")
	case g.ID == "" || g.Subject == "" || g.ClientID == "" || g.Resource == "" || len(g.Scope) == 0:
		return "", time.Time{}, errors.New("authserver: mint access token: incomplete grant")
	case audience != g.Resource:
		return "", time.Time{}, fmt.Errorf("authserver: mint access token: audience %s is not the grant's resource %s",
			quoteShort(audience), quoteShort(g.Resource))
	case g.Revoked():
		return "", time.Time{}, fmt.Errorf("authserver: mint access token: grant %s is revoked", g.ID)
	}
	iat, exp, err := tokenTimes(spec.IssuedAt, spec.Lifetime)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authserver: mint access token: %w", err)
	}
	claims := jwt.MapClaims{
		"iss":             spec.Issuer,
		"sub":             g.Subject,
		"aud":             []string{audience},
		"exp":             exp.Unix(),
		"iat":             iat.Unix(),
		"nbf":             iat.Unix(),
		"jti":             rand.Text(),
		"client_id":       g.ClientID,
		"scope":           g.ScopeString(),
		auth.GrantIDClaim: g.ID,
	}
	tok, err := signer.Sign(ctx, claims, map[string]any{"typ": accessTokenType})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authserver: mint access token: %w", err)
	}
	return tok, exp, nil
}

// IDTokenSpec describes an OpenID Connect ID token to mint.
type IDTokenSpec struct {
	Issuer   string
	Subject  string // the user's stable random id, as in the access token
	ClientID string // the audience
	// Nonce is the authorization request's nonce (Grant.Nonce from
	// RedeemCode); "" leaves the claim out, as after a refresh.
	Nonce string
	// AuthTime is when the person signed in (Grant.AuthTime); zero leaves
	// the claim out.
	AuthTime time.Time
	// Lifetime in whole seconds; default DefaultTokenLifetime, and no
	// longer than the keys' KeyOptions.TokenLifetime.
	Lifetime time.Duration
	IssuedAt time.Time // zero means now
}

// MintIDToken signs an ID token (OpenID Connect Core §2) with the
// signer's RS256 key: header typ "JWT"; claims iss, sub, aud (the client
// id, a single string), exp, iat, auth_time, and nonce when there is one.
func MintIDToken(ctx context.Context, signer TokenSigner, spec IDTokenSpec) (string, error) {
	if spec.Issuer == "" || spec.Subject == "" || spec.ClientID == "" {
		return "", errors.New("authserver: mint ID token: issuer, subject and client_id are required")
	}
	iat, exp, err := tokenTimes(spec.IssuedAt, spec.Lifetime)
	if err != nil {
		return "", fmt.Errorf("authserver: mint ID token: %w", err)
	}
	claims := jwt.MapClaims{
		"iss": spec.Issuer,
		"sub": spec.Subject,
		"aud": spec.ClientID,
		"exp": exp.Unix(),
		"iat": iat.Unix(),
	}
	if !spec.AuthTime.IsZero() {
		claims["auth_time"] = spec.AuthTime.Unix()
	}
	if spec.Nonce != "" {
		claims["nonce"] = spec.Nonce
	}
	tok, err := signer.Sign(ctx, claims, map[string]any{"typ": idTokenType})
	if err != nil {
		return "", fmt.Errorf("authserver: mint ID token: %w", err)
	}
	return tok, nil
}

// tokenTimes returns a token's iat and exp. Both are whole seconds, as the
// claims carry them, so that exp - iat is exactly the lifetime and the
// returned expiry is exactly the token's exp.
func tokenTimes(issuedAt time.Time, lifetime time.Duration) (iat, exp time.Time, err error) {
	if lifetime == 0 {
		lifetime = DefaultTokenLifetime
	}
	if lifetime < time.Second || lifetime%time.Second != 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("the token lifetime must be a positive whole number of seconds; got %v", lifetime)
	}
	if issuedAt.IsZero() {
		issuedAt = time.Now()
	}
	iat = issuedAt.Truncate(time.Second).UTC()
	return iat, iat.Add(lifetime), nil
}

// hintSubject returns the subject of an id_token_hint: an ID token that
// this server issued to clientID, whatever its age (OIDC Core §3.1.2.1: an
// expired one is still a hint). Anything else is an error: another
// issuer's or client's token, an access token (its typ is at+jwt, its aud
// the resource), a bad signature.
func (s *Server) hintSubject(ctx context.Context, token, clientID string) (string, error) {
	if s.opts.IDTokenKeys == nil {
		return "", errors.New("no keys to check ID tokens with")
	}
	claims := jwt.MapClaims{}
	t, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation()).
		ParseWithClaims(token, claims, s.opts.IDTokenKeys.Keyfunc(ctx))
	if err != nil {
		return "", err
	}
	if typ, _ := t.Header["typ"].(string); typ != idTokenType {
		return "", fmt.Errorf("typ %q is not an ID token's", typ)
	}
	iss, _ := claims.GetIssuer()
	aud, _ := claims.GetAudience()
	sub, _ := claims.GetSubject()
	if iss != s.opts.Issuer || len(aud) != 1 || aud[0] != clientID || sub == "" {
		return "", errors.New("not an ID token of this issuer for this client")
	}
	return sub, nil
}
