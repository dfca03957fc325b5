// Package pglimits keeps the state of ratelimit's limiters in PostgreSQL,
// so that replicas of the server behind one URL share one budget per key:
// a client that spreads its guesses or its registrations over replicas
// meets the same limits as against one process. It is a ratelimit.Backend;
// the rules (GCRA's step, the backoff schedule) are ratelimit's, and the
// contract suite (limittest) checks that this backend answers as the
// memory one does.
//
// # One statement per decision
//
// Every decision is one statement on one row, keyed by (limiter, key):
// INSERT … ON CONFLICT … DO UPDATE computes the key's new state from its
// old one and returns it, under the row lock that the upsert takes, so
// that concurrent requests on any replicas take turns per key and none is
// lost or counted twice (Check, a pure read, is a SELECT). The arithmetic
// is ratelimit's: the backoff schedule is passed in as the array of its
// delays, and the wait of a refusal is worked out in Go from the state the
// statement returned, by the same functions the memory limiters use. A
// refusal writes its row too (an upsert returns only what it wrote): a
// client hammering a refused key costs a row update per request, on top
// of the request itself.
//
// Times are the replicas' clocks (the limiter's Now), passed into each
// statement: the contract suite needs clocks it can move, and replicas'
// clocks agree (NTP) to far less than the limits' intervals. A replica
// whose clock runs ahead or behind shifts the waits it computes by as
// much, never past Max: the rules clamp a clock that stepped back.
//
// # Attempts in flight
//
// Reserve's attempts in flight are shared too: the point of reserving is
// that parallel attempts count before their outcome, and attempts spread
// over replicas are just as parallel. Each attempt is a token in its key's
// row with the end of a lease (Options.AttemptLease); an attempt still in
// flight when its lease ends (its replica died mid-attempt, say) no longer
// holds its slot, so a crash cannot keep a key from trying for longer than
// a lease. Its outcome still counts if it ever comes.
//
// # Failures
//
// Each call runs within Options.Timeout, through pgdb.Retry, the one retry
// policy: a statement whose connection broke may have been applied, and
// running it again then counts an event or a failure twice, which errs on
// the side of the limit. When the database does not answer in time, the
// limiter returns an error and decides nothing; what to answer is the
// caller's choice (authserver refuses, with a Retry-After).
//
// # Pruning
//
// A row whose state has come back to "never seen" (a full bucket, no
// failure left to remember, no lease running) is deleted by Sweep, which
// RunSweeper calls periodically on every replica.
package pglimits

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// migrationFiles holds the schema, applied by New through pgdb.Migrate.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// component is the name under which pgdb records this package's
// migrations; other components share the database.
const component = "ratelimit"

// Defaults of Options.
const (
	// DefaultTimeout bounds one limiter call, retries included. A limiter
	// sits in front of a request: past this, the request is better
	// refused with a Retry-After than left waiting on the database.
	DefaultTimeout = 2 * time.Second
	// DefaultAttemptLease is longer than any sign-in attempt takes (a
	// password hash, with its queue for a hasher slot), and short enough
	// that a replica dying mid-attempt holds the person up for a
	// couple of minutes at most.
	DefaultAttemptLease = 2 * time.Minute
)

// Options configure a Backend. The zero value is ready to use.
type Options struct {
	// Timeout bounds each limiter call; 0 means DefaultTimeout.
	Timeout time.Duration
	// AttemptLease is how long a reserved attempt holds its slot at most;
	// 0 means DefaultAttemptLease.
	AttemptLease time.Duration
	// Now is Sweep's clock; nil means time.Now. The limiters take theirs
	// from their own options.
	Now func() time.Time
	// Logger receives RunSweeper's failures; nil discards them.
	Logger *slog.Logger
}

// Backend is a ratelimit.Backend on a PostgreSQL database. It is safe for
// concurrent use, and any number of Backends (in one process or in
// several replicas) may share one database.
type Backend struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	lease   time.Duration
	now     func() time.Time
	log     *slog.Logger
}

var _ ratelimit.Backend = (*Backend)(nil)

// New applies the package's migrations to the database of pool and
// returns a Backend on it. The caller keeps ownership of pool.
func New(ctx context.Context, pool *pgxpool.Pool, o Options) (*Backend, error) {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open ratelimit migrations: %w", err)
	}
	if err := pgdb.Migrate(ctx, pool, component, migrations); err != nil {
		return nil, err
	}
	b := &Backend{pool: pool, timeout: o.Timeout, lease: o.AttemptLease, now: o.Now, log: o.Logger}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.lease <= 0 {
		b.lease = DefaultAttemptLease
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b, nil
}

// do runs f, one statement, through the one retry policy and within the
// backend's timeout.
func (b *Backend) do(ctx context.Context, what string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if err := pgdb.Retry(ctx, func() error { return f(ctx) }); err != nil {
		return fmt.Errorf("ratelimit: %s: %w", what, err)
	}
	return nil
}

// Window returns the window limiter called name. It panics on an empty
// name or invalid options. MaxKeys means nothing here: the rows are
// bounded by Sweep, which drops each key as soon as it is "never seen"
// again.
func (b *Backend) Window(name string, o ratelimit.WindowOptions) ratelimit.WindowLimiter {
	if name == "" {
		panic("pglimits: a limiter needs a name")
	}
	return &window{b: b, name: name, rule: o.Rule(), now: clockOrDefault(o.Now)}
}

// Backoff returns the backoff limiter called name. It panics on an empty
// name or invalid options. MaxKeys means nothing here, as for Window.
func (b *Backend) Backoff(name string, o ratelimit.BackoffOptions) ratelimit.BackoffLimiter {
	if name == "" {
		panic("pglimits: a limiter needs a name")
	}
	rule := o.Rule()
	// The schedule as the statements read it: delays[n] (1-based in SQL)
	// is the delay after n failures, up to where it reaches Max, where
	// failures stop being counted.
	delays := make([]int64, rule.MaxFailures()+1)
	for n := range delays {
		delays[n] = int64(rule.Delay(n))
	}
	return &backoff{b: b, name: name, rule: rule, now: clockOrDefault(o.Now), delays: delays}
}

func clockOrDefault(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

type window struct {
	b    *Backend
	name string
	rule ratelimit.WindowRule
	now  func() time.Time
}

// allowSQL is GCRA's step (ratelimit.WindowRule.Take) on one row: a new
// key starts from a full bucket (its tat is now), and a refusal leaves tat
// as it was.
const allowSQL = `
INSERT INTO ratelimit_windows AS s (limiter, key, tat, allowed)
VALUES (@limiter, @key,
	CASE WHEN @cost::bigint <= @tolerance::bigint THEN @now::bigint + @cost ELSE @now END,
	@cost <= @tolerance)
ON CONFLICT (limiter, key) DO UPDATE SET (tat, allowed) = (
	SELECT CASE WHEN t.next - @now <= @tolerance THEN t.next ELSE s.tat END, t.next - @now <= @tolerance
	FROM (SELECT GREATEST(s.tat, @now) + @cost AS next) AS t
)
RETURNING tat, allowed`

func (w *window) AllowN(ctx context.Context, key string, n int) (bool, time.Duration, error) {
	now := w.now()
	var tat int64
	var allowed bool
	err := w.b.do(ctx, w.name, func(ctx context.Context) error {
		return w.b.pool.QueryRow(ctx, allowSQL, pgx.NamedArgs{
			"limiter": w.name, "key": []byte(key), "now": now.UnixNano(),
			"cost": int64(w.rule.Cost(n)), "tolerance": int64(w.rule.Tolerance),
		}).Scan(&tat, &allowed)
	})
	if err != nil || allowed {
		return allowed, 0, err
	}
	// The wait, from the state the refusal saw: the same rule refuses it
	// the same way.
	_, _, retryAfter := w.rule.Take(time.Unix(0, tat), now, n)
	return false, retryAfter, nil
}

type backoff struct {
	b      *Backend
	name   string
	rule   ratelimit.BackoffRule
	now    func() time.Time
	delays []int64
}

// The backoff statements share two pieces.
const (
	// fresh is row s as it stands at @now (a derived table f): failures
	// forgotten once stale, attempts whose lease has ended dropped, and
	// @drop, the attempt that ends, dropped too.
	fresh = `SELECT
		CASE WHEN @now::bigint - s.last_failure >= @forget::bigint THEN 0 ELSE s.failures END AS failures,
		CASE WHEN @now - s.last_failure >= @forget THEN 0 ELSE s.last_failure END AS last_failure,
		(SELECT coalesce(jsonb_object_agg(a.token, a.lease_end), '{}'::jsonb)
		 FROM jsonb_each(s.attempts) AS a(token, lease_end)
		 WHERE a.lease_end::bigint > @now AND a.token <> @drop::text) AS live`
	// expires is when row n (failures, last_failure, attempts) is the
	// same as none: no failure left to remember, no lease running.
	expires = `GREATEST(CASE WHEN n.failures > 0 THEN n.last_failure + @forget END,
		(SELECT max(a.lease_end::bigint) FROM jsonb_each(n.attempts) AS a(token, lease_end)), 0)`
)

// reserveSQL adds attempt @token to the key's attempts when the key may
// try now: no delay running, fewer than @max_in_flight attempts in flight.
// A new key may always try. The attempt is reserved when the attempts
// returned hold @token, which they also do when the statement runs a
// second time (a retry after a broken connection) and finds its own
// attempt there.
const reserveSQL = `
INSERT INTO ratelimit_backoffs AS s (limiter, key, failures, last_failure, attempts, expires)
VALUES (@limiter, @key, 0, 0, jsonb_build_object(@token::text, @lease_end::bigint), @lease_end)
ON CONFLICT (limiter, key) DO UPDATE SET (failures, last_failure, attempts, expires) = (
	SELECT n.failures, n.last_failure, n.attempts, ` + expires + `
	FROM (
		SELECT f.failures, f.last_failure,
			CASE WHEN NOT (d.delay > 0 AND @now < f.last_failure + d.delay)
			          AND (SELECT count(*) FROM jsonb_object_keys(f.live)) < @max_in_flight::integer
			     THEN f.live || jsonb_build_object(@token, @lease_end)
			     ELSE f.live END AS attempts
		FROM (` + fresh + `) AS f,
		LATERAL (SELECT (@delays::bigint[])[LEAST(f.failures, cardinality(@delays) - 1) + 1] AS delay) AS d
	) AS n
)
RETURNING failures, last_failure, attempts`

// failSQL counts a failure made @now, and ends attempt @drop if any.
const failSQL = `
INSERT INTO ratelimit_backoffs AS s (limiter, key, failures, last_failure, attempts, expires)
VALUES (@limiter, @key, 1, @now::bigint, '{}'::jsonb, @now + @forget::bigint)
ON CONFLICT (limiter, key) DO UPDATE SET (failures, last_failure, attempts, expires) = (
	SELECT n.failures, n.last_failure, n.attempts, ` + expires + `
	FROM (
		SELECT LEAST(f.failures + 1, @max_failures::integer) AS failures, @now AS last_failure, f.live AS attempts
		FROM (` + fresh + `) AS f
	) AS n
)`

// endSQL ends attempt @drop without a failure, and forgets the key's
// failures when @clear. A key with nothing to clear and no such attempt
// is not written.
const endSQL = `
UPDATE ratelimit_backoffs AS s SET (failures, last_failure, attempts, expires) = (
	SELECT n.failures, n.last_failure, n.attempts, ` + expires + `
	FROM (
		SELECT CASE WHEN @clear::boolean THEN 0 ELSE f.failures END AS failures,
		       CASE WHEN @clear THEN 0 ELSE f.last_failure END AS last_failure,
		       f.live AS attempts
		FROM (` + fresh + `) AS f
	) AS n
)
WHERE s.limiter = @limiter AND s.key = @key AND ((@clear AND s.failures > 0) OR s.attempts ? @drop)`

const checkSQL = `SELECT failures, last_failure FROM ratelimit_backoffs WHERE limiter = $1 AND key = $2`

// args are the arguments every backoff statement may use.
func (bo *backoff) args(key string, now time.Time) pgx.NamedArgs {
	return pgx.NamedArgs{
		"limiter": bo.name, "key": []byte(key), "now": now.UnixNano(),
		"forget": int64(bo.rule.Forget), "drop": "",
	}
}

func (bo *backoff) Check(ctx context.Context, key string) (time.Duration, error) {
	now := bo.now()
	var failures int
	var last int64
	err := bo.b.do(ctx, bo.name, func(ctx context.Context) error {
		return bo.b.pool.QueryRow(ctx, checkSQL, bo.name, []byte(key)).Scan(&failures, &last)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	case bo.rule.Stale(time.Unix(0, last), now):
		return 0, nil
	}
	return bo.rule.Wait(failures, time.Unix(0, last), now), nil
}

func (bo *backoff) Fail(ctx context.Context, key string) error { return bo.fail(ctx, key, "") }

func (bo *backoff) Succeed(ctx context.Context, key string) error {
	return bo.end(ctx, key, "", true)
}

// fail counts a failure of key, ending attempt token if not "". It runs
// even when ctx has ended: the failure happened.
func (bo *backoff) fail(ctx context.Context, key, token string) error {
	args := bo.args(key, bo.now())
	args["drop"] = token
	args["max_failures"] = len(bo.delays) - 1
	return bo.b.do(context.WithoutCancel(ctx), bo.name, func(ctx context.Context) error {
		_, err := bo.b.pool.Exec(ctx, failSQL, args)
		return err
	})
}

// end ends attempt token (if not "") without a failure, and forgets key's
// failures when clear. It runs even when ctx has ended.
func (bo *backoff) end(ctx context.Context, key, token string, clear bool) error {
	args := bo.args(key, bo.now())
	args["drop"] = token
	args["clear"] = clear
	return bo.b.do(context.WithoutCancel(ctx), bo.name, func(ctx context.Context) error {
		_, err := bo.b.pool.Exec(ctx, endSQL, args)
		return err
	})
}

func (bo *backoff) Reserve(ctx context.Context, key string) (ratelimit.Attempt, time.Duration, error) {
	return bo.reserve(ctx, key, rand.Text())
}

// reserve is Reserve of an attempt whose token is token: random, so that
// no two attempts share one, and kept when the statement runs again (a
// retry after a broken connection), so that a second run finds the
// attempt reserved instead of counting it twice.
func (bo *backoff) reserve(ctx context.Context, key, token string) (ratelimit.Attempt, time.Duration, error) {
	now := bo.now()
	args := bo.args(key, now)
	args["token"] = token
	args["lease_end"] = now.Add(bo.b.lease).UnixNano()
	args["delays"] = bo.delays
	args["max_in_flight"] = bo.rule.MaxInFlight
	var failures int
	var last int64
	var attempts map[string]int64
	err := bo.b.do(ctx, bo.name, func(ctx context.Context) error {
		return bo.b.pool.QueryRow(ctx, reserveSQL, args).Scan(&failures, &last, &attempts)
	})
	if err != nil {
		return nil, 0, err
	}
	if _, ok := attempts[token]; ok {
		return &attempt{bo: bo, key: key, token: token}, 0, nil
	}
	if wait := bo.rule.Wait(failures, time.Unix(0, last), now); wait > 0 {
		return nil, wait, nil
	}
	return nil, bo.rule.Busy(failures, len(attempts)), nil
}

// attempt is a reserved attempt: its token in its key's row.
type attempt struct {
	bo    *backoff
	key   string
	token string
	ended atomic.Bool
}

func (a *attempt) Fail(ctx context.Context) error {
	if !a.ended.CompareAndSwap(false, true) {
		return nil
	}
	return a.bo.fail(ctx, a.key, a.token)
}

func (a *attempt) Succeed(ctx context.Context) error {
	if !a.ended.CompareAndSwap(false, true) {
		return nil
	}
	return a.bo.end(ctx, a.key, a.token, true)
}

func (a *attempt) Cancel(ctx context.Context) error {
	if !a.ended.CompareAndSwap(false, true) {
		return nil
	}
	return a.bo.end(ctx, a.key, a.token, false)
}

// sweepBatch bounds the rows one statement of Sweep deletes, so that each
// holds its locks briefly.
const sweepBatch = 10_000

// Sweep deletes the rows whose state has come back to "never seen" by
// now, and returns how many. Each row is checked again as it is deleted,
// so a row that a limiter has just written is kept.
func (b *Backend) Sweep(ctx context.Context) (int64, error) {
	now := b.now().UnixNano()
	var deleted int64
	for _, q := range []string{
		`DELETE FROM ratelimit_windows WHERE (limiter, key) IN (
			SELECT limiter, key FROM ratelimit_windows WHERE tat <= $1 LIMIT $2) AND tat <= $1`,
		`DELETE FROM ratelimit_backoffs WHERE (limiter, key) IN (
			SELECT limiter, key FROM ratelimit_backoffs WHERE expires <= $1 LIMIT $2) AND expires <= $1`,
	} {
		for {
			var n int64
			err := b.do(ctx, "sweep", func(ctx context.Context) error {
				tag, err := b.pool.Exec(ctx, q, now, sweepBatch)
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return deleted, err
			}
			deleted += n
			if n < sweepBatch {
				break
			}
		}
	}
	return deleted, nil
}

// RunSweeper calls Sweep every interval until ctx ends, then returns; run
// it in its own goroutine, on every replica (sweeps of several replicas do
// not get in each other's way). Failures are logged. every must be
// positive.
func (b *Backend) RunSweeper(ctx context.Context, every time.Duration) {
	ratelimit.SweepEvery(ctx, every, func() {
		if _, err := b.Sweep(ctx); err != nil && ctx.Err() == nil {
			b.log.WarnContext(ctx, "sweeping the shared limits failed", "err", err)
		}
	})
}
