// Package revocation keeps the operator's persistent blocklist of users and
// clients whose access must be refused even though their tokens are still
// valid.
//
// The list lives in its own table of the shared SQLite file. The server
// consults it on every authenticated request through auth.RevocationChecker;
// the operator changes it with the CLI, from another process. Because the
// server asks the database on every call (one covering-index lookup, cheap
// next to verifying the token) rather than caching, an entry takes effect
// on the very next request after the CLI returns, and removing it restores
// access just as fast.
package revocation

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// component is this package's name in the schema_migrations table.
const component = "revocation"

// MaxValueLen is the longest issuer, subject, client ID or note accepted,
// in bytes. Real identifiers are far shorter; the limit keeps typos of the
// "pasted a whole token" kind out.
const MaxValueLen = 512

// Kind says what an Entry blocks.
type Kind string

// The kinds of entry.
const (
	// KindClient blocks every user of one client ID. Issuer and Subject
	// are empty.
	KindClient Kind = "client"
	// KindSubject blocks one user (Issuer + Subject). With ClientID set it
	// blocks only that user's use of that one client.
	KindSubject Kind = "subject"
)

// Entry is one blocklist entry.
type Entry struct {
	// ID names the entry for removal: "rv_" and 12 lower-case base32
	// characters, short enough to type.
	ID        string
	Kind      Kind
	Issuer    string
	Subject   string
	ClientID  string
	CreatedAt time.Time
	// Note is the operator's reason, free text; it may be empty.
	Note string
}

// ValidationError reports an argument that cannot be stored.
type ValidationError struct {
	Field  string // "issuer", "subject", "client ID" or "note"
	Reason string
}

func (e *ValidationError) Error() string { return "revocation: " + e.Field + " " + e.Reason }

// List is the blocklist on one database. Its methods are safe for
// concurrent use.
type List struct {
	db *sqldb.DB
	// revoked is prepared once (where that pays) because Revoked runs on
	// every authenticated request whose answer is not cached.
	revoked *sqldb.Stmt
	closed  atomic.Bool
}

var _ auth.RevocationChecker = (*List)(nil)

// revokedQuery answers Revoked. Each EXISTS is an equality search on
// revocations_by_target (kind, issuer, subject, client_id), covered by the
// index. The test of the client ($1) against the empty string keeps a client
// entry from matching tokens that name no client (the table's CHECK already
// forbids empty client entries; this says so where the query is read).
const revokedQuery = `SELECT
	EXISTS (SELECT 1 FROM revocations
	        WHERE kind = 'client' AND issuer = '' AND subject = '' AND client_id = $1 AND $1 <> '')
	OR
	EXISTS (SELECT 1 FROM revocations
	        WHERE kind = 'subject' AND issuer = $2 AND subject = $3 AND client_id IN ('', $1))`

// New applies the revocation migrations to db and prepares the list's
// check. The caller keeps owning db; Close the List before closing db.
func New(ctx context.Context, db *sqldb.DB) (*List, error) {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	stmt, err := db.Prepare(ctx, revokedQuery)
	if err != nil {
		return nil, fmt.Errorf("revocation: prepare check: %w", err)
	}
	return &List{db: db, revoked: stmt}, nil
}

// Close releases the check's statement and makes every later check fail.
// It does not close the database.
func (l *List) Close() error {
	l.closed.Store(true)
	if err := l.revoked.Close(); err != nil {
		return fmt.Errorf("revocation: close: %w", err)
	}
	return nil
}

// Revoked reports whether p's access is blocked: by a client entry for its
// client ID (when it has one), or by a subject entry for its issuer and
// subject that names no client or names p's. Issuer, subject and client ID
// are compared exactly, byte for byte. A nil p (anonymous) is never
// revoked.
//
// It reads the database on every call, so it sees entries that another
// process committed before the call began.
func (l *List) Revoked(ctx context.Context, p *auth.Principal) (bool, error) {
	if p == nil {
		return false, nil
	}
	if l.closed.Load() {
		return false, errors.New("revocation: check: the list is closed")
	}
	var revoked bool
	err := l.revoked.QueryRowContext(ctx, p.ClientID, p.Issuer, p.Subject).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("revocation: check: %w", err)
	}
	return revoked, nil
}

// RevokeClient blocks every user of clientID. If the same client is already
// blocked it returns the existing entry (with its original note) and adds
// nothing.
func (l *List) RevokeClient(ctx context.Context, clientID, note string) (Entry, error) {
	if err := errors.Join(
		checkValue("client ID", clientID, true),
		checkValue("note", note, false),
	); err != nil {
		return Entry{}, err
	}
	return l.add(ctx, Entry{Kind: KindClient, ClientID: clientID, Note: note})
}

// RevokeSubject blocks the user issuer + subject; with clientID set, only
// that user's use of that client. If the identical entry exists it returns
// that one (with its original note) and adds nothing. A subject entry
// without client and one with a client are different entries: both may
// exist, and removing the narrower leaves the wider in force.
func (l *List) RevokeSubject(ctx context.Context, issuer, subject, clientID, note string) (Entry, error) {
	if err := errors.Join(
		checkValue("issuer", issuer, true),
		checkValue("subject", subject, true),
		checkValue("client ID", clientID, false),
		checkValue("note", note, false),
	); err != nil {
		return Entry{}, err
	}
	return l.add(ctx, Entry{Kind: KindSubject, Issuer: issuer, Subject: subject, ClientID: clientID, Note: note})
}

// add inserts e unless an entry with the same target exists, and returns
// whichever entry is stored. The insert and the read-back share one
// (IMMEDIATE) transaction, so a concurrent Remove cannot slip between them.
func (l *List) add(ctx context.Context, e Entry) (Entry, error) {
	id := newID()
	tx, err := l.db.BeginWrite(ctx)
	if err != nil {
		return Entry{}, fmt.Errorf("revocation: add: begin: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit

	// The conflict target is the unique index only: an ID collision must
	// fail loudly, not be mistaken for a duplicate entry.
	_, err = tx.ExecContext(ctx, `INSERT INTO revocations (id, kind, issuer, subject, client_id, created_at, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (kind, issuer, subject, client_id) DO NOTHING`,
		id, string(e.Kind), e.Issuer, e.Subject, e.ClientID, time.Now().UnixNano(), e.Note)
	if err != nil {
		return Entry{}, fmt.Errorf("revocation: add: %w", err)
	}
	var createdAt int64
	err = tx.QueryRowContext(ctx, `SELECT id, created_at, note FROM revocations
		WHERE kind = $1 AND issuer = $2 AND subject = $3 AND client_id = $4`,
		string(e.Kind), e.Issuer, e.Subject, e.ClientID).Scan(&e.ID, &createdAt, &e.Note)
	if err != nil {
		return Entry{}, fmt.Errorf("revocation: add: read back: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, fmt.Errorf("revocation: add: commit: %w", err)
	}
	e.CreatedAt = time.Unix(0, createdAt).UTC()
	if err := l.changed(); err != nil {
		return e, fmt.Errorf("revocation: add: %w", err)
	}
	return e, nil
}

// List returns every entry, oldest first.
func (l *List) List(ctx context.Context) ([]Entry, error) {
	// rowid breaks ties between entries made in the same nanosecond (or
	// under a clock that stepped back) in insertion order.
	rows, err := l.db.Reader.QueryContext(ctx, `SELECT id, kind, issuer, subject, client_id, created_at, note
		FROM revocations ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("revocation: list: %w", err)
	}
	defer rows.Close()
	entries := []Entry{}
	for rows.Next() {
		var e Entry
		var kind string
		var createdAt int64
		if err := rows.Scan(&e.ID, &kind, &e.Issuer, &e.Subject, &e.ClientID, &createdAt, &e.Note); err != nil {
			return nil, fmt.Errorf("revocation: list: %w", err)
		}
		e.Kind = Kind(kind)
		e.CreatedAt = time.Unix(0, createdAt).UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revocation: list: %w", err)
	}
	return entries, nil
}

// Remove deletes the entry id and reports whether there was one.
func (l *List) Remove(ctx context.Context, id string) (bool, error) {
	res, err := l.db.ExecWrite(ctx, `DELETE FROM revocations WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("revocation: remove %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("revocation: remove %q: %w", id, err)
	}
	if n > 0 {
		if err := l.changed(); err != nil {
			return true, fmt.Errorf("revocation: remove %q: %w", id, err)
		}
	}
	return n > 0, nil
}

// changed tells revocation caches, in this process and in the running
// server, that the blocklist changed.
func (l *List) changed() error {
	if err := l.db.NoteRevocationChange(context.Background()); err != nil {
		return fmt.Errorf("the change is saved, but a running server may not see it until restarted: %w", err)
	}
	return nil
}

// checkValue validates one argument. Control characters are refused
// because no token carries them and because the CLI prints entries to a
// terminal; invalid UTF-8 because no token (JSON) can carry it, so such an
// entry would silently never match.
func checkValue(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return &ValidationError{Field: field, Reason: "must not be empty"}
	case len(v) > MaxValueLen:
		return &ValidationError{Field: field, Reason: fmt.Sprintf("is %d bytes long; at most %d are allowed", len(v), MaxValueLen)}
	case !utf8.ValidString(v):
		return &ValidationError{Field: field, Reason: "is not valid UTF-8"}
	case strings.ContainsFunc(v, unicode.IsControl):
		return &ValidationError{Field: field, Reason: "must not contain control characters"}
	}
	return nil
}

// idAlphabet is lower-case base32 (RFC 4648: letters and digits 2–7). It
// has no 0, 1, 8 or 9, so an o or l read off a screen cannot be mistyped as
// a digit.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// newID returns "rv_" and 12 random base32 characters: 60 bits, plenty for
// a list an operator maintains by hand, and short enough to type.
func newID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails: it crashes the program instead (Go 1.24)
	id := make([]byte, 0, 3+len(b))
	id = append(id, "rv_"...)
	for _, c := range b {
		// 256 is a multiple of 32, so every character is equally likely.
		id = append(id, idAlphabet[c%32])
	}
	return string(id)
}
