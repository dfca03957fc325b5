package authserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors the HTTP layer and the CLI map to answers. Compare with errors.Is;
// the returned errors wrap them with details.
var (
	// ErrInvalidCredentials is Authenticate's one answer for an unknown
	// user name, a wrong password and a disabled user alike, so that a
	// caller cannot tell which names exist or which accounts are disabled.
	ErrInvalidCredentials = errors.New("authserver: wrong user name or password")
	// ErrUserExists: AddUser was given a name that is taken, in any case.
	ErrUserExists = errors.New("a user with that name already exists")
	// ErrNotFound: no user or client by that name or ID.
	ErrNotFound = errors.New("not found")
	// ErrFederatedUser: the user signs in through the upstream provider,
	// so they have no password to set.
	ErrFederatedUser = errors.New("the user signs in through the identity provider and has no password here")
)

// ValidationError reports an argument that cannot be stored.
type ValidationError struct {
	Field  string // "name", "password", "email" or "source"
	Reason string
}

func (e *ValidationError) Error() string { return "authserver: " + e.Field + " " + e.Reason }

// Limits on user fields.
const (
	MaxUserNameLen = 64
	MaxEmailLen    = 254 // RFC 5321 §4.5.3.1.3's path limit, less the brackets
	// SubjectPrefix starts every user's subject.
	SubjectPrefix = "u_"
)

// User is a local account. Its Subject is the OAuth "sub": random, stable
// for the life of the account, and never derived from the name, which the
// operator may reuse after the account is gone.
type User struct {
	Subject string
	// Name is the sign-in name as it was added; names are unique without
	// regard to (ASCII) case.
	Name string
	// Email is empty when none was given. EmailVerified is set only by
	// an operator (SetEmail), never by the user.
	Email         string
	EmailVerified bool
	// DisabledAt is the zero time while the account is enabled.
	DisabledAt time.Time
	CreatedAt  time.Time
	// UpstreamIssuer and UpstreamSubject are set for a user who signs in
	// through the upstream provider (and has no password): the provider's
	// issuer and its sub for the person.
	UpstreamIssuer, UpstreamSubject string
}

// Federated reports whether the user signs in through the upstream
// provider rather than with a password.
func (u User) Federated() bool { return u.UpstreamIssuer != "" }

// Disabled reports whether the account is disabled.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// Users manages local accounts: the users table of a Store, with a Hasher
// for their passwords. Its methods are safe for concurrent use.
type Users struct {
	s *Store
	h *Hasher
}

// NewUsers returns the accounts of s, whose passwords h hashes.
func NewUsers(s *Store, h *Hasher) *Users { return &Users{s: s, h: h} }

// ValidateUserName checks a user name: 1 to MaxUserNameLen ASCII letters,
// digits, dots, underscores and hyphens, starting with a letter or digit
// (so that no name looks like a command-line flag). ASCII only, because
// non-ASCII look-alikes would let one person pass for another and because
// uniqueness ignores ASCII case only.
func ValidateUserName(name string) error {
	if name == "" {
		return &ValidationError{Field: "name", Reason: "must not be empty"}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isASCIIAlnum(c) && c != '.' && c != '_' && c != '-' {
			return &ValidationError{Field: "name", Reason: "may contain only ASCII letters, digits, '.', '_' and '-'"}
		}
	}
	switch {
	case len(name) > MaxUserNameLen: // ASCII by now: bytes are characters
		return &ValidationError{Field: "name", Reason: fmt.Sprintf("is %d characters long; at most %d are allowed", len(name), MaxUserNameLen)}
	case !isASCIIAlnum(name[0]):
		return &ValidationError{Field: "name", Reason: "must start with a letter or digit"}
	}
	return nil
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validateEmail checks an optional email address: a bare addr-spec
// (no display name, no angle brackets), at most MaxEmailLen bytes.
func validateEmail(email string) error {
	if email == "" {
		return nil
	}
	if len(email) > MaxEmailLen {
		return &ValidationError{Field: "email", Reason: fmt.Sprintf("is %d bytes long; at most %d are allowed", len(email), MaxEmailLen)}
	}
	if !utf8.ValidString(email) || strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return &ValidationError{Field: "email", Reason: "must not contain spaces or control characters"}
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return &ValidationError{Field: "email", Reason: fmt.Sprintf("%q is not an email address like name@example.com", email)}
	}
	return nil
}

// newSubject returns SubjectPrefix and 20 random lower-case base32
// characters (100 bits).
func newSubject() string {
	return SubjectPrefix + randomBase32(20)
}

// base32Alphabet is lower-case RFC 4648 base32: no 0, 1, 8 or 9, so an o or
// l read off a screen cannot be mistyped as a digit, and no character a
// shell, URL or form encoding treats specially.
const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// randomBase32 returns n random base32Alphabet characters (5 bits each).
func randomBase32(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: it crashes the program instead (Go 1.24)
	for i := range b {
		// 256 is a multiple of 32, so every character is equally likely.
		b[i] = base32Alphabet[b[i]%32]
	}
	return string(b)
}

// AddUser creates an enabled account. email may be empty; it starts out
// unverified. The name must be free in any case (ErrUserExists).
func (u *Users) AddUser(ctx context.Context, name, password, email string) (User, error) {
	if err := errors.Join(ValidateUserName(name), ValidatePassword(password), validateEmail(email)); err != nil {
		return User{}, err
	}
	// Hashed before the transaction, so the single writer connection is
	// never held while argon2 runs.
	hash, err := u.h.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	user := User{
		Subject:   newSubject(),
		Name:      name,
		Email:     email,
		CreatedAt: time.Unix(0, u.s.now().UnixNano()).UTC(),
	}

	tx, err := u.s.db.BeginWrite(ctx)
	if err != nil {
		return User{}, fmt.Errorf("authserver: add user %q: %w", name, err)
	}
	defer tx.Rollback() // a no-op after Commit
	// Checked in the same (IMMEDIATE) transaction, so no concurrent AddUser
	// can take the name in between; checking first, rather than reading the
	// driver's constraint error, keeps a name clash apart from any other
	// failure. (A subject collision, at 100 random bits, fails loudly.)
	taken, err := nameTaken(ctx, tx, name)
	if err != nil {
		return User{}, fmt.Errorf("authserver: add user %q: %w", name, err)
	}
	if taken {
		return User{}, fmt.Errorf("authserver: add user %q: %w", name, ErrUserExists)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, password_hash, email, email_verified, disabled_at, created_at)
		VALUES ($1, $2, $3, $4, FALSE, NULL, $5)`,
		user.Subject, name, hash, nullString(email), user.CreatedAt.UnixNano()); err != nil {
		return User{}, fmt.Errorf("authserver: add user %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("authserver: add user %q: %w", name, err)
	}
	return user, nil
}

// nameTaken reports whether an account has this name, in any case.
func nameTaken(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	var taken bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE name = $1)`, name).Scan(&taken)
	return taken, err
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// userColumns are scanned by scanUser, in its order.
const userColumns = `id, name, email, email_verified, disabled_at, created_at, upstream_issuer, upstream_subject`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (User, error) {
	var (
		user       User
		email      sql.NullString
		disabledAt sql.NullInt64
		createdAt  int64
		iss, sub   sql.NullString
	)
	if err := row.Scan(append([]any{&user.Subject, &user.Name, &email, &user.EmailVerified, &disabledAt, &createdAt, &iss, &sub}, extra...)...); err != nil {
		return User{}, err
	}
	user.UpstreamIssuer, user.UpstreamSubject = iss.String, sub.String
	user.Email = email.String
	if disabledAt.Valid {
		user.DisabledAt = time.Unix(0, disabledAt.Int64).UTC()
	}
	user.CreatedAt = time.Unix(0, createdAt).UTC()
	return user, nil
}

// ListUsers returns every account, ordered by name without regard to case.
func (u *Users) ListUsers(ctx context.Context) ([]User, error) {
	scan := func(row interface{ Scan(...any) error }) (User, error) { return scanUser(row) }
	return queryAll(ctx, u.s.db.Reader, "users", scan, `SELECT `+userColumns+` FROM users ORDER BY name, id`)
}

// CountUsers returns how many accounts exist, disabled ones included.
func (u *Users) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := u.s.db.Reader.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("authserver: count users: %w", err)
	}
	return n, nil
}

// UserBySubject returns the account with that subject, or ErrNotFound.
func (u *Users) UserBySubject(ctx context.Context, subject string) (User, error) {
	user, err := scanUser(u.s.db.Reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("authserver: user %q: %w", subject, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("authserver: user %q: %w", subject, err)
	}
	return user, nil
}

// UserByName returns the account with that sign-in name (any case), or
// ErrNotFound.
func (u *Users) UserByName(ctx context.Context, name string) (User, error) {
	user, err := scanUser(u.s.db.Reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1 COLLATE NOCASE`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("authserver: user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("authserver: user %q: %w", name, err)
	}
	return user, nil
}

// UserDisabled reports whether the account with that subject may not get or
// use tokens: true when it is disabled, and also when there is no such
// account, so that an auth check built on it fails closed. It reads the
// database on every call, so a DisableUser committed by another process
// (the CLI) takes effect on the very next check.
func (u *Users) UserDisabled(ctx context.Context, subject string) (bool, error) {
	var disabled bool
	err := u.s.db.Reader.QueryRowContext(ctx, `SELECT disabled_at IS NOT NULL FROM users WHERE id = $1`, subject).Scan(&disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return true, fmt.Errorf("authserver: check user %q: %w", subject, err)
	}
	return disabled, nil
}

// Authenticate checks a sign-in. Unknown name, wrong password and disabled
// account all give ErrInvalidCredentials, and all cost one password hash
// (a dummy one for an unknown name), so neither the answer nor its timing
// tells which names exist. Other errors (the context ended while waiting to
// hash, the database failed) are returned as they are.
//
// After a successful sign-in with a hash made under older parameters, the
// password is re-hashed with the current ones.
func (u *Users) Authenticate(ctx context.Context, name, password string) (User, error) {
	if len(password) > MaxPasswordBytes {
		// Never a valid password, whoever the user; refused before any
		// work, and independently of the name.
		return User{}, ErrInvalidCredentials
	}
	var stored sql.NullString
	user, err := scanUser(u.s.db.Reader.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE name = $1`, name), &stored)
	// A user who signs in through the upstream provider has no password,
	// and is answered like an unknown name.
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !stored.Valid) {
		if err := u.h.VerifyDummy(ctx, password); err != nil {
			return User{}, err
		}
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authserver: sign-in: %w", err)
	}
	hash := stored.String
	ok, err := u.h.Verify(ctx, password, hash)
	if err != nil {
		return User{}, fmt.Errorf("authserver: sign-in: user %q: %w", user.Name, err)
	}
	// Checked after the hash, so a disabled account costs the same.
	if !ok || user.Disabled() {
		return User{}, ErrInvalidCredentials
	}
	if u.h.needsRehash(hash) {
		u.rehash(ctx, user.Subject, hash, password)
	}
	return user, nil
}

// rehash replaces old, a hash of password made under other parameters, by
// one made under the current ones, unless the password changed meanwhile.
// It is best effort: the sign-in already succeeded, and a failure (say, a
// password that no longer meets today's rules) only means the old hash
// stays, to be tried again next time.
func (u *Users) rehash(ctx context.Context, subject, old, password string) {
	hash, err := u.h.Hash(ctx, password)
	if err != nil {
		return
	}
	_, _ = u.s.db.ExecWrite(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3`, hash, subject, old)
}

// SetPasswordOptions tune SetPassword.
type SetPasswordOptions struct {
	// KeepGrants leaves the account's grants (its connected apps) and
	// remembered consents as they are.
	KeepGrants bool
}

// PasswordChange is what SetPassword did besides setting the password.
type PasswordChange struct {
	SessionsEnded int64 // browser sessions signed out
	GrantsRevoked int64 // live grants revoked (none with KeepGrants)
}

// SetPassword sets the password of the account name (in any case), or
// returns ErrNotFound. In the same transaction it ends the account's
// browser sessions and, unless opts.KeepGrants, revokes its live grants
// and forgets its consents.
//
// A password is changed mostly because it leaked. Whoever used it may have
// connected an agent, whose refresh token would otherwise keep working
// for as long as the agent keeps refreshing; so the agents go too, and
// reconnecting asks the person again. The revocation reaches running
// servers as DisableUser's does (revocationChanged): their tokens are
// refused from the next request.
func (u *Users) SetPassword(ctx context.Context, name, password string, opts SetPasswordOptions) (PasswordChange, error) {
	var done PasswordChange
	if err := ValidatePassword(password); err != nil {
		return done, err
	}
	hash, err := u.h.Hash(ctx, password)
	if err != nil {
		return done, err
	}
	fail := func(err error) (PasswordChange, error) {
		return PasswordChange{}, fmt.Errorf("authserver: set password of %q: %w", name, err)
	}
	tx, err := u.s.db.BeginWrite(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE name = $2 AND upstream_issuer IS NULL`, hash, name)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(err)
	} else if n == 0 {
		var federated bool
		err := tx.QueryRowContext(ctx, `SELECT upstream_issuer IS NOT NULL FROM users WHERE name = $1`, name).Scan(&federated)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fail(ErrNotFound)
		case err != nil:
			return fail(err)
		default:
			return fail(ErrFederatedUser)
		}
	}
	if done.SessionsEnded, err = execCount(ctx, tx, `DELETE FROM sessions WHERE `+ofUserNamed, name); err != nil {
		return fail(err)
	}
	if !opts.KeepGrants {
		if done.GrantsRevoked, err = execCount(ctx, tx, `UPDATE grants SET revoked_at = $2, revoke_reason = $3
			WHERE `+ofUserNamed+` AND revoked_at IS NULL`, name, u.s.now().UnixNano(), RevokeReasonPasswordChanged); err != nil {
			return fail(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM consents WHERE `+ofUserNamed, name); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	if done.GrantsRevoked > 0 {
		if err := u.s.revocationChanged(); err != nil {
			return done, fmt.Errorf("authserver: set password of %q: %w", name, err)
		}
	}
	return done, nil
}

// execCount runs a statement in tx and returns how many rows it changed.
func execCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SetEmail sets (or, with "", clears) the email of the account name, and
// whether the operator vouches that it belongs to the person; verified
// needs an email. Only email_verified addresses are released to clients.
func (u *Users) SetEmail(ctx context.Context, name, email string, verified bool) error {
	if err := validateEmail(email); err != nil {
		return err
	}
	if email == "" && verified {
		return &ValidationError{Field: "email", Reason: "must be given to be marked verified"}
	}
	res, err := u.s.db.ExecWrite(ctx, `UPDATE users SET email = $1, email_verified = $2 WHERE name = $3`, nullString(email), verified, name)
	if err != nil {
		return fmt.Errorf("authserver: set email of %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("authserver: set email of %q: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("authserver: set email of %q: %w", name, ErrNotFound)
	}
	return nil
}

// ofUserNamed limits a statement on a user's rows (subject) to the user
// whose name is its first argument.
const ofUserNamed = `subject = (SELECT id FROM users WHERE name = $1)`

// DisableUser disables the account name and reports whether it was
// enabled until now; ErrNotFound if there is none. In the same transaction
// it revokes the user's grants, forgets their consents and ends their
// browser sessions: a disabled account cannot sign in, and nothing it
// authorized keeps working (UserDisabled also reports it from the next
// call on, which grant checks consult). Enabling it again restores none of
// that.
func (u *Users) DisableUser(ctx context.Context, name string) (bool, error) {
	now := u.s.now().UnixNano()
	return u.setDisabled(ctx, "disable", name, `UPDATE users SET disabled_at = $1 WHERE name = $2 AND disabled_at IS NULL`,
		func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $2, revoke_reason = $3
				WHERE `+ofUserNamed+` AND revoked_at IS NULL`, name, now, RevokeReasonUserDisabled); err != nil {
				return err
			}
			for _, table := range []string{"consents", "sessions"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+ofUserNamed, name); err != nil {
					return err
				}
			}
			return nil
		}, now, name)
}

// EnableUser enables the account name again and reports whether it was
// disabled until now; ErrNotFound if there is none.
func (u *Users) EnableUser(ctx context.Context, name string) (bool, error) {
	return u.setDisabled(ctx, "enable", name, `UPDATE users SET disabled_at = NULL WHERE name = $1 AND disabled_at IS NOT NULL`, nil, name)
}

// setDisabled runs query (which changes disabled_at) and, when it changed
// the account, also runs then in the same transaction.
func (u *Users) setDisabled(ctx context.Context, verb, name, query string, then func(*sql.Tx) error, args ...any) (bool, error) {
	tx, err := u.s.db.BeginWrite(ctx)
	if err != nil {
		return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
	}
	if n > 0 && then != nil {
		if err := then(tx); err != nil {
			return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
		}
	}
	if n == 0 {
		exists, err := nameTaken(ctx, tx, name)
		if err != nil {
			return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
		}
		if !exists {
			return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, ErrNotFound)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
	}
	// A disabled user's tokens are refused like revoked ones (and an
	// enabled user's are not), so revocation caches must start over.
	if n > 0 {
		if err := u.s.revocationChanged(); err != nil {
			return true, fmt.Errorf("authserver: %s user %q: %w", verb, name, err)
		}
	}
	return n > 0, nil
}
