package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
)

// BenchmarkToolsList is an anonymous tools/list through the whole /mcp
// handler in process: mcp-go's dispatch and serialisation of the twelve
// descriptors, and the rewrite that adds their top-level securitySchemes.
func BenchmarkToolsList(b *testing.B) {
	st := openStore(b)
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
