package authserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// UpstreamLoginLifetime is how long a person may take at the provider
// before the callback no longer accepts their state.
const UpstreamLoginLifetime = 10 * time.Minute

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
// UpstreamLoginLifetime.
func (s *Store) saveUpstreamLogin(ctx context.Context, l upstreamLogin) error {
	now := s.now()
	if _, err := s.db.Writer.ExecContext(ctx, `INSERT INTO upstream_logins
		(state_hash, browser_hash, nonce, verifier, request, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		hashSecret(l.State), hashSecret(l.Browser), l.Nonce, l.Verifier, l.Request,
		now.UnixNano(), now.Add(UpstreamLoginLifetime).UnixNano()); err != nil {
		return fmt.Errorf("authserver: save upstream sign-in: %w", err)
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
	err := s.db.Writer.QueryRowContext(ctx, `DELETE FROM upstream_logins
		WHERE state_hash = ? AND browser_hash = ? AND expires_at > ?
		RETURNING nonce, verifier, request`,
		hashSecret(state), hashSecret(browser), s.now().UnixNano()).Scan(&l.Nonce, &l.Verifier, &l.Request)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("authserver: upstream sign-in: %w", ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("authserver: upstream sign-in: %w", err)
	}
	return l, nil
}

// PruneUpstreamLogins deletes the sign-ins that never came back in time,
// and returns how many.
func (s *Store) PruneUpstreamLogins(ctx context.Context) (int64, error) {
	res, err := s.db.Writer.ExecContext(ctx, `DELETE FROM upstream_logins WHERE expires_at <= ?`, s.now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("authserver: prune upstream sign-ins: %w", err)
	}
	return res.RowsAffected()
}
