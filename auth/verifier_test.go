package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
)

// testAudience is the Resource the tokens are meant for.
const testAudience = "https://kanban.example/mcp"

// The descriptions of verifier.go's describe() and Verify, which reach the
// client in error_description.
const (
	descNotValid      = "The access token is not valid."
	descUnknownKey    = "The access token was signed with a key this server does not know."
	descMalformed     = "The access token is malformed."
	descSignature     = "The access token's signature is not valid."
	descUnverifiable  = "The access token cannot be verified: its algorithm or key is not accepted."
	descExpired       = "The access token has expired."
	descNotYet        = "The access token is not valid yet."
	descNoExp         = "The access token lacks a required claim (exp)."
	descIssuer        = "The access token was issued by a different issuer."
	descAudience      = "The access token is meant for a different audience."
	descTooLarge      = "The access token is too large."
	descNoSubject     = "The access token has no subject (sub)."
	descIDToken       = "The token was issued to the client itself (an ID token?), not as an access token for this server."
	descScopeMalform  = "The access token's scope claim is malformed."
	pollInterval      = 20 * time.Millisecond
	readyDeadline     = 10 * time.Second
	rotationDeadline  = 10 * time.Second
	fetchDoneDeadline = 5 * time.Second
)

// newVerifier builds a verifier whose background work stops with the test.
func newVerifier(t *testing.T, cfg auth.VerifierConfig) *auth.Verifier {
	t.Helper()
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	v, err := auth.NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// waitReady polls until v has loaded keys.
func waitReady(t *testing.T, v *auth.Verifier) {
	t.Helper()
	if !eventually(readyDeadline, v.Ready) {
		t.Fatalf("verifier not ready after %s", readyDeadline)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(deadline time.Duration, cond func() bool) bool {
	end := time.Now().Add(deadline)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// issuerVerifier starts a real test issuer and a verifier for it, ready.
func issuerVerifier(t *testing.T, opts testissuer.Options, timing auth.KeyTiming) (*testissuer.Issuer, *auth.Verifier) {
	t.Helper()
	iss := testissuer.New(t, opts)
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL, Timing: timing})
	waitReady(t, v)
	return iss, v
}

// tokenError asserts that err is a *auth.TokenError and returns it.
// reasonOf is the Reason that goes with each refusal's description.
var reasonOf = map[string]string{
	descExpired:      auth.ResultExpired,
	descNotYet:       auth.ResultNotYetValid,
	descNoExp:        auth.ResultMissingClaim,
	descIssuer:       auth.ResultWrongIssuer,
	descAudience:     auth.ResultWrongAudience,
	descSignature:    auth.ResultBadSignature,
	descUnknownKey:   auth.ResultUnknownKey,
	descUnverifiable: auth.ResultUnverifiable,
	descMalformed:    auth.ResultMalformed,
}

func tokenError(t *testing.T, err error) *auth.TokenError {
	t.Helper()
	var te *auth.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v (%T), want a *auth.TokenError", err, err)
	}
	return te
}

// jwksServer publishes keys (of any type jwkset knows, including Ed25519)
// at /keys, and counts every request it gets, per path.
type jwksServer struct {
	*httptest.Server
	keys  atomic.Pointer[[]testissuer.Key]
	other atomic.Int64 // requests for anything but /keys
	hits  atomic.Int64 // requests for /keys
}

func newJWKSServer(t *testing.T, keys ...testissuer.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.keys.Store(&keys)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			s.other.Add(1)
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(marshalJWKS(t, *s.keys.Load()...))
	}))
	t.Cleanup(s.Close)
	return s
}

func marshalJWKS(t *testing.T, keys ...testissuer.Key) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.Private.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.ID, ALG: jwkset.ALG(k.Alg), USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatalf("jwk for %s: %v", k.ID, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newEd25519Key(t *testing.T) testissuer.Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testissuer.Key{ID: "ed-1", Alg: "EdDSA", Private: priv}
}

// standardClaims are valid claims for issuer, 15 minutes long.
func standardClaims(issuer string) testissuer.Claims {
	now := time.Now()
	return testissuer.Claims{
		"iss":       issuer,
		"sub":       "user-1",
		"aud":       testAudience,
		"client_id": "agent-1",
		"scope":     "kanban.read",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(15 * time.Minute).Unix(),
		"jti":       "jti-1",
	}
}

// with returns a copy of c with set applied (a nil value deletes the
// claim).
func with(c testissuer.Claims, set testissuer.Claims) testissuer.Claims {
	out := testissuer.Claims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range set {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func TestDiscoveryURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		issuer string
		want   []string
	}{
		{"https://a.example", []string{
			"https://a.example/.well-known/openid-configuration",
			"https://a.example/.well-known/oauth-authorization-server",
		}},
		{"https://a.example/", []string{ // Auth0 style
			"https://a.example/.well-known/openid-configuration",
			"https://a.example/.well-known/oauth-authorization-server",
		}},
		{"https://a.example/tenant/v2.0", []string{
			"https://a.example/tenant/v2.0/.well-known/openid-configuration",
			"https://a.example/.well-known/oauth-authorization-server/tenant/v2.0",
		}},
		{"https://a.example/tenant/v2.0/", []string{
			"https://a.example/tenant/v2.0/.well-known/openid-configuration",
			"https://a.example/.well-known/oauth-authorization-server/tenant/v2.0",
		}},
		{"http://127.0.0.1:9999/realms/kanban", []string{
			"http://127.0.0.1:9999/realms/kanban/.well-known/openid-configuration",
			"http://127.0.0.1:9999/.well-known/oauth-authorization-server/realms/kanban",
		}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, auth.DiscoveryURLs(tt.issuer)); diff != "" {
			t.Errorf("DiscoveryURLs(%q) mismatch (-want +got):\n%s", tt.issuer, diff)
		}
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  auth.VerifierConfig
	}{
		{"no issuer", auth.VerifierConfig{Audience: testAudience}},
		{"no audience", auth.VerifierConfig{Issuer: "https://a.example"}},
		{"unknown scope claim", auth.VerifierConfig{Issuer: "https://a.example", Audience: testAudience, ScopeClaim: "roles"}},
	}
	for _, tt := range tests {
		if v, err := auth.NewVerifier(t.Context(), tt.cfg); err == nil {
			t.Errorf("%s: NewVerifier = %v, nil; want an error", tt.name, v)
		}
	}
}

// TestVerifierIssuerTrailingSlash: the issuer in the discovery document must
// equal the configured one byte for byte, and Auth0's ends in "/".
func TestVerifierIssuerTrailingSlash(t *testing.T) {
	t.Parallel()

	t.Run("configured without the slash", func(t *testing.T) {
		t.Parallel()
		iss := testissuer.New(t, testissuer.Options{Suffix: "/"})
		configured := strings.TrimSuffix(iss.URL, "/")
		v := newVerifier(t, auth.VerifierConfig{Issuer: configured})
		// Never ready: the discovery document names a different issuer.
		if eventually(2*time.Second, v.Ready) {
			t.Fatalf("verifier for %q became ready although discovery names %q", configured, iss.URL)
		}
		// Even a token that names the configured issuer is refused: no keys
		// from a mismatching issuer are trusted, so none are loaded, and the
		// refusal says so (ErrKeysUnavailable: 503, not the token's fault).
		for _, issClaim := range []string{configured, iss.URL} {
			tok := iss.Mint(t, with(standardClaims(issClaim), nil))
			p, err := v.Verify(t.Context(), tok)
			if !errors.Is(err, auth.ErrKeysUnavailable) {
				t.Errorf("Verify(token with iss %q) = %+v, %v; want ErrKeysUnavailable", issClaim, p, err)
			}
		}
		if v.Ready() {
			t.Error("verifier became ready after verifying tokens")
		}
	})

	t.Run("configured exactly", func(t *testing.T) {
		t.Parallel()
		iss := testissuer.New(t, testissuer.Options{Suffix: "/"})
		if !strings.HasSuffix(iss.URL, "/") {
			t.Fatalf("issuer %q has no trailing slash", iss.URL)
		}
		v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL})
		waitReady(t, v)
		p, err := v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL)))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if p.Issuer != iss.URL {
			t.Errorf("Issuer = %q, want %q byte for byte", p.Issuer, iss.URL)
		}
		// And iss without the slash is a different issuer.
		_, err = v.Verify(t.Context(), iss.Mint(t, standardClaims(strings.TrimSuffix(iss.URL, "/"))))
		if got := tokenError(t, err).Description; got != descIssuer {
			t.Errorf("iss without the slash: Description = %q, want %q", got, descIssuer)
		}
	})
}

// TestVerifierRFC8414Fallback: an issuer without OpenID discovery is found
// through its RFC 8414 metadata, with the well-known segment inserted
// before the issuer's path.
func TestVerifierRFC8414Fallback(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", "/tenant/v2.0"} {
		t.Run("path="+path, func(t *testing.T) {
			t.Parallel()
			key := testissuer.NewKey(t, "RS256")
			var oidcHits atomic.Int64
			var srv *httptest.Server
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
					oidcHits.Add(1)
				}
				http.NotFound(w, r)
			})
			mux.HandleFunc("/.well-known/oauth-authorization-server"+path, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL + path, "jwks_uri": srv.URL + "/keys"})
			})
			mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(marshalJWKS(t, key))
			})
			srv = httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			issuer := srv.URL + path
			v := newVerifier(t, auth.VerifierConfig{Issuer: issuer})
			waitReady(t, v)
			if oidcHits.Load() == 0 {
				t.Error("OpenID discovery was never tried before RFC 8414")
			}
			tok := testissuer.MintWith(t, key, standardClaims(issuer), nil)
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// TestVerifierJWKSURLOverride: OAUTH_JWKS_URL skips discovery entirely.
func TestVerifierJWKSURLOverride(t *testing.T) {
	t.Parallel()
	key := testissuer.NewKey(t, "ES256")
	srv := newJWKSServer(t, key)
	// The issuer is the same server, so any discovery attempt is counted.
	v := newVerifier(t, auth.VerifierConfig{Issuer: srv.URL, JWKSURL: srv.URL + "/keys"})
	waitReady(t, v)
	p, err := v.Verify(t.Context(), testissuer.MintWith(t, key, standardClaims(srv.URL), nil))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "user-1" {
		t.Errorf("Subject = %q, want user-1", p.Subject)
	}
	if n := srv.other.Load(); n != 0 {
		t.Errorf("%d requests besides the JWKS (discovery?), want 0", n)
	}
	if n := srv.hits.Load(); n < 1 {
		t.Errorf("JWKS hits = %d, want at least 1", n)
	}
}

// TestVerifierUnknownKID: at most one fetch per UnknownKID interval, and an
// unknown kid in between is refused without a fetch.
func TestVerifierUnknownKID(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{}, auth.KeyTiming{UnknownKID: time.Hour, Wait: 2 * time.Second})
	before := iss.JWKSHits()

	hostile1 := testissuer.MintWith(t, testissuer.NewKey(t, "RS256"), standardClaims(iss.URL), nil)
	_, err := v.Verify(t.Context(), hostile1)
	tokenError(t, err)
	// The fetch finished before Verify returned (it waits up to Wait), but
	// poll in case a slow machine made Verify give up first.
	if !eventually(fetchDoneDeadline, func() bool { return iss.JWKSHits() != before }) {
		t.Fatalf("JWKS hits stayed %d: the first unknown kid caused no fetch", before)
	}
	if got := iss.JWKSHits(); got != before+1 {
		t.Fatalf("JWKS hits after the first unknown kid = %d, want %d", got, before+1)
	}

	hostile2 := testissuer.MintWith(t, testissuer.NewKey(t, "RS256"), standardClaims(iss.URL), nil)
	_, err = v.Verify(t.Context(), hostile2)
	if got := tokenError(t, err).Description; got != descUnknownKey {
		t.Errorf("second unknown kid: Description = %q, want %q", got, descUnknownKey)
	}
	if got := iss.JWKSHits(); got != before+1 {
		t.Errorf("JWKS hits after the second unknown kid = %d, want %d (no second fetch within UnknownKID)", got, before+1)
	}

	// Keys already loaded keep working meanwhile.
	if _, err := v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL))); err != nil {
		t.Errorf("token from the published key: %v", err)
	}
}

// gatedTransport holds JWKS requests until released, so that a test can
// decide deterministically what happens while a fetch is in flight.
type gatedTransport struct {
	hold    atomic.Bool
	release chan struct{}
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if g.hold.Load() && strings.HasSuffix(r.URL.Path, "/jwks.json") {
		select {
		case <-g.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestVerifierHungUpClientDoesNotWasteFetch: a request that gives up while
// the fetch it caused is in flight is refused, but the fetch completes and
// its keys are used, although no second fetch may start for an hour.
func TestVerifierHungUpClientDoesNotWasteFetch(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	gate := &gatedTransport{release: make(chan struct{})}
	v := newVerifier(t, auth.VerifierConfig{
		Issuer:     iss.URL,
		HTTPClient: &http.Client{Transport: gate, Timeout: 30 * time.Second},
		Timing:     auth.KeyTiming{UnknownKID: time.Hour, FetchTimeout: 30 * time.Second},
	})
	waitReady(t, v)

	iss.Rotate(t)
	before := iss.JWKSHits()
	gate.hold.Store(true)

	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the client has already hung up
	tok := iss.Mint(t, standardClaims(iss.URL))
	if p, err := v.Verify(ctx, tok); err == nil {
		t.Fatalf("Verify with a cancelled context while the fetch is held = %+v, want refused", p)
	}
	if got := iss.JWKSHits(); got != before {
		t.Fatalf("JWKS hits = %d while the fetch is held, want %d", got, before)
	}

	close(gate.release)
	if !eventually(fetchDoneDeadline, func() bool { return iss.JWKSHits() > before }) {
		t.Fatal("the fetch started by the hung-up request never reached the issuer: it was cancelled")
	}
	var lastErr error
	ok := eventually(fetchDoneDeadline, func() bool {
		_, lastErr = v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL)))
		return lastErr == nil
	})
	if !ok {
		t.Fatalf("new-key token still refused after the fetch (UnknownKID is an hour, so only that fetch could load it): %v", lastErr)
	}
	if got := iss.JWKSHits(); got != before+1 {
		t.Errorf("JWKS hits = %d, want exactly %d", got, before+1)
	}
}

// TestVerifierRotationAfterHostileKID: a hostile kid must not hide a
// genuine rotation for longer than UnknownKID.
func TestVerifierRotationAfterHostileKID(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{}, auth.KeyTiming{UnknownKID: 500 * time.Millisecond})

	hostile := testissuer.MintWith(t, testissuer.NewKey(t, "RS256"), standardClaims(iss.URL), nil)
	if p, err := v.Verify(t.Context(), hostile); err == nil {
		t.Fatalf("hostile kid accepted: %+v", p)
	}
	iss.Rotate(t)
	var lastErr error
	ok := eventually(rotationDeadline, func() bool {
		_, lastErr = v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL)))
		return lastErr == nil
	})
	if !ok {
		t.Fatalf("rotated key still refused after %s: %v", rotationDeadline, lastErr)
	}
	// The hostile kid is still refused.
	if _, err := v.Verify(t.Context(), hostile); err == nil {
		t.Error("hostile kid accepted after the rotation")
	}
}

// TestVerifierIssuerOutage: cached keys keep working while the issuer is
// down, unknown kids are refused without hanging, and a rotation after the
// outage is picked up by the same verifier.
func TestVerifierIssuerOutage(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{Alg: "ES256"}, auth.KeyTiming{UnknownKID: 500 * time.Millisecond})
	iss.SetDown(true)

	if _, err := v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL))); err != nil {
		t.Fatalf("cached key during the outage: %v", err)
	}

	type result struct {
		p   *auth.Principal
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := v.Verify(t.Context(), testissuer.MintWith(t, testissuer.NewKey(t, "ES256"), standardClaims(iss.URL), nil))
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			t.Fatalf("unknown kid during the outage accepted: %+v", r.p)
		}
		tokenError(t, r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("Verify of an unknown kid during the outage did not return within 10s")
	}
	if !v.Ready() {
		t.Error("verifier no longer ready during the outage although its keys are cached")
	}
	// The failed fetch for the unknown kid must not have dropped the keys.
	if _, err := v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL))); err != nil {
		t.Fatalf("cached key after a failed fetch during the outage: %v", err)
	}

	iss.SetDown(false)
	iss.Rotate(t)
	var lastErr error
	ok := eventually(rotationDeadline, func() bool {
		_, lastErr = v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL)))
		return lastErr == nil
	})
	if !ok {
		t.Fatalf("rotation after the outage never accepted: %v", lastErr)
	}
}

// TestVerifierClaims: scopes by presence (never merged), the pinned claim,
// the client id precedence and the principal's fields.
func TestVerifierClaims(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	verifiers := map[string]*auth.Verifier{}
	for _, claim := range []string{"", auth.ScopeClaimAuto, auth.ScopeClaimScope, auth.ScopeClaimScp, auth.ScopeClaimPermissions} {
		v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL, ScopeClaim: claim})
		waitReady(t, v)
		verifiers[claim] = v
	}
	base := standardClaims(iss.URL)
	noScopes := testissuer.Claims{"scope": nil}
	exp := time.Unix(base["exp"].(int64), 0)

	tests := []struct {
		name         string
		scopeClaim   string
		set          testissuer.Claims
		wantScopes   auth.Scopes
		wantClientID string
		wantDesc     string // non-empty: refused with this description
	}{
		{name: "scope string", set: testissuer.Claims{"scope": "kanban.read kanban.write"}, wantScopes: auth.Scopes{"kanban.read", "kanban.write"}},
		{name: "scope string, default claim setting", scopeClaim: "-", set: testissuer.Claims{"scope": "kanban.write"}, wantScopes: auth.Scopes{"kanban.write"}},
		{name: "scp array (Okta)", set: with(noScopes, testissuer.Claims{"scp": []string{"kanban.read", "kanban.write"}}), wantScopes: auth.Scopes{"kanban.read", "kanban.write"}},
		{name: "scp string (Entra)", set: with(noScopes, testissuer.Claims{"scp": "kanban.admin openid"}), wantScopes: auth.Scopes{"kanban.admin", "openid"}},
		{name: "permissions (Auth0 RBAC)", set: with(noScopes, testissuer.Claims{"permissions": []string{"kanban.admin"}}), wantScopes: auth.Scopes{"kanban.admin"}},
		{name: "Auth0 pair: scope wins over permissions", set: testissuer.Claims{"scope": "openid profile", "permissions": []string{"kanban.admin"}}, wantScopes: auth.Scopes{"openid", "profile"}},
		{name: "scope wins over scp", set: testissuer.Claims{"scope": "kanban.read", "scp": []string{"kanban.admin"}}, wantScopes: auth.Scopes{"kanban.read"}},
		{name: "scp wins over permissions", set: with(noScopes, testissuer.Claims{"scp": "kanban.read", "permissions": []string{"kanban.admin"}}), wantScopes: auth.Scopes{"kanban.read"}},
		{name: "empty scope string does not fall through", set: testissuer.Claims{"scope": "", "permissions": []string{"kanban.admin"}}, wantScopes: nil},
		{name: "null scope does not fall through", set: testissuer.Claims{"scope": json.RawMessage("null"), "permissions": []string{"kanban.admin"}}, wantScopes: nil},
		{name: "no scope claim at all", set: noScopes, wantScopes: nil},
		{name: "pinned permissions", scopeClaim: auth.ScopeClaimPermissions, set: testissuer.Claims{"scope": "openid", "permissions": []string{"kanban.admin"}}, wantScopes: auth.Scopes{"kanban.admin"}},
		{name: "pinned permissions, absent", scopeClaim: auth.ScopeClaimPermissions, set: testissuer.Claims{"scope": "kanban.admin"}, wantScopes: nil},
		{name: "pinned scp", scopeClaim: auth.ScopeClaimScp, set: testissuer.Claims{"scope": "kanban.admin", "scp": []string{"kanban.read"}}, wantScopes: auth.Scopes{"kanban.read"}},
		{name: "pinned scope", scopeClaim: auth.ScopeClaimScope, set: testissuer.Claims{"scope": "kanban.write", "scp": "kanban.admin", "permissions": []string{"kanban.admin"}}, wantScopes: auth.Scopes{"kanban.write"}},
		{name: "pinned scope, only permissions", scopeClaim: auth.ScopeClaimScope, set: with(noScopes, testissuer.Claims{"permissions": []string{"kanban.admin"}}), wantScopes: nil},
		{name: "scope as a number", set: testissuer.Claims{"scope": 42}, wantDesc: descScopeMalform},
		{name: "scope as an object", set: testissuer.Claims{"scope": map[string]any{"a": "kanban.admin"}}, wantDesc: descScopeMalform},
		{name: "scp array of numbers", set: with(noScopes, testissuer.Claims{"scp": []int{1, 2}}), wantDesc: descScopeMalform},
		{name: "malformed but unchosen claim is ignored", set: testissuer.Claims{"scope": "kanban.read", "permissions": 7}, wantScopes: auth.Scopes{"kanban.read"}},

		// Client id precedence: client_id > azp > cid > appid.
		{name: "client_id first", set: testissuer.Claims{"client_id": "c1", "azp": "a1", "cid": "o1", "appid": "e1"}, wantScopes: auth.Scopes{"kanban.read"}, wantClientID: "c1"},
		{name: "azp second", set: testissuer.Claims{"client_id": nil, "azp": "a1", "cid": "o1", "appid": "e1"}, wantScopes: auth.Scopes{"kanban.read"}, wantClientID: "a1"},
		{name: "cid third", set: testissuer.Claims{"client_id": nil, "cid": "o1", "appid": "e1"}, wantScopes: auth.Scopes{"kanban.read"}, wantClientID: "o1"},
		{name: "appid last", set: testissuer.Claims{"client_id": nil, "appid": "e1"}, wantScopes: auth.Scopes{"kanban.read"}, wantClientID: "e1"},
		{name: "no client id", set: testissuer.Claims{"client_id": nil}, wantScopes: auth.Scopes{"kanban.read"}, wantClientID: ""},

		{name: "missing sub", set: testissuer.Claims{"sub": nil}, wantDesc: descNoSubject},
		{name: "empty sub", set: testissuer.Claims{"sub": ""}, wantDesc: descNoSubject},
		{name: "client_id equals the audience (ID token)", set: testissuer.Claims{"client_id": testAudience}, wantDesc: descIDToken},
		{name: "azp equals the audience (ID token)", set: testissuer.Claims{"client_id": nil, "azp": testAudience}, wantDesc: descIDToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claim := tt.scopeClaim
			switch claim {
			case "":
				claim = auth.ScopeClaimAuto
			case "-":
				claim = ""
			}
			v := verifiers[claim]
			p, err := v.Verify(t.Context(), iss.Mint(t, with(base, tt.set)))
			if tt.wantDesc != "" {
				if err == nil {
					t.Fatalf("Verify = %+v, want refused with %q", p, tt.wantDesc)
				}
				if got := tokenError(t, err).Description; got != tt.wantDesc {
					t.Errorf("Description = %q, want %q", got, tt.wantDesc)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			clientID := "agent-1"
			if _, set := tt.set["client_id"]; set {
				clientID = tt.wantClientID
			}
			want := &auth.Principal{
				Issuer:    iss.URL,
				Subject:   "user-1",
				ClientID:  clientID,
				Scopes:    tt.wantScopes,
				TokenID:   "jti-1",
				Audience:  testAudience,
				ExpiresAt: exp,
			}
			if diff := cmp.Diff(want, p, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("principal mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifierTokenSize(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{}, auth.KeyTiming{})
	mint := func(pad int) string {
		return iss.Mint(t, with(standardClaims(iss.URL), testissuer.Claims{"pad": strings.Repeat("x", pad)}))
	}
	// Find paddings that land just under and just over 16 KiB.
	small := mint(0)
	under := mint((16<<10 - len(small) - 200) * 3 / 4)
	over := mint((16<<10 - len(small) + 200) * 3 / 4)
	if len(under) > 16<<10 || len(over) <= 16<<10 {
		t.Fatalf("test setup: token sizes %d and %d do not straddle 16 KiB", len(under), len(over))
	}
	if _, err := v.Verify(t.Context(), under); err != nil {
		t.Errorf("valid %d-byte token refused: %v", len(under), err)
	}
	_, err := v.Verify(t.Context(), over)
	if err == nil {
		t.Fatalf("valid but %d-byte token accepted, want refused (over 16 KiB)", len(over))
	}
	if got := tokenError(t, err).Description; got != descTooLarge {
		t.Errorf("Description = %q, want %q", got, descTooLarge)
	}
}

// TestVerifierRejections is the token rejection table at the verifier
// level; each case names the description the client will see.
func TestVerifierRejections(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{}, auth.KeyTiming{})
	now := time.Now()
	base := standardClaims(iss.URL)
	published := iss.SigningKey()

	pubDER, err := x509.MarshalPKIXPublicKey(published.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	hs256 := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(base))
		tok.Header["kid"] = published.ID
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(base))
		tok.Header["kid"] = published.ID
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A forged token: signed by another key under the published kid.
	forger := testissuer.NewKey(t, "RS256")
	forger.ID = published.ID
	// A valid token with its payload swapped for one granting more.
	valid := iss.Mint(t, base)
	parts := strings.Split(valid, ".")
	grander := strings.Split(iss.Mint(t, with(base, testissuer.Claims{"scope": "kanban.admin"})), ".")
	tampered := parts[0] + "." + grander[1] + "." + parts[2]

	tests := []struct {
		name     string
		token    string
		wantDesc string // "" means accepted
	}{
		{"valid", valid, ""},
		{"typ JWT (Auth0)", testissuer.MintWith(t, published, base, map[string]any{"typ": "JWT"}), ""},
		{"typ application/at+jwt", testissuer.MintWith(t, published, base, map[string]any{"typ": "application/at+jwt"}), ""},
		{"no typ", testissuer.MintWith(t, published, base, map[string]any{"typ": nil}), ""},
		{"aud array holding ours", iss.Mint(t, with(base, testissuer.Claims{"aud": []string{"https://other.example", testAudience}})), ""},
		{"expired within the leeway", iss.Mint(t, with(base, testissuer.Claims{"exp": now.Add(-10 * time.Second).Unix()})), ""},
		{"expired", iss.Mint(t, with(base, testissuer.Claims{"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})), descExpired},
		{"expired beyond the leeway", iss.Mint(t, with(base, testissuer.Claims{"exp": now.Add(-2 * time.Minute).Unix()})), descExpired},
		{"nbf in the future", iss.Mint(t, with(base, testissuer.Claims{"nbf": now.Add(time.Hour).Unix()})), descNotYet},
		{"no exp", iss.Mint(t, with(base, testissuer.Claims{"exp": nil})), descNoExp},
		{"wrong issuer", iss.Mint(t, with(base, testissuer.Claims{"iss": "https://evil.example"})), descIssuer},
		{"issuer with an added slash", iss.Mint(t, with(base, testissuer.Claims{"iss": iss.URL + "/"})), descIssuer},
		{"wrong audience", iss.Mint(t, with(base, testissuer.Claims{"aud": "https://other.example/mcp"})), descAudience},
		{"audience with a trailing slash", iss.Mint(t, with(base, testissuer.Claims{"aud": testAudience + "/"})), descAudience},
		{"alg none", none(), descSignature},
		{"HS256 with the public key PEM", hs256(pubPEM), descSignature},
		{"HS256 with the public key DER", hs256(pubDER), descSignature},
		{"forged signature under the published kid", testissuer.MintWith(t, forger, base, nil), descSignature},
		{"tampered payload", tampered, descSignature},
		{"ES256 from a key not published", testissuer.MintWith(t, testissuer.NewKey(t, "ES256"), base, nil), descUnknownKey},
		{"PS256 under the kid of a published RS256 key", testissuer.MintWith(t, testissuer.Key{ID: published.ID, Alg: "PS256", Private: published.Private}, base, nil), descUnverifiable},
		{"malformed", "not.a.jwt", descMalformed},
		{"two segments", "abc.def", descMalformed},
		{"empty", "", descMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Sequential: the unknown-kid case starts a fetch.
			p, err := v.Verify(t.Context(), tt.token)
			if tt.wantDesc == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Subject != "user-1" || p.Issuer != iss.URL {
					t.Errorf("principal = %+v, want user-1 at %s", p, iss.URL)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = %+v, want refused with %q", p, tt.wantDesc)
			}
			if got := tokenError(t, err).Description; got != tt.wantDesc {
				t.Errorf("Description = %q, want %q", got, tt.wantDesc)
			}
			// The metrics' word for the refusal goes with its description.
			if got, want := tokenError(t, err).Reason, reasonOf[tt.wantDesc]; got != want || want == "" {
				t.Errorf("Reason = %q, want %q", got, want)
			}
			if strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Error("the error message contains the token")
			}
		})
	}
}

// TestVerifierMissingClaimDescription: a token without iss or aud is
// refused, and its description must not blame a claim the token has.
func TestVerifierMissingClaimDescription(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{}, auth.KeyTiming{})
	for _, claim := range []string{"iss", "aud"} {
		tok := iss.Mint(t, with(standardClaims(iss.URL), testissuer.Claims{claim: nil}))
		p, err := v.Verify(t.Context(), tok)
		if err == nil {
			t.Errorf("token without %s accepted: %+v", claim, p)
			continue
		}
		if got := tokenError(t, err).Description; got == descNoExp {
			t.Errorf("token without %s (but with exp): Description = %q, which names exp as the missing claim", claim, got)
		}
	}
}

// TestVerifierUnknownKeyDescription: an unknown kid is described the same
// way whether or not it caused a fetch.
func TestVerifierUnknownKeyDescription(t *testing.T) {
	t.Parallel()
	iss, v := issuerVerifier(t, testissuer.Options{}, auth.KeyTiming{UnknownKID: time.Hour})
	for i, label := range []string{"first (fetches)", "second (rate-limited)"} {
		tok := testissuer.MintWith(t, testissuer.NewKey(t, "RS256"), standardClaims(iss.URL), nil)
		_, err := v.Verify(t.Context(), tok)
		if got := tokenError(t, err).Description; got != descUnknownKey {
			t.Errorf("unknown kid #%d, %s: Description = %q, want %q", i+1, label, got, descUnknownKey)
		}
	}
}

// TestVerifierAcceptedAlgorithms: RS256, PS256, ES256 and EdDSA tokens from
// published keys are accepted.
func TestVerifierAcceptedAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "PS256", "ES256"} {
		t.Run(alg+" via discovery", func(t *testing.T) {
			t.Parallel()
			iss, v := issuerVerifier(t, testissuer.Options{Alg: alg}, auth.KeyTiming{})
			if got := iss.SigningKey().Alg; got != alg {
				t.Fatalf("issuer signs with %s, want %s", got, alg)
			}
			if _, err := v.Verify(t.Context(), iss.Mint(t, standardClaims(iss.URL))); err != nil {
				t.Errorf("%s token from a published key: %v", alg, err)
			}
		})
	}
	t.Run("all four from one JWKS", func(t *testing.T) {
		t.Parallel()
		keys := []testissuer.Key{
			testissuer.NewKey(t, "RS256"),
			testissuer.NewKey(t, "PS256"),
			testissuer.NewKey(t, "ES256"),
			newEd25519Key(t),
		}
		srv := newJWKSServer(t, keys...)
		const issuer = "https://issuer.example/"
		v := newVerifier(t, auth.VerifierConfig{Issuer: issuer, JWKSURL: srv.URL + "/keys"})
		waitReady(t, v)
		for _, k := range keys {
			p, err := v.Verify(t.Context(), testissuer.MintWith(t, k, standardClaims(issuer), nil))
			if err != nil {
				t.Errorf("%s token from a published key: %v", k.Alg, err)
				continue
			}
			if p.Issuer != issuer {
				t.Errorf("%s: Issuer = %q, want %q", k.Alg, p.Issuer, issuer)
			}
		}
		// An EdDSA token from an unpublished Ed25519 key is refused.
		stranger := newEd25519Key(t)
		stranger.ID = "ed-stranger"
		if _, err := v.Verify(t.Context(), testissuer.MintWith(t, stranger, standardClaims(issuer), nil)); err == nil {
			t.Error("EdDSA token from an unpublished key accepted")
		}
		// And one signed by another key under the published kid too.
		forged := newEd25519Key(t)
		if _, err := v.Verify(t.Context(), testissuer.MintWith(t, forged, standardClaims(issuer), nil)); err == nil {
			t.Error("EdDSA token with a forged signature accepted")
		}
	})
}

// TestVerifierReadsGrantID: the built-in authorization server names a
// token's grant in auth.GrantIDClaim; the principal carries it so that the
// grant's revocation can refuse the token.
func TestVerifierReadsGrantID(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL})
	waitReady(t, v)
	p, err := v.Verify(t.Context(), iss.Mint(t, with(standardClaims(iss.URL), testissuer.Claims{auth.GrantIDClaim: "g_123"})))
	if err != nil {
		t.Fatal(err)
	}
	if p.GrantID != "g_123" {
		t.Errorf("GrantID = %q, want g_123", p.GrantID)
	}
}

// TestVerifierExtraAudiences: one verifier accepts tokens for each of its
// audiences, says which one a token is for, refuses any other, and logs no
// mismatch for a token it accepts.
func TestVerifierExtraAudiences(t *testing.T) {
	iss := testissuer.New(t, testissuer.Options{})
	const other = "https://reports.example/mcp"
	var log syncbuf.Buffer
	v := newVerifier(t, auth.VerifierConfig{Issuer: iss.URL, ExtraAudiences: []string{other},
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	waitReady(t, v)
	tests := []struct {
		aud     any
		want    string // the principal's Audience; "" means refused
		wantErr string
	}{
		{testAudience, testAudience, ""},
		{other, other, ""},
		{[]string{"https://unrelated.example", other}, other, ""},
		{[]string{other, testAudience}, testAudience, ""}, // Audience first
		{"https://unrelated.example/mcp", "", "different audience"},
	}
	for _, tt := range tests {
		c := iss.Standard(testAudience, "user-1", "agent-1", "kanban.read")
		c["aud"] = tt.aud
		p, err := v.Verify(t.Context(), iss.Mint(t, c))
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("aud %v: %v, want a refusal mentioning %q", tt.aud, err, tt.wantErr)
			}
			continue
		}
		if err != nil || p.Audience != tt.want {
			t.Errorf("aud %v: principal %+v, %v; want Audience %s", tt.aud, p, err, tt.want)
		}
	}
	if n := strings.Count(log.String(), "audience mismatch"); n != 1 {
		t.Errorf("the log has %d audience mismatches, want 1 (the refused token only):\n%s", n, log.String())
	}
	// A client ID equal to any accepted audience marks an ID token.
	c := iss.Standard(other, "user-1", other, "kanban.read")
	if _, err := v.Verify(t.Context(), iss.Mint(t, c)); err == nil {
		t.Error("a token whose client is one of the audiences (an ID token?) was accepted")
	}
}
