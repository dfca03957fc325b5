package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://h/db": true, "POSTGRES://h/db": true,
		"./data/kanban.db": false, "file:kanban.db": false, "postgres:/h": false,
	} {
		if got := IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v", s, got)
		}
	}
}

func TestOpenHidesThePassword(t *testing.T) {
	_, err := Open(t.Context(), "postgres://u:s3cret@h:notaport/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a bad URL: %v", err)
	}
}

func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:s3cret@db.example:5432/kanban?sslmode=require&password=x": "postgres://db.example:5432/kanban",
		"postgresql://h/db":                 "postgresql://h/db",
		"postgres://u:s3cret@h:bad port/db": "postgres (URL not shown)",
	} {
		if got := Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	for _, tt := range []struct {
		err         error
		reason      string // "": not retryable
		unavailable bool
	}{
		{pg("40001"), ReasonSerialization, false},
		{pg("40P01"), ReasonDeadlock, false},
		{pg("57P01"), ReasonConnectionLost, true},
		{pg("57P02"), ReasonConnectionLost, true},
		{pg("57P03"), "", true},
		{pg("53300"), "", true},
		{pg("08006"), "", true},
		{pg("25006"), "", true},
		{pg("23505"), "", false},
		{pg("22012"), "", false},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), ReasonConnectionLost, true},
		{pgconn.ErrConnClosed, ReasonConnectionLost, true},
		{fmt.Errorf("write: %w", &net.OpError{Op: "write", Err: syscall.ECONNRESET}), ReasonConnectionLost, true},
		{&commitUnknown{io.EOF}, "", true},
		{context.Canceled, "", false},
		{errors.New("bug"), "", false},
		// A network timeout may have left a statement running: not run
		// again, but the database did not answer.
		{fmt.Errorf("read: %w", timeoutError{}), "", true},
		// No connection could be made: the outage is real, and retrying
		// at once would only delay saying so.
		{connectError(t), "", true},
	} {
		if got := RetryReason(tt.err); got != tt.reason {
			t.Errorf("RetryReason(%v) = %q, want %q", tt.err, got, tt.reason)
		}
		if got, want := Retryable(tt.err), tt.reason != ""; got != want {
			t.Errorf("Retryable(%v) = %v", tt.err, got)
		}
		if got := Unavailable(tt.err); got != tt.unavailable {
			t.Errorf("Unavailable(%v) = %v", tt.err, got)
		}
	}
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// connectError is the error of connecting where no server listens.
func connectError(t *testing.T) error {
	t.Helper()
	url := pgtest.UnreachableURL(t) + "&connect_timeout=10"
	conn, err := pgconn.Connect(t.Context(), url)
	if err == nil {
		conn.Close(t.Context())
		t.Fatalf("connected to %s, where nothing listens", url)
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("connecting to %s: %T %v, want a *pgconn.ConnectError", url, err, err)
	}
	return err
}

func TestRetry(t *testing.T) {
	runs := 0
	err := Retry(t.Context(), func() error {
		runs++
		if runs < 3 {
			return &pgconn.PgError{Code: "40001"}
		}
		return nil
	})
	if err != nil || runs != 3 {
		t.Errorf("Retry = %v after %d runs; want success after 3", err, runs)
	}

	runs = 0
	err = Retry(t.Context(), func() error { runs++; return &pgconn.PgError{Code: "40P01"} })
	if err == nil || runs != maxAttempts {
		t.Errorf("Retry = %v after %d runs; want failure after %d", err, runs, maxAttempts)
	}

	runs = 0
	err = Retry(t.Context(), func() error { runs++; return &pgconn.PgError{Code: "23505"} })
	if err == nil || runs != 1 {
		t.Errorf("Retry of a unique violation ran %d times", runs)
	}

	ctx, cancel := context.WithCancel(t.Context())
	runs = 0
	err = Retry(ctx, func() error { runs++; cancel(); return &pgconn.PgError{Code: "40001"} })
	if err == nil || runs != 1 {
		t.Errorf("Retry after its context ended ran %d times", runs)
	}
}

// TestInTxRetriesSerializationFailures makes SERIALIZABLE transactions
// collide on a counter: every one commits in the end, once.
func TestInTxRetriesSerializationFailures(t *testing.T) {
	pool, err := Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `CREATE TABLE counter (n integer NOT NULL); INSERT INTO counter VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	const workers = 6
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			err := InTx(t.Context(), pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
				var n int
				if err := tx.QueryRow(t.Context(), `SELECT n FROM counter`).Scan(&n); err != nil {
					return err
				}
				_, err := tx.Exec(t.Context(), `UPDATE counter SET n = $1`, n+1)
				return err
			})
			if err != nil {
				t.Errorf("InTx: %v", err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT n FROM counter`).Scan(&n); err != nil || n != workers {
		t.Errorf("counter = %d, %v; want %d", n, err, workers)
	}
}

// heard records what a Policy's OnRetry hears.
type heard struct {
	mu      sync.Mutex
	reasons []string
}

func (h *heard) policy() Policy {
	return Policy{OnRetry: func(reason string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.reasons = append(h.reasons, reason)
	}}
}

func (h *heard) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reasons)
}

// TestPolicyRetry: OnRetry hears each rerun, once, with the reason of the
// failure before it; nothing when there is no rerun.
func TestPolicyRetry(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code} }
	t.Run("each reason", func(t *testing.T) {
		var h heard
		fails := []error{pg("40001"), pg("40P01"), pg("57P01"), fmt.Errorf("read: %w", io.EOF)}
		runs := 0
		err := h.policy().Retry(t.Context(), func() error {
			runs++
			if runs <= len(fails) {
				return fails[runs-1]
			}
			return nil
		})
		want := []string{ReasonSerialization, ReasonDeadlock, ReasonConnectionLost, ReasonConnectionLost}
		if err != nil || runs != 5 || !slices.Equal(h.get(), want) {
			t.Errorf("Retry = %v after %d runs, heard %q; want success after 5 runs, heard %q", err, runs, h.get(), want)
		}
	})
	t.Run("gives up", func(t *testing.T) {
		var h heard
		runs := 0
		err := h.policy().Retry(t.Context(), func() error { runs++; return pg("40P01") })
		if err == nil || runs != maxAttempts || !slices.Equal(h.get(), slices.Repeat([]string{ReasonDeadlock}, maxAttempts-1)) {
			t.Errorf("Retry = %v after %d runs, heard %q; want failure after %d runs, heard %d deadlocks", err, runs, h.get(), maxAttempts, maxAttempts-1)
		}
	})
	t.Run("not retryable", func(t *testing.T) {
		var h heard
		runs := 0
		err := h.policy().Retry(t.Context(), func() error { runs++; return pg("23505") })
		if err == nil || runs != 1 || len(h.get()) != 0 {
			t.Errorf("Retry of a unique violation: %v after %d runs, heard %q; want one run, nothing heard", err, runs, h.get())
		}
	})
	t.Run("context ended", func(t *testing.T) {
		var h heard
		ctx, cancel := context.WithCancel(t.Context())
		runs := 0
		err := h.policy().Retry(ctx, func() error { runs++; cancel(); return pg("40001") })
		if err == nil || runs != 1 || len(h.get()) != 0 {
			t.Errorf("Retry after its context ended: %v after %d runs, heard %q; want one run, nothing heard", err, runs, h.get())
		}
	})
}

// TestPolicyInTx provokes each reason once on a real server: OnRetry hears
// exactly one retry, for that reason, and the transaction commits on its
// second run.
func TestPolicyInTx(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	pool, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counter VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	read := func(id int) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT n FROM counter WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run(ReasonSerialization, func(t *testing.T) {
		var h heard
		runs := 0
		before := read(1)
		err := h.policy().InTx(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
			runs++
			var n int
			if err := tx.QueryRow(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
				return err
			}
			if runs == 1 {
				// Another connection changes the row after this
				// snapshot was taken: the update below must fail.
				if _, err := pool.Exec(ctx, `UPDATE counter SET n = n + 1 WHERE id = 1`); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+10)
			return err
		})
		want := []string{ReasonSerialization}
		if err != nil || runs != 2 || !slices.Equal(h.get(), want) || read(1) != before+11 {
			t.Errorf("InTx = %v after %d runs, heard %q, counter %d; want success after 2 runs, heard %q, counter %d", err, runs, h.get(), read(1), want, before+11)
		}
	})

	t.Run(ReasonDeadlock, func(t *testing.T) {
		// Two transactions lock the two rows in opposite orders; the
		// server breaks the deadlock by failing one, which runs again.
		var h heard
		var locked sync.WaitGroup
		locked.Add(2)
		var runs [2]int
		var wg sync.WaitGroup
		for i, order := range [2][2]int{{1, 2}, {2, 1}} {
			wg.Go(func() {
				err := h.policy().InTx(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
					runs[i]++
					if _, err := tx.Exec(ctx, `SET LOCAL deadlock_timeout = '20ms'`); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `UPDATE counter SET n = n + 1 WHERE id = $1`, order[0]); err != nil {
						return err
					}
					if runs[i] == 1 {
						locked.Done()
						locked.Wait()
					}
					_, err := tx.Exec(ctx, `UPDATE counter SET n = n + 1 WHERE id = $1`, order[1])
					return err
				})
				if err != nil {
					t.Errorf("InTx %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		want := []string{ReasonDeadlock}
		if !slices.Equal(h.get(), want) || runs[0]+runs[1] != 3 {
			t.Errorf("heard %q after %v runs; want %q after 3 runs in all", h.get(), runs, want)
		}
	})

	t.Run(ReasonConnectionLost, func(t *testing.T) {
		// The first run's session is terminated by the server before
		// COMMIT: the pool drops the connection and the second run
		// takes another.
		var h heard
		runs := 0
		before := read(2)
		err := h.policy().InPipelinedTx(ctx, pool, func(tx pgx.Tx) (*pgx.Batch, error) {
			runs++
			var pid int
			if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return nil, err
			}
			if runs == 1 {
				// With a timeout, it returns once the session is gone.
				if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil {
					return nil, err
				}
				_, err := tx.Exec(ctx, `SELECT 1`)
				if err == nil {
					err = errors.New("a terminated session answered")
				}
				return nil, err
			}
			b := &pgx.Batch{}
			b.Queue(`UPDATE counter SET n = n + 1 WHERE id = 2`)
			return b, nil
		})
		want := []string{ReasonConnectionLost}
		if err != nil || runs != 2 || !slices.Equal(h.get(), want) || read(2) != before+1 {
			t.Errorf("InPipelinedTx = %v after %d runs, heard %q, counter %d; want success after 2 runs, heard %q, counter %d", err, runs, h.get(), read(2), want, before+1)
		}
	})
}

func TestMigrate(t *testing.T) {
	pool, err := Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	v1 := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x int); INSERT INTO a VALUES (1);`)}}
	if err := Migrate(ctx, pool, "test", v1); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool, "test", v1); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	// Another component keeps its own versions.
	if err := Migrate(ctx, pool, "other", fstest.MapFS{"0001_b.sql": {Data: []byte(`CREATE TABLE b (x int)`)}}); err != nil {
		t.Fatal(err)
	}
	// A failing migration leaves nothing behind, not even the one before it.
	v3 := fstest.MapFS{
		"0001_a.sql":   v1["0001_a.sql"],
		"0002_c.sql":   {Data: []byte(`CREATE TABLE c (x int)`)},
		"0003_bad.sql": {Data: []byte(`CREATE TABLE d (x nosuchtype)`)},
	}
	if err := Migrate(ctx, pool, "test", v3); err == nil || !strings.Contains(err.Error(), "0003_bad.sql") {
		t.Errorf("a bad migration: %v", err)
	}
	var rows, tables int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM pg_tables WHERE tablename = 'c')`).Scan(&rows, &tables); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || tables != 0 {
		t.Errorf("after the failure: %d rows in a (want 1), table c exists: %v", rows, tables == 1)
	}
	var versions []string
	r, err := pool.Query(ctx, `SELECT component || ' ' || version FROM schema_migrations ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	if versions, err = pgx.CollectRows(r, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if strings.Join(versions, ",") != "other 1,test 1" {
		t.Errorf("recorded %v", versions)
	}

	for _, bad := range []fstest.MapFS{
		{"a.sql": {}},
		{"0_a.sql": {}},
		{"0001_a.sql": {}, "01_b.sql": {}},
	} {
		if err := Migrate(ctx, pool, "test", bad); err == nil {
			t.Errorf("Migrate(%v) succeeded", bad)
		}
	}
}

// TestMigrateWaitsForTheLock holds the migration lock, as another
// replica migrating would: Migrate must wait until it is released, and
// only then migrate. TestMigrateConcurrently in store/postgres races real
// replicas; this one does not depend on how they happen to interleave.
func TestMigrateWaitsForTheLock(t *testing.T) {
	pool, err := Open(t.Context(), pgtest.Shared(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.WithoutCancel(ctx))
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		done <- Migrate(ctx, pool, "test", fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x int)`)}})
	}()
	// A bigint advisory key shows in pg_locks as its high and low halves.
	const waiting = `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
		AND (classid::bigint << 32 | objid::bigint) = $1`
	deadline := time.After(time.Minute)
	for n := 0; n == 0; {
		select {
		case err := <-done:
			t.Fatalf("Migrate returned (%v) while another transaction held the migration lock", err)
		case <-deadline:
			t.Fatal("Migrate never waited for the migration lock")
		case <-time.After(10 * time.Millisecond):
		}
		if err := pool.QueryRow(ctx, waiting, migrationLockKey).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Migrate after the lock was released: %v", err)
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'a'`).Scan(&tables); err != nil || tables != 1 {
		t.Errorf("table a: %d, %v; want it made once the lock was free", tables, err)
	}
}
