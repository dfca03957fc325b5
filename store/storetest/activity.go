package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// testWriteActivity checks that every successful write records exactly one
// activity row, with its tool, actor, owner, board, IDs and summary.
func testWriteActivity(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	var (
		b          *store.Board
		card, keep *store.Card
	)
	steps := []struct {
		tool  string
		write func(c store.Call) error
		want  func() store.Activity // BoardID, IDs and Summary
	}{
		{"create_board", func(c store.Call) (err error) {
			b, err = e.s.CreateBoard(t.Context(), c, "Launch", nil)
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, b.Columns[0].ID, b.Columns[1].ID, b.Columns[2].ID},
				Summary: "created board 'Launch' with 3 columns"}
		}},
		{"add_card", func(c store.Call) (err error) {
			card, err = e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Fix login",
				Description: "long text that must not show up in the summary"})
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, b.Columns[0].ID, card.ID},
				Summary: "added card 'Fix login' to To do on 'Launch'"}
		}},
		{"add_card", func(c store.Call) (err error) {
			keep, err = e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "Keep"})
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, b.Columns[1].ID, keep.ID},
				Summary: "added card 'Keep' to Doing on 'Launch'"}
		}},
		{"update_card", func(c store.Call) error {
			_, err := e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: card.ID, Description: new("secret"), Labels: new([]string{"bug"})})
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, b.Columns[0].ID, card.ID},
				Summary: "updated card 'Fix login' (description, labels)"}
		}},
		{"move_card", func(c store.Call) error {
			_, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[2].ID, nil)
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, card.ID, b.Columns[0].ID, b.Columns[2].ID},
				Summary: "moved card 'Fix login' from To do to Done"}
		}},
		{"move_card", func(c store.Call) error {
			_, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[2].ID, new(0))
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, card.ID, b.Columns[2].ID},
				Summary: "card 'Fix login' already in Done at position 0"}
		}},
		{"share_board", func(c store.Call) error {
			_, err := e.s.ShareBoard(t.Context(), c, b.ID, store.Public)
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID}, Summary: "made board 'Launch' public"}
		}},
		{"delete_card", func(c store.Call) error {
			_, err := e.s.DeleteCard(t.Context(), c, card.ID)
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID, b.Columns[2].ID, card.ID},
				Summary: "deleted card 'Fix login' from Done"}
		}},
		{"delete_board", func(c store.Call) error {
			_, err := e.s.DeleteBoard(t.Context(), c, b.ID)
			return err
		}, func() store.Activity {
			return store.Activity{BoardID: b.ID, IDs: []string{b.ID}, Summary: "deleted board 'Launch' (1 card)"}
		}},
	}
	var prev time.Time
	for i, step := range steps {
		t.Run(fmt.Sprint(i, " ", step.tool), func(t *testing.T) {
			before := len(e.allActivity(t))
			if err := step.write(Call(alice, step.tool)); err != nil {
				t.Fatalf("%s: %v", step.tool, err)
			}
			all := e.allActivity(t)
			if len(all) != before+1 {
				t.Fatalf("%d activity rows written, want 1", len(all)-before)
			}
			got := all[len(all)-1]
			want := step.want()
			want.Tool, want.Outcome, want.Actor = step.tool, store.OutcomeOK, alice
			want.BoardOwner = store.Actor{Issuer: alice.Issuer, Subject: alice.Subject}
			Diff(t, "activity", want, got, cmpopts.IgnoreFields(store.Activity{}, "ID", "At"))
			if !got.At.After(prev) {
				t.Errorf("At %v not after the previous row's %v", got.At, prev)
			}
			prev = got.At
			if strings.Contains(got.Summary, "secret") || strings.Contains(got.Summary, "long text") {
				t.Errorf("summary %q dumps arguments", got.Summary)
			}
		})
	}
}

// testFailedWritesRecordNothing checks that refused writes leave no row:
// the tools record those through RecordActivity instead.
func testFailedWritesRecordNothing(t *testing.T, be backend) {
	e := be.newEnv(t, Options{Quotas: store.Quotas{BoardsPerUser: 1, CardsPerBoard: 1}})
	b := MustBoard(t, e.s, alice, "Launch")
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "A"})
	rows := len(e.allActivity(t))
	c := Call(alice, "tool")
	errs := []error{
		func() error { _, err := e.s.CreateBoard(t.Context(), c, "Over quota", nil); return err }(),
		func() error {
			_, err := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "B"})
			return err
		}(),
		func() error {
			_, err := e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: card.ID, Title: new("x"), ExpectedVersion: new(int64(9))})
			return err
		}(),
		func() error { _, err := e.s.MoveCard(t.Context(), c, card.ID, missingColumn, nil); return err }(),
		func() error { _, err := e.s.DeleteCard(t.Context(), Call(bob, "delete_card"), card.ID); return err }(),
		func() error { _, err := e.s.ShareBoard(t.Context(), c, b.ID, "everyone"); return err }(),
	}
	for i, err := range errs {
		if store.ErrorCode(err) == "" {
			t.Errorf("write %d: got %v, want a domain error", i, err)
		}
	}
	if n := len(e.allActivity(t)); n != rows {
		t.Errorf("refused writes recorded %d rows", n-rows)
	}
}

// testWritesNeedDescribe: a write whose Call has no Describe to word its
// activity row fails as a bug of the caller (an infrastructure error,
// not a mistake the caller could fix) and changes nothing, rather than
// committing a change without its row.
func testWritesNeedDescribe(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "A"})
	before, rows := MustGet(t, e.s, alice, b.ID), len(e.allActivity(t))
	c := store.Call{Actor: alice, Tool: "tool"}
	for name, write := range map[string]func() error{
		"CreateBoard": func() error { _, err := e.s.CreateBoard(t.Context(), c, "New", nil); return err },
		"AddCard": func() error {
			_, err := e.s.AddCard(t.Context(), c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "B"})
			return err
		},
		"UpdateCard": func() error {
			_, err := e.s.UpdateCard(t.Context(), c, store.CardUpdate{CardID: card.ID, Title: new("x")})
			return err
		},
		"MoveCard":    func() error { _, err := e.s.MoveCard(t.Context(), c, card.ID, b.Columns[1].ID, nil); return err },
		"DeleteCard":  func() error { _, err := e.s.DeleteCard(t.Context(), c, card.ID); return err },
		"ShareBoard":  func() error { _, err := e.s.ShareBoard(t.Context(), c, b.ID, store.Public); return err },
		"DeleteBoard": func() error { _, err := e.s.DeleteBoard(t.Context(), c, b.ID); return err },
	} {
		t.Run(name, func(t *testing.T) { WantInfraError(t, write()) })
	}
	Diff(t, "board", before, MustGet(t, e.s, alice, b.ID))
	if n := len(e.mustListBoards(t, alice)); n != 1 {
		t.Errorf("%d boards, want 1", n)
	}
	if n := len(e.allActivity(t)); n != rows {
		t.Errorf("writes without Describe recorded %d rows", n-rows)
	}
}

func testListActivityVisibility(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	launch := MustBoard(t, e.s, alice, "Launch")   // alice: created board 'Launch'…
	hidden := MustBoard(t, e.s, alice, "Hidden")   // alice: created board 'Hidden'…
	e.mustShare(t, alice, launch.ID, store.Public) // alice: made board 'Launch' public
	bobs := MustBoard(t, e.s, bob, "Bob's")        // bob: created board 'Bob's'…
	aliceOwner := store.Actor{Issuer: alice.Issuer, Subject: alice.Subject}
	recorded := []store.Activity{
		// Bob reads alice's public board: the row is his and alice's.
		{Tool: "get_board", Outcome: store.OutcomeOK, Actor: bob, BoardID: launch.ID, IDs: []string{launch.ID},
			Summary: "bob read 'Launch'", BoardOwner: aliceOwner},
		// Mallory probes alice's private board: the row is hers only.
		{Tool: "get_board", Outcome: store.OutcomeNotFound, Actor: mallory, BoardID: hidden.ID, IDs: []string{hidden.ID},
			Summary: "mallory probed"},
		// An anonymous reader of the public board: alice's row.
		{Tool: "get_board", Outcome: store.OutcomeOK, Actor: anon, BoardID: launch.ID, IDs: []string{launch.ID},
			Summary: "someone read 'Launch'", BoardOwner: aliceOwner},
		// An anonymous failure concerns nobody.
		{Tool: "list_boards", Outcome: store.OutcomeInvalidInput, Actor: anon, Summary: "bad cursor"},
		// Alice reads bob's board… it is private, so the row is hers only.
		{Tool: "get_board", Outcome: store.OutcomeNotFound, Actor: alice, BoardID: bobs.ID, IDs: []string{bobs.ID},
			Summary: "alice probed"},
	}
	if err := e.s.RecordActivity(t.Context(), recorded); err != nil {
		t.Fatalf("RecordActivity: %v", err)
	}

	summaries := func(t *testing.T, viewer store.Actor, boardID string) []string {
		t.Helper()
		list, err := e.s.ListActivity(t.Context(), viewer, boardID, store.Page{Limit: store.MaxPageSize})
		if err != nil {
			t.Fatalf("ListActivity: %v", err)
		}
		got := []string{}
		for _, a := range list.Activity {
			got = append(got, a.Summary)
		}
		return got
	}
	tests := []struct {
		name    string
		viewer  store.Actor
		boardID string
		want    []string
	}{
		{"alice", alice, "", []string{"alice probed", "someone read 'Launch'", "bob read 'Launch'", "made board 'Launch' public",
			"created board 'Hidden' with 3 columns", "created board 'Launch' with 3 columns"}},
		{"alice on Launch", alice, launch.ID, []string{"someone read 'Launch'", "bob read 'Launch'", "made board 'Launch' public",
			"created board 'Launch' with 3 columns"}},
		{"alice on Bob's", alice, bobs.ID, []string{"alice probed"}},
		{"bob", bob, "", []string{"bob read 'Launch'", "created board 'Bob's' with 3 columns"}},
		{"bob on Launch", bob, launch.ID, []string{"bob read 'Launch'"}},
		{"mallory", mallory, "", []string{"mallory probed"}},
		{"mallory on Launch", mallory, launch.ID, []string{}},
		{"anonymous", anon, "", []string{}},
		{"anonymous on Launch", anon, launch.ID, []string{}},
		{"board with no rows", alice, missingBoard, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Diff(t, "summaries", tt.want, summaries(t, tt.viewer, tt.boardID))
		})
	}

	t.Run("bad board ID", func(t *testing.T) {
		_, err := e.s.ListActivity(t.Context(), alice, "col_x", store.Page{})
		WantCode(t, err, store.Invalid)
	})

	t.Run("survives DeleteBoard", func(t *testing.T) {
		if _, err := e.s.DeleteBoard(t.Context(), Call(alice, "delete_board"), launch.ID); err != nil {
			t.Fatal(err)
		}
		want := []string{"deleted board 'Launch' (0 cards)", "someone read 'Launch'", "bob read 'Launch'",
			"made board 'Launch' public", "created board 'Launch' with 3 columns"}
		Diff(t, "summaries", want, summaries(t, alice, launch.ID))
		Diff(t, "bob's", []string{"bob read 'Launch'"}, summaries(t, bob, launch.ID))
	})

	t.Run("rows are complete", func(t *testing.T) {
		list, err := e.s.ListActivity(t.Context(), bob, launch.ID, store.Page{})
		if err != nil || len(list.Activity) != 1 {
			t.Fatalf("ListActivity: %v, %d rows", err, len(list.Activity))
		}
		// The row as recorded, with the ID and time the store gave it.
		got := list.Activity[0]
		Diff(t, "row", recorded[0], got, cmpopts.IgnoreFields(store.Activity{}, "ID", "At"))
		if got.ID == 0 || got.At.IsZero() {
			t.Errorf("row lacks ID or time: %+v", got)
		}
	})
}

func testListActivityPagination(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	var rows []store.Activity
	for i := range 40 {
		a := store.Activity{Tool: "get_board", Outcome: store.OutcomeOK, Summary: fmt.Sprint("row ", i)}
		switch i % 4 {
		case 0: // alice's own
			a.Actor = alice
		case 1: // someone on alice's board
			a.Actor, a.BoardID, a.BoardOwner = bob, b.ID, store.Actor{Issuer: alice.Issuer, Subject: alice.Subject}
		case 2: // someone else's, invisible to alice
			a.Actor = bob
		case 3: // alice's on her board: matches both branches, must appear once
			a.Actor, a.BoardID, a.BoardOwner = alice, b.ID, store.Actor{Issuer: alice.Issuer, Subject: alice.Subject}
		}
		rows = append(rows, a)
	}
	if err := e.s.RecordActivity(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	// Alice sees her rows and those on her board, newest first: in the
	// reverse of the order they were recorded in.
	want := []string{"created board 'Launch' with 3 columns"}
	for _, a := range rows {
		if (a.Actor.Subject == alice.Subject && a.Actor.Issuer == alice.Issuer) || a.BoardOwner.Subject == alice.Subject {
			want = append(want, a.Summary)
		}
	}
	slices.Reverse(want)
	if len(want) != 31 { // 30 rows above and the board's creation
		t.Fatalf("setup: %d rows visible to alice, want 31", len(want))
	}

	for _, limit := range []int{1, 3, 7, 31, 200} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			var lastID int64
			page := store.Page{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > 40 {
					t.Fatal("pagination does not end")
				}
				list, err := e.s.ListActivity(t.Context(), alice, "", page)
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Activity) > limit || (list.NextCursor != "" && len(list.Activity) != limit) {
					t.Fatalf("page of %d rows with cursor %q at limit %d", len(list.Activity), list.NextCursor, limit)
				}
				for _, a := range list.Activity {
					if lastID != 0 && a.ID >= lastID {
						t.Fatalf("row %d after row %d: not newest first", a.ID, lastID)
					}
					lastID = a.ID
					got = append(got, a.Summary)
				}
				if list.NextCursor == "" {
					break
				}
				page.Cursor = list.NextCursor
			}
			Diff(t, "rows", want, got)
		})
	}
}

func testRecordActivity(t *testing.T, be backend) {
	clock := NewClock(time.Second)
	e := be.newEnv(t, Options{Now: clock.Now})
	if err := e.s.RecordActivity(t.Context(), nil); err != nil {
		t.Fatalf("RecordActivity(nil): %v", err)
	}
	if err := e.s.RecordActivity(t.Context(), []store.Activity{}); err != nil {
		t.Fatalf("RecordActivity(empty): %v", err)
	}
	if n := len(e.allActivity(t)); n != 0 {
		t.Fatalf("%d rows after empty batches", n)
	}

	given := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	rows := []store.Activity{
		{At: given, Tool: "get_board", Outcome: store.OutcomeOK, Actor: alice, BoardID: missingBoard,
			IDs: []string{missingBoard}, Summary: "read board 'X'", BoardOwner: store.Actor{Issuer: alice.Issuer, Subject: alice.Subject}},
		{Tool: "search_cards", Outcome: store.OutcomeInsufficientScope, Actor: bob, Summary: "denied"},
	}
	if err := e.s.RecordActivity(t.Context(), rows); err != nil {
		t.Fatalf("RecordActivity: %v", err)
	}
	next := clock.Now()
	got := e.allActivity(t)
	want := slices.Clone(rows)
	want[1].IDs = []string{}
	want[1].At = next.Add(-time.Second) // the one reading of the clock before ours
	Diff(t, "rows", want, got, cmpopts.IgnoreFields(store.Activity{}, "ID"))
	if got[0].ID == 0 || got[1].ID <= got[0].ID {
		t.Errorf("IDs %d, %d: want increasing, assigned by the store", got[0].ID, got[1].ID)
	}
}

func testPruneActivity(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows []store.Activity
	for i := range 5 {
		rows = append(rows, store.Activity{At: base.Add(time.Duration(i) * time.Hour), Tool: "t", Outcome: store.OutcomeOK,
			Actor: alice, Summary: fmt.Sprint(i)})
	}
	if err := e.s.RecordActivity(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		cutoff time.Time
		want   int64
		left   int
	}{
		{"zero time", time.Time{}, 0, 5},
		{"before everything", base, 0, 5},
		{"strictly before the cutoff", base.Add(2 * time.Hour), 2, 3},
		{"again", base.Add(2 * time.Hour), 0, 3},
		{"far future", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 3, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := e.s.PruneActivity(t.Context(), tt.cutoff)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("pruned %d, want %d", n, tt.want)
			}
			if left := len(e.allActivity(t)); left != tt.left {
				t.Errorf("%d rows left, want %d", left, tt.left)
			}
		})
	}
}
