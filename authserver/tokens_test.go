package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// decodeJWT returns the header and claims of tok, unverified.
func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("decode part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("decode part %d %s: %v", i, raw, err)
		}
	}
	return header, claims
}

// takeTimes removes iat, exp (and nbf, jti when wantJTI) from claims after
// checking them: iat is issuedAt, exp - iat is lifetime, nbf equals iat,
// jti is a non-empty string. It returns exp and jti.
func takeTimes(t *testing.T, claims map[string]any, issuedAt time.Time, lifetime time.Duration, accessToken bool) (exp time.Time, jti string) {
	t.Helper()
	num := func(name string) int64 {
		t.Helper()
		v, ok := claims[name].(float64)
		if !ok {
			t.Fatalf("claim %s = %#v, want a number", name, claims[name])
		}
		delete(claims, name)
		return int64(v)
	}
	iat, expSec := num("iat"), num("exp")
	if iat != issuedAt.Unix() {
		t.Errorf("iat = %d, want %d", iat, issuedAt.Unix())
	}
	if got := time.Duration(expSec-iat) * time.Second; got != lifetime {
		t.Errorf("exp - iat = %v, want %v", got, lifetime)
	}
	if accessToken {
		if nbf := num("nbf"); nbf != iat {
			t.Errorf("nbf = %d, want iat %d", nbf, iat)
		}
		jti, _ = claims["jti"].(string)
		if jti == "" {
			t.Errorf("jti = %#v, want a non-empty string", claims["jti"])
		}
		delete(claims, "jti")
	}
	return time.Unix(expSec, 0).UTC(), jti
}

// tokenEnv is a grant env with signing keys and a redeemed grant.
func newTokenEnv(t *testing.T) (*grantEnv, *Keys, Grant) {
	t.Helper()
	e := newGrantEnv(t, GrantOptions{})
	keys, err := e.store.Keys(t.Context(), KeyOptions{})
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	req := e.codeRequest()
	req.Scope = []string{"kanban.write", "openid"}
	return e, keys, e.redeem(t, redeemRequest(e.issueCode(t, req)))
}

func TestMintAccessToken(t *testing.T) {
	e, keys, g := newTokenEnv(t)
	ctx := t.Context()
	kid, _, err := keys.Signer(ctx)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	ks, err := keys.KeySource(ctx)
	if err != nil {
		t.Fatalf("KeySource: %v", err)
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: gtIssuer, Audience: gtResource, Keys: ks})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}

	jtis := map[string]bool{}
	for _, tc := range []struct {
		name         string
		audience     string
		lifetime     time.Duration
		wantLifetime time.Duration
	}{
		{"defaults", "", 0, 15 * time.Minute},
		{"explicit audience and lifetime", gtResource, 5 * time.Minute, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Real time: the verifier checks exp against the real clock.
			before := time.Now().Truncate(time.Second)
			tok, expiresAt, err := MintAccessToken(ctx, keys, AccessTokenSpec{
				Issuer: gtIssuer, Grant: g, Audience: tc.audience, Lifetime: tc.lifetime,
			})
			if err != nil {
				t.Fatalf("MintAccessToken: %v", err)
			}
			header, claims := decodeJWT(t, tok)
			if diff := cmp.Diff(map[string]any{"alg": "RS256", "kid": kid, "typ": "at+jwt"}, header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			iat := time.Unix(int64(claims["iat"].(float64)), 0)
			if iat.Before(before) || iat.After(time.Now()) {
				t.Errorf("iat %v is not the time of minting", iat)
			}
			exp, jti := takeTimes(t, claims, iat, tc.wantLifetime, true)
			if !expiresAt.Equal(exp) {
				t.Errorf("returned expiry %v, want the token's exp %v", expiresAt, exp)
			}
			if jtis[jti] {
				t.Errorf("jti %q repeated", jti)
			}
			jtis[jti] = true
			want := map[string]any{
				"iss":             gtIssuer,
				"sub":             e.alice.Subject,
				"aud":             []any{gtResource},
				"client_id":       gtClient,
				"scope":           "kanban.write kanban.read openid",
				auth.GrantIDClaim: g.ID,
			}
			if diff := cmp.Diff(want, claims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}

			p, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantP := &auth.Principal{
				Issuer:    gtIssuer,
				Subject:   e.alice.Subject,
				ClientID:  gtClient,
				Scopes:    auth.Scopes{"kanban.write", "kanban.read", "openid"},
				TokenID:   jti,
				GrantID:   g.ID,
				Audience:  gtResource,
				ExpiresAt: exp,
			}
			if diff := cmp.Diff(wantP, p); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
			if scopes := testScopes(t); !scopes.Allow(p.Scopes, scopeWrite) || scopes.Allow(p.Scopes, scopeAdmin) {
				t.Errorf("scopes %v: want write allowed and admin not", p.Scopes)
			}
		})
	}
}

func TestMintAccessTokenFixedTime(t *testing.T) {
	_, keys, g := newTokenEnv(t)
	issued := time.Date(2026, 3, 1, 12, 0, 0, 700_000_000, time.UTC)
	tok, expiresAt, err := MintAccessToken(t.Context(), keys, AccessTokenSpec{Issuer: gtIssuer, Grant: g, IssuedAt: issued, Lifetime: time.Minute})
	if err != nil {
		t.Fatalf("MintAccessToken: %v", err)
	}
	_, claims := decodeJWT(t, tok)
	iat := issued.Truncate(time.Second)
	exp, _ := takeTimes(t, claims, iat, time.Minute, true)
	if want := iat.Add(time.Minute); !expiresAt.Equal(want) || !exp.Equal(want) {
		t.Errorf("expiry = %v (claim %v), want %v", expiresAt, exp, want)
	}
}

// failingSigner is a TokenSigner that cannot sign.
type failingSigner struct{ err error }

func (s failingSigner) Sign(context.Context, jwt.Claims, map[string]any) (string, error) {
	return "", s.err
}

func TestMintAccessTokenRefusals(t *testing.T) {
	_, keys, g := newTokenEnv(t)
	revoked := g
	revoked.RevokedAt = time.Now()
	noScope := g
	noScope.Scope = nil
	noSubject := g
	noSubject.Subject = ""
	for _, tc := range []struct {
		name string
		spec AccessTokenSpec
	}{
		{"no issuer", AccessTokenSpec{Grant: g}},
		{"audience other than the grant's resource", AccessTokenSpec{Issuer: gtIssuer, Grant: g, Audience: "https://evil.example/mcp"}},
		{"revoked grant", AccessTokenSpec{Issuer: gtIssuer, Grant: revoked}},
		{"grant without scope", AccessTokenSpec{Issuer: gtIssuer, Grant: noScope}},
		{"grant without subject", AccessTokenSpec{Issuer: gtIssuer, Grant: noSubject}},
		{"no grant", AccessTokenSpec{Issuer: gtIssuer}},
		{"lifetime not whole seconds", AccessTokenSpec{Issuer: gtIssuer, Grant: g, Lifetime: 1500 * time.Millisecond}},
		{"negative lifetime", AccessTokenSpec{Issuer: gtIssuer, Grant: g, Lifetime: -time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tok, _, err := MintAccessToken(t.Context(), keys, tc.spec); err == nil || tok != "" {
				t.Errorf("MintAccessToken = %q, %v; want an error", tok, err)
			}
		})
	}
	t.Run("signer failure", func(t *testing.T) {
		cause := errors.New("no key")
		_, _, err := MintAccessToken(t.Context(), failingSigner{cause}, AccessTokenSpec{Issuer: gtIssuer, Grant: g})
		if !errors.Is(err, cause) {
			t.Errorf("err = %v, want it to wrap %v", err, cause)
		}
	})
}

func TestMintIDToken(t *testing.T) {
	e, keys, g := newTokenEnv(t)
	ctx := t.Context()
	kid, _, err := keys.Signer(ctx)
	if err != nil {
		t.Fatalf("Signer: %v", err)
	}
	jwks, err := keys.JWKS(ctx)
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	kf, err := keyfunc.NewJWKSetJSON(jwks)
	if err != nil {
		t.Fatalf("NewJWKSetJSON: %v", err)
	}
	authTime := time.Date(2026, 3, 1, 11, 55, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		spec       IDTokenSpec
		wantLife   time.Duration
		wantExtras map[string]any
	}{
		{"with nonce and auth_time",
			IDTokenSpec{Nonce: "n-0S6_WzA2Mj", AuthTime: authTime},
			15 * time.Minute,
			map[string]any{"nonce": "n-0S6_WzA2Mj", "auth_time": float64(authTime.Unix())}},
		{"without nonce (after a refresh)",
			IDTokenSpec{AuthTime: authTime, Lifetime: 10 * time.Minute},
			10 * time.Minute,
			map[string]any{"auth_time": float64(authTime.Unix())}},
		{"without auth_time", IDTokenSpec{}, 15 * time.Minute, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Issuer, spec.Subject, spec.ClientID = gtIssuer, g.Subject, g.ClientID
			before := time.Now().Truncate(time.Second)
			tok, err := MintIDToken(ctx, keys, spec)
			if err != nil {
				t.Fatalf("MintIDToken: %v", err)
			}
			header, claims := decodeJWT(t, tok)
			if diff := cmp.Diff(map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}, header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			iat := time.Unix(int64(claims["iat"].(float64)), 0)
			if iat.Before(before) || iat.After(time.Now()) {
				t.Errorf("iat %v is not the time of minting", iat)
			}
			takeTimes(t, claims, iat, tc.wantLife, false)
			want := map[string]any{"iss": gtIssuer, "sub": e.alice.Subject, "aud": gtClient}
			for k, v := range tc.wantExtras {
				want[k] = v
			}
			if diff := cmp.Diff(want, claims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}

			// It verifies with the published keys, as a client would check it.
			if _, err := jwt.Parse(tok, kf.Keyfunc, jwt.WithValidMethods([]string{"RS256"}),
				jwt.WithIssuer(gtIssuer), jwt.WithAudience(gtClient), jwt.WithExpirationRequired()); err != nil {
				t.Errorf("the ID token does not verify with the JWKS: %v", err)
			}
		})
	}

	for _, bad := range []IDTokenSpec{
		{Subject: g.Subject, ClientID: gtClient},
		{Issuer: gtIssuer, ClientID: gtClient},
		{Issuer: gtIssuer, Subject: g.Subject},
		{Issuer: gtIssuer, Subject: g.Subject, ClientID: gtClient, Lifetime: -time.Second},
	} {
		if tok, err := MintIDToken(ctx, keys, bad); err == nil || tok != "" {
			t.Errorf("MintIDToken(%+v) = %q, %v; want an error", bad, tok, err)
		}
	}
}

// An ID token is not an access token: the resource server must refuse it.
func TestIDTokenIsNotAnAccessToken(t *testing.T) {
	_, keys, g := newTokenEnv(t)
	ctx := t.Context()
	ks, err := keys.KeySource(ctx)
	if err != nil {
		t.Fatalf("KeySource: %v", err)
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{Issuer: gtIssuer, Audience: gtResource, Keys: ks})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	tok, err := MintIDToken(ctx, keys, IDTokenSpec{Issuer: gtIssuer, Subject: g.Subject, ClientID: g.ClientID})
	if err != nil {
		t.Fatalf("MintIDToken: %v", err)
	}
	if p, err := v.Verify(ctx, tok); err == nil {
		t.Errorf("the resource server accepted an ID token: %+v", p)
	}
}
