package authserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Limits on pending upstream sign-ins, which anyone can start: each is a
// row until its person comes back or it expires.
const (
	// UpstreamLoginLifetime is how long a person may take at the
	// provider before the callback no longer accepts their state.
	UpstreamLoginLifetime = 10 * time.Minute
	// maxUpstreamRequestBytes bounds the authorization request a pending
	// sign-in keeps: a state at its limit and the other parameters at
	// sizes that clients use.
	maxUpstreamRequestBytes = MaxStateLen + 8<<10
	// maxPendingUpstreamLogins bounds the live rows (at most about 80 MB),
	// whatever the number of addresses starting them.
	maxPendingUpstreamLogins = 5000
)

// errTooManyUpstreamLogins: maxPendingUpstreamLogins are under way.
var errTooManyUpstreamLogins = errors.New("authserver: too many upstream sign-ins under way")

// upstreamLogin is a sign-in sent to the provider and not yet back.
type upstreamLogin struct {
	State, Nonce, Verifier string
	// Browser is the secret of the browser's sign-in cookie, which the
	// callback must bring back.
	Browser string
	// Request is the authorization request to continue, form-encoded;
	// "" continues to the account page.
	Request string
}

// saveUpstreamLogin stores l until the callback takes it, at most
// UpstreamLoginLifetime. With maxPendingUpstreamLogins live already it
// stores nothing and returns errTooManyUpstreamLogins; expired rows are
// deleted first, so they never count.
func (s *Store) saveUpstreamLogin(ctx context.Context, l upstreamLogin) error {
	if len(l.Request) > maxUpstreamRequestBytes {
		return &ValidationError{Field: "request", Reason: fmt.Sprintf("is %d bytes long; at most %d are kept", len(l.Request), maxUpstreamRequestBytes)}
	}
	now := s.now()
	fail := func(err error) error { return fmt.Errorf("authserver: save upstream sign-in: %w", err) }
	tx, err := s.db.BeginWrite(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM upstream_logins WHERE expires_at <= $1`, now.UnixNano()); err != nil {
		return fail(err)
	}
	var live int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM upstream_logins`).Scan(&live); err != nil {
		return fail(err)
	}
	if live >= maxPendingUpstreamLogins {
		return errTooManyUpstreamLogins
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO upstream_logins
		(state_hash, browser_hash, nonce, verifier, request, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		hashSecret(l.State), hashSecret(l.Browser), l.Nonce, l.Verifier, l.Request,
		now.UnixNano(), now.Add(UpstreamLoginLifetime).UnixNano()); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// takeUpstreamLogin deletes and returns the live sign-in with this state,
// or ErrNotFound: unknown, expired, taken already (a state works once), or
// brought back by another browser than the one that started it. A state
// brought by another browser is not deleted, so a third party who got
// hold of it cannot spoil the person's own sign-in.
func (s *Store) takeUpstreamLogin(ctx context.Context, state, browser string) (upstreamLogin, error) {
	l := upstreamLogin{State: state, Browser: browser}
	if state == "" || browser == "" {
		return l, fmt.Errorf("authserver: upstream sign-in: %w", ErrNotFound)
	}
	tx, err := s.db.BeginWrite(ctx)
	if err != nil {
		return l, fmt.Errorf("authserver: upstream sign-in: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	err = tx.QueryRowContext(ctx, `DELETE FROM upstream_logins
		WHERE state_hash = $1 AND browser_hash = $2 AND expires_at > $3
		RETURNING nonce, verifier, request`,
		hashSecret(state), hashSecret(browser), s.now().UnixNano()).Scan(&l.Nonce, &l.Verifier, &l.Request)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("authserver: upstream sign-in: %w", ErrNotFound)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return l, fmt.Errorf("authserver: upstream sign-in: %w", err)
	}
	return l, nil
}

// PruneUpstreamLogins deletes the sign-ins that never came back in time,
// and returns how many.
func (s *Store) PruneUpstreamLogins(ctx context.Context) (int64, error) {
	res, err := s.db.ExecWrite(ctx, `DELETE FROM upstream_logins WHERE expires_at <= $1`, s.now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("authserver: prune upstream sign-ins: %w", err)
	}
	return res.RowsAffected()
}
