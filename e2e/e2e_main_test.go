package e2e

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
)

// TestMain is pgtest.Main, which stops the PostgreSQL cluster that the
// tests share (pgtest.Shared) once they have all run.
func TestMain(m *testing.M) { pgtest.Main(m) }
