package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/tools"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// listTools fetches tools/list anonymously over HTTP and returns each
// tool's descriptor as raw JSON, by name, in wire order.
func listTools(t *testing.T, srv *testServer) ([]string, map[string]json.RawMessage) {
	t.Helper()
	resp := srv.rpc(t, "", "tools/list", nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("anonymous tools/list: status %d: %s", resp.Status, resp.Body)
	}
	var msg struct {
		Result struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &msg); err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]json.RawMessage{}
	for _, raw := range msg.Result.Tools {
		var d struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		names = append(names, d.Name)
		byName[d.Name] = raw
	}
	return names, byName
}

// TestToolsListGolden snapshots every tool's full descriptor as it is on
// the wire. Run `go test -run TestToolsListGolden -update .` after an
// intended change and review the diff.
func TestToolsListGolden(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	names, byName := listTools(t, srv)
	var want []string
	for _, d := range tools.All() {
		want = append(want, d.Name)
	}
	slices.Sort(want)
	got := slices.Clone(names)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("tool names (-want +got):\n%s", diff)
	}
	for _, name := range names {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, byName[name], "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		// The server's own URL (the tools' icons) differs from run to run.
		snapshot := bytes.ReplaceAll(pretty.Bytes(), []byte(srv.URL), []byte("{BASE_URL}"))
		path := filepath.Join("testdata", "tools", name+".json")
		if *updateGolden {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, snapshot, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		golden, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if diff := cmp.Diff(string(golden), string(snapshot)); diff != "" {
			t.Errorf("%s descriptor differs from %s (-want +got):\n%s", name, path, diff)
		}
	}
}

// TestToolsListSecuritySchemes checks, on the wire, that every tool
// declares securitySchemes at the top level and in _meta with identical
// values, that inputSchema always has properties, and that annotations are
// all stated.
func TestToolsListSecuritySchemes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	_, byName := listTools(t, srv)
	// The schemes each declaration's Requirement stands for, worked out
	// here rather than with Requirement.SecuritySchemes: noauth first when
	// anonymous callers are allowed, then oauth2 with the one scope needed,
	// or with none when any token will do.
	want := map[string]string{}
	for _, d := range tools.All() {
		var schemes []string
		if d.Requires.Anonymous {
			schemes = append(schemes, `{"type":"noauth"}`)
		}
		if d.Requires.Scope == "" {
			schemes = append(schemes, `{"type":"oauth2"}`)
		} else {
			schemes = append(schemes, fmt.Sprintf(`{"type":"oauth2","scopes":[%q]}`, d.Requires.Scope))
		}
		want[d.Name] = "[" + strings.Join(schemes, ",") + "]"
	}
	if len(byName) != len(want) {
		t.Errorf("tools/list has %d tools, the declarations %d", len(byName), len(want))
	}
	for name, raw := range byName {
		var d struct {
			SecuritySchemes json.RawMessage `json:"securitySchemes"`
			Meta            struct {
				SecuritySchemes json.RawMessage `json:"securitySchemes"`
			} `json:"_meta"`
			InputSchema struct {
				Type       string          `json:"type"`
				Properties json.RawMessage `json:"properties"`
			} `json:"inputSchema"`
			OutputSchema map[string]any `json:"outputSchema"`
			Annotations  map[string]any `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		if got := compact(t, d.SecuritySchemes); got != want[name] {
			t.Errorf("%s: top-level securitySchemes = %s, want %s", name, got, want[name])
		}
		if !bytes.Equal(d.SecuritySchemes, d.Meta.SecuritySchemes) {
			t.Errorf("%s: top-level securitySchemes %s != _meta.securitySchemes %s", name, d.SecuritySchemes, d.Meta.SecuritySchemes)
		}
		if d.InputSchema.Type != "object" || len(d.InputSchema.Properties) == 0 || string(d.InputSchema.Properties) == "null" {
			t.Errorf("%s: inputSchema must be an object with properties; got type %q properties %s", name, d.InputSchema.Type, d.InputSchema.Properties)
		}
		if d.OutputSchema["type"] != "object" {
			t.Errorf("%s: outputSchema missing or not an object", name)
		}
		for _, hint := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
			if _, ok := d.Annotations[hint].(bool); !ok {
				t.Errorf("%s: annotation %s is not stated as a boolean", name, hint)
			}
		}
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}

// TestAnnotationsAreTruthful checks each tool's declared effect against
// what its declaration says it may do, so that a careless edit fails here
// (the golden descriptors catch any other change; the hints themselves are
// derived from the effect, tested in tools): a tool reads exactly when no
// scope of the kanban chain that allows changes is needed to call it, and
// only a tool that publishes reaches an open world.
func TestAnnotationsAreTruthful(t *testing.T) {
	scopes, err := tools.ScopeSet()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range tools.All() {
		// Of the kanban chain, kanban.write is what changes need; a scope
		// outside it says nothing either way.
		switch s := d.Requires.Scope; {
		case s != "" && scopes.Implies(s, tools.ScopeWrite) && d.Effect == tools.Reads:
			t.Errorf("%s: declared to read only, but it needs %q, which allows changes", d.Name, s)
		case s != "" && scopes.Implies(tools.ScopeRead, s) && d.Effect != tools.Reads:
			t.Errorf("%s: declared to %s, but a kanban.read token may call it", d.Name, d.Effect)
		}
		if a := d.Descriptor().Annotations; *a.OpenWorldHint != (d.Effect == tools.Publishes) {
			t.Errorf("%s: openWorldHint %v for a tool that %s", d.Name, *a.OpenWorldHint, d.Effect)
		}
	}
}

// TestToolNamesAreValid applies the MCP name rule to every declaration.
func TestToolNamesAreValid(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_./-]{1,64}$`)
	for _, d := range tools.All() {
		if !pattern.MatchString(d.Name) {
			t.Errorf("tool name %q breaks the MCP naming rule", d.Name)
		}
	}
}

// TestEveryAdvertisedArgumentIsAccepted calls each tool with every property
// its input schema advertises, so that a schema and the handler's argument
// struct cannot drift apart: an advertised name the handler does not know
// would come back as "unknown argument".
func TestEveryAdvertisedArgumentIsAccepted(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	token := srv.token(t, "alice", "agent-1", "kanban.admin")
	for _, d := range tools.All() {
		desc := d.Descriptor()
		args := map[string]any{}
		for name, p := range desc.InputSchema.Properties {
			switch p.(map[string]any)["type"] {
			case "string":
				args[name] = "x"
			case "integer", "number":
				args[name] = 1
			case "boolean":
				args[name] = true
			case "array":
				args[name] = []string{"x"}
			default:
				t.Fatalf("%s.%s: unexpected schema type %v", d.Name, name, p)
			}
		}
		res := srv.call(t, token, d.Name, args).result(t)
		if strings.Contains(res.Text(), "unknown argument") || strings.Contains(res.Text(), "must be") && strings.Contains(res.Text(), "not ") && strings.Contains(res.Text(), "argument") {
			t.Errorf("%s rejects an advertised argument: %s", d.Name, res.Text())
		}
	}
}

// TestToolsListRewriteKeepsTheID checks the tools/list rewrite (and its
// memo) with ids that try to confuse it: the reply must stay valid JSON,
// echo the id exactly, and carry top-level securitySchemes every time.
func TestToolsListRewriteKeepsTheID(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	for _, id := range []any{1.0, 2.0, "abc", `x,"result":{"tools":[]}`, `"}`, 1e15} {
		body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/list"})
		if err != nil {
			t.Fatal(err)
		}
		resp := srv.post(t, body, nil)
		var msg struct {
			ID     any `json:"id"`
			Result struct {
				Tools []map[string]json.RawMessage `json:"tools"`
			} `json:"result"`
		}
		if err := json.Unmarshal(resp.Body, &msg); err != nil {
			t.Fatalf("id %v: reply is not JSON: %v\n%s", id, err, resp.Body)
		}
		if diff := cmp.Diff(id, msg.ID); diff != "" {
			t.Errorf("id echoed (-want +got):\n%s", diff)
		}
		if len(msg.Result.Tools) != len(tools.All()) {
			t.Fatalf("id %v: %d tools, want %d", id, len(msg.Result.Tools), len(tools.All()))
		}
		for _, tool := range msg.Result.Tools {
			if tool[tools.SecuritySchemesKey] == nil {
				t.Errorf("id %v: tool %s lacks top-level securitySchemes", id, tool["name"])
			}
		}
	}
}
