package e2e

// End-to-end tests of the data rules: isolation between users (IDOR),
// optimistic concurrency, quotas, argument validation, the audit trail and
// the atomicity of a write with its audit row. Everything runs against the
// real server over HTTP with real signed tokens.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"

	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// activityRow is one decoded list_activity entry.
type activityRow struct {
	At       string   `json:"at"`
	Tool     string   `json:"tool"`
	Outcome  string   `json:"outcome"`
	Issuer   string   `json:"issuer"`
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	BoardID  string   `json:"board_id"`
	IDs      []string `json:"ids"`
	Summary  string   `json:"summary"`
}

// allActivity reads every page of list_activity for token, optionally for
// one board.
func (s *testServer) allActivity(t *testing.T, token, boardID string) []activityRow {
	t.Helper()
	var rows []activityRow
	cursor := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("list_activity: more than 100 pages")
		}
		args := map[string]any{"limit": 200}
		if boardID != "" {
			args["board_id"] = boardID
		}
		if cursor != "" {
			args["cursor"] = cursor
		}
		res := s.mustCall(t, token, "list_activity", args)
		raw, err := json.Marshal(res.Structured)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Activity   []activityRow `json:"activity"`
			NextCursor string        `json:"next_cursor"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("list_activity structuredContent: %v\n%s", err, raw)
		}
		rows = append(rows, out.Activity...)
		if out.NextCursor == "" {
			return rows
		}
		cursor = out.NextCursor
	}
}

// withoutTool drops the rows of one tool (the polling list_activity calls
// record rows of their own).
func withoutTool(rows []activityRow, tool string) []activityRow {
	var out []activityRow
	for _, r := range rows {
		if r.Tool != tool {
			out = append(out, r)
		}
	}
	return out
}

// pollActivity reads token's activity trail (without list_activity rows)
// until done accepts it or 10 s pass; the audit queue flushes reads and
// denials about every 200 ms.
func (s *testServer) pollActivity(t *testing.T, token, boardID string, done func([]activityRow) bool) []activityRow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := withoutTool(s.allActivity(t, token, boardID), "list_activity")
		if done(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("activity trail did not reach the expected state within 10s; last read:\n%s", describeRows(rows))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describeRows(rows []activityRow) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(describe(r))
		b.WriteByte('\n')
	}
	return b.String()
}

// snapshot is what a user sees of one board and of the board list.
func (s *testServer) snapshot(t *testing.T, token, boardID string) map[string]any {
	t.Helper()
	return map[string]any{
		"board":  s.mustCall(t, token, "get_board", map[string]any{"board_id": boardID}).Structured,
		"boards": s.mustCall(t, token, "list_boards", nil).Structured,
	}
}

// boardIDs returns the IDs in a list_boards result.
func boardIDs(res toolResult) []string {
	var ids []string
	for _, b := range list(res.Structured, "boards") {
		ids = append(ids, str(b.(map[string]any), "id"))
	}
	return ids
}

// replaceIDs replaces each key of ids by its value.
func replaceIDs(s string, ids map[string]string) string {
	for id, placeholder := range ids {
		s = strings.ReplaceAll(s, id, placeholder)
	}
	return s
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// idSet names a board, two of its columns and a card.
type idSet struct{ Board, Col0, Col1, Card string }

// placeholders maps each ID of ids to a fixed name, so that the answers
// for two sets of IDs can be compared.
func placeholders(ids idSet) map[string]string {
	return map[string]string{ids.Board: "<board>", ids.Col0: "<col0>", ids.Col1: "<col1>", ids.Card: "<card>"}
}

// idorCase is one call that names another user's board, column or card.
type idorCase struct {
	name string
	tool string
	args func(ids idSet) map[string]any
}

// idorCases are the calls of every tool that takes an ID; otherBoard and
// otherCard belong to the caller, for the mixed cases (the caller's card
// moved to the victim's column, ...).
func idorCases(otherBoard, otherCard string) []idorCase {
	return []idorCase{
		{"get_board", "get_board", func(ids idSet) map[string]any { return map[string]any{"board_id": ids.Board} }},
		{"get_card", "get_card", func(ids idSet) map[string]any { return map[string]any{"card_id": ids.Card} }},
		{"search_cards by board", "search_cards", func(ids idSet) map[string]any { return map[string]any{"query": "", "board_id": ids.Board} }},
		{"search_cards by board with query", "search_cards", func(ids idSet) map[string]any { return map[string]any{"query": "zeta", "board_id": ids.Board} }},
		{"search_cards by column", "search_cards", func(ids idSet) map[string]any { return map[string]any{"query": "", "column_id": ids.Col0} }},
		{"search_cards by column with query", "search_cards", func(ids idSet) map[string]any { return map[string]any{"query": "zeta", "column_id": ids.Col0} }},
		{"search_cards by board and column", "search_cards", func(ids idSet) map[string]any {
			return map[string]any{"query": "", "board_id": ids.Board, "column_id": ids.Col0}
		}},
		{"search_cards by Bob's board and her column", "search_cards", func(ids idSet) map[string]any {
			return map[string]any{"query": "", "board_id": otherBoard, "column_id": ids.Col0}
		}},
		{"add_card", "add_card", func(ids idSet) map[string]any {
			return map[string]any{"board_id": ids.Board, "column_id": ids.Col0, "title": "Bob was here"}
		}},
		{"add_card to Bob's board in her column", "add_card", func(ids idSet) map[string]any {
			return map[string]any{"board_id": otherBoard, "column_id": ids.Col0, "title": "Bob was here"}
		}},
		{"update_card", "update_card", func(ids idSet) map[string]any { return map[string]any{"card_id": ids.Card, "title": "Bob was here"} }},
		{"update_card with expected_version", "update_card", func(ids idSet) map[string]any {
			return map[string]any{"card_id": ids.Card, "title": "Bob was here", "expected_version": 7}
		}},
		{"move_card her card to her column", "move_card", func(ids idSet) map[string]any { return map[string]any{"card_id": ids.Card, "column_id": ids.Col1} }},
		{"move_card Bob's card to her column", "move_card", func(ids idSet) map[string]any {
			return map[string]any{"card_id": otherCard, "column_id": ids.Col1, "position": 0}
		}},
		{"delete_card", "delete_card", func(ids idSet) map[string]any { return map[string]any{"card_id": ids.Card} }},
		{"share_board public", "share_board", func(ids idSet) map[string]any { return map[string]any{"board_id": ids.Board, "visibility": "public"} }},
		{"share_board private", "share_board", func(ids idSet) map[string]any { return map[string]any{"board_id": ids.Board, "visibility": "private"} }},
		{"delete_board", "delete_board", func(ids idSet) map[string]any { return map[string]any{"board_id": ids.Board, "confirm": true} }},
	}
}

// checkNoSecrets fails if s names any of secrets.
func checkNoSecrets(t *testing.T, what, s string, secrets []string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(strings.ToLower(s), strings.ToLower(secret)) {
			t.Errorf("%s leaks %q: %s", what, secret, s)
		}
	}
}

// checkSameAnswer calls tc once with the victim's IDs and once with made-up
// IDs of the same kinds: both must be isError results that leak none of
// secrets and read exactly alike once the IDs are replaced.
func checkSameAnswer(t *testing.T, srv *testServer, token string, tc idorCase, victim, madeUp idSet, secrets []string) {
	t.Helper()
	got := srv.call(t, token, tc.tool, tc.args(victim)).result(t)
	want := srv.call(t, token, tc.tool, tc.args(madeUp)).result(t)
	if !got.IsError {
		t.Fatalf("call on the victim's IDs succeeded: %s %s", got.Text(), mustJSON(t, got.Structured))
	}
	if !want.IsError {
		t.Fatalf("call on made-up IDs succeeded: %s", want.Text())
	}
	checkNoSecrets(t, "text", got.Text(), secrets)
	checkNoSecrets(t, "_meta", mustJSON(t, got.Meta), secrets)
	if got.Structured != nil {
		t.Errorf("error result carries structuredContent: %s", mustJSON(t, got.Structured))
	}
	gotText, wantText := replaceIDs(got.Text(), placeholders(victim)), replaceIDs(want.Text(), placeholders(madeUp))
	if diff := cmp.Diff(wantText, gotText); diff != "" {
		t.Errorf("answer for the victim's IDs differs from the answer for made-up IDs (-want +got):\n%s", diff)
	}
	gotMeta, wantMeta := replaceIDs(mustJSON(t, got.Meta), placeholders(victim)), replaceIDs(mustJSON(t, want.Meta), placeholders(madeUp))
	if diff := cmp.Diff(wantMeta, gotMeta); diff != "" {
		t.Errorf("_meta for the victim's IDs differs from _meta for made-up IDs (-want +got):\n%s", diff)
	}
}

// TestIDOR: user B, with any scope, can neither see nor change user A's
// private board, its columns, cards or activity through any tool that takes
// an ID, and the answers are indistinguishable from those for IDs that do
// not exist.
func TestIDOR(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)

	// Alice's private board, with names that must never reach Bob.
	alice := srv.token(t, "alice", "agent-a", "kanban.admin")
	secrets := []string{"Alice Secret Roadmap", "Alpha Backlog", "Alpha Doing", "Alpha Shipped", "Acquire Zeta Corp", "confidential merger notes"}
	b := srv.mustCall(t, alice, "create_board", map[string]any{"title": secrets[0], "columns": secrets[1:4]})
	aliceIDs := idSet{Board: str(b.Structured, "id")}
	cols := list(b.Structured, "columns")
	aliceIDs.Col0, aliceIDs.Col1 = str(cols[0].(map[string]any), "id"), str(cols[1].(map[string]any), "id")
	c := srv.mustCall(t, alice, "add_card", map[string]any{"board_id": aliceIDs.Board, "column_id": aliceIDs.Col0, "title": secrets[4], "description": secrets[5], "labels": []string{"alpha-secret"}})
	aliceIDs.Card = str(c.Structured, "id")
	secrets = append(secrets, "alpha-secret")

	fakeIDs := idSet{Board: store.NewID(store.BoardPrefix), Col0: store.NewID(store.ColumnPrefix), Col1: store.NewID(store.ColumnPrefix), Card: store.NewID(store.CardPrefix)}

	// Bob's own board, for the mixed cases (his card, her column).
	bobAdmin := srv.token(t, "bob", "agent-b", "kanban.admin")
	bobRead := srv.token(t, "bob", "agent-b-read", "kanban.read")
	bb := srv.mustCall(t, bobAdmin, "create_board", map[string]any{"title": "Bob board"})
	bobBoard := str(bb.Structured, "id")
	bobCol := str(list(bb.Structured, "columns")[0].(map[string]any), "id")
	bc := srv.mustCall(t, bobAdmin, "add_card", map[string]any{"board_id": bobBoard, "column_id": bobCol, "title": "Bob card"})
	bobCard := str(bc.Structured, "id")

	noSecrets := func(t *testing.T, what, s string) {
		t.Helper()
		checkNoSecrets(t, what, s, secrets)
	}

	before := srv.snapshot(t, alice, aliceIDs.Board)
	if ids := boardIDs(srv.mustCall(t, bobRead, "list_boards", nil)); slices.Contains(ids, aliceIDs.Board) {
		t.Errorf("Bob's list_boards shows Alice's private board: %v", ids)
	}

	cases := idorCases(bobBoard, bobCard)
	callers := []struct {
		name  string
		token string
	}{
		{"bob admin", bobAdmin},
		{"bob read", bobRead},
		{"bob openid", srv.token(t, "bob", "agent-b-openid", "openid")},
		{"anonymous", ""},
	}
	bobCalls := 3 // his setup: create_board, add_card, list_boards
	for _, caller := range callers {
		for _, tc := range cases {
			t.Run(caller.name+"/"+tc.name, func(t *testing.T) {
				if caller.token != "" {
					bobCalls += 2
				}
				checkSameAnswer(t, srv, caller.token, tc, aliceIDs, fakeIDs, secrets)
			})
		}
	}

	// Nothing of Alice's changed.
	if diff := cmp.Diff(before, srv.snapshot(t, alice, aliceIDs.Board)); diff != "" {
		t.Errorf("Alice's board changed through Bob's calls (-before +after):\n%s", diff)
	}

	// Bob's calls are audited as his own, and his trail names nothing of
	// Alice's. Wait until every refusal has been flushed.
	bobRows := srv.pollActivity(t, bobRead, "", func(rows []activityRow) bool { return len(rows) >= bobCalls })
	if len(bobRows) != bobCalls {
		t.Errorf("Bob sees %d activity rows, want one per call, %d:\n%s", len(bobRows), bobCalls, describeRows(bobRows))
	}
	for _, r := range bobRows {
		if r.Subject != "bob" {
			t.Errorf("Bob's trail shows someone else's row: %+v", r)
		}
		noSecrets(t, "Bob's activity row", mustJSON(t, r))
	}

	// list_activity filtered to Alice's board gives Bob only his own rows.
	for _, tok := range []string{bobAdmin, bobRead} {
		rows := srv.allActivity(t, tok, aliceIDs.Board)
		if len(rows) == 0 && bobCalls > 3 {
			t.Errorf("Bob's list_activity for Alice's board is empty; want his own refused calls")
		}
		for _, r := range rows {
			if r.Subject != "bob" || r.BoardID != aliceIDs.Board {
				t.Errorf("Bob's list_activity for Alice's board shows %+v", r)
			}
			noSecrets(t, "Bob's activity row for Alice's board", mustJSON(t, r))
		}
	}

	// Alice's trail holds her own rows and none of Bob's.
	aliceRows := srv.allActivity(t, alice, "")
	var hers int
	for _, r := range aliceRows {
		switch r.Subject {
		case "alice":
			hers++
		default:
			t.Errorf("Alice's trail shows a row that is not hers: %+v", r)
		}
	}
	if hers < 2 {
		t.Errorf("Alice's trail has %d of her rows, want at least her create_board and add_card:\n%s", hers, describeRows(aliceRows))
	}

	// An anonymous get_board of the private board gets the same sign-in
	// challenge as one of a board that does not exist.
	t.Run("anonymous get_board of a private board", func(t *testing.T) {
		got := srv.call(t, "", "get_board", map[string]any{"board_id": aliceIDs.Board}).result(t)
		want := srv.call(t, "", "get_board", map[string]any{"board_id": fakeIDs.Board}).result(t)
		if !got.IsError {
			t.Fatalf("anonymous get_board of a private board succeeded: %s", got.Text())
		}
		params := challengeParams(t, metaChallenge(t, got))
		delete(params, "error_description")
		wantParams := map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.read", "error": "invalid_token"}
		if diff := cmp.Diff(wantParams, params); diff != "" {
			t.Errorf("challenge (-want +got):\n%s", diff)
		}
		noSecrets(t, "text", got.Text())
		noSecrets(t, "_meta", mustJSON(t, got.Meta))
		if diff := cmp.Diff(replaceIDs(want.Text(), placeholders(fakeIDs)), replaceIDs(got.Text(), placeholders(aliceIDs))); diff != "" {
			t.Errorf("text differs from a missing board's (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(replaceIDs(metaChallenge(t, want), placeholders(fakeIDs)), replaceIDs(metaChallenge(t, got), placeholders(aliceIDs))); diff != "" {
			t.Errorf("challenge differs from a missing board's (-want +got):\n%s", diff)
		}
	})

	// The owner with a token that lacks kanban.read is told to step up.
	t.Run("owner without kanban.read, tool-result", func(t *testing.T) {
		tok := srv.token(t, "alice", "agent-a", "openid")
		res := srv.call(t, tok, "get_board", map[string]any{"board_id": aliceIDs.Board}).result(t)
		if !res.IsError {
			t.Fatalf("get_board without kanban.read succeeded: %s", res.Text())
		}
		params := challengeParams(t, metaChallenge(t, res))
		if params["error_description"] == "" {
			t.Errorf("challenge has no error_description: %v", params)
		}
		delete(params, "error_description")
		wantParams := map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.read", "error": "insufficient_scope"}
		if diff := cmp.Diff(wantParams, params); diff != "" {
			t.Errorf("challenge (-want +got):\n%s", diff)
		}
		noSecrets(t, "text", res.Text())
	})
	t.Run("owner without kanban.read, http", func(t *testing.T) {
		hsrv := startServer(t, map[string]string{"AUTH_CHALLENGE": "http"})
		f := hsrv.newFixture(t, "alice", "Alice Secret Roadmap")
		tok := hsrv.token(t, "alice", "agent-a", "openid")
		resp := hsrv.call(t, tok, "get_board", map[string]any{"board_id": f.BoardID})
		if resp.Status != http.StatusForbidden {
			t.Fatalf("status %d, want 403; body %s", resp.Status, resp.Body)
		}
		params := challengeParams(t, resp.Header.Get("WWW-Authenticate"))
		if params["error_description"] == "" {
			t.Errorf("challenge has no error_description: %v", params)
		}
		delete(params, "error_description")
		wantParams := map[string]string{"resource_metadata": hsrv.PRM(), "scope": "kanban.read", "error": "insufficient_scope"}
		if diff := cmp.Diff(wantParams, params); diff != "" {
			t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
		}
		if body := resp.JSON(t); body["error"] != "insufficient_scope" {
			t.Errorf("403 body = %v, want error insufficient_scope", body)
		}
		if strings.Contains(string(resp.Body), "Alice Secret Roadmap") {
			t.Errorf("403 body leaks the board title: %s", resp.Body)
		}
	})

	// Users are keyed by issuer and subject: "alice" at another issuer is
	// someone else. A second server trusting another issuer shares the
	// database file (as after an operator changes OAUTH_ISSUER).
	t.Run("same subject at another issuer", func(t *testing.T) {
		other := launchServer(t, testissuer.New(t, testissuer.Options{}), map[string]string{"DATABASE_URL": srv.DBPath})
		other.waitReady(t)
		impostor := other.token(t, "alice", "agent-a", "kanban.admin")
		ib := other.mustCall(t, impostor, "create_board", map[string]any{"title": "Impostor board"})
		ibID := str(ib.Structured, "id")
		ic := other.mustCall(t, impostor, "add_card", map[string]any{"board_id": ibID, "column_id": str(list(ib.Structured, "columns")[0].(map[string]any), "id"), "title": "Impostor card"})
		if ids := boardIDs(other.mustCall(t, impostor, "list_boards", nil)); slices.Contains(ids, aliceIDs.Board) {
			t.Errorf("alice at another issuer lists the real alice's private board: %v", ids)
		}
		for _, tc := range idorCases(ibID, str(ic.Structured, "id")) {
			t.Run(tc.name, func(t *testing.T) {
				checkSameAnswer(t, other.testServer, impostor, tc, aliceIDs, fakeIDs, secrets)
			})
		}
		if diff := cmp.Diff(before, srv.snapshot(t, alice, aliceIDs.Board)); diff != "" {
			t.Errorf("Alice's board changed through the other issuer's alice (-before +after):\n%s", diff)
		}
	})

	// Once public, Bob may read the board but still not change it.
	t.Run("public board", func(t *testing.T) {
		srv.mustCall(t, alice, "share_board", map[string]any{"board_id": aliceIDs.Board, "visibility": "public"})
		shared := srv.snapshot(t, alice, aliceIDs.Board)

		got := srv.mustCall(t, bobRead, "get_board", map[string]any{"board_id": aliceIDs.Board})
		if str(got.Structured, "id") != aliceIDs.Board || str(got.Structured, "title") != "Alice Secret Roadmap" || got.Structured["owned"] != false {
			t.Errorf("Bob's get_board of the public board = %s", mustJSON(t, got.Structured))
		}
		if ids := boardIDs(srv.mustCall(t, bobRead, "list_boards", nil)); !slices.Contains(ids, aliceIDs.Board) {
			t.Errorf("Bob's list_boards %v lacks the public board %s", ids, aliceIDs.Board)
		}
		writes := []struct {
			tool string
			args map[string]any
		}{
			{"add_card", map[string]any{"board_id": aliceIDs.Board, "column_id": aliceIDs.Col0, "title": "Bob was here"}},
			{"update_card", map[string]any{"card_id": aliceIDs.Card, "title": "Bob was here"}},
			{"move_card", map[string]any{"card_id": aliceIDs.Card, "column_id": aliceIDs.Col1}},
			{"delete_card", map[string]any{"card_id": aliceIDs.Card}},
			{"share_board", map[string]any{"board_id": aliceIDs.Board, "visibility": "private"}},
			{"delete_board", map[string]any{"board_id": aliceIDs.Board, "confirm": true}},
		}
		for _, w := range writes {
			res := srv.call(t, bobAdmin, w.tool, w.args).result(t)
			if !res.IsError {
				t.Errorf("Bob's %s on Alice's public board succeeded: %s", w.tool, res.Text())
			}
		}
		if diff := cmp.Diff(shared, srv.snapshot(t, alice, aliceIDs.Board)); diff != "" {
			t.Errorf("Alice's public board changed through Bob's calls (-before +after):\n%s", diff)
		}
	})
}

// TestUpdateConflict: update_card with expected_version refuses a stale
// update and changes nothing.
func TestUpdateConflict(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	f := srv.newFixture(t, "alice", "Conflicts")
	tok := srv.token(t, "alice", "agent-1", "kanban.write")

	card := func() map[string]any {
		t.Helper()
		b := srv.mustCall(t, tok, "get_board", map[string]any{"board_id": f.BoardID})
		for _, col := range list(b.Structured, "columns") {
			for _, c := range list(col.(map[string]any), "cards") {
				if c := c.(map[string]any); str(c, "id") == f.CardID {
					return c
				}
			}
		}
		t.Fatalf("card %s not on the board", f.CardID)
		return nil
	}
	if v := card()["version"]; v != float64(1) {
		t.Fatalf("new card has version %v, want 1", v)
	}

	first := srv.mustCall(t, tok, "update_card", map[string]any{"card_id": f.CardID, "title": "Renamed once", "expected_version": 1})
	if str(first.Structured, "title") != "Renamed once" || first.Structured["version"] != float64(2) {
		t.Fatalf("first update returned %s, want title 'Renamed once' at version 2", mustJSON(t, first.Structured))
	}
	afterFirst := card()

	stale := srv.call(t, tok, "update_card", map[string]any{"card_id": f.CardID, "title": "Renamed twice", "description": "lost", "expected_version": 1}).result(t)
	if !stale.IsError {
		t.Fatalf("stale update succeeded: %s", stale.Text())
	}
	for _, want := range []string{f.CardID, "is at version 2, not 1", "changed it since you read it"} {
		if !strings.Contains(stale.Text(), want) {
			t.Errorf("conflict text %q does not contain %q", stale.Text(), want)
		}
	}
	if diff := cmp.Diff(afterFirst, card()); diff != "" {
		t.Errorf("the card changed after a refused stale update (-want +got):\n%s", diff)
	}

	// The current version is accepted.
	third := srv.mustCall(t, tok, "update_card", map[string]any{"card_id": f.CardID, "title": "Renamed twice", "expected_version": 2})
	if str(third.Structured, "title") != "Renamed twice" || third.Structured["version"] != float64(3) {
		t.Errorf("update with the current version returned %s, want version 3", mustJSON(t, third.Structured))
	}

	// The refusal is audited as a conflict.
	rows := srv.pollActivity(t, tok, "", func(rows []activityRow) bool {
		return slices.ContainsFunc(rows, func(r activityRow) bool { return r.Outcome == "conflict" })
	})
	i := slices.IndexFunc(rows, func(r activityRow) bool { return r.Outcome == "conflict" })
	got := rows[i]
	got.At = ""
	want := activityRow{Tool: "update_card", Outcome: "conflict", Issuer: srv.Issuer.URL, Subject: "alice", ClientID: "agent-1",
		IDs: []string{f.CardID}, Summary: "refused: changed since last read"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conflict row (-want +got):\n%s", diff)
	}
}

// TestQuotas: the configured per-user and per-board limits are enforced
// with a clear message, and nothing past them is created.
func TestQuotas(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"MAX_BOARDS_PER_USER": "2", "MAX_CARDS_PER_BOARD": "2"})
	tok := srv.token(t, "alice", "agent-1", "kanban.write")

	var boards []string
	var columns []string
	for _, title := range []string{"One", "Two"} {
		b := srv.mustCall(t, tok, "create_board", map[string]any{"title": title})
		boards = append(boards, str(b.Structured, "id"))
		columns = append(columns, str(list(b.Structured, "columns")[0].(map[string]any), "id"))
	}
	res := srv.call(t, tok, "create_board", map[string]any{"title": "Three"}).result(t)
	if !res.IsError {
		t.Fatalf("a third board was created: %s", res.Text())
	}
	if !strings.Contains(res.Text(), "already have 2 boards, the most allowed") {
		t.Errorf("board quota text %q does not name the limit", res.Text())
	}
	if got := boardIDs(srv.mustCall(t, tok, "list_boards", nil)); !cmp.Equal(got, boards) {
		t.Errorf("list_boards = %v, want only %v", got, boards)
	}

	for _, title := range []string{"Card 1", "Card 2"} {
		srv.mustCall(t, tok, "add_card", map[string]any{"board_id": boards[0], "column_id": columns[0], "title": title})
	}
	res = srv.call(t, tok, "add_card", map[string]any{"board_id": boards[0], "column_id": columns[0], "title": "Card 3"}).result(t)
	if !res.IsError {
		t.Fatalf("a third card was added: %s", res.Text())
	}
	if !strings.Contains(res.Text(), "already has 2 cards, the most allowed") {
		t.Errorf("card quota text %q does not name the limit", res.Text())
	}
	b := srv.mustCall(t, tok, "get_board", map[string]any{"board_id": boards[0]})
	if n := b.Structured["card_count"]; n != float64(2) {
		t.Errorf("card_count = %v after the refused add, want 2", n)
	}

	// The quotas are per user and per board.
	srv.mustCall(t, tok, "add_card", map[string]any{"board_id": boards[1], "column_id": columns[1], "title": "Other board"})
	srv.mustCall(t, srv.token(t, "bob", "agent-1", "kanban.write"), "create_board", map[string]any{"title": "Bob's"})

	// Both refusals are audited as quota.
	rows := srv.pollActivity(t, tok, "", func(rows []activityRow) bool {
		n := 0
		for _, r := range rows {
			if r.Outcome == "quota" {
				n++
			}
		}
		return n == 2
	})
	var quota []string
	for _, r := range rows {
		if r.Outcome == "quota" {
			quota = append(quota, r.Tool)
		}
	}
	if diff := cmp.Diff([]string{"add_card", "create_board"}, quota); diff != "" {
		t.Errorf("quota rows, newest first (-want +got):\n%s", diff)
	}
}

// TestBadArguments: every kind of bad argument gets HTTP 200 with an
// isError result whose text says what to fix, and changes nothing.
func TestBadArguments(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	f := srv.newFixture(t, "alice", "Arguments")
	tok := f.AdminTok
	before := srv.snapshot(t, tok, f.BoardID)

	labels := func(n int) []string {
		var l []string
		for i := range n {
			l = append(l, "label-"+string(rune('a'+i)))
		}
		return l
	}
	tests := []struct {
		name string
		tool string
		args map[string]any
		want string // a distinctive part of the text
	}{
		{"unknown argument name", "get_board", map[string]any{"boardId": f.BoardID}, `unknown argument "boardId"`},
		{"unknown argument beside a valid one", "list_boards", map[string]any{"limit": 5, "page": 2}, `unknown argument "page"`},
		{"missing required id", "get_board", map[string]any{}, "board_id is required"},
		{"wrong type", "list_boards", map[string]any{"limit": "ten"}, `argument "limit" must be a whole number`},
		{"wrong type for an id", "get_board", map[string]any{"board_id": 42}, `argument "board_id" must be a string`},
		{"fractional limit", "list_boards", map[string]any{"limit": 1.5}, `argument "limit" must be a whole number`},
		{"limit 201", "list_boards", map[string]any{"limit": 201}, "limit must be between 1 and 200; got 201"},
		{"negative limit", "search_cards", map[string]any{"query": "x", "limit": -1}, "limit must be between 1 and 200; got -1"},
		{"title of 201 characters", "create_board", map[string]any{"title": strings.Repeat("é", 201)}, "board title is 201 characters long; the limit is 200"},
		{"empty title", "create_board", map[string]any{"title": ""}, "board title must not be empty"},
		{"blank card title", "add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[0], "title": "   "}, "card title must not be empty"},
		{"card title of 201 characters", "update_card", map[string]any{"card_id": f.CardID, "title": strings.Repeat("x", 201)}, "card title is 201 characters long; the limit is 200"},
		{"description of 10001 characters", "add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[0], "title": "t", "description": strings.Repeat("d", 10001)},
			"description is 10001 characters long; the limit is 10000"},
		{"11 labels", "add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[0], "title": "t", "labels": labels(11)}, "at most 10 labels; got 11"},
		{"33-character label", "update_card", map[string]any{"card_id": f.CardID, "labels": []string{strings.Repeat("l", 33)}}, "is longer than 32 characters"},
		{"board_id with a card prefix", "get_board", map[string]any{"board_id": f.CardID}, `IDs start with "b_"`},
		{"card_id with a board prefix", "delete_card", map[string]any{"card_id": f.BoardID}, `IDs start with "c_"`},
		{"column_id with a card prefix", "move_card", map[string]any{"card_id": f.CardID, "column_id": f.CardID}, `IDs start with "col_"`},
		{"garbage cursor", "list_boards", map[string]any{"cursor": "garbage"}, "cursor is not valid"},
		{"cursor of another list", "list_activity", map[string]any{"cursor": "YjEuYl94"}, "cursor is not valid"},
		{"delete_board without confirm", "delete_board", map[string]any{"board_id": f.BoardID, "confirm": false}, "set confirm to true"},
		{"unknown visibility", "share_board", map[string]any{"board_id": f.BoardID, "visibility": "everyone"}, `visibility must be "public" or "private"`},
		{"negative position", "move_card", map[string]any{"card_id": f.CardID, "column_id": f.Columns[1], "position": -1}, "position must be 0 or more; got -1"},
		{"search without query or filter", "search_cards", map[string]any{"query": ""}, "give a query, or filter by board_id, column_id or label"},
		{"update without changes", "update_card", map[string]any{"card_id": f.CardID}, "nothing to update"},
		{"duplicate column names", "create_board", map[string]any{"title": "Dup", "columns": []string{"A", "a"}}, "is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := srv.call(t, tok, tt.tool, tt.args)
			res := resp.result(t) // fails unless HTTP 200 with a result
			if !res.IsError {
				t.Fatalf("want isError, got success: %s", res.Text())
			}
			if !strings.Contains(res.Text(), tt.want) {
				t.Errorf("text %q does not contain %q", res.Text(), tt.want)
			}
		})
	}

	// limit 0 means the default page size.
	for _, tool := range []string{"list_boards", "list_activity"} {
		t.Run(tool+" with limit 0", func(t *testing.T) {
			srv.mustCall(t, tok, tool, map[string]any{"limit": 0})
		})
	}
	t.Run("search_cards with limit 0", func(t *testing.T) {
		res := srv.mustCall(t, tok, "search_cards", map[string]any{"query": "first", "limit": 0})
		if n := len(list(res.Structured, "cards")); n != 1 {
			t.Errorf("found %d cards, want 1", n)
		}
	})

	// Arguments that are not an object reach the tool (mcp-go keeps them
	// raw) and get an isError result that says so, not a JSON-RPC error.
	for _, tt := range []struct {
		args any
		want string
	}{
		{[]any{1, 2}, "arguments must be a JSON object, not array."},
		{"board", "arguments must be a JSON object, not string."},
		{7, "arguments must be a JSON object, not number."},
	} {
		t.Run(fmt.Sprintf("arguments %v", tt.args), func(t *testing.T) {
			res := srv.rpc(t, tok, "tools/call", map[string]any{"name": "get_board", "arguments": tt.args}).result(t)
			if !res.IsError || res.Text() != tt.want {
				t.Errorf("isError %v, text %q; want isError with %q", res.IsError, res.Text(), tt.want)
			}
		})
	}

	if diff := cmp.Diff(before, srv.snapshot(t, tok, f.BoardID)); diff != "" {
		t.Errorf("bad calls changed data (-before +after):\n%s", diff)
	}
}

// TestAuditTrail: every call, allowed or refused, leaves exactly one audit
// row with the right fields, readable by the right user.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	iss := srv.Issuer.URL
	write := srv.token(t, "alice", "agent-1", "kanban.write")
	read := srv.token(t, "alice", "agent-ro", "kanban.read")
	start := time.Now().Add(-time.Second)

	b := srv.mustCall(t, write, "create_board", map[string]any{"title": "Audit board"})
	board := str(b.Structured, "id")
	var cols []string
	for _, c := range list(b.Structured, "columns") {
		cols = append(cols, str(c.(map[string]any), "id"))
	}
	card := str(srv.mustCall(t, write, "add_card", map[string]any{"board_id": board, "column_id": cols[0], "title": "Fix login"}).Structured, "id")
	srv.mustCall(t, write, "move_card", map[string]any{"card_id": card, "column_id": cols[1]})
	srv.mustCall(t, write, "update_card", map[string]any{"card_id": card, "title": "Fix login page"})
	srv.mustCall(t, write, "get_board", map[string]any{"board_id": board})

	denied := srv.call(t, read, "add_card", map[string]any{"board_id": board, "column_id": cols[0], "title": "Sneaky"}).result(t)
	if !denied.IsError {
		t.Fatalf("add_card with a read token succeeded")
	}
	anon := srv.call(t, "", "search_cards", map[string]any{"query": "login"}).result(t)
	if !anon.IsError {
		t.Fatalf("anonymous search_cards succeeded")
	}
	missing := store.NewID(store.BoardPrefix)
	if res := srv.call(t, read, "get_board", map[string]any{"board_id": missing}).result(t); !res.IsError {
		t.Fatalf("get_board of a made-up board succeeded")
	}
	if res := srv.call(t, write, "add_card", map[string]any{"board_id": board, "column_id": cols[0], "title": ""}).result(t); !res.IsError {
		t.Fatalf("add_card with an empty title succeeded")
	}

	// Newest first. Writes commit their rows at once; the read, the
	// refusals and the failures go through the queue, in call order.
	want := []activityRow{
		{Tool: "add_card", Outcome: "invalid_input", Issuer: iss, Subject: "alice", ClientID: "agent-1", BoardID: board,
			IDs: []string{board, cols[0]}, Summary: "refused: invalid arguments"},
		{Tool: "get_board", Outcome: "not_found", Issuer: iss, Subject: "alice", ClientID: "agent-ro", BoardID: missing,
			IDs: []string{missing}, Summary: "not found"},
		{Tool: "add_card", Outcome: "insufficient_scope", Issuer: iss, Subject: "alice", ClientID: "agent-ro", BoardID: board,
			IDs: []string{board, cols[0]}, Summary: "refused: token lacks kanban.write"},
		{Tool: "get_board", Outcome: "ok", Issuer: iss, Subject: "alice", ClientID: "agent-1", BoardID: board,
			IDs: []string{board}, Summary: "viewed board 'Audit board'"},
		{Tool: "update_card", Outcome: "ok", Issuer: iss, Subject: "alice", ClientID: "agent-1", BoardID: board,
			IDs: []string{board, cols[1], card}, Summary: "updated card 'Fix login page' (title), formerly 'Fix login'"},
		{Tool: "move_card", Outcome: "ok", Issuer: iss, Subject: "alice", ClientID: "agent-1", BoardID: board,
			IDs: []string{board, card, cols[0], cols[1]}, Summary: "moved card 'Fix login' from To do to Doing"},
		{Tool: "add_card", Outcome: "ok", Issuer: iss, Subject: "alice", ClientID: "agent-1", BoardID: board,
			IDs: []string{board, cols[0], card}, Summary: "added card 'Fix login' to To do on 'Audit board'"},
		{Tool: "create_board", Outcome: "ok", Issuer: iss, Subject: "alice", ClientID: "agent-1", BoardID: board,
			IDs: append([]string{board}, cols...), Summary: "created board 'Audit board' with 3 columns"},
	}
	all := srv.pollActivity(t, write, "", func(rows []activityRow) bool { return len(rows) >= len(want) })
	// The polls themselves are audited too; they are all alike.
	for _, r := range srv.allActivity(t, read, "") {
		if r.Tool != "list_activity" {
			continue
		}
		if r.Outcome != "ok" || r.Subject != "alice" || r.Summary != "read the activity trail" || len(r.IDs) != 0 {
			t.Errorf("list_activity row %+v", r)
		}
	}
	var got []activityRow
	for _, r := range all {
		at, err := time.Parse(time.RFC3339Nano, r.At)
		if err != nil || at.Before(start) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("row %+v: at %q is not a time during the test", r, r.At)
		}
		r.At = ""
		got = append(got, r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alice's activity trail, newest first (-want +got):\n%s", diff)
	}

	// The anonymous refusal was written, but belongs to nobody.
	db := openDB(t, srv.DBPath)
	var n int
	err := db.QueryRow(`SELECT count(*) FROM activity WHERE tool = 'search_cards' AND outcome = 'unauthenticated'
		AND actor_sub = '' AND client_id = '' AND ids = '[]' AND summary = 'refused: no access token'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows for the anonymous search_cards refusal, want 1", n)
	}

	// The board filter gives the same rows of that board.
	byBoard := srv.pollActivity(t, write, board, func([]activityRow) bool { return true })
	var wantBoard []string
	for _, r := range want {
		if r.BoardID == board {
			wantBoard = append(wantBoard, r.Tool+"/"+r.Outcome)
		}
	}
	var gotBoard []string
	for _, r := range byBoard {
		gotBoard = append(gotBoard, r.Tool+"/"+r.Outcome)
	}
	if diff := cmp.Diff(wantBoard, gotBoard); diff != "" {
		t.Errorf("activity of the board (-want +got):\n%s", diff)
	}

	// Bob sees none of it.
	if rows := srv.allActivity(t, srv.token(t, "bob", "agent-1", "kanban.read"), ""); len(rows) != 0 {
		t.Errorf("bob sees %d rows: %s", len(rows), describeRows(rows))
	}
}

// openDB opens the server's database file beside the running server.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestWriteAndAuditAreAtomic: when the audit row of a write cannot be
// inserted, the write does not happen either.
func TestWriteAndAuditAreAtomic(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	f := srv.newFixture(t, "alice", "Atomic")
	tok := f.AdminTok
	db := openDB(t, srv.DBPath)

	tests := []struct {
		tool string
		args map[string]any
	}{
		{"create_board", map[string]any{"title": "Never created"}},
		{"add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[1], "title": "Never added"}},
		{"update_card", map[string]any{"card_id": f.CardID, "title": "Never renamed"}},
		{"move_card", map[string]any{"card_id": f.CardID, "column_id": f.Columns[2]}},
		{"delete_card", map[string]any{"card_id": f.CardID}},
		{"share_board", map[string]any{"board_id": f.BoardID, "visibility": "public"}},
		{"delete_board", map[string]any{"board_id": f.BoardID, "confirm": true}},
	}
	before := srv.snapshot(t, tok, f.BoardID)
	countWrites := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM activity WHERE outcome = 'ok'
			AND tool IN ('create_board', 'add_card', 'update_card', 'move_card', 'delete_card', 'share_board', 'delete_board')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	okRows := countWrites()

	if _, err := db.Exec(`CREATE TRIGGER audit_down BEFORE INSERT ON activity BEGIN SELECT RAISE(ABORT, 'audit down'); END;`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			resp := srv.call(t, tok, tt.tool, tt.args)
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d, want 200 with a JSON-RPC error or an isError result; body %s", resp.Status, resp.Body)
			}
			var msg struct {
				Result *toolResult `json:"result"`
				Error  *struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(resp.Body, &msg); err != nil {
				t.Fatalf("bad JSON-RPC reply: %v\n%s", err, resp.Body)
			}
			switch {
			case msg.Error != nil:
				if msg.Error.Code != -32603 {
					t.Errorf("JSON-RPC error code %d, want -32603", msg.Error.Code)
				}
			case msg.Result != nil && msg.Result.IsError:
			default:
				t.Fatalf("the write succeeded although its audit row could not be written: %s", resp.Body)
			}
			if strings.Contains(string(resp.Body), "audit down") {
				t.Errorf("the reply exposes the database error: %s", resp.Body)
			}
		})
	}

	if _, err := db.Exec(`DROP TRIGGER audit_down`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, srv.snapshot(t, tok, f.BoardID)); diff != "" {
		t.Errorf("writes whose audit row failed changed data (-before +after):\n%s", diff)
	}
	if n := countWrites(); n != okRows {
		t.Errorf("%d ok activity rows after the failed writes, want %d", n, okRows)
	}

	// With the audit working again, writes work again.
	c := srv.mustCall(t, tok, "add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[1], "title": "Added after"})
	b := srv.mustCall(t, tok, "get_board", map[string]any{"board_id": f.BoardID})
	cards := list(b.Structured, "columns")[1].(map[string]any)["cards"].([]any)
	if len(cards) != 1 || str(cards[0].(map[string]any), "id") != str(c.Structured, "id") {
		t.Errorf("column Doing holds %v, want just the new card", cards)
	}
	if n := countWrites(); n != okRows+1 {
		t.Errorf("%d ok activity rows after one more write, want %d", n, okRows+1)
	}
}
