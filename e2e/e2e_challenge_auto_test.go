package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAutoChallengeByClient: with no configuration at all (AUTH_CHALLENGE
// unset, so auto), one deployment answers each client the way it acts on:
// ChatGPT's connector (its user agent, protocol 2026-07-28) gets the
// challenge in the tool result, for a missing token and for a step-up;
// Claude, the MCP Inspector and the SDKs (both send "node" or net/http's
// agent), an unknown client and one that names none get HTTP 401 with
// resource_metadata and scope, and 403 insufficient_scope for a step-up.
// whoami and the access log name the client's family.
func TestAutoChallengeByClient(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"AUTH_CHALLENGE": ""})
	read := srv.token(t, "alice", "agent-1", "kanban.read")
	tests := []struct {
		name, userAgent, mode, family string
	}{
		{"ChatGPT", "openai-mcp/1.0.0", "tool-result", "chatgpt"},
		{"Codex", "openai-mcp/1.0.0 (Codex)", "http", "other"},
		{"Claude", "Claude-User", "http", "claude"},
		{"MCP Inspector and the TypeScript SDK", "node", "http", "sdk"},
		{"Go SDK", "Go-http-client/1.1", "http", "sdk"},
		{"an unknown client", "curl/8.5.0", "http", "other"},
		{"no user agent", "", "http", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := func(token, tool string, args map[string]any) rpcResponse {
				t.Helper()
				// Protocol 2026-07-28: every request says its version and
				// capabilities in _meta.
				meta := map[string]any{
					"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
					"io.modelcontextprotocol/clientCapabilities": map[string]any{},
				}
				body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
					"params": map[string]any{"name": tool, "arguments": args, "_meta": meta}})
				if err != nil {
					t.Fatal(err)
				}
				// An empty value leaves the header out; Go's client would
				// otherwise send its own agent.
				h := map[string]string{"User-Agent": tt.userAgent, "MCP-Protocol-Version": "2026-07-28",
					"Mcp-Method": "tools/call", "Mcp-Name": tool}
				if token != "" {
					h["Authorization"] = "Bearer " + token
				}
				return srv.post(t, body, h)
			}
			// A missing token: sign in.
			checkAccess(t, srv, tt.mode, "kanban.read", needToken, call("", "search_cards", map[string]any{"query": "x"}))
			// A token without the scope: step up.
			checkAccess(t, srv, tt.mode, "kanban.write", needScope, call(read, "create_board", map[string]any{"title": "Needs write"}))
			// whoami names the family.
			who := call(read, "whoami", map[string]any{}).result(t).Structured
			if got := who["client_family"]; got != tt.family {
				t.Errorf("whoami client_family = %v, want %s", got, tt.family)
			}
		})
	}
	// The access log records the family of every /mcp request, and the
	// user agent itself nowhere.
	for _, line := range strings.Split(srv.Log.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"path":"/mcp"`) && !strings.Contains(line, `"client":"`) {
			t.Errorf("an access log line of /mcp without the client's family: %s", line)
		}
	}
	if diff := cmp.Diff(false, strings.Contains(srv.Log.String(), "curl/8.5.0")); diff != "" {
		t.Errorf("the log repeats a user agent (-want +got):\n%s", diff)
	}
}
