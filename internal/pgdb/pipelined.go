package pgdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// InPipelinedTx is InTx (READ COMMITTED) for writes whose round trips
// count, such as those that hold a row lock many writers wait for: BEGIN
// goes out with the transaction's first statement, and COMMIT with the
// batch fn returns (statements whose results nothing reads), so a
// transaction costs two round trips fewer. fn runs its reads on tx as on
// any pgx.Tx; it may run more than once, as with InTx. A nil batch
// commits alone.
//
// The outcome rules are InTx's: a statement or COMMIT that the server
// refused rolled the transaction back (and may be retried when
// Retryable); a connection lost while the last batch, which holds COMMIT,
// was on its way leaves the outcome unknown, and is not retried.
func InPipelinedTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) (*pgx.Batch, error)) error {
	return Policy{}.InPipelinedTx(ctx, pool, fn)
}

// InPipelinedTx is the package's InPipelinedTx, calling p.OnRetry before
// each rerun.
func (p Policy) InPipelinedTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) (*pgx.Batch, error)) error {
	return p.Retry(ctx, func() error { return runPipelined(ctx, pool, fn) })
}

// runPipelined is one attempt of InPipelinedTx.
func runPipelined(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) (*pgx.Batch, error)) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Release()
	tx := &pipelinedTx{conn: conn.Conn()}
	last, err := fn(tx)
	if err != nil {
		tx.rollback(ctx)
		return err
	}
	b := &pgx.Batch{}
	if !tx.begun {
		b.Queue(beginSQL)
	}
	if last != nil {
		b.QueuedQueries = append(b.QueuedQueries, last.QueuedQueries...)
	}
	b.Queue("COMMIT")
	tx.begun = true
	err = tx.conn.SendBatch(ctx, b).Close()
	if err == nil {
		return nil
	}
	if refusedByServer(err) {
		// After a refusal before COMMIT the server skipped the rest of
		// the batch, COMMIT included, and the transaction is still open,
		// aborted.
		tx.rollback(ctx)
	} else {
		tx.discard()
	}
	return commitFailed(err)
}

// beginSQL starts InPipelinedTx's transactions.
const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED"

// pipelinedTx is the pgx.Tx of InPipelinedTx: its first statement carries
// BEGIN; COMMIT is runPipelined's.
type pipelinedTx struct {
	conn  *pgx.Conn
	begun bool
}

var _ pgx.Tx = (*pipelinedTx)(nil)

// first sends BEGIN with the transaction's first statement, in one batch,
// and returns the batch's results positioned after BEGIN's.
func (t *pipelinedTx) first(ctx context.Context, sql string, args ...any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.Queue(beginSQL)
	b.Queue(sql, args...)
	t.begun = true
	br := t.conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	return br, nil
}

func (t *pipelinedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.first(ctx, sql, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *pipelinedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begun {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	br, err := t.first(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return batchRow{br}
}

func (t *pipelinedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *pipelinedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	withBegin := &pgx.Batch{}
	withBegin.Queue(beginSQL)
	withBegin.QueuedQueries = append(withBegin.QueuedQueries, b.QueuedQueries...)
	t.begun = true
	br := t.conn.SendBatch(ctx, withBegin)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return errBatch{fmt.Errorf("begin: %w", err)}
	}
	return br
}

func (t *pipelinedTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *pipelinedTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

func (t *pipelinedTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *pipelinedTx) Conn() *pgx.Conn { return t.conn }

// Begin, Commit and Rollback belong to InPipelinedTx.
func (t *pipelinedTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("pgdb: no nested transactions in InPipelinedTx")
}
func (t *pipelinedTx) Commit(context.Context) error {
	return errors.New("pgdb: InPipelinedTx commits; return the last batch instead")
}
func (t *pipelinedTx) Rollback(context.Context) error {
	return errors.New("pgdb: InPipelinedTx rolls back; return an error instead")
}

// begin sends BEGIN alone, for the statements that cannot carry it.
func (t *pipelinedTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	if _, err := t.conn.Exec(ctx, beginSQL); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return nil
}

// rollback ends the transaction, if one began; a connection that cannot
// roll back is closed, so that the pool never hands out a connection in a
// transaction.
func (t *pipelinedTx) rollback(ctx context.Context) {
	if !t.begun {
		return
	}
	if _, err := t.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		t.discard()
	}
}

// discard closes the connection, which the pool then drops.
func (t *pipelinedTx) discard() { _ = t.conn.Close(context.Background()) }

// batchRow is the row of a query sent with BEGIN: scanning it also closes
// the batch.
type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
