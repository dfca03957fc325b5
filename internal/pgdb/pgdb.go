// Package pgdb opens the PostgreSQL database that the kanban store lives
// in, applies each component's embedded migrations, runs transactions
// with the one retry policy for serialization failures, deadlocks and
// lost connections, and carries notifications between replicas
// (Listener, NotifyEach) for the caches that other replicas' writes must
// evict.
//
// Each component keeps its own tables and SQL, as with internal/sqlitedb;
// this package only knows how to open the database, migrate it and retry a
// transaction the same way for all of them.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"github.com/kanban-mcp/kanban-mcp/internal/migrations"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IsURL reports whether s names a PostgreSQL database rather than a SQLite
// file: it starts with postgres:// or postgresql://.
func IsURL(s string) bool {
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects a pool to the database url names and checks that it
// answers. Pool sizes and lifetimes come from the URL's standard pgxpool
// parameters (pool_max_conns, pool_min_conns, pool_max_conn_lifetime,
// pool_max_conn_idle_time, pool_health_check_period, …); everything else in
// it is libpq's (sslmode, connect_timeout, application_name, …).
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a usable PostgreSQL URL: %s", parseProblem(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return pool, nil
}

// CheckURL reports whether url is a PostgreSQL URL that Open can use,
// without connecting; its error never repeats the URL.
func CheckURL(url string) error {
	if _, err := pgxpool.ParseConfig(url); err != nil {
		return fmt.Errorf("is not a usable PostgreSQL URL: %s", parseProblem(err))
	}
	return nil
}

// Redacted is a PostgreSQL URL as it may be shown (in a log, on a
// terminal): scheme, host and database, without the user, the password
// or the parameters.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres (URL not shown)"
	}
	return fmt.Sprintf("%s://%s%s", u.Scheme, u.Host, u.Path)
}

// parseProblem words a pgxpool.ParseConfig error without the URL, which
// may hold a password: pgx redacts passwords it recognises, but only on a
// best-effort basis.
func parseProblem(err error) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// "cannot parse `<url>`: <problem>"
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			return msg[i+len("`: "):]
		}
		return "it cannot be parsed"
	}
	return msg
}

// migrationLockKey is the pg_advisory_xact_lock key that every Migrate
// holds while it applies migrations, whatever the component: two replicas
// starting at once then apply each migration once, one after the other.
// Advisory locks are per database, so other databases are not affected.
// It is "kanbanmg" in ASCII; any fixed number would do.
const migrationLockKey int64 = 0x6b616e62616e6d67

// Migrate applies the migrations in files (listed by migrations.List:
// NNNN_description.sql, applied in numeric order) that component has not
// yet applied, recording each in schema_migrations, which Migrate creates.
//
// Everything runs in one transaction under pg_advisory_xact_lock: a
// replica that starts while another migrates waits, then finds the
// migrations recorded and applies nothing; a failed migration leaves no
// trace (PostgreSQL's DDL is transactional). A migration may hold several
// statements but no argument placeholders, and nothing that cannot run in
// a transaction (CREATE INDEX CONCURRENTLY).
func Migrate(ctx context.Context, pool *pgxpool.Pool, component string, files fs.FS) error {
	todo, err := migrations.List(component, files)
	if err != nil {
		return err
	}
	return InTx(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
			return fmt.Errorf("lock for %s migrations: %w", component, err)
		}
		// Created under the lock: two CREATE TABLE IF NOT EXISTS at once
		// can both find no table, and one then fails.
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			component  text        NOT NULL,
			version    integer     NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (component, version)
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations WHERE component = $1`, component)
		if err != nil {
			return fmt.Errorf("read %s migrations: %w", component, err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("read %s migrations: %w", component, err)
		}
		for _, m := range todo {
			if slices.Contains(applied, int32(m.Version)) {
				continue
			}
			body, err := fs.ReadFile(files, m.Name)
			if err != nil {
				return fmt.Errorf("read %s migration %s: %w", component, m.Name, err)
			}
			// No arguments: pgx sends it with the simple protocol, which
			// runs several statements.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s migration %s: %w", component, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version) VALUES ($1, $2)`,
				component, m.Version); err != nil {
				return fmt.Errorf("record %s migration %s: %w", component, m.Name, err)
			}
		}
		return nil
	})
}

// The retry policy of Retry and InTx: at most maxAttempts runs, with a
// pause before each retry drawn uniformly from [0, backoff) where backoff
// starts at firstBackoff and doubles up to maxBackoff ("full jitter", so
// that transactions that collided once do not collide again in step).
const (
	maxAttempts  = 8
	firstBackoff = 2 * time.Millisecond
	maxBackoff   = 250 * time.Millisecond
)

// Policy is the retry policy of Retry, InTx and InPipelinedTx, with a
// hook that hears each retry, so that a server can count them without this
// package knowing how. The zero Policy is the package functions'.
type Policy struct {
	// OnRetry, when set, is called before each rerun with the reason
	// (RetryReason) of the failure that caused it. It runs on the
	// caller's goroutine, between attempts: it must be quick.
	OnRetry func(reason string)
}

// The reasons of RetryReason, which label counted retries.
const (
	// ReasonSerialization: a serialization failure (SQLSTATE 40001).
	ReasonSerialization = "serialization_failure"
	// ReasonDeadlock: the server broke a deadlock (40P01).
	ReasonDeadlock = "deadlock"
	// ReasonConnectionLost: the session was terminated (57P01, 57P02)
	// or the connection broke under it.
	ReasonConnectionLost = "connection_lost"
)

// RetryReasons are every reason RetryReason returns, for a counter's
// series to exist before the first retry.
func RetryReasons() []string {
	return []string{ReasonSerialization, ReasonDeadlock, ReasonConnectionLost}
}

// Retry runs fn, and runs it again after a jittered pause (which ends
// early if ctx does) while it fails with an error that Retryable accepts,
// up to maxAttempts runs in all. It is the one retry loop: InTx runs
// transactions through it, and single statements that are safe to repeat
// (reads) use it directly. It returns fn's last error.
func Retry(ctx context.Context, fn func() error) error { return Policy{}.Retry(ctx, fn) }

// Retry is the package's Retry, calling p.OnRetry before each rerun.
func (p Policy) Retry(ctx context.Context, fn func() error) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		reason := RetryReason(err)
		if reason == "" {
			return err
		}
		pause := time.NewTimer(rand.N(backoff))
		select {
		case <-ctx.Done():
			pause.Stop()
			return err
		case <-pause.C:
		}
		backoff = min(2*backoff, maxBackoff)
		// After the pause: a retry that ctx cancelled is not counted.
		if p.OnRetry != nil {
			p.OnRetry(reason)
		}
	}
}

// InTx runs fn in a transaction begun with opts and commits it when fn
// returns nil; an error from fn rolls it back and is returned as it is.
//
// It runs the transaction through Retry, so that a transaction that surely
// did not commit runs again from the start when running it again may
// succeed: after a serialization failure (SQLSTATE 40001) or a deadlock
// (40P01) in fn or at COMMIT, or after the connection turned out to be
// lost before COMMIT was sent (a connection the server closed while it
// sat in the pool, as after a server restart). A connection lost during
// COMMIT is not retried: the transaction may have committed. fn may
// therefore run more than once: it must take everything it reads from tx
// and only assign its results, never accumulate them.
//
// A commit that returns nil is durable (with the server's default
// synchronous_commit): callers report success only after it.
func InTx(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return Policy{}.InTx(ctx, pool, opts, fn)
}

// InTx is the package's InTx, calling p.OnRetry before each rerun.
func (p Policy) InTx(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return p.Retry(ctx, func() error { return runTx(ctx, pool, opts, fn) })
}

// runTx is one attempt of InTx.
func runTx(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// Rolling back after a commit is a no-op; after a failure it returns
	// the connection to the pool even if ctx has ended.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return commitFailed(err)
	}
	return nil
}

// commitFailed words the failure of a COMMIT (or of a batch that ends
// with one) and says whether the transaction surely did not commit.
func commitFailed(err error) error {
	if refusedByServer(err) {
		// The server refused a statement or the commit (a serialization
		// failure, a deferred constraint): the transaction did not
		// commit.
		return fmt.Errorf("commit: %w", err)
	}
	// No answer, or the session was terminated, which with synchronous
	// replication can happen after the commit record was written.
	return &commitUnknown{err}
}

// RefusedData reports whether err, from InTx or InPipelinedTx, is the
// server's refusal of the data of a statement or of COMMIT (SQLSTATE
// class 22, data exception, or 23, integrity constraint violation): the
// transaction did not commit, and a transaction of other statements may
// well. A COMMIT without an answer is no refusal, and an outage, a
// timeout or a deadlock is not about the data.
func RefusedData(err error) bool {
	var cu *commitUnknown
	pe, ok := errors.AsType[*pgconn.PgError](err)
	return ok && !errors.As(err, &cu) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// refusedByServer reports whether err is the server's refusal of a
// statement, as opposed to a connection that broke or a session that was
// terminated.
func refusedByServer(err error) bool {
	pe, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pe.Code != "57P01" && pe.Code != "57P02"
}

// commitUnknown is a COMMIT that got no answer: the transaction may or may
// not have committed, so it must not run again.
type commitUnknown struct{ err error }

func (e *commitUnknown) Error() string { return "commit (outcome unknown): " + e.err.Error() }
func (e *commitUnknown) Unwrap() error { return e.err }

// Retryable reports whether running again what failed with err may
// succeed and is safe when it was a transaction or a read: a serialization
// failure or a deadlock, which rolled the transaction back, or a
// connection that broke under an established session (the server
// terminated it, it was closed, or nothing reached the server), which the
// pool then discards. Not retryable: context errors, a connection that
// cannot be made (the outage is real: report it at once), a COMMIT of
// unknown outcome, and every other error of the server.
func Retryable(err error) bool { return RetryReason(err) != "" }

// RetryReason says why err is Retryable (ReasonSerialization,
// ReasonDeadlock, ReasonConnectionLost), or returns "" when it is not.
func RetryReason(err error) string {
	var cu *commitUnknown
	var ce *pgconn.ConnectError
	switch {
	case err == nil, errors.As(err, &cu), errors.As(err, &ce),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ""
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001":
			return ReasonSerialization
		case "40P01":
			return ReasonDeadlock
		case "57P01", "57P02": // this session was terminated: admin or crash shutdown
			return ReasonConnectionLost
		}
		return ""
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ReasonConnectionLost
	}
	if ne, ok := errors.AsType[net.Error](err); ok && !ne.Timeout() {
		return ReasonConnectionLost
	}
	return ""
}

// Unavailable reports whether err says that the database cannot be reached
// or cannot serve right now, rather than that a statement is wrong: no
// connection could be made, a connection broke, or the server is shutting
// down, starting up, out of connections or resources, or read-only (a
// standby after a failover). Such an error means "try again later".
//
// A transaction whose connection broke during COMMIT may have committed:
// running it again is safe for idempotent writes only, which is why InTx
// does not.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case strings.HasPrefix(pe.Code, "53"): // insufficient resources: too many connections, disk full, out of memory
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin or crash shutdown, cannot connect now
			return true
		case pe.Code == "25006": // read-only transaction: connected to a standby
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
