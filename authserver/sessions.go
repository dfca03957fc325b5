package authserver

// Browser sessions and CSRF tokens of the sign-in, consent and account
// pages.
//
// Session: signing in creates a random 256-bit id, sent as an HttpOnly,
// SameSite=Lax cookie (Secure, and with the __Host- prefix, when the issuer
// is https) and stored only as its SHA-256. It lasts SessionLifetime from
// sign-in, and ends sooner when unused for SessionIdleTimeout: these pages
// are visited for a minute while an app is connected, and now and then to
// revoke one, so there is no reason to keep a person signed in on a shared
// computer for days. Signing out deletes the row.
//
// CSRF: every form carries a hidden token that is an HMAC keyed with a
// secret only the browser's cookie holds:
//
//   - forms of a signed-in person (consent, revoke, sign out): HMAC(session
//     id). The token is per session, needs no storage or server-wide secret,
//     and the database (which holds only the id's hash) cannot yield it.
//   - the sign-in forms, shown before any session exists: a "pre-session"
//     cookie holding its own random value, and HMAC(that value) in the
//     form (a signed double-submit cookie). This stops login CSRF, where a
//     forged post would sign the victim in to the attacker's account.
//
// The two kinds use different HMAC labels, so neither token can stand in for
// the other. Checks compare in constant time. A cross-site post fails twice
// over: SameSite=Lax keeps the cookies off it, and the attacker cannot read
// the token from the page. On https the __Host- prefix also keeps a sibling
// subdomain from planting ("tossing") its own cookie and token pair.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Session lifetimes.
const (
	// SessionLifetime is how long a sign-in lasts at most.
	SessionLifetime = 12 * time.Hour
	// SessionIdleTimeout ends a session that has not been used for this
	// long, whatever its lifetime says.
	SessionIdleTimeout = 2 * time.Hour
	// sessionTouchEvery is how stale last_seen may get before a use writes
	// it again: the idle timeout needs no finer grain, and most page views
	// then cost no write.
	sessionTouchEvery = time.Minute
)

// Cookie names. On https the __Host- prefix makes browsers insist on
// Secure, Path=/ and no Domain, so no other host can set or shadow them.
const (
	sessionCookie    = "kanban_session"
	preSessionCookie = "kanban_signin"
	hostCookiePrefix = "__Host-"
)

// HMAC labels of the two kinds of CSRF token. They are fixed on purpose and
// do not follow product.Name: a fork that renames the product keeps them, or
// every open form of a running deployment would fail its CSRF check.
const (
	csrfLabelSession = "kanban-mcp session csrf v1"
	csrfLabelSignIn  = "kanban-mcp sign-in csrf v1"
)

// sessionIDBytes is the entropy of session ids and pre-session values.
const sessionIDBytes = 32

// Session is a signed-in browser session.
type Session struct {
	Subject string // the signed-in user (users.id)
	// CreatedAt is when the person signed in: the auth_time of the grants
	// made in this session.
	CreatedAt time.Time
	ExpiresAt time.Time
	LastSeen  time.Time
	// Federated says the user signs in through the upstream provider;
	// LookupSession sets it.
	Federated bool
}

// newSessionSecret returns 256 random bits, base64url without padding (43
// characters).
func newSessionSecret() string {
	b := make([]byte, sessionIDBytes)
	rand.Read(b) // never fails: it crashes the program instead (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// wellFormedSecret reports whether v could be a value newSessionSecret made;
// anything else from a cookie is ignored without touching the database.
func wellFormedSecret(v string) bool {
	if len(v) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == sessionIDBytes
}

func hashSessionID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// CreateSession signs subject in for SessionLifetime: it stores a new
// session and returns its id, the cookie value, which is not stored and
// cannot be recovered.
func (s *Store) CreateSession(ctx context.Context, subject string) (string, Session, error) {
	return s.CreateSessionFor(ctx, subject, SessionLifetime)
}

// CreateSessionFor is CreateSession for at most lifetime (never more than
// SessionLifetime): a federated sign-in lasts no longer than the provider's
// sign-in may be trusted.
func (s *Store) CreateSessionFor(ctx context.Context, subject string, lifetime time.Duration) (string, Session, error) {
	if subject == "" {
		return "", Session{}, &ValidationError{Field: "subject", Reason: "must not be empty"}
	}
	if lifetime <= 0 || lifetime > SessionLifetime {
		lifetime = SessionLifetime
	}
	now := time.Unix(0, s.now().UnixNano()).UTC()
	sess := Session{Subject: subject, CreatedAt: now, ExpiresAt: now.Add(lifetime), LastSeen: now}
	id := newSessionSecret()
	if _, err := s.db.ExecWrite(ctx, `INSERT INTO sessions (id_hash, subject, created_at, expires_at, last_seen)
		VALUES ($1, $2, $3, $4, $5)`, hashSessionID(id), subject, now.UnixNano(), sess.ExpiresAt.UnixNano(), now.UnixNano()); err != nil {
		return "", Session{}, fmt.Errorf("authserver: create session: %w", err)
	}
	return id, sess, nil
}

// LookupSession returns the live session with this id, or ErrNotFound when
// there is none: unknown, expired, idle for too long, or its user disabled.
// A use refreshes the session's last_seen (at most once a minute).
func (s *Store) LookupSession(ctx context.Context, id string) (Session, error) {
	if !wellFormedSecret(id) {
		return Session{}, fmt.Errorf("authserver: session: %w", ErrNotFound)
	}
	now := s.now()
	hash := hashSessionID(id)
	var sess Session
	var created, expires, lastSeen int64
	err := s.db.Reader.QueryRowContext(ctx, `SELECT s.subject, s.created_at, s.expires_at, s.last_seen, u.upstream_issuer IS NOT NULL
		FROM sessions s JOIN users u ON u.id = s.subject
		WHERE s.id_hash = $1 AND u.disabled_at IS NULL AND s.expires_at > $2 AND s.last_seen > $3`,
		hash, now.UnixNano(), now.Add(-SessionIdleTimeout).UnixNano()).Scan(&sess.Subject, &created, &expires, &lastSeen, &sess.Federated)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("authserver: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("authserver: session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt, sess.LastSeen = fromNano(created), fromNano(expires), fromNano(lastSeen)
	if now.Sub(sess.LastSeen) >= sessionTouchEvery {
		if _, err := s.db.ExecWrite(ctx, `UPDATE sessions SET last_seen = $1 WHERE id_hash = $2`, now.UnixNano(), hash); err != nil {
			return Session{}, fmt.Errorf("authserver: session: touch: %w", err)
		}
		sess.LastSeen = fromNano(now.UnixNano())
	}
	return sess, nil
}

// DeleteSession signs a session out. An unknown id is not an error: the
// result, no such session, is the same.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if !wellFormedSecret(id) {
		return nil
	}
	if _, err := s.db.ExecWrite(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hashSessionID(id)); err != nil {
		return fmt.Errorf("authserver: delete session: %w", err)
	}
	return nil
}

// PruneSessions deletes the sessions that expired or went idle, and returns
// how many it deleted. LookupSession refuses them anyway; this only keeps
// the table small, so call it from a timer (hourly is plenty).
func (s *Store) PruneSessions(ctx context.Context) (int64, error) {
	now := s.now()
	res, err := s.db.ExecWrite(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen <= $2`,
		now.UnixNano(), now.Add(-SessionIdleTimeout).UnixNano())
	if err != nil {
		return 0, fmt.Errorf("authserver: prune sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("authserver: prune sessions: %w", err)
	}
	return n, nil
}

// csrfToken derives the CSRF token of forms protected by secret (a session
// id or a pre-session value) for one purpose label.
func csrfToken(secret, label string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid checks a submitted token in constant time. An empty secret
// (no cookie) never validates.
func csrfValid(secret, label, got string) bool {
	if secret == "" || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(csrfToken(secret, label)), []byte(got)) == 1
}

// cookieName returns the name of a cookie, with the __Host- prefix on https.
func (s *Server) cookieName(base string) string {
	if s.secure {
		return hostCookiePrefix + base
	}
	return base
}

// setCookie sets one of the pages' cookies: HttpOnly (no script needs them),
// SameSite=Lax (sent on the top-level navigation from the client to the
// authorization endpoint, never on cross-site posts), Path=/, Secure on
// https. maxAge 0 makes a browser-session cookie; negative deletes it.
func (s *Server) setCookie(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(base),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// cookieValue returns the value of one of the pages' cookies, "" if absent.
func (s *Server) cookieValue(r *http.Request, base string) string {
	c, err := r.Cookie(s.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// signedIn is the session of a request, with the id that the CSRF token of
// its forms derives from.
type signedIn struct {
	Session
	id string
}

// csrf returns the token of the session's forms.
func (si *signedIn) csrf() string { return csrfToken(si.id, csrfLabelSession) }

// currentSession returns the request's live session, or nil when it has
// none. Errors are the database's.
func (s *Server) currentSession(r *http.Request) (*signedIn, error) {
	id := s.cookieValue(r, sessionCookie)
	if id == "" {
		return nil, nil
	}
	sess, err := s.opts.Store.LookupSession(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.federatedSessionEnded(sess) {
		// Older than the provider's sign-in may be trusted (a lowered
		// UPSTREAM_SESSION_MAX_AGE, or federation switched off): the
		// person signs in through the provider again.
		return nil, nil
	}
	return &signedIn{Session: sess, id: id}, nil
}

// startSession signs subject in for at most lifetime and sets the session
// cookie. The id is always new, never one the browser brought (no session
// fixation).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, subject string, lifetime time.Duration) (*signedIn, error) {
	if old := s.cookieValue(r, sessionCookie); old != "" {
		if err := s.opts.Store.DeleteSession(r.Context(), old); err != nil {
			return nil, err
		}
	}
	id, sess, err := s.opts.Store.CreateSessionFor(r.Context(), subject, lifetime)
	if err != nil {
		return nil, err
	}
	s.setCookie(w, sessionCookie, id, int(sess.ExpiresAt.Sub(sess.CreatedAt)/time.Second))
	return &signedIn{Session: sess, id: id}, nil
}

// endSession signs the request's session out and deletes its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	if id := s.cookieValue(r, sessionCookie); id != "" {
		if err := s.opts.Store.DeleteSession(r.Context(), id); err != nil {
			return err
		}
	}
	s.setCookie(w, sessionCookie, "", -1)
	return nil
}

// signInCSRF returns the CSRF token for a sign-in form, setting the
// pre-session cookie when the browser has none yet. An existing value is
// reused, so that sign-in forms open in several tabs all stay valid.
func (s *Server) signInCSRF(w http.ResponseWriter, r *http.Request) string {
	v := s.cookieValue(r, preSessionCookie)
	if !wellFormedSecret(v) {
		v = newSessionSecret()
		s.setCookie(w, preSessionCookie, v, 0)
	}
	return csrfToken(v, csrfLabelSignIn)
}

// signInCSRFValid checks a posted sign-in form's token against the
// pre-session cookie.
func (s *Server) signInCSRFValid(r *http.Request, got string) bool {
	v := s.cookieValue(r, preSessionCookie)
	return wellFormedSecret(v) && csrfValid(v, csrfLabelSignIn, got)
}
