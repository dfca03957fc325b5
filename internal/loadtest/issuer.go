package loadtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Issuer is an OAuth issuer on loopback for the benchmark: it publishes
// OpenID discovery and a JWKS with one fresh RS256 key, and mints access
// tokens signed with it, so that the server under load verifies real
// signatures against keys it fetched over HTTP, as in production.
type Issuer struct {
	// URL is the issuer identifier, the origin it serves on.
	URL string

	key *rsa.PrivateKey
	kid string
	srv *http.Server
}

// StartIssuer generates a key and starts serving on a free loopback port.
// Close stops it.
func StartIssuer() (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate the issuer's key: %w", err)
	}
	iss := &Issuer{key: key, kid: "bench-" + rand.Text()[:8]}
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: iss.kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("build the JWKS: %w", err)
	}
	jwks, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	if err != nil {
		return nil, fmt.Errorf("encode the JWKS: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("issuer: listen on loopback: %w", err)
	}
	iss.URL = "http://" + ln.Addr().String()
	discovery, err := json.Marshal(map[string]any{
		"issuer":                                iss.URL,
		"jwks_uri":                              iss.URL + "/jwks.json",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("encode the discovery document: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", serveJSON(discovery))
	mux.HandleFunc("GET /jwks.json", serveJSON(jwks))
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = iss.srv.Serve(ln) }() // ends with ErrServerClosed on Close
	return iss, nil
}

func serveJSON(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

// Close stops serving.
func (iss *Issuer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := iss.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop the issuer: %w", err)
	}
	return nil
}

// Grant is what a token says: who, through which client, for which
// resource and scope.
type Grant struct {
	Audience, Subject, ClientID, Scope string
}

// Mint signs an RFC 9068 access token (typ at+jwt) for g, valid for an
// hour from now, with a unique jti.
func (iss *Issuer) Mint(g Grant) (string, error) {
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss":       iss.URL,
		"aud":       g.Audience,
		"sub":       g.Subject,
		"client_id": g.ClientID,
		"scope":     g.Scope,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       rand.Text(),
	})
	tok.Header["kid"] = iss.kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(iss.key)
	if err != nil {
		return "", fmt.Errorf("sign a token: %w", err)
	}
	return s, nil
}
