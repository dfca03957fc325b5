package authserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/authserver/upstream"
)

// ErrUserDisabled: a federated sign-in reached an account the operator
// disabled.
var ErrUserDisabled = errors.New("the account is disabled")

// SignInUpstream returns the local account of a person the upstream
// provider signed in, found by (issuer, subject) and never by email. On
// first sign-in the account is created, with a name made from the email
// (or the provider's user name) and no password. The email and whether the
// provider verified it are refreshed at every sign-in. A disabled account
// gives ErrUserDisabled (with the user).
//
// The admission policy is the caller's to check first: this only maps.
func (u *Users) SignInUpstream(ctx context.Context, id upstream.Identity) (user User, created bool, err error) {
	if id.Issuer == "" || id.Subject == "" {
		return User{}, false, &ValidationError{Field: "subject", Reason: "must come with its issuer"}
	}
	fail := func(err error) (User, bool, error) {
		return User{}, false, fmt.Errorf("authserver: upstream sign-in: %w", err)
	}
	// An address this server would refuse from an operator is not
	// stored (nor trusted) from a provider either.
	email, verified := id.Email, id.EmailVerified
	if validateEmail(email) != nil {
		email, verified = "", false
	}

	tx, err := u.s.db.BeginWrite(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	user, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE upstream_issuer = $1 AND upstream_subject = $2`,
		id.Issuer, id.Subject))
	switch {
	case err == nil:
		if user.Disabled() {
			return user, false, fmt.Errorf("authserver: upstream sign-in of %s: %w", user.Subject, ErrUserDisabled)
		}
		if user.Email != email || user.EmailVerified != verified {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, email_verified = $2 WHERE id = $3`,
				nullString(email), verified, user.Subject); err != nil {
				return fail(err)
			}
			user.Email, user.EmailVerified = email, verified
		}
	case errors.Is(err, sql.ErrNoRows):
		name, err := freeName(ctx, tx, federatedName(id))
		if err != nil {
			return fail(err)
		}
		user = User{
			Subject: newSubject(), Name: name, Email: email, EmailVerified: verified,
			CreatedAt:      time.Unix(0, u.s.now().UnixNano()).UTC(),
			UpstreamIssuer: id.Issuer, UpstreamSubject: id.Subject,
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, password_hash, upstream_issuer, upstream_subject, email, email_verified, created_at)
			VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)`,
			user.Subject, name, id.Issuer, id.Subject, nullString(email), verified, user.CreatedAt.UnixNano()); err != nil {
			return fail(err)
		}
		created = true
	default:
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return user, created, nil
}

// federatedName makes a user name (ValidateUserName) for a new federated
// account: the local part of the email, or of the provider's user name,
// with every other character replaced by '-'. Names are for the operator's
// CLI and the person's account page; the subject, not the name, is who
// the user is.
func federatedName(id upstream.Identity) string {
	base := id.Email
	if base == "" {
		base = id.PreferredUsername
	}
	if at := strings.LastIndexByte(base, '@'); at >= 0 {
		base = base[:at]
	}
	var b strings.Builder
	for i := 0; i < len(base) && b.Len() < MaxUserNameLen-8; i++ { // room for a "-NNN" suffix
		c := base[i]
		switch {
		case isASCIIAlnum(c) || (b.Len() > 0 && (c == '.' || c == '_' || c == '-')):
			b.WriteByte(c)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	name := strings.TrimRight(b.String(), ".-_")
	if name == "" {
		return "user"
	}
	return name
}

// freeName returns base, or base-2, base-3, … up to the first name no
// account has (in any case), inside tx so that no concurrent sign-in takes
// it in between. Past base-1000 (never in practice) a random suffix ends
// the search.
func freeName(ctx context.Context, tx *sql.Tx, base string) (string, error) {
	for n := 1; n <= 1001; n++ {
		name := base
		switch {
		case n == 1001:
			name = base + "-" + randomBase32(6)
		case n > 1:
			name = base + "-" + strconv.Itoa(n)
		}
		taken, err := nameTaken(ctx, tx, name)
		if err != nil || !taken {
			return name, err
		}
	}
	return "", errors.New("no free user name")
}
