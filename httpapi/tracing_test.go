package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/httpapi"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/tracing"
)

// TestTraces: a tools/call that arrives with a traceparent continues the
// caller's trace: a server span named after the route, under it the tool
// call's span, under that the store operation's; and no span carries the
// token, the caller's identity or the call's arguments. The spans are
// kept by the SDK's in-memory exporter.
func TestTraces(t *testing.T) {
	const base = "http://127.0.0.1:8080"
	srv, exp, iss := tracedServer(t, base)
	token := iss.Mint(t, iss.Standard(httpapi.Resource(base), "alice-subject", "agent-client", "kanban.write"))
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req := httptest.NewRequest(http.MethodPost, base+"/mcp",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_board","arguments":{"title":"Secret plans"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"isError":true`) {
		t.Fatalf("create_board: %d %s", rec.Code, rec.Body.String())
	}

	type seen struct {
		Name, Parent string
		Attrs        map[string]string
	}
	spans := exp.GetSpans()
	ids := map[string]string{callerSpan: "(caller)"}
	for _, s := range spans {
		ids[s.SpanContext.SpanID().String()] = s.Name
		if got := s.SpanContext.TraceID().String(); got != traceID {
			t.Errorf("span %q is in trace %s, not the caller's %s", s.Name, got, traceID)
		}
	}
	var got []seen
	for _, s := range spans {
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.Emit()
			for _, secret := range []string{token, "alice-subject", "agent-client", "Secret plans"} {
				if strings.Contains(a.Value.Emit(), secret) {
					t.Errorf("span %q attribute %s holds what the caller sent", s.Name, a.Key)
				}
			}
		}
		got = append(got, seen{s.Name, ids[s.Parent.SpanID().String()], attrs})
	}
	want := []seen{
		{"store CreateBoard", "tools/call create_board", map[string]string{"db.system.name": "sqlite", "db.operation.name": "CreateBoard"}},
		{"tools/call create_board", "POST /mcp", map[string]string{"mcp.tool.name": "create_board", "mcp.tool.outcome": "ok"}},
		{"POST /mcp", "(caller)", map[string]string{
			"http.route": "/mcp", "http.request.method": "POST", "http.response.status_code": "200",
			"rpc.method": "tools/call", "mcp.tool.name": "create_board", "mcp.client.family": "other",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans, in the order they ended (-want +got):\n%s", diff)
	}

	// A route with its method in the pattern keeps the name it has.
	exp.Reset()
	srv.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, base+"/healthz", nil))
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Name != "GET /healthz" || spans[0].Parent.IsValid() {
		t.Errorf("GET /healthz spans: %v", spans)
	}
}

// tracedServer is a server whose spans go to the returned in-memory
// exporter, trusting the returned issuer's tokens.
func tracedServer(t *testing.T, base string) (*httpapi.Server, *tracetest.InMemoryExporter, *testissuer.Issuer) {
	t.Helper()
	iss := testissuer.New(t, testissuer.Options{})
	verifier, err := auth.NewVerifier(t.Context(), auth.VerifierConfig{Issuer: iss.URL, Audience: httpapi.Resource(base)})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !verifier.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the issuer's keys did not load")
		}
	}
	exp := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	tr := tracing.New(provider)
	srv, err := httpapi.New(httpapi.Options{
		BaseURL: base, Challenge: auth.ChallengeToolResult,
		Store: tracing.Store(openStore(t), tr, "sqlite"), Audit: discard{},
		Authenticator: &auth.Authenticator{Verifier: verifier}, Tracer: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, exp, iss
}

// TestTracesHoldOnlyKnownNames: what a client sends as its HTTP method,
// JSON-RPC method or tool name reaches a request's span only when the
// server knows it; anything else is _OTHER or left out, so a client
// cannot write what it likes into a trace. The access log, which caps
// them, still shows them.
func TestTracesHoldOnlyKnownNames(t *testing.T) {
	const base = "http://127.0.0.1:8080"
	srv, exp, _ := tracedServer(t, base)
	// 63 bytes and a two-byte character: the log's 64-byte cap cuts it.
	cutMethod := strings.Repeat("a", 63) + "é"
	type span struct {
		Name  string
		Attrs map[string]string
	}
	for _, tc := range []struct {
		name, method, path, body string
		want                     span
	}{{
		name: "a tool the server does not declare", method: http.MethodPost, path: "/mcp",
		body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"drop_all_tables","arguments":{}}}`,
		want: span{"POST /mcp", map[string]string{
			"http.route": "/mcp", "http.request.method": "POST", "http.response.status_code": "200",
			"rpc.method": "tools/call", "mcp.client.family": "other",
		}},
	}, {
		name: "a JSON-RPC method the server does not know, cut inside a character", method: http.MethodPost, path: "/mcp",
		body: `{"jsonrpc":"2.0","id":1,"method":"` + cutMethod + `","params":{"name":"get_board"}}`,
		want: span{"POST /mcp", map[string]string{
			"http.route": "/mcp", "http.request.method": "POST", "http.response.status_code": "200",
			"rpc.method": "_OTHER", "mcp.tool.name": "get_board", "mcp.client.family": "other",
		}},
	}, {
		name: "an HTTP method the server does not know", method: "FROBNICATE", path: "/mcp",
		want: span{"HTTP /mcp", map[string]string{
			"http.route": "/mcp", "http.request.method": "_OTHER", "http.response.status_code": "405",
		}},
	}, {
		name: "an unknown method on an unknown path", method: strings.Repeat("X", 4096), path: "/nowhere",
		want: span{"HTTP", map[string]string{"http.request.method": "_OTHER", "http.response.status_code": "404"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			req := httptest.NewRequest(http.MethodPost, base+tc.path, strings.NewReader(tc.body))
			req.Method = tc.method
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("MCP-Protocol-Version", "2025-11-25")
			srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want the request's alone: %v", len(spans), spans)
			}
			got := span{spans[0].Name, map[string]string{}}
			for _, a := range spans[0].Attributes {
				got.Attrs[string(a.Key)] = a.Value.Emit()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("the request's span (-want +got):\n%s", diff)
			}
		})
	}
}
