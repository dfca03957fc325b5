package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// TestSuppliedIDs: a refused call's row keeps only the values of the
// tool's declared ID arguments that are valid IDs of their kind; anything
// else the caller sent, however much, is never kept.
func TestSuppliedIDs(t *testing.T) {
	ids := []idArgument{{"board_id", store.BoardPrefix}, {"column_id", store.ColumnPrefix}}
	junk := map[string]any{}
	for i := range 1000 {
		junk[fmt.Sprintf("k%05d_id", i)] = "b_" + strings.Repeat("x", 40)
	}
	with := func(extra map[string]any) json.RawMessage {
		m := map[string]any{}
		for k, v := range junk {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		args json.RawMessage
		want []string
	}{
		{"declared and valid, in name order", with(map[string]any{"column_id": "col_2", "board_id": "b_1"}), []string{"b_1", "col_2"}},
		{"undeclared ID-like arguments only", with(nil), nil},
		{"wrong prefix", with(map[string]any{"board_id": "c_1", "column_id": "b_2"}), nil},
		{"too long", with(map[string]any{"board_id": "b_" + strings.Repeat("y", 63)}), nil},
		{"longest allowed", with(map[string]any{"board_id": "b_" + strings.Repeat("y", 62)}), []string{"b_" + strings.Repeat("y", 62)}},
		{"not a string", with(map[string]any{"board_id": 7, "column_id": []string{"col_1"}}), nil},
		{"empty", with(map[string]any{"board_id": ""}), nil},
		{"not an object", json.RawMessage(`["b_1"]`), nil},
		{"no arguments", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, suppliedIDs(ids, tt.args)); diff != "" {
				t.Errorf("suppliedIDs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIDArgumentsComeFromTheDeclarations: each tool's audited ID
// arguments are exactly the ID arguments in its input schema, so a new
// tool needs nothing beyond its declaration.
func TestIDArgumentsComeFromTheDeclarations(t *testing.T) {
	for _, tool := range All() {
		var want []string
		for _, name := range slices.Sorted(maps.Keys(tool.Descriptor().InputSchema.Properties)) {
			if strings.HasSuffix(name, "_id") {
				want = append(want, name)
			}
		}
		// Every ID argument of the kanban tools is named for its kind.
		prefixes := map[string]string{"board_id": store.BoardPrefix, "column_id": store.ColumnPrefix, "card_id": store.CardPrefix}
		var got []string
		for _, a := range tool.idArguments() {
			got = append(got, a.name)
			if a.prefix != prefixes[a.name] || a.prefix == "" {
				t.Errorf("%s: %s has prefix %q", tool.Name, a.name, a.prefix)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: audited ID arguments (-want +got):\n%s", tool.Name, diff)
		}
	}
}

// labelToolArgs has an argument named like an ID but not declared as one.
type labelToolArgs struct {
	LabelID string `json:"label_id" arg:"string,required" desc:"label"`
}

func (labelToolArgs) validate() error { return nil }

// TestUnknownIDArgumentIsRefused: an ID argument without an ID kind would
// escape the audit; its declaration is refused.
func TestUnknownIDArgumentIsRefused(t *testing.T) {
	tool := Tool{
		Name: "label_tool", Description: "A tool.", Output: mcp.WithOutputSchema[struct{}](),
		Effect:   Reads,
		Requires: auth.Requirement{Scope: ScopeRead},
		Handle: Bound(func(context.Context, store.Store, *Call, labelToolArgs) (*Result, error) {
			return nil, nil
		}),
	}
	_, err := Register(server.NewMCPServer("t", "1"), Options{Store: openStore(t), Audit: discard{}, Scopes: testScopeSet(t)}, tool)
	if err == nil || !strings.Contains(err.Error(), `"label_id"`) {
		t.Fatalf("Register error = %v, want one naming label_id", err)
	}
}
