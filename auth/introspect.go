package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// ErrCheckUnavailable means a token could not be checked for a reason of
// ours (a store or an endpoint that does not answer). Like
// ErrKeysUnavailable it is the server's problem, not the token's: it is
// answered 503, never with a 401 that would make a client throw a good
// token away.
var ErrCheckUnavailable = errors.New("the access token cannot be checked right now")

// ErrIntrospectionUnavailable means the introspection endpoint could not
// answer (down, slow, or refusing our own credentials); it is an
// ErrCheckUnavailable.
var ErrIntrospectionUnavailable = fmt.Errorf("%w: the authorization server's introspection endpoint did not answer", ErrCheckUnavailable)

// ByShape verifies a token that looks like a JWT (three dot-separated
// parts) with JWT and any other with Opaque: a resource server whose
// issuer hands out both.
type ByShape struct {
	JWT, Opaque TokenVerifier
}

// Verify is TokenVerifier.
func (b ByShape) Verify(ctx context.Context, raw string) (*Principal, error) {
	if LooksLikeJWT(raw) {
		return b.JWT.Verify(ctx, raw)
	}
	return b.Opaque.Verify(ctx, raw)
}

// LooksLikeJWT reports whether raw has a JWS compact serialization's
// shape; whether it is one, its verifier says.
func LooksLikeJWT(raw string) bool { return strings.Count(raw, ".") == 2 }

// Introspection modes (OAUTH_INTROSPECT). The Introspector itself asks
// about every token it is given; auto mode puts it behind ByShape, as the
// Opaque side of a local JWT verifier.
const (
	// IntrospectAuto introspects the tokens that are not JWTs and verifies
	// JWTs locally.
	IntrospectAuto = "auto"
	// IntrospectAlways introspects every token.
	IntrospectAlways = "always"
)

// IntrospectorConfig configures token introspection (RFC 7662).
type IntrospectorConfig struct {
	URL          string // the issuer's introspection endpoint
	ClientID     string // our client at the issuer (client_secret_basic)
	ClientSecret string
	// Issuer is compared with an answer's iss when it has one.
	Issuer string
	// Audience is this resource: an answer's aud must contain it, unless
	// SkipAudienceCheck (for a provider whose answers carry no aud).
	Audience          string
	SkipAudienceCheck bool
	ScopeClaim        string // as VerifierConfig.ScopeClaim
	// CacheTTL bounds how long an active answer is reused (it never
	// outlives the token's exp); InactiveTTL how long a refusal is.
	CacheTTL    time.Duration
	InactiveTTL time.Duration
	HTTPClient  *http.Client // with a timeout; nil: 5 s
	// Transport carries the requests of the default client (HTTPClient
	// nil): a traced one, for instance; nil: Go's default.
	Transport http.RoundTripper
	Now       func() time.Time
	Logger    *slog.Logger
	// Metrics counts the cache's hits and misses; nil counts nothing.
	Metrics *metrics.Auth
}

// Introspector is a TokenVerifier that asks the issuer about tokens it
// cannot read (RFC 7662). Answers are cached by the token's SHA-256, so a
// cached token costs what a cached JWT does, and concurrent first uses of
// one token make one request.
type Introspector struct {
	cfg   IntrospectorConfig
	group singleflight.Group

	cache *expiringCache[introspected]
}

// introspected is a cached verdict: a principal, or why the token is
// refused, until its time.
type introspected struct {
	p      *Principal
	reject *TokenError
	until  time.Time
}

// maxIntrospected bounds the cache: past it, expired entries are dropped,
// then refusals, and if that is not enough, all of them (the next uses ask
// again).
const maxIntrospected = 10000

// NewIntrospector checks cfg and returns an Introspector.
func NewIntrospector(cfg IntrospectorConfig) (*Introspector, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("introspection URL %q is not an http(s) URL", cfg.URL)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("introspection needs a client ID and secret")
	}
	if cfg.Audience == "" && !cfg.SkipAudienceCheck {
		return nil, errors.New("introspection needs the audience to check, or SkipAudienceCheck")
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 60 * time.Second
	}
	if cfg.InactiveTTL <= 0 {
		cfg.InactiveTTL = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:   5 * time.Second,
			Transport: cfg.Transport,
			// A redirect would send the token again, maybe elsewhere: an
			// answer that is not the endpoint's own is no answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	refusal := func(v introspected) bool { return v.reject != nil }
	return &Introspector{cfg: cfg, cache: newExpiringCache(maxIntrospected, cfg.Now, refusal)}, nil
}

// Verify returns the principal of raw, from the cache or from the issuer.
// Failures are *TokenError, or ErrIntrospectionUnavailable when the issuer
// could not say.
func (i *Introspector) Verify(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > maxTokenBytes {
		return nil, &TokenError{Description: "The access token is too large.", Reason: ResultMalformed}
	}
	key := sha256.Sum256([]byte(raw))
	v, ok := i.cache.get(key)
	i.cfg.Metrics.CacheLookup(metrics.CacheIntrospection, ok)
	if ok {
		return v.p, v.reject.orNil()
	}
	return i.miss(ctx, key, raw)
}

// miss asks the issuer about a token that is not in the cache. It is
// apart from Verify so that the cache hit allocates nothing: the key that
// the request's closure captures escapes to the heap.
func (i *Introspector) miss(ctx context.Context, key [32]byte, raw string) (*Principal, error) {
	// Concurrent first uses of a token share one request, which outlives
	// any one caller's cancellation; a caller that goes away stops waiting.
	ch := i.group.DoChan(string(key[:]), func() (any, error) {
		// A request that ended between this caller's cache miss and now
		// has left its answer in the cache.
		if v, ok := i.cache.get(key); ok {
			return v, nil
		}
		v, err := i.introspect(context.WithoutCancel(ctx), raw)
		if err != nil {
			return nil, err
		}
		i.cache.put(key, v, v.until)
		return v, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrIntrospectionUnavailable, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		v := res.Val.(introspected)
		return v.p, v.reject.orNil()
	}
}

// orNil returns e as an error, nil when e is nil (a typed nil would not
// compare equal to nil).
func (e *TokenError) orNil() error {
	if e == nil {
		return nil
	}
	return e
}

// introspectionAnswer is what an RFC 7662 answer may hold that we read.
// Most members are optional; the scope claims are kept raw, as for JWTs.
type introspectionAnswer struct {
	Active      bool            `json:"active"`
	Scope       json.RawMessage `json:"scope"`
	Scp         json.RawMessage `json:"scp"`
	Permissions json.RawMessage `json:"permissions"`
	ClientID    string          `json:"client_id"`
	Subject     string          `json:"sub"`
	Audience    json.RawMessage `json:"aud"`
	Issuer      string          `json:"iss"`
	ExpiresAt   json.RawMessage `json:"exp"`
	NotBefore   json.RawMessage `json:"nbf"`
	TokenType   string          `json:"token_type"`
	TokenID     string          `json:"jti"`
}

// maxIntrospectionAnswer bounds what is read of an answer.
const maxIntrospectionAnswer = 64 << 10

// introspect asks the issuer about raw and judges the answer. An error is
// ErrIntrospectionUnavailable; a verdict, either way, is an introspected.
func (i *Introspector) introspect(ctx context.Context, raw string) (introspected, error) {
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return introspected{}, fmt.Errorf("%w: %v", ErrIntrospectionUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 7617 with RFC 6749 §2.3.1's form-encoding of the two parts.
	req.SetBasicAuth(url.QueryEscape(i.cfg.ClientID), url.QueryEscape(i.cfg.ClientSecret))
	resp, err := i.cfg.HTTPClient.Do(req)
	if err != nil {
		i.cfg.Logger.ErrorContext(ctx, "introspection request failed", "url", i.cfg.URL, "err", err)
		return introspected{}, fmt.Errorf("%w: %v", ErrIntrospectionUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionAnswer+1))
	if err != nil || len(body) > maxIntrospectionAnswer {
		i.cfg.Logger.ErrorContext(ctx, "introspection answer unreadable or too large", "url", i.cfg.URL, "status", resp.StatusCode, "err", err)
		return introspected{}, ErrIntrospectionUnavailable
	}
	if resp.StatusCode != http.StatusOK {
		// 401 means our own credentials are wrong: the operator's problem,
		// which no client should pay for by discarding its token.
		i.cfg.Logger.ErrorContext(ctx, "introspection refused", "url", i.cfg.URL, "status", resp.StatusCode)
		return introspected{}, fmt.Errorf("%w: HTTP %d", ErrIntrospectionUnavailable, resp.StatusCode)
	}
	var a introspectionAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		i.cfg.Logger.ErrorContext(ctx, "introspection answer is not JSON", "url", i.cfg.URL, "err", err)
		return introspected{}, ErrIntrospectionUnavailable
	}
	now := i.cfg.Now()
	p, reject := i.judge(a, now)
	if reject != nil {
		i.cfg.Logger.InfoContext(ctx, "access token refused by introspection", "reason", reject.Description)
		return introspected{reject: reject, until: now.Add(i.cfg.InactiveTTL)}, nil
	}
	until := now.Add(i.cfg.CacheTTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	return introspected{p: p, until: until}, nil
}

// judge checks an answer as strictly as RFC 7662 allows: active must be
// true; aud must contain the resource (unless the check is off); iss, exp,
// nbf and token_type are checked when present; sub is required, since
// every call acts for someone.
func (i *Introspector) judge(a introspectionAnswer, now time.Time) (*Principal, *TokenError) {
	if !a.Active {
		return nil, &TokenError{Description: "The access token is not active: the authorization server says it is expired, revoked or unknown.", Reason: ResultInactive}
	}
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "Bearer") && !strings.EqualFold(a.TokenType, "access_token") {
		return nil, &TokenError{Description: "The token is not an access token.", Reason: ResultWrongAudience}
	}
	if a.Issuer != "" && i.cfg.Issuer != "" && a.Issuer != i.cfg.Issuer {
		return nil, &TokenError{Description: "The access token was issued by a different issuer.", Reason: ResultWrongIssuer}
	}
	if !i.cfg.SkipAudienceCheck {
		audiences, ok := stringOrStrings(a.Audience)
		if !ok {
			return nil, &TokenError{Description: "The introspection answer's audience is malformed.", Reason: ResultMalformed}
		}
		if !slices.Contains(audiences, i.cfg.Audience) {
			i.cfg.Logger.Info("introspected token audience mismatch", "expected", i.cfg.Audience, "found", audiences)
			return nil, &TokenError{Description: "The access token is meant for a different audience.", Reason: ResultWrongAudience}
		}
	}
	exp, ok := numericDate(a.ExpiresAt)
	if !ok {
		return nil, &TokenError{Description: "The introspection answer's exp is malformed.", Reason: ResultMalformed}
	}
	if !exp.IsZero() && !now.Before(exp) {
		return nil, &TokenError{Description: "The access token has expired.", Reason: ResultExpired}
	}
	nbf, ok := numericDate(a.NotBefore)
	if !ok {
		return nil, &TokenError{Description: "The introspection answer's nbf is malformed.", Reason: ResultMalformed}
	}
	if !nbf.IsZero() && now.Before(nbf) {
		return nil, &TokenError{Description: "The access token is not valid yet.", Reason: ResultNotYetValid}
	}
	if a.Subject == "" {
		return nil, &TokenError{Description: "The access token has no subject (sub).", Reason: ResultMissingClaim}
	}
	scopes, err := chooseScopes(i.cfg.ScopeClaim, a.Scope, a.Scp, a.Permissions)
	if err != nil {
		return nil, &TokenError{Description: "The access token's scope claim is malformed.", Reason: ResultMalformed, err: err}
	}
	return &Principal{
		Issuer:    firstNonEmpty(a.Issuer, i.cfg.Issuer),
		Subject:   a.Subject,
		ClientID:  a.ClientID,
		Scopes:    scopes,
		TokenID:   a.TokenID,
		ExpiresAt: exp,
	}, nil
}

// stringOrStrings reads a JSON string or array of strings (aud); absent
// is an empty list.
func stringOrStrings(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, true
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, true
	}
	return nil, false
}

// numericDate reads a NumericDate (seconds since the epoch, maybe with a
// fraction); absent is the zero time.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, true
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}
