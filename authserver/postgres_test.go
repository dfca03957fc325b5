package authserver

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/internal/sqldb/sqldbtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOnPostgreSQL runs every test of the package again on PostgreSQL:
// the authorization server writes its SQL once for both databases, and
// this is the one suite that holds it to both.
func TestOnPostgreSQL(t *testing.T) { sqldbtest.RerunOnPostgreSQL(t) }
