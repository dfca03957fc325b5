// Package testissuer is a real OAuth issuer for tests: an httptest server
// on loopback that publishes OpenID discovery and a JWKS, and mints tokens
// signed with real keys. It can rotate keys, go down, and mint the claim
// shapes of Auth0, Okta, Entra and RFC 9068 issuers.
package testissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Key is a signing key with its kid and algorithm.
type Key struct {
	ID      string
	Alg     string // RS256, PS256 or ES256
	Private crypto.Signer
}

// Issuer is a running test issuer.
type Issuer struct {
	Server *httptest.Server
	// URL is the issuer identifier (the server's URL, plus Suffix).
	URL string

	mu        sync.Mutex
	published []Key // in the JWKS
	signing   Key   // signs new tokens
	down      atomic.Bool
	jwksHits  atomic.Int64
	login     loginState // see login.go
}

// Options tune New.
type Options struct {
	// Suffix is appended to the server URL to form the issuer, e.g. "/"
	// for an Auth0-style issuer with a trailing slash.
	Suffix string
	// Alg of the first key; default RS256.
	Alg string
}

// New starts an issuer with one key; it stops when the test ends.
func New(t testing.TB, opts Options) *Issuer {
	t.Helper()
	iss := &Issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if iss.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		doc := map[string]any{"issuer": iss.URL, "jwks_uri": iss.Server.URL + "/jwks.json"}
		if iss.loginEnabled() {
			doc["authorization_endpoint"] = iss.Server.URL + "/authorize"
			doc["token_endpoint"] = iss.Server.URL + "/token"
			doc["userinfo_endpoint"] = iss.Server.URL + "/userinfo"
			doc["response_types_supported"] = []string{"code"}
			doc["id_token_signing_alg_values_supported"] = []string{iss.SigningKey().Alg}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	})
	iss.routeLogin(mux)
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		iss.jwksHits.Add(1)
		if iss.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, err := iss.JWKS()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	// Every field is set before the server starts: a request (from another
	// process, say) may arrive the moment it listens.
	iss.Server = httptest.NewUnstartedServer(mux)
	iss.URL = "http://" + iss.Server.Listener.Addr().String() + opts.Suffix
	alg := opts.Alg
	if alg == "" {
		alg = "RS256"
	}
	k := NewKey(t, alg)
	iss.published = []Key{k}
	iss.signing = k
	iss.Server.Start()
	t.Cleanup(iss.Server.Close)
	return iss
}

// NewKey generates a key for alg (RS256, PS256 or ES256) with a random kid.
func NewKey(t testing.TB, alg string) Key {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("testissuer: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatalf("testissuer: generate key: %v", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return Key{ID: fmt.Sprintf("k-%x", id), Alg: alg, Private: priv}
}

// JWKS returns the published key set as JSON.
func (iss *Issuer) JWKS() ([]byte, error) {
	iss.mu.Lock()
	keys := append([]Key(nil), iss.published...)
	iss.mu.Unlock()
	set := jwkset.JWKSMarshal{}
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.Private.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.ID, ALG: jwkset.ALG(k.Alg), USE: jwkset.UseSig},
		})
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	return json.Marshal(set)
}

// Rotate publishes a new key (keeping the old ones published) and signs
// with it from now on. It returns the new key.
func (iss *Issuer) Rotate(t testing.TB) Key {
	k := NewKey(t, iss.signing.Alg)
	iss.mu.Lock()
	iss.published = append(iss.published, k)
	iss.signing = k
	iss.mu.Unlock()
	return k
}

// SetDown makes discovery and the JWKS answer 503 (an issuer outage).
func (iss *Issuer) SetDown(down bool) { iss.down.Store(down) }

// JWKSHits counts JWKS requests so far.
func (iss *Issuer) JWKSHits() int64 { return iss.jwksHits.Load() }

// Claims are the claims of a token to mint; a nil value is sent as null
// (delete a key to leave the claim out).
type Claims map[string]any

// Standard returns RFC 9068-style claims for subject and client with a
// space-separated scope, valid for 15 minutes, for audience.
func (iss *Issuer) Standard(audience, subject, clientID, scope string) Claims {
	now := time.Now()
	return Claims{
		"iss":       iss.URL,
		"sub":       subject,
		"aud":       audience,
		"client_id": clientID,
		"scope":     scope,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(15 * time.Minute).Unix(),
		"jti":       fmt.Sprintf("jti-%d", now.UnixNano()),
	}
}

// Mint signs claims with the current signing key (typ at+jwt).
func (iss *Issuer) Mint(t testing.TB, c Claims) string {
	iss.mu.Lock()
	k := iss.signing
	iss.mu.Unlock()
	return MintWith(t, k, c, map[string]any{"typ": "at+jwt"})
}

// MintWith signs claims with key k, adding header fields.
func MintWith(t testing.TB, k Key, c Claims, header map[string]any) string {
	t.Helper()
	s, err := sign(k, c, header)
	if err != nil {
		t.Fatalf("testissuer: sign: %v", err)
	}
	return s
}

// sign is MintWith for callers that cannot fail a test, such as the
// issuer's own handlers, which run off the test's goroutine. A nil header
// value deletes that header field.
func sign(k Key, c Claims, header map[string]any) (string, error) {
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), jwt.MapClaims(c))
	tok.Header["kid"] = k.ID
	for name, v := range header {
		if v == nil {
			delete(tok.Header, name)
			continue
		}
		tok.Header[name] = v
	}
	return tok.SignedString(k.Private)
}

// SigningKey returns the key that signs new tokens.
func (iss *Issuer) SigningKey() Key {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.signing
}
