package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store/postgres"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// TestDatabaseOutageAnswers503: a call that finds the database down is
// answered 503 with Retry-After (the JSON-RPC error as the body), never a
// 200 that a client would take as the call's final answer; /readyz says
// so; and both recover by themselves when the database is back. The
// database is a real PostgreSQL cluster, stopped and started again.
func TestDatabaseOutageAnswers503(t *testing.T) {
	cluster := pgtest.Start(t)
	st, err := postgres.Open(t.Context(), cluster.NewDatabase(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := httpapi.New(httpapi.Options{
		BaseURL: "http://127.0.0.1:8080", Challenge: auth.ChallengeToolResult,
		Store: st, Audit: discard{}, Authenticator: &auth.Authenticator{},
		Tools: tools.All(), ValidateOutput: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp",
			strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_boards","arguments":{}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	ready := func() int {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/readyz", nil))
		return rec.Code
	}

	if rec := call(); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("with the database up: %d %s", rec.Code, rec.Body.String())
	}
	if code := ready(); code != http.StatusOK {
		t.Fatalf("/readyz with the database up: %d", code)
	}

	cluster.Stop(t)
	rec := call()
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Errorf("with the database down: status %d, Retry-After %q; want 503 and 5\n%s", rec.Code, rec.Header().Get("Retry-After"), body)
	}
	if !strings.Contains(body, `"id":7`) || !strings.Contains(body, "the database is unavailable") {
		t.Errorf("with the database down, the body is not the call's JSON-RPC error naming the outage: %s", body)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: %d, want 503", code)
	}

	cluster.Start(t)
	// The pool's connections died with the server; the store's retry
	// policy takes a new one, so the very next call succeeds.
	if rec := call(); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("with the database back: %d %s", rec.Code, rec.Body.String())
	}
	if code := ready(); code != http.StatusOK {
		t.Errorf("/readyz with the database back: %d", code)
	}
}
