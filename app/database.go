package app

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/audit"
	"github.com/kanban-mcp/kanban-mcp/authserver"
	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/pglimits"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/revocation"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/postgres"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
)

// database is the database DATABASE_URL names, opened the same way by the
// server and by every command: a SQLite file or a PostgreSQL database.
type database struct {
	// sql is what the authorization server and the blocklist use.
	sql *sqldb.DB
	// dir is the SQLite file's folder (for the disk guard and the demo
	// password); "" on PostgreSQL, whose disk is not this machine's.
	dir string
	// name says which database this is, for the log, without a password.
	name string

	sqlite   *sqlitedb.DB   // SQLite only
	pool     *pgxpool.Pool  // PostgreSQL only
	listener *pgdb.Listener // PostgreSQL, for a server only
	store    store.Store    // once openStore ran
	// retry is the PostgreSQL store's retry policy, which openStore
	// gives it; registerMetrics makes it count retries.
	retry pgdb.Policy
	// limits holds the abuse limits' state where replicas share it (in
	// PostgreSQL); nil keeps it in this process's memory (SQLite: one
	// process).
	limits ratelimit.Backend
}

// openDatabase opens the database cfg names. On PostgreSQL, a server
// (listen) LISTENs for the other replicas' changes (revocations, boards)
// once startListening runs; a command announces its changes and caches
// nothing.
func openDatabase(ctx context.Context, cfg *config.Config, listen bool, log *slog.Logger) (*database, error) {
	if cfg.PostgresURL == "" {
		db, err := sqlitedb.Open(ctx, cfg.DatabasePath, cfg.Synchronous)
		if err != nil {
			return nil, err
		}
		return &database{sql: db.SQL(), dir: filepath.Dir(cfg.DatabasePath), name: cfg.DatabasePath, sqlite: db}, nil
	}
	pool, err := pgdb.Open(ctx, cfg.PostgresURL)
	if err != nil {
		return nil, err
	}
	db := &database{name: pgdb.Redacted(cfg.PostgresURL), pool: pool}
	var signal sqldb.RevocationSignal = &pgdb.UncachedRevocations{Pool: pool}
	if listen {
		// DATABASE_DIRECT_URL: a transaction pooler would drop LISTEN.
		if db.listener, err = pgdb.NewListener(cfg.PostgresDirectURL, pgdb.ListenerOptions{Logger: log}); err != nil {
			pool.Close()
			return nil, err
		}
		if signal, err = pgdb.NewListenedRevocations(pool, db.listener); err != nil {
			pool.Close()
			return nil, err
		}
	}
	db.sql = pgdb.SQL(pool, signal)
	return db, nil
}

// startListening starts LISTENing (PostgreSQL servers only), once every
// component handled its channels, until ctx ends or stop is called; stop
// returns once the LISTEN connection is closed.
func (db *database) startListening(ctx context.Context) (stop func()) {
	if db.listener == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = db.listener.Run(ctx)
	}()
	return func() { cancel(); <-done }
}

// openStore opens the kanban store in the database; close closes it.
func (db *database) openStore(ctx context.Context, quotas store.Quotas) (store.Store, error) {
	var err error
	if db.sqlite != nil {
		db.store, err = sqlite.New(ctx, db.sqlite, sqlite.Options{Quotas: quotas})
	} else {
		db.store, err = postgres.New(ctx, db.pool, postgres.Options{Quotas: quotas, Listener: db.listener, Retry: db.retry})
	}
	return db.store, err
}

// registerMetrics adds the database's connection pools to m, read at
// each scrape, and makes the kanban store count its retries in m. Call it
// before openStore, which hands the store its retry policy. The
// authorization server, the blocklist and the shared limits borrow from
// these pools (db.sql, db.pool): they have none of their own to add.
// system names the database's kind as OpenTelemetry does
// (db.system.name).
func (db *database) system() string {
	if db.pool != nil {
		return "postgresql"
	}
	return "sqlite"
}

func (db *database) registerMetrics(m *metrics.DB) {
	if db.store != nil {
		panic("app: registerMetrics after openStore: the store's retries would go uncounted")
	}
	if db.pool != nil {
		pool := db.pool
		m.Pool("postgres", func() metrics.PoolStats { return pgxPoolStats(pool.Stat()) })
	}
	if db.sqlite != nil {
		m.Pool("sqlite_writer", sqlPoolStats(db.sqlite.Writer))
		m.Pool("sqlite_reader", sqlPoolStats(db.sqlite.Reader))
	}
	if m != nil {
		db.retry.OnRetry = m.Retried
	}
}

// pgxPoolStats is a pgx pool's state as metrics reports it. pgx counts
// as a wait every acquire that found no idle connection, including one
// that waited only for a new connection to open below MaxConns.
func pgxPoolStats(s *pgxpool.Stat) metrics.PoolStats {
	return metrics.PoolStats{
		Max:      int(s.MaxConns()),
		InUse:    int(s.AcquiredConns()),
		Idle:     int(s.IdleConns()),
		Waits:    s.EmptyAcquireCount(),
		WaitTime: s.EmptyAcquireWaitTime(),
	}
}

// sqlPoolStats reads a database/sql pool's state as metrics reports it;
// database/sql counts as a wait only an acquire at MaxOpenConnections.
func sqlPoolStats(db *sql.DB) func() metrics.PoolStats {
	return func() metrics.PoolStats {
		s := db.Stats()
		return metrics.PoolStats{
			Max:      s.MaxOpenConnections,
			InUse:    s.InUse,
			Idle:     s.Idle,
			Waits:    s.WaitCount,
			WaitTime: s.WaitDuration,
		}
	}
}

// close closes the database, and the store if it is open (a store closes
// the database it was opened on).
func (db *database) close() error {
	if db.store != nil {
		return db.store.Close()
	}
	if db.sqlite != nil {
		return db.sqlite.Close()
	}
	db.pool.Close()
	return nil
}

// migrate applies every component's migrations to the database and exits:
// the release step of a deployment with several replicas, so that none of
// them starts on a schema older than its code. Each component migrates
// under the database's lock, so running it while replicas start is safe;
// serve migrates too, and then finds nothing to do.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("usage: %s migrate (it takes no arguments; DATABASE_URL names the database)", product.Name)
	}
	cfg, err := config.Load(nil, getenv, stderr)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, false, nil)
	if err != nil {
		return err
	}
	defer db.close()
	if err := db.migrate(ctx, cfg.Quotas); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "the database %s is up to date\n", db.name)
	return nil
}

// openLimits opens the shared abuse limits on PostgreSQL (db.limits),
// and with sweep, deletes their forgotten keys every minute until ctx ends.
// On SQLite it does nothing: the limits stay in memory.
func (db *database) openLimits(ctx context.Context, sweep bool, log *slog.Logger) error {
	if db.pool == nil {
		return nil
	}
	limits, err := pglimits.New(ctx, db.pool, pglimits.Options{Logger: log})
	if err != nil {
		return err
	}
	if sweep {
		go limits.RunSweeper(ctx, time.Minute)
	}
	db.limits = limits
	return nil
}

// auditBudget bounds the activity rows of callers without a valid token:
// one budget for the whole deployment, shared by the replicas through the
// database when db.limits is set (run until ctx ends).
func (db *database) auditBudget(ctx context.Context, o audit.BudgetOptions) audit.Budget {
	if db.limits == nil {
		return audit.NewMemoryBudget(o)
	}
	b := audit.NewSharedBudget(o, db.limits)
	go b.Run(ctx)
	return b
}

// migrate applies every component's migrations, by opening each as the
// server does: the kanban store (which stays open), the shared limits, the
// blocklist and the authorization server.
func (db *database) migrate(ctx context.Context, quotas store.Quotas) error {
	if _, err := db.openStore(ctx, quotas); err != nil {
		return err
	}
	if err := db.openLimits(ctx, false, nil); err != nil {
		return err
	}
	list, err := revocation.New(ctx, db.sql)
	if err != nil {
		return err
	}
	list.Close()
	_, err = authserver.Open(ctx, db.sql, authserver.Options{})
	return err
}
