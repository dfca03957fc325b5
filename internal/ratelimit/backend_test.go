package ratelimit_test

import (
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit/limittest"
)

// TestMemory runs the contract suite against the memory backend, which
// every other backend must answer like.
func TestMemory(t *testing.T) {
	limittest.Run(t, func(*testing.T) ratelimit.Backend { return ratelimit.Memory{} })
}
