package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// Scope claim choices for VerifierConfig.ScopeClaim.
const (
	ScopeClaimAuto        = "auto"
	ScopeClaimScope       = "scope"
	ScopeClaimScp         = "scp"
	ScopeClaimPermissions = "permissions"
)

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 30 * time.Second

// maxTokenBytes rejects absurd tokens before any parsing.
const maxTokenBytes = 16 << 10

// allowedAlgorithms is the signing-algorithm allow-list. Never "none", and
// never HS*: a shared-secret algorithm would let anyone holding the
// issuer's public key bytes forge tokens.
func allowedAlgorithms() []string { return []string{"RS256", "PS256", "ES256", "EdDSA"} }

// KeySource supplies the keys that verify an issuer's tokens.
type KeySource interface {
	// Keyfunc returns the jwt.Keyfunc to use for one request.
	Keyfunc(ctx context.Context) jwt.Keyfunc
	// Ready reports whether keys are loaded.
	Ready() bool
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Issuer   string // compared with iss exactly, never normalised
	Audience string // must be one of aud
	// ExtraAudiences are accepted as well as Audience: the built-in
	// authorization server checks, with one verifier, tokens it issued for
	// any of its resources. Principal.Audience says which one a token is
	// for.
	ExtraAudiences []string
	JWKSURL        string // optional; skips discovery
	ScopeClaim     string // one of the ScopeClaim* constants; "" means auto
	HTTPClient     *http.Client
	Timing         KeyTiming
	Logger         *slog.Logger
	// Keys, when set, replaces fetching keys from the issuer (the built-in
	// authorization server feeds its key table in directly).
	Keys KeySource
	// CacheEntries bounds the cache of verified tokens; 0 means
	// DefaultTokenCacheEntries and a negative value turns the cache off.
	CacheEntries int
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
	// Metrics counts the cache's hits and misses, and KeyMetrics the
	// fetches of the issuer's keys; nil counts nothing.
	Metrics    *metrics.Auth
	KeyMetrics *metrics.Keys
	// Transport carries the fetches of the issuer's metadata and keys
	// when HTTPClient is nil (a traced one, for instance); nil: Go's
	// default.
	Transport http.RoundTripper
}

// audiences are the audiences a token may be for: Audience first.
func (c VerifierConfig) audiences() []string {
	return append([]string{c.Audience}, c.ExtraAudiences...)
}

// accepted returns the first of the accepted audiences that aud holds.
func (c VerifierConfig) accepted(aud []string) string {
	for _, a := range c.audiences() {
		if slices.Contains(aud, a) {
			return a
		}
	}
	return ""
}

// DefaultTokenCacheEntries is the verified-token cache's default bound:
// about 10 MB of principals at most.
const DefaultTokenCacheEntries = 20_000

// Verifier checks access tokens (JWTs) and turns them into principals.
type Verifier struct {
	cfg    VerifierConfig
	keys   KeySource
	parser *jwt.Parser
	log    *slog.Logger
	cache  *tokenCache
}

// NewVerifier returns a verifier for cfg. Unless cfg.Keys is set, it
// starts loading the issuer's keys in the background, stopping when ctx
// ends; Ready reports when they are loaded.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("verifier needs an issuer and an audience")
	}
	switch cfg.ScopeClaim {
	case "":
		cfg.ScopeClaim = ScopeClaimAuto
	case ScopeClaimAuto, ScopeClaimScope, ScopeClaimScp, ScopeClaimPermissions:
	default:
		return nil, fmt.Errorf("unknown scope claim %q", cfg.ScopeClaim)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keys := cfg.Keys
	if keys == nil {
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second, Transport: cfg.Transport}
		}
		rk, err := newRemoteKeys(ctx, cfg.Issuer, cfg.JWKSURL, client, cfg.Timing, log, cfg.KeyMetrics)
		if err != nil {
			return nil, err
		}
		keys = rk
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheEntries == 0 {
		cfg.CacheEntries = DefaultTokenCacheEntries
	}
	return &Verifier{
		cfg:   cfg,
		keys:  keys,
		log:   log,
		cache: newTokenCache(cfg.CacheEntries, cfg.Now),
		parser: jwt.NewParser(
			jwt.WithValidMethods(allowedAlgorithms()),
			jwt.WithIssuer(cfg.Issuer),
			// Any one of them (jwt/v5.3's WithAudience).
			jwt.WithAudience(cfg.audiences()...),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
	}, nil
}

// Ready reports whether the verifier has keys to verify with.
func (v *Verifier) Ready() bool { return v.keys.Ready() }

// Issuer returns the issuer whose tokens v accepts.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// ErrKeysUnavailable means a token could not be checked because the
// issuer's keys have not loaded yet (the issuer was unreachable since
// start-up). It is the server's problem, not the token's, so it must not
// make a client throw its token away.
var ErrKeysUnavailable = errors.New("the issuer's signing keys are not loaded yet")

// TokenError says why a token was refused. Its message is safe to send to
// the client: it names the failed check, never the token or key material.
type TokenError struct {
	Description string
	// Reason is one of the Result* words, for metrics; "" counts as
	// ResultInvalid.
	Reason string
	err    error
}

func (e *TokenError) Error() string { return e.Description }
func (e *TokenError) Unwrap() error { return e.err }

// claims is every claim we read. The scope claims are kept raw: their
// presence decides which one counts, and their shape differs by issuer.
type claims struct {
	jwt.RegisteredClaims
	Scope       json.RawMessage `json:"scope,omitempty"`
	Scp         json.RawMessage `json:"scp,omitempty"`
	Permissions json.RawMessage `json:"permissions,omitempty"`
	ClientID    string          `json:"client_id,omitempty"`
	Azp         string          `json:"azp,omitempty"`
	Cid         string          `json:"cid,omitempty"`
	AppID       string          `json:"appid,omitempty"`
	GrantID     string          `json:"grant_id,omitempty"`
}

// Verify checks raw and returns its principal. Every failure is a
// *TokenError. A token that verified before and has not expired is
// answered from the cache of verified tokens.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > maxTokenBytes {
		return nil, &TokenError{Description: "The access token is too large.", Reason: ResultMalformed}
	}
	key := sha256.Sum256([]byte(raw))
	p, ok := v.cache.get(key)
	v.cfg.Metrics.CacheLookup(metrics.CacheToken, ok)
	if ok {
		return p, nil
	}
	p, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, p)
	return p, nil
}

// verify is Verify without the cache: the signature and every claim.
func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(raw, &c, v.keys.Keyfunc(ctx))
	if err != nil && errors.Is(err, errUnknownKey) && !v.keys.Ready() {
		// Nothing is known to be wrong with the token: we have no keys yet.
		return nil, ErrKeysUnavailable
	}
	if err != nil {
		te := v.describe(err, &c)
		v.log.InfoContext(ctx, "access token refused", "reason", te.Description, "err", err,
			"expected_issuer", v.cfg.Issuer, "expected_audience", v.cfg.audiences())
		return nil, te
	}
	if c.Subject == "" {
		return nil, &TokenError{Description: "The access token has no subject (sub).", Reason: ResultMissingClaim}
	}
	clientID := firstNonEmpty(c.ClientID, c.Azp, c.Cid, c.AppID)
	// An ID token names its client as the audience. The audience check
	// already refuses it unless someone configured the client ID as our
	// audience; this closes that gap too.
	audience := v.cfg.accepted(c.Audience)
	if clientID != "" && slices.Contains(v.cfg.audiences(), clientID) {
		return nil, &TokenError{Description: "The token was issued to the client itself (an ID token?), not as an access token for this server.", Reason: ResultWrongAudience}
	}
	scopes, err := v.scopes(&c)
	if err != nil {
		return nil, &TokenError{Description: "The access token's scope claim is malformed.", Reason: ResultMalformed, err: err}
	}
	p := &Principal{
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		ClientID: clientID,
		Scopes:   scopes,
		TokenID:  c.ID,
		GrantID:  c.GrantID,
		Audience: audience,
	}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	return p, nil
}

// describe turns a parser error into a client-safe TokenError. For an
// audience mismatch it logs which audience the token carried, because that
// is the most common misconfiguration of all.
func (v *Verifier) describe(err error, c *claims) *TokenError {
	d, reason := "The access token is not valid.", ResultInvalid
	switch {
	case errors.Is(err, errUnknownKey), errors.Is(err, jwkset.ErrKeyNotFound):
		// The second form comes from key sources other than remoteKeys
		// (the built-in authorization server's key table).
		d, reason = "The access token was signed with a key this server does not know.", ResultUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		d, reason = "The access token is malformed.", ResultMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		d, reason = "The access token's signature is not valid.", ResultBadSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		d, reason = "The access token cannot be verified: its algorithm or key is not accepted.", ResultUnverifiable
	case errors.Is(err, jwt.ErrTokenExpired):
		d, reason = "The access token has expired.", ResultExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		d, reason = "The access token is not valid yet.", ResultNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		d, reason = "The access token lacks a required claim ("+missingClaim(c)+").", ResultMissingClaim
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		d, reason = "The access token was issued by a different issuer.", ResultWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		d, reason = "The access token is meant for a different audience.", ResultWrongAudience
		v.log.Info("access token audience mismatch", "expected", v.cfg.audiences(), "found", []string(c.Audience))
	}
	return &TokenError{Description: d, Reason: reason, err: err}
}

// missingClaim names the required claim that c lacks.
func missingClaim(c *claims) string {
	switch {
	case c.Issuer == "":
		return "iss"
	case len(c.Audience) == 0:
		return "aud"
	case c.ExpiresAt == nil:
		return "exp"
	}
	return "exp, iss or aud"
}

// scopes reads the scope claim chosen by the configuration. With "auto"
// the first present claim of scope, scp, permissions wins, by presence
// alone: claims are never merged, so an Auth0 token whose scope names none
// of ours cannot fall through to permissions and gain what the person never
// consented to.
func (v *Verifier) scopes(c *claims) (Scopes, error) {
	return chooseScopes(v.cfg.ScopeClaim, c.Scope, c.Scp, c.Permissions)
}

// chooseScopes reads the scope claim that choice names (a ScopeClaim*
// constant), or with auto the first of scope, scp and permissions that is
// present. Introspection answers are read the same way.
func chooseScopes(choice string, scope, scp, permissions json.RawMessage) (Scopes, error) {
	switch choice {
	case ScopeClaimScope:
		return parseScopeClaim(scope)
	case ScopeClaimScp:
		return parseScopeClaim(scp)
	case ScopeClaimPermissions:
		return parseScopeClaim(permissions)
	}
	for _, raw := range []json.RawMessage{scope, scp, permissions} {
		if len(raw) > 0 {
			return parseScopeClaim(raw)
		}
	}
	return nil, nil
}

// parseScopeClaim accepts a space-separated string (RFC 9068, Entra's scp)
// or an array of strings (Okta's scp, Auth0's permissions).
func parseScopeClaim(raw json.RawMessage) (Scopes, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return ParseScopes(s), nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("scope claim is neither a string nor an array of strings")
	}
	var out Scopes
	for _, item := range list {
		out = append(out, strings.Fields(item)...)
	}
	return out, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
