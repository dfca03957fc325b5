package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/internal/loadtest"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// BenchmarkToolsList is an anonymous tools/list through the whole /mcp
// handler in process: mcp-go's dispatch and serialisation of the
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

// BenchmarkGetBoard is an anonymous get_board of a public board through
// the whole /mcp handler in process: the 50-card board of `kanban-mcp
// bench`, and a board at the card quota with descriptions at their limit.
// The board is cached after the first call, as it is under load.
func BenchmarkGetBoard(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cards []loadtest.CardSpec
	}{
		{"50 cards", loadtest.FixtureCards()},
		{"full board", loadtest.FullBoardCards()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := openStore(b)
			owner := store.Call{Actor: store.Actor{Issuer: "https://issuer.example", Subject: "owner"}, Tool: "bench",
				Describe: func(store.Change) string { return "bench setup" }}
			board, err := st.CreateBoard(b.Context(), owner, "Bench", loadtest.BoardColumns())
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range tc.cards {
				if _, err := st.AddCard(b.Context(), owner, store.NewCard{BoardID: board.ID, ColumnID: board.Columns[c.Column].ID,
					Title: c.Title, Description: c.Description, Labels: c.Labels}); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := st.ShareBoard(b.Context(), owner, board.ID, store.Public); err != nil {
				b.Fatal(err)
			}
			srv, err := httpapi.New(httpapi.Options{
				BaseURL: "http://127.0.0.1:8080", Challenge: auth.ChallengeToolResult,
				Store: st, Audit: discard{}, Authenticator: &auth.Authenticator{},
			})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":"` + board.ID + `"}}}`
			var size int
			do := func() {
				req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("MCP-Protocol-Version", "2025-11-25")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"structuredContent"`) {
					b.Fatalf("get_board: %d %.300s", rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			do()
			b.ReportAllocs()
			for b.Loop() {
				do()
			}
			b.ReportMetric(float64(size), "answer-bytes")
		})
	}
}
