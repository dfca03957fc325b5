package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// Lifetimes of the authorization-code and refresh-token flows.
const (
	// CodeLifetime is how long an authorization code can be redeemed.
	// Issue §6 and OAuth 2.1 ask for no more than 60 s: a client redeems
	// its code the moment it arrives, and a short life leaves a leaked
	// code (browser history, a Referer, a log) little time to be useful.
	CodeLifetime = 60 * time.Second
	// RefreshGrace is how long after a refresh token was rotated it may be
	// presented once more. It exists for a client whose refresh response
	// was lost (a dropped connection, a crash before it saved the new
	// token): without it, that client's retry would look like theft and
	// disconnect the person. 60 s covers a retry; it is too short to help
	// a thief who copied the token long ago.
	RefreshGrace = 60 * time.Second
	// DefaultRefreshTokenLifetime is how long a refresh token stays valid
	// when not used: a connected app that is idle for longer has to send
	// the person through sign-in again. Every rotation starts a new period.
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
)

// OpenID Connect scopes that a grant may carry beside its declared scopes.
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
)

// Error codes of TokenRequestError.Code.
const (
	// ErrCodeInvalidGrant is RFC 6749 §5.2's invalid_grant: the code or
	// refresh token is invalid, expired, revoked, used, or was issued to
	// another client or redirect URI.
	ErrCodeInvalidGrant = "invalid_grant"
	// ErrCodeInvalidTarget is RFC 8707 §2's invalid_target: the resource
	// is not the one the grant is for.
	ErrCodeInvalidTarget = "invalid_target"
)

// Reasons recorded when a grant is revoked. The first three are this
// file's own; the others are offered to callers (the account page, the
// CLI) so that the same event reads the same everywhere. Any non-empty
// text is accepted.
const (
	RevokeReasonCodeReplay      = "authorization code replayed"
	RevokeReasonRefreshReuse    = "refresh token reused"
	RevokeReasonClient          = "revoked by the client"
	RevokeReasonUser            = "revoked by the user"
	RevokeReasonOperator        = "revoked by the operator"
	RevokeReasonUserDisabled    = "user disabled"
	RevokeReasonPasswordChanged = "password changed"
	RevokeReasonSteppedUp       = "replaced by a step-up authorization"
	RevokeReasonReplacedGone    = "the grant it stepped up from was revoked first"
)

// Sizes of what IssueCode stores.
const (
	// MaxNonceLen bounds the OIDC nonce, in bytes. Real nonces are a few
	// dozen characters; the limit keeps junk out of the database.
	MaxNonceLen = 512
	// secretBytes is the entropy of codes and refresh tokens: 256 bits.
	secretBytes = 32
	// grantIDLen is the number of random base32 characters of a grant ID
	// (130 bits), after GrantIDPrefix.
	grantIDLen = 26
)

// GrantIDPrefix starts every grant ID, so that one is recognisable in the
// CLI and in logs.
const GrantIDPrefix = "g_"

// TokenRequestError is why a code redemption or a refresh was refused. The
// token endpoint answers 400 with {"error": Code, "error_description":
// Description} (RFC 6749 §5.2). Description is safe to show to the client:
// it names the failed check, never a secret.
type TokenRequestError struct {
	Code        string // ErrCodeInvalidGrant or ErrCodeInvalidTarget
	Description string
	// GrantID is the grant the code or token belongs to, when it is known:
	// for the log, not for the client.
	GrantID string
	// Revoked reports that this request revoked the grant: a replayed
	// code or a reused refresh token, which the log should flag as a
	// possible theft.
	Revoked bool
}

func (e *TokenRequestError) Error() string { return e.Code + ": " + e.Description }

func invalidGrant(grantID, description string) *TokenRequestError {
	return &TokenRequestError{Code: ErrCodeInvalidGrant, Description: description, GrantID: grantID}
}

// UserStatus answers whether an account may get or use tokens. *Users is
// the implementation; a caller may wrap it to consult the operator
// blocklist too.
type UserStatus interface {
	// UserDisabled reports whether the account subject may not get or use
	// tokens; true as well for an unknown subject (fail closed).
	UserDisabled(ctx context.Context, subject string) (bool, error)
}

// GrantOptions configure Store.Grants. Zero fields take the defaults.
type GrantOptions struct {
	// Scopes are the scopes the application declares: the ones a grant
	// may hold, and what each implies. Required.
	Scopes *auth.ScopeSet
	// RefreshTokenLifetime is how long a refresh token is valid from its
	// issue. Default DefaultRefreshTokenLifetime.
	RefreshTokenLifetime time.Duration
	// UpstreamSessionMaxAge is how long a federated user's sign-in at the
	// upstream provider is trusted: their grants stop refreshing this
	// long after it (the grant's AuthTime), so that someone removed at the
	// provider loses access then. Zero means federation is off, and
	// federated users' grants do not refresh at all. Read at each refresh,
	// so lowering it reaches grants made before.
	UpstreamSessionMaxAge time.Duration
}

// Grants manages authorizations: grants, their authorization codes and
// refresh tokens, and remembered consents. Its methods are safe for
// concurrent use, and by several processes on the same database: every
// check reads the database, and every change is one IMMEDIATE transaction
// on the writer, so that no two requests can both redeem a code or rotate
// a refresh token.
type Grants struct {
	s               *Store
	users           UserStatus
	scopes          *auth.ScopeSet
	refreshLifetime time.Duration
	upstreamMaxAge  time.Duration
}

// Grants returns the grants of s. users says which accounts are disabled;
// it is asked at every code redemption and refresh.
func (s *Store) Grants(users UserStatus, opts GrantOptions) (*Grants, error) {
	if users == nil {
		return nil, errors.New("authserver: grants need a UserStatus (the Users of the store)")
	}
	if opts.Scopes == nil {
		return nil, errors.New("authserver: grants need the declared Scopes")
	}
	for _, oidc := range []auth.Scope{ScopeOpenID, ScopeProfile} {
		if opts.Scopes.Known(oidc) {
			return nil, fmt.Errorf("authserver: the scope %q is OpenID Connect's; declare the application's scopes under other names", oidc)
		}
	}
	if opts.RefreshTokenLifetime < 0 {
		return nil, fmt.Errorf("authserver: grants: the refresh-token lifetime must not be negative; got %v", opts.RefreshTokenLifetime)
	}
	if opts.RefreshTokenLifetime == 0 {
		opts.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if opts.UpstreamSessionMaxAge < 0 {
		return nil, fmt.Errorf("authserver: grants: the upstream session max age must not be negative; got %v", opts.UpstreamSessionMaxAge)
	}
	return &Grants{s: s, users: users, scopes: opts.Scopes, refreshLifetime: opts.RefreshTokenLifetime,
		upstreamMaxAge: opts.UpstreamSessionMaxAge}, nil
}

// UpstreamSessionMaxAge is GrantOptions.UpstreamSessionMaxAge: how long a
// federated sign-in is trusted (0: federation is off).
func (g *Grants) UpstreamSessionMaxAge() time.Duration { return g.upstreamMaxAge }

// Scopes returns the declared scopes that grants may hold.
func (g *Grants) Scopes() *auth.ScopeSet { return g.scopes }

// Grant is one authorization of a client by a person.
type Grant struct {
	ID       string // GrantIDPrefix and random characters; the access tokens' grant_id
	Subject  string // the user's stable random id (users.id)
	ClientID string
	// Scope is what the person agreed to: the declared scopes chosen and
	// everything they imply, most powerful first, then openid and/or
	// profile when granted.
	Scope []string
	// Replaces is the grant that this step-up authorization replaces,
	// revoked when this grant's code is redeemed; "" for a first
	// authorization.
	Replaces string
	// Resource is the RFC 8707 resource the grant is for: the access
	// tokens' audience.
	Resource string
	// AuthTime is when the person signed in for this authorization (the
	// ID token's auth_time).
	AuthTime   time.Time
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until the first code redemption
	// RevokedAt is zero while the grant is live; RevokeReason says why it
	// ended.
	RevokedAt    time.Time
	RevokeReason string
	// Nonce is the OIDC nonce of the authorization request. It is set
	// only on the Grant that RedeemCode returns, for the ID token; it is
	// not part of the stored grant (an ID token from a refresh carries no
	// nonce).
	Nonce string
}

// Revoked reports whether the grant was revoked.
func (g Grant) Revoked() bool { return !g.RevokedAt.IsZero() }

// ScopeString returns Scope space-separated, as the scope claim and the
// token response carry it.
func (g Grant) ScopeString() string { return strings.Join(g.Scope, " ") }

// Has reports whether the grant includes scope s exactly (e.g. openid).
func (g Grant) Has(s string) bool { return slices.Contains(g.Scope, s) }

// normalizeScope returns the scope a grant stores: the declared scopes of
// in with everything they imply, most powerful first, then openid and
// profile when present. Expanding here, not in each caller, guarantees
// that every token lists what it effectively grants, for clients that do
// not know the graph. Anything else is refused: the authorization endpoint
// drops unknown requested scopes before it gets here.
func (g *Grants) normalizeScope(in []string) ([]string, error) {
	var declared []auth.Scope
	var oidc []string
	for _, s := range in {
		switch {
		case g.scopes.Known(auth.Scope(s)):
			declared = append(declared, auth.Scope(s))
		case s == ScopeOpenID || s == ScopeProfile:
			if !slices.Contains(oidc, s) {
				oidc = append(oidc, s)
			}
		default:
			return nil, &ValidationError{Field: "scope", Reason: fmt.Sprintf("%s is not one this server grants", quoteShort(s))}
		}
	}
	if len(declared) == 0 {
		return nil, &ValidationError{Field: "scope", Reason: "must include at least one of " + strings.Join(auth.Strings(g.scopes.Names()), ", ")}
	}
	out := auth.Strings(g.strongestFirst(g.scopes.Grants(declared...)))
	// openid before profile, whatever the request's order, so that equal
	// grants store equal strings.
	for _, s := range []string{ScopeOpenID, ScopeProfile} {
		if slices.Contains(oidc, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// strongestFirst orders declared scopes by how much each grants, the most
// first, and otherwise as declared: a chain reads from its top down
// ("kanban.admin kanban.write kanban.read").
func (g *Grants) strongestFirst(scopes []auth.Scope) []auth.Scope {
	out := slices.Clone(scopes)
	slices.SortStableFunc(out, func(a, b auth.Scope) int {
		return len(g.scopes.Grants(b)) - len(g.scopes.Grants(a))
	})
	return out
}

// Declared returns the declared scopes among scope (a grant's or a
// token's), in declaration order.
func (g *Grants) Declared(scope []string) []auth.Scope {
	var out []auth.Scope
	for _, s := range g.scopes.Names() {
		if slices.Contains(scope, string(s)) {
			out = append(out, s)
		}
	}
	return out
}

// SameResource reports whether two resource indicators name the same
// resource: equal once the scheme and host, which are case-insensitive
// (RFC 3986 §6.2.2.1), are lower-cased, as MCP's canonical server URI asks
// (2026-07-28). The path stays case-sensitive.
func SameResource(a, b string) bool {
	return a == b || canonicalResource(a) == canonicalResource(b)
}

func canonicalResource(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String()
}

// ValidCodeChallenge reports whether c can be a PKCE S256 code challenge:
// the unpadded base64url encoding of a SHA-256 digest (43 characters).
func ValidCodeChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validCodeVerifier reports whether v is a code verifier as RFC 7636 §4.1
// defines it: 43 to 128 characters of A-Z, a-z, 0-9, "-", ".", "_", "~".
func validCodeVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isASCIIAlnum(c) && c != '-' && c != '.' && c != '_' && c != '~' {
			return false
		}
	}
	return true
}

// s256 is the PKCE S256 transformation (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newSecret returns a new code or refresh token (256 random bits,
// base64url without padding: 43 characters) and the hash it is stored as.
func newSecret() (secret string, hash []byte) {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails: it crashes the program instead (Go 1.24)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret)
}

// hashSecret is how codes and refresh tokens are stored and looked up.
// Plain SHA-256: the secrets are 256-bit random values, so a slow hash
// would add nothing.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func fromNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func fromNullNano(ns sql.NullInt64) time.Time {
	if !ns.Valid {
		return time.Time{}
	}
	return fromNano(ns.Int64)
}

// grantColumns are scanned by scanGrant, in its order; the grants table
// is aliased g.
const grantColumns = `g.id, g.subject, g.client_id, g.scope, g.resource, g.auth_time, g.created_at,
	g.last_used_at, g.revoked_at, g.revoke_reason, g.replaces`

func scanGrant(row interface{ Scan(...any) error }, extra ...any) (Grant, error) {
	var (
		gr                    Grant
		scope                 string
		authTime, createdAt   int64
		lastUsedAt, revokedAt sql.NullInt64
		reason, replaces      sql.NullString
	)
	dest := append([]any{&gr.ID, &gr.Subject, &gr.ClientID, &scope, &gr.Resource, &authTime, &createdAt,
		&lastUsedAt, &revokedAt, &reason, &replaces}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Grant{}, err
	}
	gr.Scope = strings.Fields(scope)
	gr.AuthTime = fromNano(authTime)
	gr.CreatedAt = fromNano(createdAt)
	gr.LastUsedAt = fromNullNano(lastUsedAt)
	gr.RevokedAt = fromNullNano(revokedAt)
	gr.RevokeReason = reason.String
	gr.Replaces = replaces.String
	return gr, nil
}

// CodeRequest is an approved authorization request: what IssueCode binds
// the code to.
type CodeRequest struct {
	Subject  string // the signed-in user (users.id)
	ClientID string
	// RedirectURI is the redirect_uri of the authorization request,
	// already checked against the client. The token request must repeat
	// it exactly.
	RedirectURI string
	// CodeChallenge is the PKCE S256 challenge (ValidCodeChallenge);
	// the authorization endpoint refuses "plain" and a missing challenge.
	CodeChallenge string
	// Resource is the RFC 8707 resource, defaulted by the authorization
	// endpoint when the request named none.
	Resource string
	// Scope is what the person agreed to: declared scopes (those chosen
	// on the consent page, never more than requested, plus a replaced
	// grant's) and optionally openid and profile. The declared scopes are
	// expanded with what they imply; other scopes are refused.
	Scope []string
	// Replaces is the live grant of the same person and client that this
	// step-up authorization replaces (LiveGrant); "" for none.
	Replaces string
	Nonce    string // the OIDC nonce, "" when none was sent
	// AuthTime is when the person signed in (the session's sign-in time);
	// zero means now.
	AuthTime time.Time
}

// IssueCode records an approved authorization as a new grant and returns
// its authorization code, valid for CodeLifetime. Every authorization
// starts a new grant, and so a new refresh-token chain: a client that
// signs in again does not inherit (or disturb) an older session, and the
// person sees each connection on the account page.
//
// Errors are the caller's mistakes (*ValidationError, ErrNotFound for an
// unknown subject) or the database's.
func (g *Grants) IssueCode(ctx context.Context, req CodeRequest) (string, error) {
	scope, err := g.normalizeScope(req.Scope)
	if err != nil {
		return "", err
	}
	for _, f := range []struct{ name, value string }{
		{"subject", req.Subject}, {"client_id", req.ClientID}, {"redirect_uri", req.RedirectURI}, {"resource", req.Resource},
	} {
		if f.value == "" {
			return "", &ValidationError{Field: f.name, Reason: "must not be empty"}
		}
	}
	if !ValidCodeChallenge(req.CodeChallenge) {
		return "", &ValidationError{Field: "code_challenge", Reason: "must be a PKCE S256 challenge: 43 base64url characters"}
	}
	if len(req.Nonce) > MaxNonceLen {
		return "", &ValidationError{Field: "nonce", Reason: fmt.Sprintf("is %d bytes long; at most %d are allowed", len(req.Nonce), MaxNonceLen)}
	}

	now := g.s.now()
	authTime := req.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	grantID := GrantIDPrefix + randomBase32(grantIDLen)
	code, hash := newSecret()
	scopeText := strings.Join(scope, " ")

	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return "", fmt.Errorf("authserver: issue code: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	// Checked first so that an unknown subject gives ErrNotFound rather
	// than the foreign key's bare constraint error.
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, req.Subject).Scan(&exists); err != nil {
		return "", fmt.Errorf("authserver: issue code: %w", err)
	}
	if !exists {
		return "", fmt.Errorf("authserver: issue code: user %s: %w", quoteShort(req.Subject), ErrNotFound)
	}
	if req.Replaces != "" {
		var subject, clientID string
		err := tx.QueryRowContext(ctx, `SELECT subject, client_id FROM grants WHERE id = $1`, req.Replaces).Scan(&subject, &clientID)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (subject != req.Subject || clientID != req.ClientID) {
			return "", &ValidationError{Field: "replaces", Reason: "must be a grant of the same user and client"}
		}
		if err != nil {
			return "", fmt.Errorf("authserver: issue code: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO grants (id, subject, client_id, scope, resource, auth_time, created_at, replaces)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		grantID, req.Subject, req.ClientID, scopeText, req.Resource, authTime.UnixNano(), now.UnixNano(), nullString(req.Replaces)); err != nil {
		return "", fmt.Errorf("authserver: issue code: store grant: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO authorization_codes
		(hash, grant_id, client_id, redirect_uri, code_challenge, resource, scope, nonce, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		hash, grantID, req.ClientID, req.RedirectURI, req.CodeChallenge, req.Resource, scopeText, nullString(req.Nonce),
		now.UnixNano(), now.Add(CodeLifetime).UnixNano()); err != nil {
		return "", fmt.Errorf("authserver: issue code: store code: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("authserver: issue code: %w", err)
	}
	return code, nil
}

// RedeemRequest is the authorization_code grant of a token request.
type RedeemRequest struct {
	Code         string
	ClientID     string // the authenticated (or, for a public client, named) client
	RedirectURI  string
	CodeVerifier string
	// Resource is the RFC 8707 resource of the token request; "" means
	// the one bound at authorization time.
	Resource string
}

// RedeemCode exchanges an authorization code for its grant, which the
// caller turns into tokens. It records the grant's use.
//
// The code must exist, be unexpired and unused, and have been issued to
// ClientID for exactly RedirectURI; the verifier must be a valid RFC 7636
// verifier whose S256 transform is the code's challenge; Resource, when
// given, must be the code's; the grant must be live and its user enabled.
// Each failure is a *TokenRequestError, invalid_target for the resource
// and invalid_grant for the rest, and leaves the code as it was, so that
// a request garbled by a client bug (or a guess by someone who saw the
// code but lacks the verifier) does not burn the code of the real one.
//
// A code that was already redeemed is a replay: one of the two parties is
// not the client the person authorized (RFC 6749 §4.1.2). It revokes the
// grant, and so every token issued from the first redemption, before
// failing with Revoked set.
func (g *Grants) RedeemCode(ctx context.Context, req RedeemRequest) (Grant, error) {
	now := g.s.now()
	hash := hashSecret(req.Code)

	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
	}
	defer tx.Rollback()

	var (
		clientID, redirectURI, challenge, resource string
		nonce                                      sql.NullString
		expiresAt                                  int64
		usedAt                                     sql.NullInt64
	)
	gr, err := scanGrant(tx.QueryRowContext(ctx, `SELECT `+grantColumns+`,
			c.client_id, c.redirect_uri, c.code_challenge, c.resource, c.nonce, c.expires_at, c.used_at
		FROM authorization_codes c JOIN grants g ON g.id = c.grant_id
		WHERE c.hash = $1`, hash),
		&clientID, &redirectURI, &challenge, &resource, &nonce, &expiresAt, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, invalidGrant("", "The authorization code is not valid.")
	}
	if err != nil {
		return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
	}

	// The replay check comes first, before the code's other bindings: a
	// used code is a theft signal whoever presents it.
	if usedAt.Valid {
		revoked, err := revokeGrantTx(ctx, tx, gr.ID, RevokeReasonCodeReplay, now)
		if err != nil {
			return Grant{}, fmt.Errorf("authserver: redeem code: revoke after a replay: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return Grant{}, fmt.Errorf("authserver: redeem code: revoke after a replay: %w", err)
		}
		g.s.revocationChangedHere()
		e := invalidGrant(gr.ID, "The authorization code was already used; the access it granted is revoked.")
		e.Revoked = revoked
		return Grant{}, e
	}
	switch {
	case !now.Before(fromNano(expiresAt)):
		return Grant{}, invalidGrant(gr.ID, "The authorization code has expired; start the authorization again.")
	case req.ClientID != clientID:
		return Grant{}, invalidGrant(gr.ID, "The authorization code was issued to another client.")
	case req.RedirectURI != redirectURI:
		return Grant{}, invalidGrant(gr.ID, "The redirect_uri is not the one of the authorization request.")
	case req.Resource != "" && !SameResource(req.Resource, resource):
		return Grant{}, &TokenRequestError{Code: ErrCodeInvalidTarget, GrantID: gr.ID,
			Description: "The resource is not the one of the authorization request."}
	case !validCodeVerifier(req.CodeVerifier):
		return Grant{}, invalidGrant(gr.ID, "The code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 §4.1).")
	case subtle.ConstantTimeCompare([]byte(s256(req.CodeVerifier)), []byte(challenge)) != 1:
		return Grant{}, invalidGrant(gr.ID, "The code_verifier does not match the code_challenge.")
	case gr.Revoked():
		return Grant{}, invalidGrant(gr.ID, "The authorization was revoked.")
	}
	if err := g.checkUser(ctx, gr); err != nil {
		return Grant{}, err
	}

	if _, err := tx.ExecContext(ctx, `UPDATE authorization_codes SET used_at = $1 WHERE hash = $2`, now.UnixNano(), hash); err != nil {
		return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE grants SET last_used_at = $1 WHERE id = $2`, now.UnixNano(), gr.ID); err != nil {
		return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
	}
	// A step-up's new grant holds everything the old one did: the old one
	// ends now, so that the client has one connection, not two. If the old
	// one ended while the code waited (revoked on /account, by the operator,
	// or for a reused refresh token), the scopes it carried must not live on
	// in the new grant: both end, and the client must authorize again.
	replaced := false
	if gr.Replaces != "" {
		if replaced, err = revokeGrantTx(ctx, tx, gr.Replaces, RevokeReasonSteppedUp, now); err != nil {
			return Grant{}, fmt.Errorf("authserver: redeem code: revoke the replaced grant: %w", err)
		}
		if !replaced {
			if _, err := revokeGrantTx(ctx, tx, gr.ID, RevokeReasonReplacedGone, now); err != nil {
				return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
			}
			if err := tx.Commit(); err != nil {
				return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
			}
			g.s.revocationChangedHere()
			e := invalidGrant(gr.ID, "The connection this authorization extends was revoked meanwhile; authorize again.")
			e.Revoked = true
			return Grant{}, e
		}
	}
	if err := tx.Commit(); err != nil {
		return Grant{}, fmt.Errorf("authserver: redeem code: %w", err)
	}
	if replaced {
		g.s.revocationChangedHere()
	}
	gr.LastUsedAt = now.UTC()
	gr.Nonce = nonce.String
	return gr, nil
}

// checkUser refuses a grant whose user may no longer use it. It runs inside
// the caller's write transaction but reads through UserStatus (the reader
// pool, or whatever the caller wrapped), which WAL lets run beside it.
func (g *Grants) checkUser(ctx context.Context, gr Grant) error {
	disabled, err := g.users.UserDisabled(ctx, gr.Subject)
	if err != nil {
		return fmt.Errorf("authserver: check the grant's user: %w", err)
	}
	if disabled {
		return invalidGrant(gr.ID, "The user's account is disabled.")
	}
	return nil
}

// revokeGrantTx revokes grant id in tx, unless it is revoked already, and
// reports whether it did.
func revokeGrantTx(ctx context.Context, tx *sql.Tx, id, reason string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL`,
		now.UnixNano(), reason, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// IssueRefreshToken starts the refresh-token chain of a grant that
// RedeemCode just returned, and returns the token and when it expires.
// A grant has one chain: a second call for the same grant is an error, as
// is an unknown grant (ErrNotFound). A grant revoked meanwhile (a replay
// of its code raced the redemption) gives an invalid_grant
// *TokenRequestError.
func (g *Grants) IssueRefreshToken(ctx context.Context, grantID string) (string, time.Time, error) {
	now := g.s.now()
	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authserver: issue refresh token: %w", err)
	}
	defer tx.Rollback()
	var revoked, started bool
	err = tx.QueryRowContext(ctx, `SELECT revoked_at IS NOT NULL, EXISTS (SELECT 1 FROM refresh_tokens WHERE grant_id = grants.id)
		FROM grants WHERE id = $1`, grantID).Scan(&revoked, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("authserver: issue refresh token: grant %s: %w", quoteShort(grantID), ErrNotFound)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authserver: issue refresh token: %w", err)
	}
	if revoked {
		return "", time.Time{}, invalidGrant(grantID, "The authorization was revoked.")
	}
	if started {
		return "", time.Time{}, fmt.Errorf("authserver: issue refresh token: grant %s already has its refresh token; use Refresh to rotate it", grantID)
	}
	token, expiresAt, err := g.insertRefreshToken(ctx, tx, grantID, nil, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authserver: issue refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", time.Time{}, fmt.Errorf("authserver: issue refresh token: %w", err)
	}
	return token, expiresAt, nil
}

// insertRefreshToken stores a new refresh token of grantID, the successor
// of parent (nil for the first of the chain).
func (g *Grants) insertRefreshToken(ctx context.Context, tx *sql.Tx, grantID string, parent []byte, now time.Time) (string, time.Time, error) {
	token, hash := newSecret()
	expiresAt := now.Add(g.refreshLifetime)
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, grant_id, parent_hash, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, hash, grantID, parent, now.UnixNano(), expiresAt.UnixNano()); err != nil {
		return "", time.Time{}, fmt.Errorf("store refresh token: %w", err)
	}
	return token, expiresAt.UTC(), nil
}

// RefreshRequest is the refresh_token grant of a token request.
type RefreshRequest struct {
	Token    string
	ClientID string // the authenticated (or, for a public client, named) client
	// Resource is the RFC 8707 resource of the token request; "" means
	// the grant's.
	Resource string
}

// Refresh rotates a refresh token: it returns the grant, to mint a new
// access token from, and the token's successor. It records the grant's
// use.
//
// Refused with invalid_grant, without any change: an unknown or expired
// token, a token of another client, a revoked grant, a disabled user; with
// invalid_target, a Resource other than the grant's. An expired token
// never revokes: it grants nothing any more, and after PruneExpired it
// would be unknown anyway, so the answer does not depend on housekeeping.
//
// Reuse (RFC 9700 §4.14.2), with T a token that was already rotated into
// its successor S:
//
//   - Grace: T may be presented once more within RefreshGrace of its
//     rotation, provided S has not been used. That retry succeeds with a
//     new successor and invalidates S, so that only one chain stays alive:
//     a client that lost the response to its refresh recovers, and of a
//     client and a thief racing with the same token only one keeps going.
//   - Any other presentation of a used or invalidated token (T after the
//     grace, T a second time, T after S was used, or S after the retry
//     invalidated it) revokes the grant and fails, with Revoked set.
func (g *Grants) Refresh(ctx context.Context, req RefreshRequest) (Grant, string, error) {
	now := g.s.now()
	hash := hashSecret(req.Token)

	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
	}
	defer tx.Rollback()

	var (
		expiresAt                      int64
		usedAt, graceUsed, invalidated sql.NullInt64
		federated                      bool
	)
	gr, err := scanGrant(tx.QueryRowContext(ctx, `SELECT `+grantColumns+`,
			r.expires_at, r.used_at, r.grace_used_at, r.invalidated_at, u.upstream_issuer IS NOT NULL
		FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id JOIN users u ON u.id = g.subject
		WHERE r.hash = $1`, hash),
		&expiresAt, &usedAt, &graceUsed, &invalidated, &federated)
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, "", invalidGrant("", "The refresh token is not valid.")
	}
	if err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
	}
	switch {
	case req.ClientID != gr.ClientID:
		// Not a reason to revoke: the right client's chain is intact, and
		// another client cannot use the token anyway.
		return Grant{}, "", invalidGrant(gr.ID, "The refresh token was issued to another client.")
	case gr.Revoked():
		return Grant{}, "", invalidGrant(gr.ID, "The authorization was revoked; sign in again.")
	case req.Resource != "" && !SameResource(req.Resource, gr.Resource):
		return Grant{}, "", &TokenRequestError{Code: ErrCodeInvalidTarget, GrantID: gr.ID,
			Description: "The resource is not the one the authorization is for."}
	case !now.Before(fromNano(expiresAt)):
		return Grant{}, "", invalidGrant(gr.ID, "The refresh token has expired; sign in again.")
	case federated && (g.upstreamMaxAge == 0 || !now.Before(gr.AuthTime.Add(g.upstreamMaxAge))):
		// Not revoked: the person may well still be allowed, and signing
		// in again through the provider is how that is found out.
		return Grant{}, "", invalidGrant(gr.ID, "The sign-in at the identity provider is too old; sign in again.")
	}
	if err := g.checkUser(ctx, gr); err != nil {
		return Grant{}, "", err
	}

	switch {
	case invalidated.Valid:
		// A successor that a grace retry of its parent replaced: whoever
		// holds it is the other party of the race.
		return g.refuseReuse(ctx, tx, gr, now)
	case !usedAt.Valid:
		// Live: the ordinary rotation.
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2`, now.UnixNano(), hash); err != nil {
			return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
		}
	default:
		// Rotated already: only the one grace retry is allowed.
		ok, err := graceRetry(ctx, tx, hash, fromNano(usedAt.Int64), graceUsed.Valid, now)
		if err != nil {
			return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
		}
		if !ok {
			return g.refuseReuse(ctx, tx, gr, now)
		}
	}

	token, _, err := g.insertRefreshToken(ctx, tx, gr.ID, hash, now)
	if err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE grants SET last_used_at = $1 WHERE id = $2`, now.UnixNano(), gr.ID); err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: %w", err)
	}
	gr.LastUsedAt = now.UTC()
	return gr, token, nil
}

// graceRetry decides whether the rotated token hash, rotated at rotatedAt,
// may be used once more now, and if so marks its retry and invalidates its
// unused successor. It allows the retry only within RefreshGrace of the
// rotation, only once, and only while the successor is unused: a used
// successor proves that someone else holds the chain, so the retry is not
// a lost response.
func graceRetry(ctx context.Context, tx *sql.Tx, hash []byte, rotatedAt time.Time, graceUsed bool, now time.Time) (bool, error) {
	// A clock that stepped back (a negative age) counts as within the
	// grace: refusing would revoke a person's grant for the clock's fault.
	if graceUsed || now.Sub(rotatedAt) >= RefreshGrace {
		return false, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT hash, used_at IS NOT NULL FROM refresh_tokens
		WHERE parent_hash = $1 AND invalidated_at IS NULL LIMIT 2`, hash)
	if err != nil {
		return false, err
	}
	type child struct {
		hash []byte
		used bool
	}
	var children []child
	for rows.Next() {
		var c child
		if err := rows.Scan(&c.hash, &c.used); err != nil {
			rows.Close()
			return false, err
		}
		children = append(children, c)
	}
	if err := rows.Close(); err != nil {
		return false, err
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	// Exactly one live successor by construction; anything else is not a
	// state a lost response can leave, so it gets no grace.
	if len(children) != 1 || children[0].used {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET invalidated_at = $1 WHERE hash = $2`, now.UnixNano(), children[0].hash); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET grace_used_at = $1 WHERE hash = $2`, now.UnixNano(), hash); err != nil {
		return false, err
	}
	return true, nil
}

// refuseReuse revokes gr because one of its refresh tokens was reused,
// commits, and returns the refusal.
func (g *Grants) refuseReuse(ctx context.Context, tx *sql.Tx, gr Grant, now time.Time) (Grant, string, error) {
	revoked, err := revokeGrantTx(ctx, tx, gr.ID, RevokeReasonRefreshReuse, now)
	if err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: revoke after a reuse: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Grant{}, "", fmt.Errorf("authserver: refresh: revoke after a reuse: %w", err)
	}
	g.s.revocationChangedHere()
	e := invalidGrant(gr.ID, "The refresh token was already used; the authorization is revoked. Sign in again.")
	e.Revoked = revoked
	return Grant{}, "", e
}

// RevokeGrant revokes the grant grantID, for reason, and reports whether
// it was live until now; ErrNotFound if there is no such grant. Its
// refresh tokens stop working at once, and the resource server refuses
// its access tokens from the next request (GrantRevoked).
func (g *Grants) RevokeGrant(ctx context.Context, grantID, reason string) (bool, error) {
	if reason == "" {
		return false, &ValidationError{Field: "reason", Reason: "must not be empty"}
	}
	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return false, fmt.Errorf("authserver: revoke grant %s: %w", quoteShort(grantID), err)
	}
	defer tx.Rollback()
	revoked, err := revokeGrantTx(ctx, tx, grantID, reason, g.s.now())
	if err != nil {
		return false, fmt.Errorf("authserver: revoke grant %s: %w", quoteShort(grantID), err)
	}
	if !revoked {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM grants WHERE id = $1)`, grantID).Scan(&exists); err != nil {
			return false, fmt.Errorf("authserver: revoke grant %s: %w", quoteShort(grantID), err)
		}
		if !exists {
			return false, fmt.Errorf("authserver: revoke grant %s: %w", quoteShort(grantID), ErrNotFound)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("authserver: revoke grant %s: %w", quoteShort(grantID), err)
	}
	if revoked {
		if err := g.s.revocationChanged(); err != nil {
			return true, fmt.Errorf("authserver: revoke grant %s: %w", quoteShort(grantID), err)
		}
	}
	return revoked, nil
}

// RevokeGrantsOfUser revokes every live grant of subject, for reason, and
// returns how many it revoked. Disabling a user calls it, so that the
// person's connected apps lose access at once and for good: enabling the
// account again does not bring them back.
func (g *Grants) RevokeGrantsOfUser(ctx context.Context, subject, reason string) (int64, error) {
	return g.revokeWhere(ctx, "subject", subject, reason)
}

// RevokeGrantsOfClient revokes every live grant of a client (used when the
// operator removes the client) and forgets the consents given to it, so
// that its tokens are refused from the next request and a client
// registered again under another ID cannot inherit them.
func (g *Grants) RevokeGrantsOfClient(ctx context.Context, clientID, reason string) (int64, error) {
	n, err := g.revokeWhere(ctx, "client_id", clientID, reason)
	if err != nil {
		return 0, err
	}
	if _, err := g.s.db.ExecWrite(ctx, `DELETE FROM consents WHERE client_id = $1`, clientID); err != nil {
		return n, fmt.Errorf("authserver: forget consents of client %s: %w", quoteShort(clientID), err)
	}
	return n, nil
}

// revokeWhere revokes the live grants whose column (subject or client_id)
// equals value.
func (g *Grants) revokeWhere(ctx context.Context, column, value, reason string) (int64, error) {
	if reason == "" {
		return 0, &ValidationError{Field: "reason", Reason: "must not be empty"}
	}
	res, err := g.s.db.ExecWrite(ctx, `UPDATE grants SET revoked_at = $1, revoke_reason = $2
		WHERE `+column+` = $3 AND revoked_at IS NULL`, g.s.now().UnixNano(), reason, value)
	if err != nil {
		return 0, fmt.Errorf("authserver: revoke grants of %s: %w", quoteShort(value), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("authserver: revoke grants of %s: %w", quoteShort(value), err)
	}
	if n > 0 {
		if err := g.s.revocationChanged(); err != nil {
			return n, fmt.Errorf("authserver: revoke grants of %s: %w", quoteShort(value), err)
		}
	}
	return n, nil
}

// RevokeRefreshToken is RFC 7009 revocation of a refresh token by client
// clientID: it revokes the token's whole grant, since the chain and the
// access tokens minted from it belong together (RFC 7009 §2.1 allows it
// and a client that lets go of its refresh token means to disconnect). An
// unknown token is not an error (§2.2: the endpoint answers 200 either
// way), and a token issued to another client is ignored rather than
// revoked (§2.1), so that no client can disconnect another's session.
func (g *Grants) RevokeRefreshToken(ctx context.Context, token, clientID string) error {
	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return fmt.Errorf("authserver: revoke refresh token: %w", err)
	}
	defer tx.Rollback()
	var grantID, owner string
	err = tx.QueryRowContext(ctx, `SELECT g.id, g.client_id FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
		WHERE r.hash = $1`, hashSecret(token)).Scan(&grantID, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("authserver: revoke refresh token: %w", err)
	}
	if owner != clientID {
		return nil
	}
	if _, err := revokeGrantTx(ctx, tx, grantID, RevokeReasonClient, g.s.now()); err != nil {
		return fmt.Errorf("authserver: revoke refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("authserver: revoke refresh token: %w", err)
	}
	g.s.revocationChangedHere()
	return nil
}

// grantRefusedQuery is GrantRevoked's one query: two primary-key lookups.
// A disabled user counts as revoked too, so that disabling an account
// shuts its access tokens out even before (or without) RevokeGrantsOfUser;
// a grant whose user is gone finds no row.
const grantRefusedQuery = `SELECT g.revoked_at IS NOT NULL OR u.disabled_at IS NOT NULL
	FROM grants g JOIN users u ON u.id = g.subject WHERE g.id = $1`

// SecretKind says which secret GrantOfSecret looks up.
type SecretKind int

// The secrets that belong to a grant.
const (
	SecretCode         SecretKind = iota // an authorization code
	SecretRefreshToken                   // a refresh token
)

// GrantOfSecret returns the grant that a code or refresh token belongs to;
// found is false for an unknown secret. It only reads: every decision about
// the secret is made by RedeemCode and Refresh in their transactions. It
// exists for the limits and checks that must run before those change
// anything (a per-grant backoff, the blocklist).
func (g *Grants) GrantOfSecret(ctx context.Context, kind SecretKind, secret string) (gr Grant, found bool, err error) {
	table := "authorization_codes"
	if kind == SecretRefreshToken {
		table = "refresh_tokens"
	}
	gr, err = scanGrant(g.s.db.Reader.QueryRowContext(ctx,
		`SELECT `+grantColumns+` FROM `+table+` t JOIN grants g ON g.id = t.grant_id WHERE t.hash = $1`, hashSecret(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, false, nil
	}
	if err != nil {
		return Grant{}, false, fmt.Errorf("authserver: find the grant of a %s secret: %w", table, err)
	}
	return gr, true, nil
}

// GrantRevoked reports whether access through grant grantID must be
// refused: it was revoked, its user is disabled, or there is no such grant
// (fail closed: a token naming an unknown grant is not one of ours). On an
// error it reports true as well. It reads the database on every call, so a
// revocation by another process (the CLI) counts from the next call.
func (g *Grants) GrantRevoked(ctx context.Context, grantID string) (bool, error) {
	var refused bool
	err := g.s.db.Reader.QueryRowContext(ctx, grantRefusedQuery, grantID).Scan(&refused)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return true, fmt.Errorf("authserver: check grant %s: %w", quoteShort(grantID), err)
	}
	return refused, nil
}

// GrantRevocations is the auth.RevocationChecker of the built-in issuer:
// the resource server asks it about every token, and it refuses those of
// revoked grants. Tokens of other issuers are none of its business.
type GrantRevocations struct {
	grants *Grants
	issuer string
}

var _ auth.RevocationChecker = (*GrantRevocations)(nil)

// RevocationChecker returns the revocation check for tokens whose iss is
// issuer (the built-in server's, exactly as it signs them).
func (g *Grants) RevocationChecker(issuer string) *GrantRevocations {
	return &GrantRevocations{grants: g, issuer: issuer}
}

// Revoked reports whether p's access is refused: for the built-in issuer,
// when the token names no grant (every token this server mints names one,
// so such a token is not a live grant's) or its grant is refused by
// GrantRevoked. A principal of another issuer, or nil, is never revoked
// here.
func (r *GrantRevocations) Revoked(ctx context.Context, p *auth.Principal) (bool, error) {
	if p == nil || p.Issuer != r.issuer {
		return false, nil
	}
	if p.GrantID == "" {
		return true, nil
	}
	return r.grants.GrantRevoked(ctx, p.GrantID)
}

// Grant returns the grant grantID, or ErrNotFound.
func (g *Grants) Grant(ctx context.Context, grantID string) (Grant, error) {
	gr, err := scanGrant(g.s.db.Reader.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants g WHERE g.id = $1`, grantID))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, fmt.Errorf("authserver: grant %s: %w", quoteShort(grantID), ErrNotFound)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("authserver: grant %s: %w", quoteShort(grantID), err)
	}
	return gr, nil
}

// ListGrants returns the grants of subject, or of every user when subject
// is "", revoked ones included, newest first.
func (g *Grants) ListGrants(ctx context.Context, subject string) ([]Grant, error) {
	query := `SELECT ` + grantColumns + ` FROM grants g`
	var args []any
	if subject != "" {
		query += ` WHERE g.subject = $1`
		args = append(args, subject)
	}
	query += ` ORDER BY g.created_at DESC, g.id`
	scan := func(row interface{ Scan(...any) error }) (Grant, error) { return scanGrant(row) }
	return queryAll(ctx, g.s.db.Reader, "grants", scan, query, args...)
}

// TouchGrant records that grant grantID was just used, for the "last
// used" of the account page; ErrNotFound if there is no such grant.
// RedeemCode and Refresh record their own use.
func (g *Grants) TouchGrant(ctx context.Context, grantID string) error {
	res, err := g.s.db.ExecWrite(ctx, `UPDATE grants SET last_used_at = $1 WHERE id = $2`, g.s.now().UnixNano(), grantID)
	if err != nil {
		return fmt.Errorf("authserver: touch grant %s: %w", quoteShort(grantID), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("authserver: touch grant %s: %w", quoteShort(grantID), err)
	}
	if n == 0 {
		return fmt.Errorf("authserver: touch grant %s: %w", quoteShort(grantID), ErrNotFound)
	}
	return nil
}

// RememberConsent records that subject agreed to scopes (declared ones)
// for clientID, replacing what was remembered before: the remembered
// consent is the latest choice, even when it is narrower.
func (g *Grants) RememberConsent(ctx context.Context, subject, clientID string, scopes []auth.Scope) error {
	if len(scopes) == 0 {
		return &ValidationError{Field: "scopes", Reason: "must name at least one scope"}
	}
	for _, sc := range scopes {
		if !g.scopes.Known(sc) {
			return &ValidationError{Field: "scopes", Reason: fmt.Sprintf("%s is not a declared scope", quoteShort(string(sc)))}
		}
	}
	if subject == "" || clientID == "" {
		return &ValidationError{Field: "consent", Reason: "needs a subject and a client_id"}
	}
	_, err := g.s.db.ExecWrite(ctx, `INSERT INTO consents (subject, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		subject, clientID, strings.Join(auth.Strings(scopes), " "), g.s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("authserver: remember consent: %w", err)
	}
	return nil
}

// Consent returns what subject last agreed to for clientID: the declared
// scopes remembered and everything they imply today. ok is false when
// nothing is remembered.
func (g *Grants) Consent(ctx context.Context, subject, clientID string) (scopes []auth.Scope, ok bool, err error) {
	var s string
	err = g.s.db.Reader.QueryRowContext(ctx, `SELECT scopes FROM consents WHERE subject = $1 AND client_id = $2`, subject, clientID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("authserver: read consent: %w", err)
	}
	var held []auth.Scope
	for _, f := range strings.Fields(s) {
		held = append(held, auth.Scope(f))
	}
	return g.scopes.Grants(held...), true, nil
}

// LiveGrant returns the most recent live grant of subject to clientID for
// resource, the one a step-up authorization builds on; ok is false when
// there is none. Only a grant whose code was redeemed counts: the grant of
// a code that the client never exchanged (an abandoned attempt, or one that
// a third party started in the person's browser) is not the client's
// connection.
func (g *Grants) LiveGrant(ctx context.Context, subject, clientID, resource string) (gr Grant, ok bool, err error) {
	gr, err = scanGrant(g.s.db.Reader.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants g
		WHERE g.subject = $1 AND g.client_id = $2 AND g.resource = $3 AND g.revoked_at IS NULL AND g.last_used_at IS NOT NULL
		ORDER BY g.created_at DESC, g.id LIMIT 1`, subject, clientID, resource))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, false, nil
	}
	if err != nil {
		return Grant{}, false, fmt.Errorf("authserver: find the live grant: %w", err)
	}
	return gr, true, nil
}

// ForgetConsent drops the remembered consent of subject for clientID and
// reports whether there was one. Revoking a connection from the account
// page should call it too: otherwise the app could reconnect without the
// person seeing the consent page again.
func (g *Grants) ForgetConsent(ctx context.Context, subject, clientID string) (bool, error) {
	res, err := g.s.db.ExecWrite(ctx, `DELETE FROM consents WHERE subject = $1 AND client_id = $2`, subject, clientID)
	if err != nil {
		return false, fmt.Errorf("authserver: forget consent: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authserver: forget consent: %w", err)
	}
	return n > 0, nil
}

// PruneExpired deletes what can no longer be used nor needs recognising,
// and returns how many rows it deleted: authorization codes, refresh
// tokens and reference access tokens that have expired (used or not), and
// those of revoked grants.
// A used code or a rotated refresh token is kept until it expires, because
// until then its reuse must be recognised as such (and revoke the grant).
// Grants themselves are kept, revoked ones included, for the account page
// and `grants list`.
func (g *Grants) PruneExpired(ctx context.Context) (int64, error) {
	now := g.s.now().UnixNano()
	tx, err := g.s.db.BeginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("authserver: prune: %w", err)
	}
	defer tx.Rollback()
	var total int64
	for _, table := range []string{"authorization_codes", "refresh_tokens", "reference_tokens"} {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1
			OR grant_id IN (SELECT id FROM grants WHERE revoked_at IS NOT NULL)`, now)
		if err != nil {
			return 0, fmt.Errorf("authserver: prune %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("authserver: prune %s: %w", table, err)
		}
		total += n
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("authserver: prune: %w", err)
	}
	return total, nil
}
