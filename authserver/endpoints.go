package authserver

// The machine-facing endpoints: discovery (RFC 8414, OpenID Connect
// Discovery), the JWK Set, dynamic client registration (RFC 7591,
// endpoints_register.go), the token endpoint (RFC 6749 §3.2,
// endpoints_token.go), revocation (RFC 7009) and userinfo (OpenID Connect
// Core §5.3, endpoints_revoke.go). This file holds the documents and the
// pieces the form-posting endpoints share: reading the form, client
// authentication, and checking our own access tokens.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// maxRequestBody caps the body of registration, token and revocation
// requests. Real ones are well under 4 KiB; the cap keeps a flood of huge
// bodies from costing memory.
const maxRequestBody = 64 << 10

// metadataMaxAge is how long clients may cache the discovery documents and
// the JWK Set, in seconds. Five minutes is far below the signing keys'
// rotation delay (DefaultRotationDelay, an hour), so a cached JWK Set
// always holds a rotated-in key before it signs.
const metadataMaxAge = 300

// OAuth error codes used here beyond those of grants.go and clients.go
// (RFC 6749 §5.2, RFC 6750 §3.1).
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errUnauthorizedClient   = "unauthorized_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
	errServerError          = "server_error"
	errUnavailable          = "temporarily_unavailable"
)

// Supported values published in the metadata. Each list is what the code
// implements, nothing more: ChatGPT requests every OIDC scope it sees
// advertised, so advertising one that is not honoured breaks sign-in.
var (
	supportedGrantTypes  = []string{GrantAuthorizationCode, GrantRefreshToken}
	supportedAuthMethods = []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost}
)

// serverMetadata is the RFC 8414 authorization server metadata; the fields
// marked OIDC are added for the OpenID Connect Discovery document only.
type serverMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"` // OIDC
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported,omitempty"`               // OIDC
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported,omitempty"` // OIDC
	ClaimsSupported                            []string `json:"claims_supported,omitempty"`                      // OIDC
	// RequestURIParameterSupported is published (false) because OIDC
	// Discovery's default for it is true.
	RequestURIParameterSupported *bool `json:"request_uri_parameter_supported,omitempty"` // OIDC
}

// metadata returns the discovery document; oidc adds the OpenID Connect
// fields.
//
// Fields whose default would claim more than is implemented are published
// explicitly: response_modes_supported in both documents (RFC 8414's
// default is ["query", "fragment"]; this server never answers in a
// fragment), and request_uri_parameter_supported false in the OIDC one
// (OIDC Discovery's default is true).
func (s *Server) metadata(oidc bool) serverMetadata {
	// Every declared scope, not only the defaults that the protected
	// resource lists: a step-up asks for the others here.
	scopes := append(auth.Strings(s.opts.Grants.Scopes().Names()), ScopeOpenID, ScopeProfile)
	m := serverMetadata{
		Issuer:                                 s.opts.Issuer,
		AuthorizationEndpoint:                  s.url(PathAuthorize),
		TokenEndpoint:                          s.url(PathToken),
		RegistrationEndpoint:                   s.url(PathRegister),
		RevocationEndpoint:                     s.url(PathRevoke),
		IntrospectionEndpoint:                  s.url(PathIntrospect),
		JWKSURI:                                s.url(PathJWKS),
		ScopesSupported:                        scopes,
		ResponseTypesSupported:                 []string{ResponseTypeCode},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    supportedGrantTypes,
		CodeChallengeMethodsSupported:          []string{"S256"},
		TokenEndpointAuthMethodsSupported:      supportedAuthMethods,
		RevocationEndpointAuthMethodsSupported: supportedAuthMethods,
		// A resource server authenticates with a secret (RFC 7662 §2.1).
		IntrospectionEndpointAuthMethodsSupported: []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost},
		// Any https client_id is fetched as its metadata document
		// (cimd.go); ChatGPT prefers this to DCR when it is advertised.
		ClientIDMetadataDocumentSupported: true,
		// Every authorization response carries iss (RFC 9207), which is
		// what makes ChatGPT use its stable redirect URI.
		AuthorizationResponseIssParameterSupported: true,
	}
	if oidc {
		m.UserinfoEndpoint = s.url(PathUserinfo)
		m.SubjectTypesSupported = []string{"public"}
		m.IDTokenSigningAlgValuesSupported = []string{"RS256"}
		m.ClaimsSupported = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
			"preferred_username", "email", "email_verified"}
		no := false
		m.RequestURIParameterSupported = &no
	}
	return m
}

// handleASMetadata serves the RFC 8414 authorization server metadata.
func (s *Server) handleASMetadata(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writePublicJSON(w, "application/json", s.metadata(false))
}

// handleOIDCMetadata serves the OpenID Connect Discovery document: the
// same as the RFC 8414 one, plus the OIDC fields, because ChatGPT's
// documentation lists this location and some clients look only here.
func (s *Server) handleOIDCMetadata(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writePublicJSON(w, "application/json", s.metadata(true))
}

// handleJWKS serves the public keys that verify our tokens.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	set, err := s.opts.Keys.JWKS(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "serving the JWK set failed", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, errServerError, "The signing keys cannot be read right now.")
		return
	}
	writePublicJSON(w, "application/jwk-set+json", json.RawMessage(set))
}

// writePublicJSON answers 200 with a document anybody may cache briefly.
func writePublicJSON(w http.ResponseWriter, contentType string, v any) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", metadataMaxAge))
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// allowMethods answers 405 with an Allow header, and returns false, unless
// r uses one of methods. (OPTIONS never gets here: cors answers it.)
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(slices.Concat(methods, []string{http.MethodOptions}), ", "))
	writeOAuthError(w, http.StatusMethodNotAllowed, errInvalidRequest,
		fmt.Sprintf("This endpoint accepts %s only.", strings.Join(methods, " or ")))
	return false
}

// failure is a refused request, written by writeFailure.
type failure struct {
	status      int
	code        string
	description string
	// basicChallenge adds WWW-Authenticate: Basic to a 401 (RFC 6749
	// §5.2: required when the client tried HTTP Basic).
	basicChallenge bool
	// retryAfter is the wait of a 429 or 503.
	retryAfter time.Duration
	// grantID is the grant whose code or refresh token failed, when it
	// is known: its failures are limited per grant.
	grantID string
}

func badRequest(code, description string) *failure {
	return &failure{status: http.StatusBadRequest, code: code, description: description}
}

// serverError is the answer to a failure on the server's side (err): 503
// temporarily_unavailable with a Retry-After while the database cannot be
// reached, since the same request will succeed once it can; 500
// server_error otherwise.
func (s *Server) serverError(err error) *failure {
	if s.opts.Store.Unavailable(err) {
		return unavailable("The server cannot reach its database right now; retry in a moment.")
	}
	return &failure{status: http.StatusInternalServerError, code: errServerError,
		description: "The request could not be completed because of an error on the server."}
}

// unavailable is the answer to a request that will succeed once the
// database can be reached again: 503 temporarily_unavailable with a
// Retry-After.
func unavailable(description string) *failure {
	return &failure{status: http.StatusServiceUnavailable, code: errUnavailable, retryAfter: unavailableRetryAfter, description: description}
}

// unavailableRetryAfter is the Retry-After of answers while the database
// cannot be reached, the same as the MCP endpoint's.
const unavailableRetryAfter = 5 * time.Second

// writeFailure answers with f as an RFC 6749 §5.2 error.
func writeFailure(w http.ResponseWriter, f *failure) {
	if f.status == http.StatusTooManyRequests {
		writeTooMany(w, f.retryAfter, f.description)
		return
	}
	if f.basicChallenge && f.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+product.Name+`", charset="UTF-8"`)
	}
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(f.retryAfter))
	}
	writeOAuthError(w, f.status, f.code, f.description)
}

// readForm reads the application/x-www-form-urlencoded body of a token or
// revocation request. It refuses another content type, a body over
// maxRequestBody, a parameter sent twice (RFC 6749 §3.1; several resource
// parameters are invalid_target, RFC 8707 §2, as this server has one
// resource), and any of secretParams in the URL: codes, tokens and secrets
// in a URL end up in logs and proxies, so they are refused loudly rather
// than ignored. Only the body's parameters are returned.
func readForm(w http.ResponseWriter, r *http.Request, secretParams ...string) (url.Values, *failure) {
	query := r.URL.Query()
	for _, p := range secretParams {
		if query.Has(p) {
			return nil, badRequest(errInvalidRequest,
				fmt.Sprintf("%s must not be sent in the URL; send it in the application/x-www-form-urlencoded body.", p))
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest(errInvalidRequest, "The request body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &failure{status: http.StatusRequestEntityTooLarge, code: errInvalidRequest,
				description: fmt.Sprintf("The request body is larger than %d bytes.", maxRequestBody)}
		}
		return nil, badRequest(errInvalidRequest, "The request body is not valid application/x-www-form-urlencoded.")
	}
	for name, values := range r.PostForm {
		if len(values) > 1 {
			if name == "resource" {
				return nil, badRequest(ErrCodeInvalidTarget, "Only one resource may be requested: this server protects one.")
			}
			return nil, badRequest(errInvalidRequest, fmt.Sprintf("The parameter %s was sent more than once.", quoteShort(name)))
		}
	}
	return r.PostForm, nil
}

// clientCredentials is what a request says about its client, before any
// check.
type clientCredentials struct {
	id string
	// secret is the presented client secret, "" when none was sent.
	secret string
	// basic: the credentials came in an Authorization: Basic header.
	basic bool
}

// readClientCredentials finds the client of a token or revocation request:
// HTTP Basic (client_secret_basic; RFC 6749 §2.3.1 form-urlencodes the id
// and secret before they are joined and base64-encoded) or the form's
// client_id and client_secret (client_secret_post, and public clients'
// bare client_id). Using both at once is refused (§2.3: one method per
// request). A Basic header with an empty password only names the client:
// some libraries (golang.org/x/oauth2 among them) send public clients'
// ids that way.
func readClientCredentials(r *http.Request, form url.Values) (clientCredentials, *failure) {
	var creds clientCredentials
	authz := r.Header.Values("Authorization")
	basicAt := slices.IndexFunc(authz, func(v string) bool {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		return strings.EqualFold(scheme, "Basic")
	})
	// Any other scheme (a Bearer token sent out of habit) carries no
	// client authentication and is ignored.
	if basicAt >= 0 {
		invalid := &failure{status: http.StatusUnauthorized, code: errInvalidClient, basicChallenge: true,
			description: "The Authorization header is not valid HTTP Basic client authentication (RFC 6749 §2.3.1)."}
		if len(authz) > 1 {
			return creds, invalid
		}
		_, payload, _ := strings.Cut(strings.TrimSpace(authz[basicAt]), " ")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
		if err != nil {
			return creds, invalid
		}
		rawID, rawSecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return creds, invalid
		}
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil || id == "" {
			return creds, invalid
		}
		creds = clientCredentials{id: id, secret: secret, basic: true}
	}
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if creds.basic {
		if formSecret != "" {
			return creds, badRequest(errInvalidRequest, "Use one client authentication method: HTTP Basic or client_secret in the body, not both.")
		}
		if formID != "" && formID != creds.id {
			return creds, badRequest(errInvalidRequest, "The client_id in the body differs from the one in the Authorization header.")
		}
		return creds, nil
	}
	if formID == "" {
		return creds, &failure{status: http.StatusUnauthorized, code: errInvalidClient,
			description: "Identify the client: send client_id (public clients) or authenticate with the client secret."}
	}
	return clientCredentials{id: formID, secret: formSecret}, nil
}

// authenticateClient checks creds against the client's registration: a
// public client (auth method none, which every CIMD client is) must not
// present a secret; a confidential one must present the right secret by
// the method it registered. Every refusal is 401 invalid_client; the
// description says what to change, never whether the client exists.
func (s *Server) authenticateClient(ctx context.Context, creds clientCredentials, ip string) (Client, *failure) {
	refuse := func(description string, basic bool) (Client, *failure) {
		return Client{}, &failure{status: http.StatusUnauthorized, code: errInvalidClient,
			description: description, basicChallenge: basic || creds.basic}
	}
	client, err := s.lookupClient(ctx, creds.id, ip)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return refuse("Client authentication failed: unknown client, or wrong credentials.", false)
		}
		if ce, ok := errors.AsType[*CIMDError](err); ok {
			s.log.InfoContext(ctx, "client metadata document refused at the token endpoint",
				"client_id", loggedClientID(creds.id), "kind", string(ce.Kind), "ip", ip, "err", err)
			if ce.Limited() {
				return Client{}, cimdLimitFailure(ce)
			}
			return refuse("The client's metadata document cannot be used: "+ce.Reason, false)
		}
		s.log.ErrorContext(ctx, "client lookup failed", "client_id", loggedClientID(creds.id), "err", err)
		return Client{}, s.serverError(err)
	}
	registered := client.TokenEndpointAuthMethod
	switch {
	case registered == AuthMethodNone:
		if creds.secret != "" {
			return refuse("The client is registered as a public client (token_endpoint_auth_method \"none\"); it must not send a client secret.", false)
		}
		return client, nil
	case registered == AuthMethodClientSecretBasic && !creds.basic:
		return refuse("The client is registered with client_secret_basic: authenticate with HTTP Basic.", true)
	case registered == AuthMethodClientSecretPost && creds.basic:
		return refuse("The client is registered with client_secret_post: send client_id and client_secret in the body, not in an Authorization header.", false)
	case creds.secret == "":
		return refuse("Client authentication failed: unknown client, or wrong credentials.", registered == AuthMethodClientSecretBasic)
	}
	if err := s.opts.Store.VerifyClientSecret(ctx, client.ID, creds.secret); err != nil {
		if errors.Is(err, ErrInvalidClient) {
			return refuse("Client authentication failed: unknown client, or wrong credentials.", registered == AuthMethodClientSecretBasic)
		}
		s.log.ErrorContext(ctx, "client secret check failed", "client_id", client.ID, "err", err)
		return Client{}, s.serverError(err)
	}
	return client, nil
}

// tokenRequestOf reads a POST about a token (revocation, introspection):
// its authenticated client and the token parameter. When it fails it has
// answered and ok is false. Answers are never cached.
func (s *Server) tokenRequestOf(w http.ResponseWriter, r *http.Request, endpoint string) (client Client, token string, ok bool) {
	if !allowMethods(w, r, http.MethodPost) {
		return Client{}, "", false
	}
	w.Header().Set("Cache-Control", "no-store")
	form, f := readForm(w, r, "token", "client_secret")
	if f != nil {
		writeFailure(w, f)
		return Client{}, "", false
	}
	if client, _, ok = s.authenticatedClient(w, r, form, endpoint); !ok {
		return Client{}, "", false
	}
	if token = form.Get("token"); token == "" {
		writeFailure(w, badRequest(errInvalidRequest, "token is required."))
		return Client{}, "", false
	}
	return client, token, true
}

// authenticatedClient authenticates the client of a request to an
// endpoint that takes client authentication (token, revocation,
// introspection), under one per-(client_id, network) backoff of failed
// attempts: a failure counts for pair, whose key it returns. When it
// fails it has answered and logged ("<endpoint> refused", with attrs) and
// ok is false.
func (s *Server) authenticatedClient(w http.ResponseWriter, r *http.Request, form url.Values, endpoint string, attrs ...any) (client Client, pair string, ok bool) {
	ctx := r.Context()
	ip := s.clientIP(r)
	creds, f := readClientCredentials(r, form)
	if f != nil {
		writeFailure(w, f)
		return Client{}, "", false
	}
	pair = ratelimit.Key(creds.id, clientip.Network(ip))
	wait, err := s.limits.tokenFailures.Check(ctx, pair)
	if err != nil {
		writeFailure(w, s.limitUnchecked(ctx, endpoint, err))
		return Client{}, "", false
	}
	if wait > 0 {
		s.log.InfoContext(ctx, endpoint+" throttled after failures", "client_id", loggedClientID(creds.id), "ip", ip, "wait", wait)
		writeTooMany(w, wait, "Too many failed requests for this client from this address; retry later.")
		return Client{}, "", false
	}
	client, f = s.authenticateClient(ctx, creds, ip)
	if f != nil {
		if f.code == errInvalidClient {
			s.logUncounted(ctx, s.limits.tokenFailures.Fail(ctx, pair))
		}
		s.log.InfoContext(ctx, endpoint+" refused", append(attrs, "client_id", loggedClientID(creds.id), "ip", ip,
			"error", f.code, "reason", f.description)...)
		writeFailure(w, f)
		return Client{}, "", false
	}
	return client, pair, true
}

// cimdLimitFailure answers a client metadata document that was not
// fetched because of a limit: 429 slow_down when the caller's address
// fetched too many, 503 temporarily_unavailable when the server is busy
// fetching; both with Retry-After, neither a verdict on the client.
func cimdLimitFailure(ce *CIMDError) *failure {
	if ce.Kind == CIMDRateLimited {
		return &failure{status: http.StatusTooManyRequests, retryAfter: ce.RetryAfter,
			description: "Too many client metadata documents were fetched for this address lately; retry later."}
	}
	return &failure{status: http.StatusServiceUnavailable, code: errUnavailable, retryAfter: ce.RetryAfter,
		description: "The server is fetching too many client metadata documents right now; retry in a few seconds."}
}

// ownTokens returns what checks an access token this server issued, for
// any resource it issues them for (its own and AUTH_EXTRA_RESOURCES), as
// its userinfo, revocation and introspection endpoints need: JWTs by
// signature against the key table (issuer exactly as minted), reference
// tokens by look-up, then grant revocation and the operator's blocklist.
// The principal's Audience is the resource the token is for. A check that
// cannot run (the database) is auth.ErrCheckUnavailable, never a verdict.
// Building it is cheap (no goroutine, no fetch), so each request builds
// its own and the Server keeps no state for it.
func (s *Server) ownTokens(ctx context.Context) (auth.TokenVerifier, auth.RevocationChecker, error) {
	jwts, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		Issuer:         s.opts.Issuer,
		Audience:       s.opts.Resource,
		ExtraAudiences: s.opts.ExtraResources,
		Keys:           tableKeys{keys: s.opts.Keys},
		Logger:         s.log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("authserver: verifier for our own tokens: %w", err)
	}
	var revocations auth.RevocationChecker = s.opts.Grants.RevocationChecker(s.opts.Issuer)
	if s.opts.Blocked != nil {
		revocations = auth.AnyRevoked(revocations, s.opts.Blocked)
	}
	return auth.ByShape{JWT: jwts, Opaque: referenceVerifier{s: s, anyResource: true}}, revocations, nil
}

// resources are the protected resources we issue tokens for, ours first.
func (s *Server) resources() []string {
	return append([]string{s.opts.Resource}, s.opts.ExtraResources...)
}

// knownResource returns the configured form of a resource we issue
// tokens for that r names (scheme and host in any case), or false.
func (s *Server) knownResource(r string) (string, bool) {
	for _, known := range s.resources() {
		if SameResource(r, known) {
			return known, true
		}
	}
	return "", false
}

// tableKeys is the auth.KeySource for revocation and userinfo: it reads
// the published keys from the table at every lookup. Keys.KeySource would
// do as well, but it keeps a reloading goroutine alive until a context
// ends, and the Server has no lifetime context to give it; these two
// endpoints are rare enough that one local read per request costs
// nothing.
type tableKeys struct{ keys *Keys }

// Ready reports true: the table is always there to read.
func (tableKeys) Ready() bool { return true }

// Keyfunc returns the published key named by the token's kid. Only RS256
// is accepted: it is all this server signs.
func (t tableKeys) Keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(tok *jwt.Token) (any, error) {
		if tok.Method == nil || tok.Method.Alg() != jwt.SigningMethodRS256.Alg() {
			return nil, fmt.Errorf("%w: this issuer signs with RS256 only", jwt.ErrTokenUnverifiable)
		}
		kid, _ := tok.Header["kid"].(string)
		published, err := t.keys.published(ctx)
		if err != nil {
			// The database's failure, never a verdict on the token.
			return nil, fmt.Errorf("%w: read the published signing keys: %w", auth.ErrCheckUnavailable, err)
		}
		for _, j := range published {
			if j.Marshal().KID == kid {
				return j.Key(), nil
			}
		}
		return nil, fmt.Errorf("kid %s: %w", quoteShort(kid), jwkset.ErrKeyNotFound)
	}
}
