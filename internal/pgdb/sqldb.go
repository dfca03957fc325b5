package pgdb

import (
	"context"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
)

// writeLockKey is the advisory lock that every sqldb write transaction
// takes first (sqldb.DB.BeginWrite), in its own key space apart from
// migrationLockKey and from the store's locks (which hash their keys).
const writeLockKey = 0x6b616e62616e02 // "kanban" 2

// RevocationChannel is the NOTIFY channel on which revocation changes are
// announced to every replica.
const RevocationChannel = "kanban_revocations"

// SQL returns pool as the components that write their SQL for SQLite and
// PostgreSQL alike see it (internal/sqldb): one database/sql pool over
// pgx for reads and writes, write transactions that take turns under one
// advisory lock, migrations under Migrate's lock, and revocations as the
// signal announces them. The returned DB borrows connections from pool
// and holds none of its own; closing pool is the caller's.
func SQL(pool *pgxpool.Pool, revocations sqldb.RevocationSignal) *sqldb.DB {
	db := stdlib.OpenDBFromPool(pool)
	return sqldb.New(sqldb.Config{
		Dialect:   sqldb.Postgres,
		Reader:    db,
		Writer:    db,
		WriteLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", writeLockKey),
		Migrate: func(ctx context.Context, component string, files fs.FS) error {
			return Migrate(ctx, pool, component, files)
		},
		Revocations: revocations,
		Unavailable: Unavailable,
	})
}

// UncachedRevocations is the revocation signal of a process that does not
// listen for other replicas' announcements (a CLI command, or a test): it
// announces its own changes, and its version changes at every call, so
// that a revocation cache never answers from memory.
type UncachedRevocations struct {
	Pool *pgxpool.Pool
	n    atomic.Uint64
}

// NoteRevocationChange announces a change on RevocationChannel.
func (u *UncachedRevocations) NoteRevocationChange(ctx context.Context) error {
	return notifyRevocation(ctx, u.Pool)
}

// RevocationVersion returns a new number at every call.
func (u *UncachedRevocations) RevocationVersion() (uint64, error) { return u.n.Add(1), nil }

// notifyRevocation announces a revocation change to every listener.
func notifyRevocation(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(context.WithoutCancel(ctx), `SELECT pg_notify($1, '')`, RevocationChannel); err != nil {
		return fmt.Errorf("announce a revocation to other replicas: %w", err)
	}
	return nil
}

// ListenedRevocations is the revocation signal of a server replica: it
// announces its own changes with NOTIFY and counts the announcements that
// its Listener hears on RevocationChannel, so that a revocation anywhere
// reaches every replica's cache as fast as PostgreSQL delivers a
// notification, and its own replica's at once.
//
// Its version is the sum of counters that only grow: the changes made
// here, the announcements heard, the Listener's generation (which moves
// when it comes up and when it goes down, so that a cache filled before a
// lost connection, when announcements may have been missed, is dropped),
// and, while the Listener is down, one more at every call, so that no
// cached answer is ever served while nothing could invalidate it: every
// request is then checked against the database.
type ListenedRevocations struct {
	pool     *pgxpool.Pool
	listener *Listener
	local    atomic.Uint64
	heard    atomic.Uint64
	down     atomic.Uint64
}

// NewListenedRevocations handles RevocationChannel on l, which must not
// run yet; changes are announced through pool.
func NewListenedRevocations(pool *pgxpool.Pool, l *Listener) (*ListenedRevocations, error) {
	r := &ListenedRevocations{pool: pool, listener: l}
	if err := l.Handle(RevocationChannel, func(string) { r.heard.Add(1) }); err != nil {
		return nil, err
	}
	return r, nil
}

// NoteRevocationChange counts the change here, then announces it to
// every replica.
func (r *ListenedRevocations) NoteRevocationChange(ctx context.Context) error {
	r.local.Add(1)
	return notifyRevocation(ctx, r.pool)
}

// RevocationVersion implements sqldb.RevocationSignal; see the type.
func (r *ListenedRevocations) RevocationVersion() (uint64, error) {
	gen, up := r.listener.Generation()
	down := r.down.Load()
	if !up {
		down = r.down.Add(1)
	}
	return r.local.Load() + r.heard.Load() + gen + down, nil
}
