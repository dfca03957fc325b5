package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
)

type dropRows struct{}

func (dropRows) Record(store.Activity)                  {}
func (dropRows) RecordAnonymous(string, store.Activity) {}

// TestToolsListAnswersAreMCPGos: for every shape of tools/list request,
// the server that answers plain ones from encoded bytes answers exactly
// (status, headers, body) as the server that sends every one to mcp-go.
// Where the request is not plain, both go mcp-go's way.
func TestToolsListAnswersAreMCPGos(t *testing.T) {
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	serve := func(throughMCPGo bool) http.Handler {
		srv, err := New(Options{BaseURL: "http://127.0.0.1:8080", Challenge: auth.ChallengeToolResult, Store: st, Audit: dropRows{},
			Authenticator: &auth.Authenticator{}, everyListThroughMCPGo: throughMCPGo})
		if err != nil {
			t.Fatal(err)
		}
		return srv.Handler()
	}
	fast, slow := serve(false), serve(true)

	type request struct {
		body    string
		headers map[string]string
	}
	var requests []request
	for _, id := range []string{`1`, `0`, `-7`, `1.0`, `1.5`, `9007199254740993`, `1e3`, `-0`, `-0.0`, `9223372036854775807`, `9223372036854775808`, `1e21`, `-1.5e-7`, `"abc"`, `"a<b>&c"`, `"\u0041\n"`, `""`, `null`, `true`, `{"x":1}`} {
		requests = append(requests, request{body: `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/list"}`})
	}
	for _, params := range []string{`{}`, `null`, `{"cursor":"x"}`, `{"cursor":null}`, `{"_meta":{}}`, `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}`, `{"other":1}`, `5`} {
		requests = append(requests, request{body: `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":` + params + `}`})
	}
	for _, body := range []string{
		`{"id":3,"method":"tools/list"}`,
		`{"jsonrpc":"1.0","id":3,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","method":"tools/list"}`,
		`[{"jsonrpc":"2.0","id":3,"method":"tools/list"}]`,
		` {"jsonrpc":"2.0","id":3,"method":"tools/list"} `,
		`{"jsonrpc":"2.0","id":3,"method":"tools/list","id":4}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/list","result":{}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/list","result":0}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/list","result":null}`,
	} {
		requests = append(requests, request{body: body})
	}
	for _, version := range []string{"", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", "2026-07-28", "1999-01-01"} {
		requests = append(requests, request{body: `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`, headers: map[string]string{"MCP-Protocol-Version": version}})
	}
	for _, ct := range []string{"application/json; charset=utf-8", "text/plain", "application/json-seq", ""} {
		requests = append(requests, request{body: `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, headers: map[string]string{"Content-Type": ct}})
	}
	requests = append(requests, request{body: `{"jsonrpc":"2.0","id":6,"method":"tools/list"}`, headers: map[string]string{"Mcp-Session-Id": "some-session"}})

	fastAnswers := 0
	for _, rq := range requests {
		do := func(h http.Handler) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp", strings.NewReader(rq.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("MCP-Protocol-Version", "2025-11-25")
			for k, v := range rq.headers {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		got, want := do(fast), do(slow)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("%s %v:\nencoded: %d %.300s\nmcp-go:  %d %.300s", rq.body, rq.headers, got.Code, got.Body.String(), want.Code, want.Body.String())
		}
		if diff := cmp.Diff(want.Header(), got.Header()); diff != "" {
			t.Errorf("%s %v: headers (-mcp-go +encoded):\n%s", rq.body, rq.headers, diff)
		}
		if got.Code == http.StatusOK && strings.Contains(got.Body.String(), `"securitySchemes"`) {
			fastAnswers++
		}
	}
	// The plain requests were answered, with the top-level securitySchemes.
	if fastAnswers < 15 {
		t.Errorf("%d requests answered with the tool list, want the plain ones (15 or more)", fastAnswers)
	}
}

// BenchmarkToolsListPaths compares an anonymous tools/list answered from
// its encoded bytes with the same request through mcp-go.
func BenchmarkToolsListPaths(b *testing.B) {
	db, err := sqlitedb.Open(b.Context(), filepath.Join(b.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.New(b.Context(), db, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for _, tc := range []struct {
		name         string
		throughMCPGo bool
	}{{"encoded", false}, {"mcp-go", true}} {
		b.Run(tc.name, func(b *testing.B) {
			srv, err := New(Options{BaseURL: "http://127.0.0.1:8080", Challenge: auth.ChallengeToolResult, Store: st, Audit: dropRows{},
				Authenticator: &auth.Authenticator{}, everyListThroughMCPGo: tc.throughMCPGo})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("MCP-Protocol-Version", "2025-11-25")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkEnvelope is the endpoint's own parse of a tools/call body:
// what each request that goes on to mcp-go, which parses the body again
// from its bytes, pays twice.
func BenchmarkEnvelope(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":"b_0123456789abcdef"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		var env rpcEnvelope
		if json.Unmarshal(body, &env) != nil || env.Params.Name != "get_board" {
			b.Fatal("parse")
		}
	}
}
