package revocation

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOnPostgreSQL runs every test of the package again on PostgreSQL:
// the blocklist's SQL is written once for both databases.
func TestOnPostgreSQL(t *testing.T) { sqldbtest.RerunOnPostgreSQL(t) }
