//go:build !unix

package sqlitedb

import "github.com/kanban-mcp/kanban-mcp/internal/sqldb"

// newRevocationSignal returns the file signal: without mmap there is no
// shared counter.
func newRevocationSignal(dbPath string) (sqldb.RevocationSignal, error) {
	return newFileSignal(dbPath), nil
}
