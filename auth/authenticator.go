package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// TokenVerifier turns a raw access token into a principal. *Verifier is
// the implementation; failures are *TokenError.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*Principal, error)
}

// RevocationChecker is the narrow hook through which revocation reaches
// token checking: the operator blocklist (and, later, the built-in
// authorization server's grants) answer it.
type RevocationChecker interface {
	// Revoked reports whether access of p must be refused now.
	Revoked(ctx context.Context, p *Principal) (bool, error)
}

// Authenticator reads the bearer token of a request and refuses requests
// whose token is present but bad.
type Authenticator struct {
	// Verifier checks tokens; nil means no issuer is configured, so every
	// token is refused.
	Verifier    TokenVerifier
	Revocations RevocationChecker // may be nil
	// ResourceMetadata is the URL of the protected-resource metadata, sent
	// in every challenge.
	ResourceMetadata string
	Logger           *slog.Logger
	// Metrics counts each request's result (Result*); nil counts nothing.
	Metrics *metrics.Auth
}

// Authenticate returns the request's principal, nil when it carries no
// bearer token. A refused request whose token was valid but revoked still
// returns its principal, for the audit trail. When the request must be refused (a malformed Authorization
// header, a token in the URL, a bad, expired or revoked token) it writes the
// refusal and returns ok false: 401 invalid_token for a bad token on any
// method, 400 invalid_request for a malformed request (RFC 6750 §3.1), and
// 503 when the token cannot be checked for a reason of ours (no keys yet,
// an introspection endpoint that does not answer, a failed revocation
// lookup).
func (a *Authenticator) Authenticate(w http.ResponseWriter, r *http.Request) (p *Principal, ok bool) {
	if r.URL.Query().Has("access_token") {
		// Tokens in URLs end up in logs and browser history; refuse them
		// loudly instead of silently treating the request as anonymous.
		a.Metrics.Result(ResultBadRequest)
		a.refuse(w, http.StatusBadRequest, ErrInvalidRequest,
			"Access tokens are not accepted in the URL; send them in the Authorization header.")
		return nil, false
	}
	raw, present, wellFormed := bearerToken(r.Header.Values("Authorization"))
	if !present {
		// No header, or another scheme (Basic, DPoP, …): no bearer token,
		// so the request is anonymous and protected tools will challenge
		// it (RFC 6750 §3.1: no error code for an unsupported method).
		if values := r.Header.Values("Authorization"); len(values) > 0 {
			a.logger().DebugContext(r.Context(), "Authorization header without the Bearer scheme; the request is anonymous",
				"scheme", schemeName(values[0]))
		}
		a.Metrics.Result(ResultNone)
		return nil, true
	}
	if !wellFormed {
		a.Metrics.Result(ResultBadRequest)
		a.refuse(w, http.StatusBadRequest, ErrInvalidRequest,
			`The Authorization header must be a single "Bearer <token>".`)
		return nil, false
	}
	if a.Verifier == nil {
		a.Metrics.Result(ResultNoIssuer)
		a.refuse(w, http.StatusUnauthorized, ErrInvalidToken,
			"This server has no authorization server configured, so it cannot accept any token.")
		return nil, false
	}
	p, err := a.Verifier.Verify(r.Context(), raw)
	if errors.Is(err, ErrKeysUnavailable) {
		a.Metrics.Result(ResultUnavailable)
		unavailable(w, "the authorization server's signing keys are not loaded yet; try again shortly")
		return nil, false
	}
	if errors.Is(err, ErrCheckUnavailable) {
		a.Metrics.Result(ResultUnavailable)
		a.logger().ErrorContext(r.Context(), "access token check unavailable", "err", err)
		unavailable(w, "the access token cannot be checked right now; try again shortly")
		return nil, false
	}
	if err != nil {
		var te *TokenError
		desc, reason := "The access token is not valid.", ResultInvalid
		if errors.As(err, &te) {
			desc = te.Description
			if te.Reason != "" {
				reason = te.Reason
			}
		}
		a.Metrics.Result(reason)
		a.refuse(w, http.StatusUnauthorized, ErrInvalidToken, desc)
		return nil, false
	}
	if a.Revocations != nil {
		revoked, err := a.Revocations.Revoked(r.Context(), p)
		if err != nil {
			// Fail closed, but say it is our problem, not the token's.
			a.Metrics.Result(ResultUnavailable)
			a.logger().ErrorContext(r.Context(), "revocation check failed", "err", err)
			unavailable(w, "the token's revocation cannot be checked right now; try again shortly")
			return nil, false
		}
		if revoked {
			a.Metrics.Result(ResultRevoked)
			a.refuse(w, http.StatusUnauthorized, ErrInvalidToken,
				"Access was revoked for this token (by the operator, by the user, or because the account was disabled); sign in again once access is restored.")
			// The identity is verified, so the caller can audit who was
			// turned away.
			return p, false
		}
	}
	a.Metrics.Result(ResultOK)
	return p, true
}

func (a *Authenticator) refuse(w http.ResponseWriter, status int, code, desc string) {
	Challenge{ResourceMetadata: a.ResourceMetadata, Error: code, Description: desc}.WriteHTTP(w, status)
}

func (a *Authenticator) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// bearerToken looks for a bearer token in the Authorization header values.
// schemeName names the authentication scheme of an Authorization value for
// the log. Only registered scheme names are repeated: anything else may be
// a credential sent without a scheme (a bare token), so it is not logged.
func schemeName(value string) string {
	scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
	switch s := strings.ToLower(scheme); s {
	case "basic", "digest", "dpop", "gnap", "hoba", "mutual", "negotiate", "ntlm", "privatetoken",
		"concealed", "scram-sha-1", "scram-sha-256", "vapid", "aws4-hmac-sha256", "token", "mac", "oauth":
		return s
	case "":
		return "(empty)"
	}
	return "(not a known scheme; not logged)"
}

// present is false when no value uses the Bearer scheme; wellFormed is
// false when one does but the header is not exactly one "Bearer <token>".
// The scheme is case-insensitive (RFC 7235 §2.1).
func bearerToken(values []string) (token string, present, wellFormed bool) {
	for _, v := range values {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Bearer") {
			present = true
		}
	}
	if !present {
		return "", false, false
	}
	if len(values) != 1 {
		return "", true, false
	}
	_, token, _ = strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", true, false
	}
	return token, true, true
}

// AnyRevoked combines revocation checks: access is revoked when any of them
// says so, and a failing check fails the whole (closed). The operator's
// blocklist and the built-in authorization server's grants are combined
// this way.
func AnyRevoked(checks ...RevocationChecker) RevocationChecker { return anyRevoked(checks) }

type anyRevoked []RevocationChecker

func (a anyRevoked) Revoked(ctx context.Context, p *Principal) (bool, error) {
	for _, c := range a {
		revoked, err := c.Revoked(ctx, p)
		if err != nil || revoked {
			return revoked, err
		}
	}
	return false, nil
}

// UnavailableRetryAfter is the Retry-After, in seconds, of every answer that
// says a token cannot be checked right now (keys not loaded, an
// introspection endpoint or the revocation database out of reach): the
// same wait as the MCP endpoint's when its database is out of reach.
const UnavailableRetryAfter = "5"

// unavailable answers 503 with UnavailableRetryAfter and msg as plain text:
// the server's problem, not the token's, so no challenge.
func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", UnavailableRetryAfter)
	http.Error(w, msg, http.StatusServiceUnavailable)
}
