package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// txn is a transaction whose statements are prepared once per database
// and reused: SQLite spends a fifth of a small write parsing its SQL
// otherwise. It has the methods of *sql.Tx that the store uses, with the
// same signatures, so that code reads as plain database/sql.
type txn struct {
	*sql.Tx
	stmts *stmtCache
}

// stmtCache holds the prepared statements of one *sql.DB, by query text.
// Every query of this package is a constant, so the cache is bounded by
// the code; maxCachedStmts guards against a future dynamic one.
//
// A statement is prepared in the background after its first use: preparing
// on the database needs a free connection, and the caller's transaction
// holds one (the writer's only one), so preparing inline would deadlock.
type stmtCache struct {
	db *sql.DB

	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
	closed  bool
	wg      sync.WaitGroup
}

const maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: make(map[string]*sql.Stmt), pending: make(map[string]bool)}
}

// get returns query's prepared statement, or nil if it is not prepared
// yet (the caller runs it unprepared this time).
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.RLock()
	st := c.stmts[query]
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.pending[query] || c.stmts[query] != nil || len(c.stmts)+len(c.pending) >= maxCachedStmts {
		return c.stmts[query]
	}
	c.pending[query] = true
	c.wg.Add(1)
	go c.prepare(query)
	return nil
}

// prepare prepares query once a connection is free, and keeps it.
func (c *stmtCache) prepare(query string) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.db.PrepareContext(ctx, query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, query)
	switch {
	case err != nil:
		// Not kept: the query runs unprepared, and its own error, if it has
		// one, reaches the caller there.
	case c.closed:
		_ = st.Close()
	default:
		c.stmts[query] = st
	}
}

// close waits for pending preparations and closes every statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.stmts, q)
	}
	return first
}

// ExecContext runs query in the transaction, prepared.
func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := t.stmts.get(query)
	if st == nil {
		return t.Tx.ExecContext(ctx, query, args...)
	}
	return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// QueryContext runs query in the transaction, prepared.
func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st := t.stmts.get(query)
	if st == nil {
		return t.Tx.QueryContext(ctx, query, args...)
	}
	return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// QueryRowContext runs query in the transaction, prepared.
func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st := t.stmts.get(query)
	if st == nil {
		return t.Tx.QueryRowContext(ctx, query, args...)
	}
	return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}
