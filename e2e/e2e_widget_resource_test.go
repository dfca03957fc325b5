package e2e

// The board widget as an MCP Apps host discovers it, over real HTTP: the
// extension in initialize, the UI resource in resources/list and
// resources/read, the template keys on the tools that render it, and the
// hints that reach only the widget in a result's _meta.

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/widget"
)

const boardURI = "ui://kanban/board.html"

// wantResourceMeta is the resource's _meta, spelled out here rather than
// taken from the widget package, so that a change to it fails a test.
var wantResourceMeta = map[string]any{
	"ui": map[string]any{
		"csp":           map[string]any{"connectDomains": []any{}, "resourceDomains": []any{}},
		"prefersBorder": true,
	},
	"openai/widgetCSP":           map[string]any{"connect_domains": []any{}, "resource_domains": []any{}},
	"openai/widgetPrefersBorder": true,
	"openai/widgetDescription":   "An interactive kanban board: its columns with card counts and its cards with labels. The person can drag cards between columns, move them with the keyboard, and add cards inline.",
}

func rpcResult(t *testing.T, resp rpcResponse, what string) map[string]any {
	t.Helper()
	if resp.Status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", what, resp.Status, resp.Body)
	}
	msg := resp.JSON(t)
	res, ok := msg["result"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no result: %s", what, resp.Body)
	}
	return res
}

func TestWidgetExtensionAdvertised(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	res := rpcResult(t, srv.rpc(t, "", "initialize", map[string]any{
		"protocolVersion": "2025-11-25",
		"capabilities": map[string]any{"extensions": map[string]any{
			"io.modelcontextprotocol/ui": map[string]any{"mimeTypes": []string{"text/html;profile=mcp-app"}},
		}},
		"clientInfo": map[string]any{"name": "e2e-host", "version": "1"},
	}), "initialize")
	caps, _ := res["capabilities"].(map[string]any)
	want := map[string]any{"io.modelcontextprotocol/ui": map[string]any{"mimeTypes": []any{"text/html;profile=mcp-app"}}}
	if diff := cmp.Diff(want, caps["extensions"]); diff != "" {
		t.Errorf("initialize capabilities.extensions (-want +got):\n%s", diff)
	}
	if _, ok := caps["resources"]; !ok {
		t.Errorf("initialize capabilities lack resources: %v", caps)
	}
}

func TestWidgetResourceListAndRead(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)

	// Anonymous, like every resource: the page holds no data.
	list := rpcResult(t, srv.rpc(t, "", "resources/list", nil), "resources/list")
	want := []any{map[string]any{
		"uri":         boardURI,
		"name":        "Kanban board",
		"description": wantResourceMeta["openai/widgetDescription"],
		"mimeType":    "text/html;profile=mcp-app",
		"_meta":       wantResourceMeta,
	}}
	if diff := cmp.Diff(want, list["resources"]); diff != "" {
		t.Errorf("resources/list (-want +got):\n%s", diff)
	}

	read := rpcResult(t, srv.rpc(t, "", "resources/read", map[string]any{"uri": boardURI}), "resources/read")
	contents, _ := read["contents"].([]any)
	if len(contents) != 1 {
		t.Fatalf("resources/read: %d contents, want 1: %v", len(contents), read)
	}
	c := contents[0].(map[string]any)
	if c["uri"] != boardURI || c["mimeType"] != "text/html;profile=mcp-app" {
		t.Errorf("contents uri %v, mimeType %v; want %s, text/html;profile=mcp-app", c["uri"], c["mimeType"], boardURI)
	}
	if c["text"] != widget.HTML() {
		t.Errorf("contents text is not the embedded page (%d bytes)", len(str(c, "text")))
	}
	if diff := cmp.Diff(wantResourceMeta, c["_meta"]); diff != "" {
		t.Errorf("contents _meta (-want +got):\n%s", diff)
	}

	// A token is not needed, and a valid one changes nothing.
	tok := srv.token(t, "alice", "host", "kanban.read")
	again := rpcResult(t, srv.rpc(t, tok, "resources/read", map[string]any{"uri": boardURI}), "resources/read with a token")
	if diff := cmp.Diff(read, again); diff != "" {
		t.Errorf("resources/read with a token differs (-anonymous +token):\n%s", diff)
	}

	// An unknown ui:// URI is a JSON-RPC error, not a page.
	resp := srv.rpc(t, "", "resources/read", map[string]any{"uri": "ui://kanban/nothing.html"})
	if _, ok := resp.JSON(t)["error"]; !ok {
		t.Errorf("resources/read of an unknown URI: %s; want a JSON-RPC error", resp.Body)
	}
}

func TestWidgetTemplateKeysOnTools(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	_, byName := listTools(t, srv)
	for name := range byName {
		var d struct {
			Meta map[string]any `json:"_meta"`
		}
		if err := json.Unmarshal(byName[name], &d); err != nil {
			t.Fatal(err)
		}
		ui, _ := d.Meta["ui"].(map[string]any)
		renders := name == "get_board" || name == "create_board"
		if renders {
			if ui["resourceUri"] != boardURI || d.Meta["openai/outputTemplate"] != boardURI {
				t.Errorf("%s: _meta.ui.resourceUri = %v, _meta[openai/outputTemplate] = %v; want both %s", name, ui["resourceUri"], d.Meta["openai/outputTemplate"], boardURI)
			}
		} else if ui != nil || d.Meta["openai/outputTemplate"] != nil {
			t.Errorf("%s renders no board but names a template: %v", name, d.Meta)
		}
		// The tools the widget calls say so for ChatGPT's older bridge.
		callable := renders || name == "move_card" || name == "add_card"
		if got := d.Meta["openai/widgetAccessible"] == true; got != callable {
			t.Errorf("%s: openai/widgetAccessible = %v, want %v", name, d.Meta["openai/widgetAccessible"], callable)
		}
	}
}

// TestWidgetResultHints checks what only the widget gets: the board stays
// in structuredContent, and the viewer's permissions ride in _meta.
func TestWidgetResultHints(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	f := srv.newFixture(t, "alice", "Roadmap")
	public := srv.newFixture(t, "bob", "Open board")
	srv.mustCall(t, public.AdminTok, "share_board", map[string]any{"board_id": public.BoardID, "visibility": "public"})

	hints := func(r toolResult) any {
		w, _ := r.Meta["kanban-mcp/widget"].(map[string]any)
		return w["viewer"]
	}
	viewer := func(signedIn, canWrite bool) map[string]any {
		return map[string]any{"signed_in": signedIn, "can_write": canWrite, "write_scope": "kanban.write"}
	}
	tests := []struct {
		name  string
		token string
		board string
		want  map[string]any
	}{
		{"owner with write", srv.token(t, "alice", "c1", "kanban.write"), f.BoardID, viewer(true, true)},
		{"owner read-only", srv.token(t, "alice", "c1", "kanban.read"), f.BoardID, viewer(true, false)},
		{"someone else's public board", srv.token(t, "alice", "c1", "kanban.admin"), public.BoardID, viewer(true, false)},
		{"anonymous on a public board", "", public.BoardID, viewer(false, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := srv.mustCall(t, tt.token, "get_board", map[string]any{"board_id": tt.board})
			if diff := cmp.Diff(tt.want, hints(res)); diff != "" {
				t.Errorf("_meta viewer hints (-want +got):\n%s", diff)
			}
			if _, ok := res.Structured["columns"]; !ok {
				t.Errorf("structuredContent lost the board: %v", res.Structured)
			}
			for _, key := range []string{"viewer", "signed_in", "can_write"} {
				if _, ok := res.Structured[key]; ok {
					t.Errorf("structuredContent carries the widget-only %q", key)
				}
			}
		})
	}

	created := srv.mustCall(t, srv.token(t, "carol", "c1", "kanban.write"), "create_board", map[string]any{"title": "New"})
	if diff := cmp.Diff(viewer(true, true), hints(created)); diff != "" {
		t.Errorf("create_board _meta viewer hints (-want +got):\n%s", diff)
	}
}
