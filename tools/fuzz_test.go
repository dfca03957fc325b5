package tools

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// FuzzToolArguments sends arbitrary argument bytes to every tool's handler,
// against a real SQLite store holding a board of the caller's. Whatever
// arrives, a handler must not panic, and a failure must be a coded store
// error (the caller's mistake, shown as an isError result): an uncoded
// error would be answered as a server failure, which bad input must never
// cause. A success's text must carry its structured content (ResultText).
func FuzzToolArguments(f *testing.F) {
	all := All()
	st := openStore(f)
	owner := store.Actor{Issuer: "https://issuer.example", Subject: "fuzzer", ClientID: "fuzz-client"}
	principal := &auth.Principal{Issuer: owner.Issuer, Subject: owner.Subject, ClientID: owner.ClientID, Scopes: auth.Scopes{"kanban.admin"}}
	scopes := testScopeSet(f)
	board, err := st.CreateBoard(f.Context(), store.Call{Actor: owner, Tool: "create_board", Describe: describeCreateBoard}, "Fuzz board", nil)
	if err != nil {
		f.Fatal(err)
	}
	card, err := st.AddCard(f.Context(), store.Call{Actor: owner, Tool: "add_card", Describe: describeAddCard}, store.NewCard{
		BoardID: board.ID, ColumnID: board.Columns[0].ID, Title: "Seed card", Labels: []string{"seed"},
	})
	if err != nil {
		f.Fatal(err)
	}

	// Seeds: for every tool, well-formed arguments naming the fixture, and
	// the usual hostile shapes.
	valid := map[string]any{
		"board_id": board.ID, "column_id": board.Columns[1].ID, "card_id": card.ID,
		"title": "A title", "description": "Some text", "labels": []string{"bug"},
		"position": 0, "expected_version": card.Version, "visibility": "private",
		"query": "seed", "label": "seed", "limit": 10, "columns": []string{"A", "B"}, "confirm": board.ID,
	}
	validJSON, _ := json.Marshal(valid)
	for i := range all {
		for _, seed := range []string{
			string(validJSON), `{}`, `null`, `[]`, `"x"`, `{"board_id":1}`, `{"limit":1e400}`,
			`{"position":-1}`, `{"limit":99999999999999999999}`, `{"title":"` + "\u0000\u202e" + `"}`,
			`{"board_id":"b_` + "\xff\xfe" + `"}`, `{"labels":[null]}`, `{"columns":[]}`, `{"unknown":true}`,
			`{"board_id":"b_x","board_id":"b_y"}`, `{"cursor":"!!!"}`, `{"expected_version":-5}`,
		} {
			f.Add(uint8(i), []byte(seed))
		}
	}

	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		tool := all[int(which)%len(all)]
		call := tool.newCall(principal, json.RawMessage(args), tool.idArguments(), scopes)
		call.Viewer = owner
		res, err := tool.Handle.run(context.Background(), st, call)
		if err != nil {
			if store.OutcomeOf(err) == store.OutcomeError {
				t.Fatalf("%s(%q): an uncoded error, which would be answered as a server failure: %v", tool.Name, args, err)
			}
			return
		}
		if res == nil || res.Summary == "" || res.Structured == nil {
			t.Fatalf("%s(%q): a success without a summary or structured content: %+v", tool.Name, args, res)
		}
		// The text carries the structured content, whatever the arguments
		// put in it.
		text := ResultText(res.Summary, res.Structured)
		got := reflect.New(reflect.TypeOf(res.Structured))
		summary, err := parseResultText(text, got.Interface())
		if err != nil {
			t.Fatalf("%s(%q): the text does not parse: %v\n%s", tool.Name, args, err, text)
		}
		if err := checkTextNames(text, res.Structured); err != nil {
			t.Fatalf("%s(%q): %v", tool.Name, args, err)
		}
		if summary != res.Summary {
			t.Fatalf("%s(%q): the summary is not one line: %q", tool.Name, args, res.Summary)
		}
		if diff := cmp.Diff(res.Structured, got.Elem().Interface(), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s(%q): the text does not carry the structured content (-want +got):\n%s\ntext:\n%s", tool.Name, args, diff, text)
		}
	})
}
