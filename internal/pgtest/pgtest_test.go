package pgtest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// ctx bounds one test's calls; the deadline only guards against a hang.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T, ctx context.Context, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgxpool.New(%s): %v", url, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func titles(t *testing.T, ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := q.Query(ctx, "SELECT title FROM cards ORDER BY id")
	if err != nil {
		t.Fatalf("select cards: %v", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read cards: %v", err)
	}
	return got
}

// recovered reads the cards through a pool whose server went down and came
// back. Each pooled connection is dead, and a query on a dead one fails
// once and removes it from the pool, so at most one failure per
// connection the pool held is allowed before the read must succeed.
func recovered(t *testing.T, ctx context.Context, pool *pgxpool.Pool, held int32) []string {
	t.Helper()
	var errs []error
	for range held + 1 {
		rows, err := pool.Query(ctx, "SELECT title FROM cards ORDER BY id")
		if err == nil {
			var got []string
			got, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err == nil {
				t.Logf("the pool recovered after %d failed queries (%v)", len(errs), errs)
				return got
			}
		}
		errs = append(errs, err)
	}
	t.Fatalf("the pool held %d connections, and %d queries after the restart all failed: %v", held, len(errs), errs)
	return nil
}

// TestClusterLifecycle starts a cluster of its own, uses it through a
// pgxpool, restarts and kills it, and finds the pool working again and
// every committed row still there.
func TestClusterLifecycle(t *testing.T) {
	ctx := ctx(t)
	c := pgtest.Start(t)
	pool := newPool(t, ctx, c.NewDatabase(t))

	var one int
	if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var version, encoding string
	if err := pool.QueryRow(ctx, "SELECT version(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()").Scan(&version, &encoding); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s, encoding %s, port %d", version, encoding, c.Port())
	if encoding != "UTF8" {
		t.Errorf("database encoding %s, want UTF8", encoding)
	}

	if _, err := pool.Exec(ctx, "CREATE TABLE cards (id int PRIMARY KEY, title text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO cards VALUES (1, 'write the tests'), (2, 'Ünïcode ✓')"); err != nil {
		t.Fatal(err)
	}
	want := []string{"write the tests", "Ünïcode ✓"}
	if got := titles(t, ctx, pool); !slices.Equal(got, want) {
		t.Fatalf("cards = %q, want %q", got, want)
	}

	t.Run("restart", func(t *testing.T) {
		port, held := c.Port(), pool.Stat().TotalConns()
		c.Restart(t)
		if c.Port() != port {
			t.Errorf("port %d after the restart, want %d", c.Port(), port)
		}
		if got := recovered(t, ctx, pool, held); !slices.Equal(got, want) {
			t.Fatalf("cards after the restart = %q, want %q", got, want)
		}
	})

	t.Run("kill", func(t *testing.T) {
		// A commit acknowledged just before a crash survives it: Kill is an
		// immediate shutdown, and the next start runs crash recovery.
		if _, err := pool.Exec(ctx, "INSERT INTO cards VALUES (3, 'survive a crash')"); err != nil {
			t.Fatal(err)
		}
		held := pool.Stat().TotalConns()
		c.Kill(t)
		if _, err := pool.Exec(ctx, "SELECT 1"); err == nil {
			t.Fatal("a query succeeded while the cluster was down")
		}
		c.Start(t)
		want := append(want, "survive a crash")
		if got := recovered(t, ctx, pool, held); !slices.Equal(got, want) {
			t.Fatalf("cards after the crash = %q, want %q", got, want)
		}
	})
}

// TestDatabasesAreIsolated makes two databases in the shared cluster: a
// table in one is not in the other, and each is dropped when its test ends.
func TestDatabasesAreIsolated(t *testing.T) {
	ctx := ctx(t)
	c := pgtest.Shared(t)
	if pgtest.Shared(t) != c {
		t.Fatal("Shared returned two clusters in one test binary")
	}
	urlA, urlB := c.NewDatabase(t), c.NewDatabase(t)
	if urlA == urlB {
		t.Fatalf("two NewDatabase calls returned the same URL %s", urlA)
	}
	a, b := newPool(t, ctx, urlA), newPool(t, ctx, urlB)

	if _, err := a.Exec(ctx, "CREATE TABLE cards (id int PRIMARY KEY, title text NOT NULL); INSERT INTO cards VALUES (1, 'in a')"); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if _, err := b.Exec(ctx, "SELECT * FROM cards"); !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("database b sees a's table: err = %v, want undefined_table (42P01)", err)
	}
	if _, err := b.Exec(ctx, "CREATE TABLE cards (id int PRIMARY KEY, title text NOT NULL); INSERT INTO cards VALUES (1, 'in b')"); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, ctx, a); !slices.Equal(got, []string{"in a"}) {
		t.Errorf("a's cards = %q", got)
	}
	if got := titles(t, ctx, b); !slices.Equal(got, []string{"in b"}) {
		t.Errorf("b's cards = %q", got)
	}

	var gone string
	t.Run("dropped at the end", func(t *testing.T) {
		gone = c.NewDatabase(t)
		conn, err := pgx.Connect(ctx, gone)
		if err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the drop must not wait for it.
		t.Cleanup(func() { conn.Close(context.Background()) })
	})
	_, err := pgx.Connect(ctx, gone)
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		t.Fatalf("connecting to %s after its test ended: err = %v, want invalid_catalog_name (3D000)", gone, err)
	}
}
