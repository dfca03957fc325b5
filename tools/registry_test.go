package tools

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/sqlitedb"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/sqlite"
)

// discard drops activity rows; these tests are about registration, and the
// audit path is tested end to end.
type discard struct{}

func (discard) Record(store.Activity)                  {}
func (discard) RecordAnonymous(string, store.Activity) {}

// testScopeSet is the declared scope set; a declaration that fails its
// checks fails the test that needs it.
func testScopeSet(t testing.TB) *auth.ScopeSet {
	t.Helper()
	s, err := ScopeSet()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t testing.TB) store.Store {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "kanban.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// untaggedArgs declares an argument without saying what kind it is.
type untaggedArgs struct {
	Name string `json:"name"`
}

func (untaggedArgs) validate() error { return nil }

// TestRegisterRefusesBadDeclarations: a tool cannot be registered without a
// complete, valid declaration.
func TestRegisterRefusesBadDeclarations(t *testing.T) {
	valid := func() Tool {
		return Tool{
			Name:        "ok_tool",
			Description: "A tool.",
			Output:      mcp.WithOutputSchema[struct{}](),
			Requires:    auth.Requirement{Scope: ScopeRead},
			Effect:      Reads,
			Handle: Bound(func(context.Context, store.Store, *Call, NoArguments) (*Result, error) {
				return &Result{Structured: struct{}{}, Summary: "ok"}, nil
			}),
		}
	}
	tests := []struct {
		name    string
		mutate  func(*Tool)
		wantErr string
	}{
		{"valid", func(*Tool) {}, ""},
		{"bad name", func(t *Tool) { t.Name = "has space" }, "name must match"},
		{"long name", func(t *Tool) { t.Name = strings.Repeat("a", 65) }, "name must match"},
		{"no description", func(t *Tool) { t.Description = " " }, "description is empty"},
		{"no output schema", func(t *Tool) { t.Output = nil }, "no output schema"},
		{"no handler", func(t *Tool) { t.Handle = Handler{} }, "no handler"},
		{"arguments without a schema", func(t *Tool) {
			t.Handle = Bound(func(context.Context, store.Store, *Call, untaggedArgs) (*Result, error) { return nil, nil })
		}, "needs a json name and an arg tag"},
		{"unknown scope", func(t *Tool) { t.Requires.Scope = "kanban.everything" }, `requires scope "kanban.everything", which is not declared`},
		{"no requirement", func(t *Tool) { t.Requires = auth.Requirement{} }, "declare what the tool needs"},
		{"anonymous without a scope", func(t *Tool) { t.Requires = auth.Requirement{Anonymous: true} }, ""},
		{"no effect", func(t *Tool) { t.Effect = 0 }, "no Effect"},
		{"a write without wording", func(t *Tool) { t.Effect = Creates }, "no Describe"},
		{"a write with wording", func(t *Tool) {
			t.Effect = UpdatesInPlace
			t.Describe = func(store.Change) string { return "wrote" }
		}, ""},
		{"a read with write wording", func(t *Tool) { t.Describe = func(store.Change) string { return "read" } }, "read-only but has a Describe"},
	}
	st := openStore(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := valid()
			tt.mutate(&tool)
			_, err := Register(server.NewMCPServer("t", "1"), Options{Store: st, Audit: discard{}, Scopes: testScopeSet(t)}, tool)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Register: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Register error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	t.Run("duplicate names", func(t *testing.T) {
		_, err := Register(server.NewMCPServer("t", "1"), Options{Store: st, Audit: discard{}, Scopes: testScopeSet(t)}, valid(), valid())
		if err == nil || !strings.Contains(err.Error(), "declared twice") {
			t.Fatalf("Register error = %v, want 'declared twice'", err)
		}
	})
	t.Run("no store, audit or scopes", func(t *testing.T) {
		for _, opts := range []Options{{}, {Store: st, Audit: discard{}}, {Store: st, Scopes: testScopeSet(t)}} {
			if _, err := Register(server.NewMCPServer("t", "1"), opts, valid()); err == nil {
				t.Errorf("Register(%+v) succeeded without a store, an audit recorder and the scopes", opts)
			}
		}
	})
}

// TestAllDeclarationsAreValid registers the real tool set.
func TestAllDeclarationsAreValid(t *testing.T) {
	if _, err := Register(server.NewMCPServer("t", "1"), Options{Store: openStore(t), Audit: discard{}, Scopes: testScopeSet(t)}, All()...); err != nil {
		t.Fatal(err)
	}
}

// TestBindMessages: argument errors are sentences a model can act on.
func TestBindMessages(t *testing.T) {
	type args struct {
		BoardID string `json:"board_id"`
		Limit   int    `json:"limit"`
	}
	tests := []struct {
		raw  string
		want string // substring; "" means no error
	}{
		{`{"board_id":"b_x","limit":5}`, ""},
		{``, ""},
		{`null`, ""},
		{`{"boardId":"b_x"}`, `unknown argument "boardId"`},
		{`{"limit":"ten"}`, `argument "limit" must be a whole number, not string`},
		{`{"limit":1.5}`, `argument "limit" must be a whole number`},
		{`{"limit":99999999999999999999}`, `argument "limit" must be a whole number`},
		{`[1,2]`, "arguments must be a JSON object, not array"},
		{`{"board_id":"b_x"} {"x":1}`, "a single JSON object"},
	}
	for _, tt := range tests {
		var a args
		err := (&Call{args: []byte(tt.raw)}).Bind(&a)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Bind(%s): %v", tt.raw, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Bind(%s) = %v, want an error containing %q", tt.raw, err, tt.want)
		case tt.want != "" && store.ErrorCode(err) != store.Invalid:
			t.Errorf("Bind(%s) error has code %q, want invalid", tt.raw, store.ErrorCode(err))
		}
	}
}

// boundProbeArgs has a required ID, an optional pointer ID and a plain
// argument, for TestBoundChecksArguments.
type boundProbeArgs struct {
	BoardID  string  `json:"board_id" arg:"board-id,required" desc:"board"`
	ColumnID *string `json:"column_id" arg:"column-id" desc:"column"`
	Limit    int     `json:"limit" arg:"limit"`
}

func (boundProbeArgs) validate() error { return nil }

// TestBoundChecksArguments: before the handler runs, Bound refuses names
// that are not exactly the declared ones (encoding/json alone would take
// "BOARD_ID" for board_id, and act on an ID that the audit never saw) and
// IDs of the wrong form, a sent-but-empty optional one included.
func TestBoundChecksArguments(t *testing.T) {
	ran := false
	h := Bound(func(context.Context, store.Store, *Call, boundProbeArgs) (*Result, error) {
		ran = true
		return &Result{}, nil
	})
	tests := []struct {
		raw  string
		want string // in the error; "" means the handler runs
	}{
		{`{"board_id":"b_x"}`, ""},
		{`{"board_id":"b_x","column_id":"col_y","limit":3}`, ""},
		{`{"board_id":"b_x","column_id":null}`, ""},
		{`{"BOARD_ID":"b_x"}`, `unknown argument "BOARD_ID"`},
		{`{"board_id":"b_x","Limit":3}`, `unknown argument "Limit"`},
		{`{}`, `board_id is required`},
		{`{"board_id":"c_x"}`, `board_id "c_x" is not a valid ID`},
		{`{"board_id":"b_x","column_id":""}`, `column_id is empty: leave it out`},
		{`{"board_id":"b_x","column_id":"b_y"}`, `column_id "b_y" is not a valid ID`},
	}
	for _, tt := range tests {
		ran = false
		_, err := h.run(t.Context(), nil, &Call{args: []byte(tt.raw)})
		switch {
		case tt.want == "" && (err != nil || !ran):
			t.Errorf("%s: err %v, handler ran %v; want it to run", tt.raw, err, ran)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || ran):
			t.Errorf("%s: err %v, handler ran %v; want an error containing %q and no run", tt.raw, err, ran, tt.want)
		}
	}
}

// TestEffectsDecideTheHints pins what each effect means to hosts (MCP and
// OpenAI's review: destructive = deletes, overwrites or revokes access;
// open world = publishes), and checks that every tool's descriptor shows
// exactly the hints of its declared effect.
func TestEffectsDecideTheHints(t *testing.T) {
	want := map[Effect]Annotations{
		Reads:          {ReadOnly: true, Idempotent: true},
		Creates:        {},
		UpdatesInPlace: {Idempotent: true},
		Overwrites:     {Destructive: true, Idempotent: true},
		Deletes:        {Destructive: true, Idempotent: true},
		Publishes:      {Destructive: true, Idempotent: true, OpenWorld: true},
	}
	for e, hints := range want {
		if diff := cmp.Diff(hints, e.Annotations()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", e, diff)
		}
	}
	for _, d := range All() {
		a := d.Descriptor().Annotations
		got := Annotations{ReadOnly: *a.ReadOnlyHint, Destructive: *a.DestructiveHint, Idempotent: *a.IdempotentHint, OpenWorld: *a.OpenWorldHint}
		if diff := cmp.Diff(want[d.Effect], got); diff != "" {
			t.Errorf("%s declares %s but its descriptor's hints differ (-want +got):\n%s", d.Name, d.Effect, diff)
		}
	}
}
