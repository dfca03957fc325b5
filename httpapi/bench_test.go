package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
)

type discard struct{}

func (discard) Record(store.Activity) {}

// BenchmarkToolsList is an anonymous tools/list through the whole /mcp
// handler in process: mcp-go's dispatch and serialisation of the twelve
// descriptors, and the rewrite that adds their top-level securitySchemes.
func BenchmarkToolsList(b *testing.B) {
	db, err := sqlitedb.Open(b.Context(), filepath.Join(b.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.New(b.Context(), db, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := httpapi.New(httpapi.Options{
		BaseURL:       "http://127.0.0.1:8080",
		Challenge:     auth.ChallengeToolResult,
		Store:         st,
		Audit:         discard{},
		Authenticator: &auth.Authenticator{},
	})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	const body = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	do := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"securitySchemes"`) {
		b.Fatalf("tools/list: %d %s", rec.Code, rec.Body.String())
	}
	b.ReportAllocs()
	for b.Loop() {
		if rec := do(); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
