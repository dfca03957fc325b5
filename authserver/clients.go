package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Client metadata values (RFC 7591 §2, OpenID Connect Dynamic Client
// Registration §2 for application_type).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"

	ResponseTypeCode = "code"

	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"

	ApplicationTypeWeb    = "web"
	ApplicationTypeNative = "native"
)

// ClientSource says how a client came to be registered.
type ClientSource string

// The sources.
const (
	// SourceDCR: registered by anyone through dynamic client registration.
	// Expires when never used (ExpireUnusedClients).
	SourceDCR ClientSource = "dcr"
	// SourcePreregistered: added by the operator (kanban-mcp clients add).
	// Never expires.
	SourcePreregistered ClientSource = "preregistered"
)

// Registration limits. Real clients register one or two redirect URIs of
// well under a hundred bytes; the limits keep the open registration
// endpoint from storing junk.
const (
	MaxClientNameLen   = 200  // characters
	MaxRedirectURIs    = 20   // per client
	MaxRedirectURILen  = 2000 // bytes
	clientIDLen        = 32   // base32 characters: 160 bits
	clientSecretBytes  = 32   // 256 bits
	clientSecretSHALen = sha256.Size
)

// RFC 7591 §3.2.2 error codes, RegistrationError.Code.
const (
	ErrCodeInvalidRedirectURI    = "invalid_redirect_uri"
	ErrCodeInvalidClientMetadata = "invalid_client_metadata"
)

// RegistrationError is why ValidateRegistration refused a request. The
// registration endpoint answers 400 with {"error": Code,
// "error_description": Description} (RFC 7591 §3.2.2).
type RegistrationError struct {
	Code        string // ErrCodeInvalidRedirectURI or ErrCodeInvalidClientMetadata
	Description string
}

func (e *RegistrationError) Error() string { return e.Code + ": " + e.Description }

// ErrInvalidClient: VerifyClientSecret found no such client, a public
// client, or a wrong secret (RFC 6749 §5.2 invalid_client).
var ErrInvalidClient = errors.New("authserver: client authentication failed")

// RegistrationRequest is the client metadata of an RFC 7591 registration
// request, as sent. Fields this server does not use (client_uri, logo_uri,
// scope, contacts, …) are not decoded, and so ignored, as §2 allows.
type RegistrationRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// Registration is validated client metadata: every field set, defaults
// applied, duplicates removed. Only ValidateRegistration makes one that
// RegisterClient accepts (it validates again).
type Registration struct {
	RedirectURIs            []string
	TokenEndpointAuthMethod string
	GrantTypes              []string
	ResponseTypes           []string
	ClientName              string
	ApplicationType         string
}

// ValidateRegistration checks a registration request against RFC 7591 §2
// and OAuth 2.1, applies the defaults, and returns the metadata to store,
// or a *RegistrationError.
//
//   - redirect_uris: required. Each is an absolute https URI, or an http URI
//     on a loopback host (127.0.0.1, [::1] or localhost; any port may be
//     used later, RFC 8252 §7.3), with a host, without a fragment or user
//     information. Custom schemes are refused, for native clients too:
//     this server redirects only to https or to loopback.
//   - grant_types: a subset of authorization_code and refresh_token;
//     default [authorization_code]; refresh_token only with
//     authorization_code.
//   - response_types: a subset of code; default [code]; code goes with
//     authorization_code and vice versa (RFC 7591 §2.1).
//   - token_endpoint_auth_method: none, client_secret_basic or
//     client_secret_post. The default is client_secret_basic, as RFC 7591
//     §2 prescribes; MCP clients send "none" explicitly to register as
//     public clients, and a client that omits it is confidential and gets
//     a secret.
//   - application_type: web (default) or native. It is recorded but does
//     not change the redirect URI rules: OpenID Connect's "web clients must
//     not use localhost" would refuse MCP clients that omit the field and
//     listen on loopback.
//   - client_name: optional, one line of at most MaxClientNameLen
//     characters, trimmed.
func ValidateRegistration(req RegistrationRequest) (Registration, error) {
	metadataErr := func(format string, args ...any) (Registration, error) {
		return Registration{}, &RegistrationError{Code: ErrCodeInvalidClientMetadata, Description: fmt.Sprintf(format, args...)}
	}

	if len(req.RedirectURIs) == 0 {
		return Registration{}, &RegistrationError{Code: ErrCodeInvalidRedirectURI, Description: "redirect_uris is required: list at least one redirect URI"}
	}
	if len(req.RedirectURIs) > MaxRedirectURIs {
		return Registration{}, &RegistrationError{Code: ErrCodeInvalidRedirectURI, Description: fmt.Sprintf("at most %d redirect_uris are allowed; got %d", MaxRedirectURIs, len(req.RedirectURIs))}
	}
	var reg Registration
	for i, raw := range req.RedirectURIs {
		if _, problem := parseRedirectURI(raw); problem != "" {
			return Registration{}, &RegistrationError{Code: ErrCodeInvalidRedirectURI,
				Description: fmt.Sprintf("redirect_uris[%d] %s %s", i, quoteShort(raw), problem)}
		}
		if !slices.Contains(reg.RedirectURIs, raw) {
			reg.RedirectURIs = append(reg.RedirectURIs, raw)
		}
	}

	grants, bad := dedupe(req.GrantTypes, []string{GrantAuthorizationCode}, GrantAuthorizationCode, GrantRefreshToken)
	if bad != "" {
		return metadataErr("grant_types: %s is not supported; use %q, optionally with %q", quoteShort(bad), GrantAuthorizationCode, GrantRefreshToken)
	}
	if !slices.Contains(grants, GrantAuthorizationCode) {
		return metadataErr("grant_types: %q needs %q, the only grant that starts a session here", GrantRefreshToken, GrantAuthorizationCode)
	}
	reg.GrantTypes = grants

	responses, bad := dedupe(req.ResponseTypes, []string{ResponseTypeCode}, ResponseTypeCode)
	if bad != "" {
		return metadataErr("response_types: %s is not supported; use %q", quoteShort(bad), ResponseTypeCode)
	}
	// RFC 7591 §2.1: the code response type goes with the
	// authorization_code grant. Both are required above, so this holds;
	// it is checked so that a rule loosened above cannot break it silently.
	if slices.Contains(responses, ResponseTypeCode) != slices.Contains(grants, GrantAuthorizationCode) {
		return metadataErr("response_types %q and grant_types %q must come together", ResponseTypeCode, GrantAuthorizationCode)
	}
	reg.ResponseTypes = responses

	switch m := req.TokenEndpointAuthMethod; m {
	case "":
		reg.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
	case AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		reg.TokenEndpointAuthMethod = m
	default:
		return metadataErr("token_endpoint_auth_method %s is not supported; use %q, %q or %q",
			quoteShort(m), AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost)
	}

	switch a := req.ApplicationType; a {
	case "":
		reg.ApplicationType = ApplicationTypeWeb
	case ApplicationTypeWeb, ApplicationTypeNative:
		reg.ApplicationType = a
	default:
		return metadataErr("application_type %s is not supported; use %q or %q", quoteShort(a), ApplicationTypeWeb, ApplicationTypeNative)
	}

	name := strings.TrimSpace(req.ClientName)
	switch {
	case !utf8.ValidString(name):
		return metadataErr("client_name must be valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxClientNameLen:
		return metadataErr("client_name is %d characters long; at most %d are allowed", utf8.RuneCountInString(name), MaxClientNameLen)
	case strings.ContainsFunc(name, unicode.IsControl):
		return metadataErr("client_name must be one line without control characters")
	}
	reg.ClientName = name
	return reg, nil
}

// dedupe returns values without duplicates (first occurrence kept), or def
// when there are none; bad is the first value not in allowed.
func dedupe(values, def []string, allowed ...string) (out []string, bad string) {
	if len(values) == 0 {
		return slices.Clone(def), ""
	}
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			return nil, v
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, ""
}

// quoteShort quotes s for an error message, cut to 100 bytes.
func quoteShort(s string) string {
	if len(s) > 100 {
		return strconv.Quote(s[:100]) + "…"
	}
	return strconv.Quote(s)
}

// parseRedirectURI checks a redirect URI's form; problem is "" when it is
// acceptable, or completes a sentence saying what is wrong.
func parseRedirectURI(raw string) (u *url.URL, problem string) {
	switch {
	case raw == "":
		return nil, "is empty"
	case len(raw) > MaxRedirectURILen:
		return nil, fmt.Sprintf("is %d bytes long; at most %d are allowed", len(raw), MaxRedirectURILen)
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		// RFC 3986 URIs are printable ASCII; anything else must be
		// percent-encoded, and a space or control character is a sign
		// of a paste gone wrong or of an attempt to confuse a parser.
		return nil, "must be printable ASCII without spaces (percent-encode other characters)"
	case strings.Contains(raw, "#"):
		return nil, "must not contain a fragment (RFC 6749 §3.1.2)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "is not a valid URI"
	}
	switch {
	case !u.IsAbs():
		return nil, "must be an absolute URI"
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, "must name a host (scheme://host/path)"
	case u.User != nil:
		return nil, "must not contain user information (user@ or user:password@)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, "has an invalid port"
		}
	}
	switch u.Scheme {
	case "https":
		return u, ""
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, "uses http on a host that is not loopback; use https, or http on 127.0.0.1, [::1] or localhost"
		}
		return u, ""
	default:
		return nil, fmt.Sprintf("uses the scheme %s; only https, or http on 127.0.0.1, [::1] or localhost, is allowed", quoteShort(u.Scheme))
	}
}

// isLoopbackHost reports whether host (without port or brackets) is one of
// the loopback names RFC 8252 §7.3 and §8.3 describe.
func isLoopbackHost(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

// IsLoopbackRedirectURI reports whether uri is a valid redirect URI on a
// loopback host, whatever its scheme. Remembered consent must not be used
// for such a URI: any local process can listen there (also with a
// self-signed certificate) and reuse an approved client_id.
func IsLoopbackRedirectURI(uri string) bool {
	u, problem := parseRedirectURI(uri)
	return problem == "" && isLoopbackHost(u.Hostname())
}

// Client is a registered client.
type Client struct {
	ID                      string
	Name                    string // may be empty
	RedirectURIs            []string
	GrantTypes              []string
	ResponseTypes           []string
	TokenEndpointAuthMethod string
	ApplicationType         string
	Source                  ClientSource
	CreatedAt               time.Time
	// LastUsedAt is the zero time for a client that has never been used
	// (TouchClient).
	LastUsedAt time.Time
}

// Public reports whether the client has no secret (token endpoint auth
// method "none").
func (c Client) Public() bool { return c.TokenEndpointAuthMethod == AuthMethodNone }

// AllowsRedirect reports whether uri is one of the client's redirect URIs.
// Matching is exact, string for string (RFC 6749 §3.1.2.3, OAuth 2.1), with
// one exception: for a registered loopback http URI, the port may differ
// (RFC 8252 §7.3: native apps listen on whatever port is free); the scheme,
// host, path and query must still match exactly.
func (c Client) AllowsRedirect(uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	cand, problem := parseRedirectURI(uri)
	if problem != "" || cand.Scheme != "http" { // only loopback http passes as http
		return false
	}
	for _, r := range c.RedirectURIs {
		reg, problem := parseRedirectURI(r)
		if problem != "" || reg.Scheme != "http" {
			continue
		}
		if reg.Hostname() == cand.Hostname() &&
			reg.EscapedPath() == cand.EscapedPath() &&
			reg.RawQuery == cand.RawQuery && reg.ForceQuery == cand.ForceQuery {
			return true
		}
	}
	return false
}

// newClientID returns 32 random lower-case base32 characters (160 bits):
// URL-safe, never starting with "-" (a CLI argument), and never an https
// URL, so it cannot be mistaken for a CIMD client_id.
func newClientID() string { return randomBase32(clientIDLen) }

// hashClientSecret is how client secrets are stored: SHA-256. Secrets are
// 256 random bits made by RegisterClient, so no guessing attack on the hash
// can succeed and a slow, salted hash (which protects low-entropy, human
// passwords) would add nothing but cost on every token request, where it
// would also make the token endpoint a cheap way to burn the server's CPU
// and memory.
func hashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// RegisterClient stores a client with the metadata reg (validated again
// here) and returns it. A confidential client (auth method other than
// "none") also gets a new random secret: it is returned this once and only
// its hash is stored. A public client gets "" for the secret.
func (s *Store) RegisterClient(ctx context.Context, reg Registration, source ClientSource) (Client, string, error) {
	reg, err := ValidateRegistration(RegistrationRequest(reg))
	if err != nil {
		return Client{}, "", err
	}
	if source != SourceDCR && source != SourcePreregistered {
		return Client{}, "", &ValidationError{Field: "source", Reason: fmt.Sprintf("must be %q or %q; got %s", SourceDCR, SourcePreregistered, quoteShort(string(source)))}
	}
	c := Client{
		ID:                      newClientID(),
		Name:                    reg.ClientName,
		RedirectURIs:            reg.RedirectURIs,
		GrantTypes:              reg.GrantTypes,
		ResponseTypes:           reg.ResponseTypes,
		TokenEndpointAuthMethod: reg.TokenEndpointAuthMethod,
		ApplicationType:         reg.ApplicationType,
		Source:                  source,
		CreatedAt:               time.Unix(0, s.now().UnixNano()).UTC(),
	}
	var secret string
	var secretHash []byte // NULL for public clients
	if !c.Public() {
		b := make([]byte, clientSecretBytes)
		rand.Read(b) // never fails: it crashes the program instead (Go 1.24)
		secret = base64.RawURLEncoding.EncodeToString(b)
		secretHash = hashClientSecret(secret)
	}
	redirects, _ := json.Marshal(c.RedirectURIs) // []string always marshals
	grants, _ := json.Marshal(c.GrantTypes)
	responses, _ := json.Marshal(c.ResponseTypes)
	// A client_id collision (160 random bits) fails loudly on the primary key.
	_, err = s.db.ExecWrite(ctx, `INSERT INTO clients (client_id, client_name, redirect_uris, grant_types, response_types,
			token_endpoint_auth_method, secret_hash, application_type, source, created_at, last_used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)`,
		c.ID, c.Name, string(redirects), string(grants), string(responses),
		c.TokenEndpointAuthMethod, secretHash, c.ApplicationType, string(c.Source), c.CreatedAt.UnixNano())
	if err != nil {
		return Client{}, "", fmt.Errorf("authserver: register client: %w", err)
	}
	return c, secret, nil
}

// clientColumns are scanned by scanClient, in its order.
const clientColumns = `client_id, client_name, redirect_uris, grant_types, response_types,
	token_endpoint_auth_method, application_type, source, created_at, last_used_at`

func scanClient(row interface{ Scan(...any) error }) (Client, error) {
	var (
		c                           Client
		redirects, grants, responds string
		source                      string
		createdAt                   int64
		lastUsedAt                  sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Name, &redirects, &grants, &responds,
		&c.TokenEndpointAuthMethod, &c.ApplicationType, &source, &createdAt, &lastUsedAt); err != nil {
		return Client{}, err
	}
	for _, f := range []struct {
		col string
		dst *[]string
	}{{redirects, &c.RedirectURIs}, {grants, &c.GrantTypes}, {responds, &c.ResponseTypes}} {
		if err := json.Unmarshal([]byte(f.col), f.dst); err != nil {
			return Client{}, fmt.Errorf("client %q: %w", c.ID, err)
		}
	}
	c.Source = ClientSource(source)
	c.CreatedAt = time.Unix(0, createdAt).UTC()
	if lastUsedAt.Valid {
		c.LastUsedAt = time.Unix(0, lastUsedAt.Int64).UTC()
	}
	return c, nil
}

// Client returns the registered client clientID, or ErrNotFound.
func (s *Store) Client(ctx context.Context, clientID string) (Client, error) {
	c, err := scanClient(s.db.Reader.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE client_id = $1`, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return Client{}, fmt.Errorf("authserver: client %s: %w", quoteShort(clientID), ErrNotFound)
	}
	if err != nil {
		return Client{}, fmt.Errorf("authserver: client %s: %w", quoteShort(clientID), err)
	}
	return c, nil
}

// ListClients returns every registered client, oldest first.
func (s *Store) ListClients(ctx context.Context) ([]Client, error) {
	return queryAll(ctx, s.db.Reader, "clients", scanClient, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, rowid`)
}

// RemoveClient deletes the client clientID, or returns ErrNotFound.
func (s *Store) RemoveClient(ctx context.Context, clientID string) error {
	return s.execOneClient(ctx, "remove", clientID, `DELETE FROM clients WHERE client_id = $1`, clientID)
}

// TouchClient records that clientID was just used (a token was issued to
// it), which keeps ExpireUnusedClients from removing it; ErrNotFound if
// there is no such client.
func (s *Store) TouchClient(ctx context.Context, clientID string) error {
	return s.execOneClient(ctx, "touch", clientID, `UPDATE clients SET last_used_at = $1 WHERE client_id = $2`,
		s.now().UnixNano(), clientID)
}

// execOneClient runs a statement that affects the one client clientID,
// and returns ErrNotFound if it affected none.
func (s *Store) execOneClient(ctx context.Context, verb, clientID, query string, args ...any) error {
	res, err := s.db.ExecWrite(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("authserver: %s client %s: %w", verb, quoteShort(clientID), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("authserver: %s client %s: %w", verb, quoteShort(clientID), err)
	}
	if n == 0 {
		return fmt.Errorf("authserver: %s client %s: %w", verb, quoteShort(clientID), ErrNotFound)
	}
	return nil
}

// VerifyClientSecret checks a confidential client's secret in constant
// time. It returns ErrInvalidClient for an unknown client, a public client
// (which has no secret to present) and a wrong secret alike; other errors
// are the database's. Whether the secret came by the registered method
// (Basic or POST) is the caller's to check against
// Client.TokenEndpointAuthMethod.
func (s *Store) VerifyClientSecret(ctx context.Context, clientID, secret string) error {
	var stored []byte
	err := s.db.Reader.QueryRowContext(ctx, `SELECT secret_hash FROM clients WHERE client_id = $1`, clientID).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrInvalidClient
	}
	if err != nil {
		return fmt.Errorf("authserver: verify client secret: %w", err)
	}
	if len(stored) != clientSecretSHALen || secret == "" {
		return ErrInvalidClient
	}
	if subtle.ConstantTimeCompare(hashClientSecret(secret), stored) != 1 {
		return ErrInvalidClient
	}
	return nil
}

// ExpireUnusedClients deletes the clients registered by DCR more than
// unusedFor ago that have never been used, and returns how many it
// deleted. Pre-registered clients never expire, nor does a client that was
// used once.
func (s *Store) ExpireUnusedClients(ctx context.Context, unusedFor time.Duration) (int64, error) {
	if unusedFor <= 0 {
		return 0, fmt.Errorf("authserver: expire unused clients: the period must be positive; got %v", unusedFor)
	}
	cutoff := s.now().Add(-unusedFor).UnixNano()
	res, err := s.db.ExecWrite(ctx, `DELETE FROM clients
		WHERE source = 'dcr' AND last_used_at IS NULL AND created_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("authserver: expire unused clients: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("authserver: expire unused clients: %w", err)
	}
	return n, nil
}
