// Package authserver is kanban-mcp's built-in OAuth 2.1 authorization
// server: it lets any MCP client (ChatGPT included) discover it, register,
// sign a person in, and get a token scoped to what the person agreed to,
// without an external identity provider.
//
// It is a narrow, in-house server rather than a framework. None of fosite,
// zitadel/oidc or go-oauth2 supports dynamic client registration (RFC 7591),
// client ID metadata documents and resource indicators (RFC 8707) together,
// and fosite alone pulls in hundreds of modules. What it needs is small and
// well served by golang-jwt/jwt/v5 (tokens), golang.org/x/crypto (password
// hashing) and html/template (the sign-in and consent pages).
//
// The package owns its tables and SQL (signing keys, users, clients,
// grants, authorization codes, refresh tokens and consents) in the shared
// database file, under the migration component "authserver"; it shares none
// of store/'s kanban code. Client ID Metadata Documents are fetched, not
// stored (cimd.go).
// The resource server verifies its tokens through the same keyfunc/jwt path
// as any external issuer's, fed straight from the key table (KeySource), and
// asks it only whether a grant is revoked.
package authserver

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Store is the authorization server's persistent state.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

// Options tune Open.
type Options struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Open applies the authorization server's migrations to db and returns its
// store. The caller owns db.
func Open(ctx context.Context, db *sqldb.DB, opts Options) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("authserver migrations: %w", err)
	}
	if err := db.Migrate(ctx, "authserver", sub); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}, nil
}

// queryAll runs a query on the reader pool and scans every row with scan;
// what names the list in errors. It returns an empty, non-nil slice when
// there are no rows, so that lists print as [] rather than null.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("authserver: list %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("authserver: list %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authserver: list %s: %w", what, err)
	}
	return out, nil
}

// Unavailable reports whether err says that the database cannot be
// reached right now (PostgreSQL down or restarting), which the endpoints
// answer with 503 and a Retry-After rather than as a failure.
func (s *Store) Unavailable(err error) bool { return s.db.Unavailable(err) }

// revocationChanged tells the resource server's revocation cache, in this
// process and in others sharing the database (the CLI changes grants while
// the server runs), that a grant was revoked or a user disabled or
// enabled. Call it after the change committed.
func (s *Store) revocationChanged() error {
	if err := s.db.NoteRevocationChange(context.Background()); err != nil {
		return fmt.Errorf("the change is saved, but a running server may not refuse its tokens until restarted: %w", err)
	}
	return nil
}

// revocationChangedHere is revocationChanged for changes that only the
// running server makes (a replayed code, a reused refresh token, RFC 7009
// revocation): its own cache cannot answer from before the change
// whatever happens to the signal (the file signal and PostgreSQL's count
// the change here before they tell others; SQLite's shared counter, when
// it cannot count, cannot be read either until its file is grown back,
// which starts it at a new version, so the cache fails closed meanwhile),
// so a failure to tell other processes must not turn the refusal the
// client is owed into a server error.
func (s *Store) revocationChangedHere() { _ = s.db.NoteRevocationChange(context.Background()) }
