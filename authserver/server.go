package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// ServerOptions are what the HTTP side of the authorization server needs.
type ServerOptions struct {
	// Issuer is the issuer identifier: BASE_URL, no trailing slash. Every
	// endpoint URL is derived from it.
	Issuer string
	// Resource is this server's protected resource (BASE_URL + "/mcp"):
	// the default RFC 8707 resource and the access tokens' audience.
	Resource string
	// ExtraResources are other protected resources (RFC 8707) that this
	// server issues tokens for, so that one sign-in serves several MCP
	// servers: a client names one with the resource parameter, and its
	// tokens have it as their audience. Their servers check the tokens
	// with this server's keys or by introspection.
	ExtraResources []string
	// TokenFormat is TokenFormatJWT (the default) or TokenFormatReference.
	TokenFormat string

	Store *Store
	Keys  *Keys
	// IDTokenKeys checks the ID tokens that come back as id_token_hint
	// (Keys.KeySource); nil refuses every hint.
	IDTokenKeys auth.KeySource
	Users       *Users
	Grants      *Grants
	CIMD        *CIMDFetcher

	// Blocked says whether the operator's blocklist refuses a user or a
	// client (principal with Issuer, Subject and/or ClientID set): a blocked
	// client or user gets no code, token or refresh. Nil: nothing is blocked.
	Blocked auth.RevocationChecker

	// AccessTokenLifetime (default 15 min), RefreshTokenLifetime (default
	// 30 days; also set on Grants) and IDTokenLifetime (default 15 min).
	AccessTokenLifetime time.Duration
	IDTokenLifetime     time.Duration

	// Upstream, when set, signs people in through an upstream OpenID
	// provider (federation), beside or instead of passwords.
	Upstream *UpstreamOptions

	// Limits is where the abuse limits (sign-in and token backoffs,
	// registrations, token requests, upstream sign-ins) keep their
	// state. Nil keeps it in this process's memory (ratelimit.Memory),
	// which is exact for one process. Replicas behind one URL pass one
	// on the database they share (pglimits), so that a client spreading
	// its requests over them meets the limits of one server. When a
	// limit cannot be checked (its database does not answer), the
	// request is refused with 503 and a Retry-After, never let through
	// unlimited; an outcome that cannot be recorded (a failure, a
	// success) is logged, and the answer stands.
	Limits ratelimit.Backend

	// TrustedProxyHeader names the header carrying the client IP behind a
	// proxy (e.g. Fly-Client-IP); empty means the socket address.
	TrustedProxyHeader string
	// PrivacyURL and TermsURL are linked from every page (the person reads
	// them before signing in and agreeing); "" links nothing.
	PrivacyURL, TermsURL string
	// SetupHint, when not empty, is the exact command to add a user. While
	// no user exists (a non-loopback deployment gets no demo user), the
	// authorization and token endpoints answer 503 with it. The server
	// notices the first user added by the CLI without a restart.
	SetupHint string

	// Metrics counts sign-ins, tokens issued, refresh-token reuse,
	// registrations and (handed to CIMD) fetches of client metadata
	// documents. Nil counts nothing.
	Metrics *metrics.AuthServer

	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the authorization server's HTTP side.
type Server struct {
	opts   ServerOptions
	log    *slog.Logger
	now    func() time.Time
	secure bool // the issuer is https: cookies are Secure

	limits     limits
	usersExist atomic.Bool // once true, stays true
}

// limits are the abuse limits; see internal/ratelimit for why each is keyed
// the way it is.
type limits struct {
	register       ratelimit.WindowLimiter  // per IP
	tokenFailures  ratelimit.BackoffLimiter // per (client_id, IP)
	grantFailures  ratelimit.BackoffLimiter // per grant
	tokenSuccesses ratelimit.WindowLimiter  // per (client_id, IP)
	signInPair     ratelimit.BackoffLimiter // per (user name, IP)
	signInName     ratelimit.BackoffLimiter // per user name
	signInIP       ratelimit.BackoffLimiter // per IP
	signInDevice   ratelimit.BackoffLimiter // per known device (device cookie), instead of the three above
	upstreamTrips  ratelimit.WindowLimiter  // per IP: sign-ins sent to the upstream provider, and callbacks from it (keys apart)
}

// NewServer checks opts and builds the server.
func NewServer(opts ServerOptions) (*Server, error) {
	switch {
	case opts.Issuer == "" || strings.HasSuffix(opts.Issuer, "/"):
		return nil, errors.New("authserver: Issuer must be set, without a trailing slash")
	case opts.Resource == "":
		return nil, errors.New("authserver: Resource must be set")
	case opts.Store == nil || opts.Keys == nil || opts.Users == nil || opts.Grants == nil || opts.CIMD == nil:
		return nil, errors.New("authserver: Store, Keys, Users, Grants and CIMD are required")
	}
	switch opts.TokenFormat {
	case "":
		opts.TokenFormat = TokenFormatJWT
	case TokenFormatJWT, TokenFormatReference:
	default:
		return nil, fmt.Errorf("authserver: unknown token format %q", opts.TokenFormat)
	}
	if opts.Upstream != nil {
		if err := checkUpstream(opts.Upstream, opts.Grants); err != nil {
			return nil, err
		}
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = 15 * time.Minute
	}
	if opts.IDTokenLifetime <= 0 {
		opts.IDTokenLifetime = 15 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// The fetcher is built apart, with options of its own; the server
	// hands it the counters, so that the caller sets one field, not two.
	opts.CIMD.countIn(opts.Metrics)
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Now,
		secure: strings.HasPrefix(opts.Issuer, "https://"),
	}
	now, lb := opts.Now, opts.Limits
	if lb == nil {
		lb = ratelimit.Memory{}
	}
	// The names are the limits' names on a shared backend: a renamed
	// limit starts over, a limit whose options change keeps its state.
	s.limits = limits{
		register:       lb.Window("authserver.register", ratelimit.WindowOptions{Rate: 20, Per: time.Hour, Burst: 10, Now: now}),
		tokenFailures:  lb.Backoff("authserver.token-failures", ratelimit.BackoffOptions{Free: 20, Base: time.Second, Max: 30 * time.Second, Forget: 10 * time.Minute, Now: now}),
		grantFailures:  lb.Backoff("authserver.grant-failures", ratelimit.BackoffOptions{Free: 5, Base: time.Second, Max: time.Minute, Forget: 15 * time.Minute, Now: now}),
		tokenSuccesses: lb.Window("authserver.token-successes", ratelimit.WindowOptions{Rate: 120, Per: time.Minute, Burst: 120, Now: now}),
		signInPair:     lb.Backoff("authserver.sign-in-pair", ratelimit.BackoffOptions{Free: 3, Base: time.Second, Max: 5 * time.Minute, Forget: 15 * time.Minute, Now: now}),
		signInName:     lb.Backoff("authserver.sign-in-name", ratelimit.BackoffOptions{Free: 10, Base: time.Second, Max: time.Minute, Forget: 15 * time.Minute, MaxKeys: 50_000, Now: now}),
		signInIP:       lb.Backoff("authserver.sign-in-ip", ratelimit.BackoffOptions{Free: 20, Base: time.Second, Max: 5 * time.Minute, Forget: 15 * time.Minute, MaxInFlight: 2, Now: now}),
		signInDevice:   lb.Backoff("authserver.sign-in-device", ratelimit.BackoffOptions{Free: 5, Base: time.Second, Max: 5 * time.Minute, Forget: 15 * time.Minute, Now: now}),
		upstreamTrips:  lb.Window("authserver.upstream-trips", ratelimit.WindowOptions{Rate: 300, Per: time.Hour, Burst: 30, Now: now}),
	}
	return s, nil
}

// limitUnchecked logs that what's limit could not be checked (its
// database did not answer), and returns the refusal: 503
// temporarily_unavailable with Retry-After, as for a database outage,
// whatever the error. Refusing is the one answer that never lets a
// guesser through unlimited, and the rest of the request would most
// likely find the database down too.
func (s *Server) limitUnchecked(ctx context.Context, what string, err error) *failure {
	s.log.ErrorContext(ctx, what+": a limit could not be checked; refused", "err", err)
	return unavailable("The server cannot check its limits right now; retry in a moment.")
}

// logUncounted logs err, the failure of a limit to record an outcome (a
// failure or a success): the request's answer stands, and the limit
// misses one event.
func (s *Server) logUncounted(ctx context.Context, err error) {
	if err != nil {
		s.log.WarnContext(ctx, "a limit could not record an outcome", "err", err)
	}
}

// Endpoint paths, relative to the issuer.
const (
	PathASMetadata   = "/.well-known/oauth-authorization-server"
	PathOIDCMetadata = "/.well-known/openid-configuration"
	PathJWKS         = "/oauth/jwks.json"
	PathRegister     = "/oauth/register"
	PathAuthorize    = "/oauth/authorize"
	PathToken        = "/oauth/token"
	PathRevoke       = "/oauth/revoke"
	PathIntrospect   = "/oauth/introspect"
	PathUserinfo     = "/oauth/userinfo"
	PathAccount      = "/account"
)

// Routes registers every endpoint on mux. The machine endpoints (metadata,
// JWKS, registration, token, revocation, userinfo) answer CORS for any
// origin, as browser-based MCP clients call them cross-origin; the pages
// (authorize, account) get no CORS and may not be framed.
func (s *Server) Routes(mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}) {
	mux.Handle(PathASMetadata, cors(http.HandlerFunc(s.handleASMetadata)))
	mux.Handle(PathOIDCMetadata, cors(http.HandlerFunc(s.handleOIDCMetadata)))
	mux.Handle(PathJWKS, cors(http.HandlerFunc(s.handleJWKS)))
	mux.Handle(PathRegister, cors(http.HandlerFunc(s.handleRegister)))
	mux.Handle(PathToken, cors(http.HandlerFunc(s.handleToken)))
	mux.Handle(PathRevoke, cors(http.HandlerFunc(s.handleRevoke)))
	mux.HandleFunc(PathIntrospect, s.handleIntrospect)
	mux.Handle(PathUserinfo, cors(http.HandlerFunc(s.handleUserinfo)))
	mux.Handle(PathAuthorize, pageHeaders(http.HandlerFunc(s.handleAuthorize)))
	mux.Handle(PathAccount, pageHeaders(http.HandlerFunc(s.handleAccount)))
	mux.Handle(PathUpstreamCallback, pageHeaders(http.HandlerFunc(s.handleUpstreamCallback)))
	mux.Handle(PathAccount+"/", pageHeaders(http.HandlerFunc(s.handleAccount)))
}

// url returns the absolute URL of an endpoint path.
func (s *Server) url(path string) string { return s.opts.Issuer + path }

// cors answers CORS for any origin, without credentials: these endpoints
// take no cookies, so a wildcard is safe.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageHeaders sets what every HTML page needs: no framing (clickjacking of
// the consent button), no caching, no referrer leaking codes or state.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// oauthError is an RFC 6749 §5.2 error response body.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON answers with a JSON body that must never be cached (token
// responses, errors, registrations).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOAuthError answers with an RFC 6749 §5.2 error.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthError{Code: code, Description: description})
}

// writeTooMany answers 429 with Retry-After.
func writeTooMany(w http.ResponseWriter, wait time.Duration, description string) {
	w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(wait))
	writeOAuthError(w, http.StatusTooManyRequests, "slow_down", description)
}

// clientIP returns the caller's address, from the trusted proxy header when
// one is configured.
func (s *Server) clientIP(r *http.Request) string { return clientip.From(r, s.opts.TrustedProxyHeader) }

// lookupClient finds a client for a request from ip: an https client_id is
// a Client ID Metadata Document to fetch (within the fetcher's limits per
// requester, here ip's network), anything else a registered (DCR or
// pre-registered) client.
func (s *Server) lookupClient(ctx context.Context, clientID, ip string) (Client, error) {
	if IsCIMDClientID(clientID) {
		return s.opts.CIMD.Client(ctx, clientID, clientip.Network(ip))
	}
	return s.opts.Store.Client(ctx, clientID)
}

// maxLoggedClientID is how many characters of a refused client_id the log
// keeps.
const maxLoggedClientID = 200

// loggedClientID is a client_id as the log shows it when the request
// naming it was refused: cut to maxLoggedClientID characters, the last
// being "…" when something was cut. Such a client_id is whatever the
// request said, up to the size of the request, and each refusal is one
// log line. The cut never splits a UTF-8 character.
func loggedClientID(id string) string {
	n := 0
	for i := range id {
		if n == maxLoggedClientID-1 {
			if utf8.RuneCountInString(id[i:]) > 1 {
				return id[:i] + "…"
			}
			return id
		}
		n++
	}
	return id
}

// blocked reports whether the operator's blocklist refuses this user or
// client. A failed check counts as blocked.
func (s *Server) blocked(ctx context.Context, subject, clientID string) bool {
	if s.opts.Blocked == nil {
		return false
	}
	revoked, err := s.opts.Blocked.Revoked(ctx, &auth.Principal{Issuer: s.opts.Issuer, Subject: subject, ClientID: clientID})
	if err != nil {
		s.log.ErrorContext(ctx, "blocklist check failed; refusing", "err", err)
		return true
	}
	return revoked
}

// unavailable answers the token endpoint with 503 temporarily_unavailable
// (an RFC 6749 §5.2 error body) while the server cannot sign anyone in: no
// user exists yet. The pages have their own HTML answer (notSetUp).
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.SetupHint == "" || s.HasUsers(r.Context()) {
		return false
	}
	w.Header().Set("Retry-After", "60")
	writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable",
		fmt.Sprintf("Sign-in is not set up yet: no user exists. %s", s.opts.SetupHint))
	return true
}

// HasUsers reports whether any user exists. After the first yes it stops
// asking the database: users are disabled, never deleted.
func (s *Server) HasUsers(ctx context.Context) bool {
	if s.usersExist.Load() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := s.opts.Users.CountUsers(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "counting users failed", "err", err)
		return false
	}
	if n > 0 {
		s.usersExist.Store(true)
	}
	return n > 0
}
