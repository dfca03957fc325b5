package pgdb

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

// TestInPipelinedTx: the last batch commits with the transaction; an error
// of fn, a refused statement of the last batch and a deferred constraint
// refused at COMMIT each leave nothing behind and a connection fit for the
// next transaction (the pool has one); a connection lost while the last
// batch was on its way is a commit of unknown outcome, not retried.
func TestInPipelinedTx(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url + "&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL,
		pos int NOT NULL, UNIQUE (pos) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(id, pos int) *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO notes VALUES ($1, 'x', $2)`, id, pos)
		return b
	}

	// Committed: the read that begins it sees the transaction's own rows.
	err = InPipelinedTx(ctx, pool, func(tx pgx.Tx) (*pgx.Batch, error) {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notes VALUES (1, 'first', 0)`); err != nil {
			return nil, err
		}
		return insert(2, 1), nil
	})
	if err != nil || count() != 2 {
		t.Fatalf("a committed transaction: %v, %d rows; want nil and 2", err, count())
	}

	refused := errors.New("refused by fn")
	for _, tc := range []struct {
		name string
		// byServer: the server refused its data, so RefusedData must say so.
		byServer bool
		fn       func(tx pgx.Tx) (*pgx.Batch, error)
	}{
		{"fn fails after a statement", false, func(tx pgx.Tx) (*pgx.Batch, error) {
			if _, err := tx.Exec(ctx, `INSERT INTO notes VALUES (3, 'x', 2)`); err != nil {
				return nil, err
			}
			return nil, refused
		}},
		{"a statement of the last batch is refused", true, func(tx pgx.Tx) (*pgx.Batch, error) {
			b := insert(3, 2)
			b.Queue(`INSERT INTO notes VALUES (1, 'taken', 9)`)
			return b, nil
		}},
		{"a statement of the last batch names no table", false, func(tx pgx.Tx) (*pgx.Batch, error) {
			b := insert(3, 2)
			b.Queue(`INSERT INTO no_such_table VALUES (1)`)
			return b, nil
		}},
		{"COMMIT is refused (deferred unique)", true, func(tx pgx.Tx) (*pgx.Batch, error) {
			return insert(3, 0), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := InPipelinedTx(ctx, pool, tc.fn)
			if err == nil {
				t.Fatal("no error")
			}
			if RefusedData(err) != tc.byServer {
				t.Errorf("RefusedData(%v) = %v, want %v", err, RefusedData(err), tc.byServer)
			}
			if n := count(); n != 2 {
				t.Errorf("%d rows after the failed transaction, want 2", n)
			}
		})
	}

	// The connection dies after fn's first statement: the last batch,
	// COMMIT included, meets a closed connection.
	err = InPipelinedTx(ctx, pool, func(tx pgx.Tx) (*pgx.Batch, error) {
		var pid int
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			return nil, err
		}
		killer, err := pgx.Connect(ctx, url)
		if err != nil {
			return nil, err
		}
		defer killer.Close(ctx)
		if _, err := killer.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			return nil, err
		}
		return insert(4, 3), nil
	})
	if !errors.As(err, new(*commitUnknown)) || Retryable(err) || RefusedData(err) {
		t.Errorf("the last batch on a dead connection: %v (retryable %v, refused %v); want a commit of unknown outcome, not retried, not refused", err, Retryable(err), RefusedData(err))
	}
	if n := count(); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}
