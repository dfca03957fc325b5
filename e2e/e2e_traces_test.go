package e2e

import (
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/tracing/tracingtest"
)

// TestTracesExported: with OTEL_EXPORTER_OTLP_ENDPOINT set, the server
// sends its spans to that collector over OTLP/HTTP: the fetch of the
// issuer's keys at start-up, and a call's request, tool and store spans
// in the caller's trace (traceparent), named after what they are, under
// the configured service name; nothing of the token in any of them.
func TestTracesExported(t *testing.T) {
	t.Parallel()
	collector := tracingtest.NewCollector(t)
	srv := startServer(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME":           "boards-e2e",
	})
	token := srv.token(t, "alice", "agent-1", "kanban.write")
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": "create_board", "arguments": map[string]any{"title": "Traced"}}})
	if err != nil {
		t.Fatal(err)
	}
	const traceID, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	if got := srv.post(t, body, map[string]string{"Authorization": "Bearer " + token, "traceparent": "00-" + traceID + "-" + callerSpan + "-01"}); got.Status != 200 {
		t.Fatalf("create_board: %d %s", got.Status, got.Body)
	}
	// The batch leaves at shutdown at the latest.
	srv.stop(t)

	byName := map[string][]string{} // name → parent span IDs
	idName := map[string]string{callerSpan: "(caller)"}
	inTrace := map[string]bool{}
	for _, s := range collector.Spans() {
		idName[hex.EncodeToString(s.GetSpanId())] = s.GetName()
		if hex.EncodeToString(s.GetTraceId()) == traceID {
			inTrace[s.GetName()] = true
		}
		for _, kv := range s.GetAttributes() {
			if strings.Contains(kv.GetValue().String(), token) || strings.Contains(kv.GetValue().String(), "agent-1") {
				t.Errorf("span %q attribute %s holds the caller's token or client", s.GetName(), kv.GetKey())
			}
		}
	}
	for _, s := range collector.Spans() {
		byName[s.GetName()] = append(byName[s.GetName()], idName[hex.EncodeToString(s.GetParentSpanId())])
	}
	for name, parent := range map[string]string{
		"POST /mcp":               "(caller)",
		"tools/call create_board": "POST /mcp",
		"store CreateBoard":       "tools/call create_board",
	} {
		if got := byName[name]; len(got) != 1 || got[0] != parent || !inTrace[name] {
			t.Errorf("span %q: parents %v, in the caller's trace %v; want one, under %q", name, got, inTrace[name], parent)
		}
	}
	if len(byName["fetch jwks"]) == 0 {
		t.Errorf("no span of the issuer's key fetch; spans: %v", byName)
	}
	if got := collector.Resource()["service.name"]; got != "boards-e2e" {
		t.Errorf("service.name = %q", got)
	}
}

// TestNoGRPC: the server's binary links no gRPC package (traces leave
// over OTLP/HTTP; see package tracing).
func TestNoGRPC(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/kanban-mcp/kanban-mcp").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for dep := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Errorf("the binary links %s", dep)
		}
	}
}
