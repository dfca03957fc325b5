package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// TestSmoke runs every method of the Store once or twice: the development
// check of this package. The behaviour in full is the contract suite's
// (store/storetest).
func TestSmoke(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()

	if err := e.s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	b := e.mustBoard(t, alice, "  Launch  ")
	if b.Title != "Launch" || len(b.Columns) != 3 || b.Visibility != store.Private || !b.Owned || b.Version != 1 {
		t.Fatalf("CreateBoard = %+v", b)
	}
	if _, err := e.s.CreateBoard(ctx, call(alice, "create_board"), "Dup", []string{"A", "a"}); store.ErrorCode(err) != store.Invalid {
		t.Errorf("duplicate column names: %v", err)
	}
	got := e.mustGet(t, alice, b.ID)
	diff(t, "board read back", b, got)
	if _, err := e.s.GetBoard(ctx, bob, b.ID); store.ErrorCode(err) != store.NotFound {
		t.Errorf("bob reads alice's private board: %v", err)
	}
	if _, err := e.s.GetBoard(ctx, mallory, b.ID); store.ErrorCode(err) != store.NotFound {
		t.Errorf("mallory reads alice's private board: %v", err)
	}

	todo, doing := b.Columns[0].ID, b.Columns[1].ID
	long := strings.Repeat("word ", 100)
	c1 := e.mustCard(t, alice, store.NewCard{BoardID: b.ID, ColumnID: todo, Title: "Fix LOGIN page", Labels: []string{"bug", "Bug", "urgent"}})
	c2 := e.mustCard(t, alice, store.NewCard{BoardID: b.ID, ColumnID: todo, Title: "Ärger", Description: long})
	c3 := e.mustCard(t, alice, store.NewCard{BoardID: b.ID, ColumnID: todo, Title: "100% snake_case"})
	diff(t, "labels", []string{"bug", "urgent"}, c1.Labels)
	if c1.Position != 0 || c2.Position != 1 || c3.Position != 2 {
		t.Errorf("positions %d %d %d", c1.Position, c2.Position, c3.Position)
	}
	if _, err := e.s.AddCard(ctx, call(bob, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: todo, Title: "x"}); store.ErrorCode(err) != store.NotFound {
		t.Errorf("bob adds to alice's board: %v", err)
	}

	board := e.mustGet(t, alice, b.ID)
	if card := board.Columns[0].Cards[1]; !card.DescriptionTruncated || utf8.RuneCountInString(card.Description) > store.DescriptionPreviewLen {
		t.Errorf("GetBoard gives no preview: %q", card.Description)
	}
	view, err := e.s.GetCard(ctx, alice, c2.ID)
	if err != nil || view.Card.Description != long || view.BoardTitle != "Launch" || !view.Owned {
		t.Fatalf("GetCard = %+v, %v", view, err)
	}
	if _, err := e.s.GetCard(ctx, bob, c2.ID); store.ErrorCode(err) != store.NotFound {
		t.Errorf("bob reads a card on alice's private board: %v", err)
	}

	up, err := e.s.UpdateCard(ctx, call(alice, "update_card"), store.CardUpdate{CardID: c1.ID, Title: ptr("Fix login"), ExpectedVersion: ptr(int64(1))})
	if err != nil || up.Version != 2 || up.Title != "Fix login" {
		t.Fatalf("UpdateCard = %+v, %v", up, err)
	}
	_, err = e.s.UpdateCard(ctx, call(alice, "update_card"), store.CardUpdate{CardID: c1.ID, Title: ptr("Again"), ExpectedVersion: ptr(int64(1))})
	wantCode(t, err, store.Conflict)
	same, err := e.s.UpdateCard(ctx, call(alice, "update_card"), store.CardUpdate{CardID: c1.ID, Title: ptr("Fix login")})
	if err != nil || same.Version != 2 {
		t.Errorf("an update that changes nothing: %+v, %v", same, err)
	}

	mv, err := e.s.MoveCard(ctx, call(alice, "move_card"), c3.ID, todo, ptr(0))
	if err != nil || !mv.Moved || mv.FromPosition != 2 || mv.Card.Position != 0 {
		t.Fatalf("MoveCard within a column = %+v, %v", mv, err)
	}
	mv, err = e.s.MoveCard(ctx, call(alice, "move_card"), c1.ID, doing, nil)
	if err != nil || mv.Card.ColumnID != doing || mv.Card.ColumnName != "Doing" || mv.FromColumnName != "To do" {
		t.Fatalf("MoveCard across columns = %+v, %v", mv, err)
	}
	mv, err = e.s.MoveCard(ctx, call(alice, "move_card"), c1.ID, doing, ptr(99))
	if err != nil || mv.Moved {
		t.Errorf("MoveCard to where it is = %+v, %v", mv, err)
	}
	diff(t, "titles", [][]string{{"100% snake_case", "Ärger"}, {"Fix login"}, {}}, titlesByColumn(e.mustGet(t, alice, b.ID)))
	e.checkBoard(t, b.ID)

	for _, tt := range []struct {
		q    store.CardQuery
		want []string
	}{
		{store.CardQuery{Query: "LOGIN"}, []string{"Fix login"}},
		{store.CardQuery{Query: "ärger"}, []string{"Ärger"}},
		{store.CardQuery{Query: "WORD"}, []string{"Ärger"}},
		{store.CardQuery{Query: "%"}, []string{"100% snake_case"}},
		{store.CardQuery{Query: "_"}, []string{"100% snake_case"}},
		{store.CardQuery{Query: "urg"}, []string{"Fix login"}},
		{store.CardQuery{Label: "BUG"}, []string{"Fix login"}},
		{store.CardQuery{ColumnID: doing}, []string{"Fix login"}},
	} {
		list, err := e.s.SearchCards(ctx, alice, tt.q)
		if err != nil {
			t.Fatalf("SearchCards(%+v): %v", tt.q, err)
		}
		diff(t, fmt.Sprintf("search %+v", tt.q), tt.want, cardTitles(list.Cards))
	}

	shared, err := e.s.ShareBoard(ctx, call(alice, "share_board"), b.ID, store.Public)
	if err != nil || shared.Visibility != store.Public || shared.Version != 2 || shared.CardCount != 3 || shared.ColumnCount != 3 {
		t.Fatalf("ShareBoard = %+v, %v", shared, err)
	}
	if _, err := e.s.GetBoard(ctx, anon, b.ID); err != nil {
		t.Errorf("anonymous reads a public board: %v", err)
	}
	e.mustBoard(t, bob, "Bob's")
	for viewer, want := range map[string][]string{"alice": {"Launch"}, "bob": {"Launch", "Bob's"}, "anon": {"Launch"}} {
		a := map[string]store.Actor{"alice": alice, "bob": bob, "anon": anon}[viewer]
		list, err := e.s.ListBoards(ctx, a, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, s := range list.Boards {
			titles = append(titles, s.Title)
		}
		diff(t, "boards of "+viewer, want, titles)
	}

	del, err := e.s.DeleteCard(ctx, call(alice, "delete_card"), c3.ID)
	if err != nil || del.Title != "100% snake_case" {
		t.Fatalf("DeleteCard = %+v, %v", del, err)
	}
	e.checkBoard(t, b.ID)

	acts, err := e.s.ListActivity(ctx, alice, b.ID, store.Page{Limit: 3})
	if err != nil || len(acts.Activity) != 3 || acts.NextCursor == "" {
		t.Fatalf("ListActivity = %+v, %v", acts, err)
	}
	if a := acts.Activity[0]; a.Tool != "delete_card" || a.BoardOwner.Subject != "alice" || !slices.Contains(a.IDs, c3.ID) {
		t.Errorf("newest activity row = %+v", a)
	}
	more, err := e.s.ListActivity(ctx, alice, b.ID, store.Page{Limit: 3, Cursor: acts.NextCursor})
	if err != nil || len(more.Activity) == 0 || more.Activity[0].ID >= acts.Activity[2].ID {
		t.Fatalf("second page = %+v, %v", more, err)
	}

	// Rows of the audit queue, with text PostgreSQL cannot store.
	if err := e.s.RecordActivity(ctx, []store.Activity{
		{Tool: "get_board", Outcome: store.OutcomeNotFound, Actor: bob, IDs: []string{"b_\x00evil", "b_\xff"}, Summary: "not\x00found"},
		{Tool: "get_board", Outcome: store.OutcomeOK, Actor: bob, BoardID: b.ID, IDs: nil},
	}); err != nil {
		t.Fatalf("RecordActivity: %v", err)
	}
	bobs, err := e.s.ListActivity(ctx, bob, "", store.Page{})
	if err != nil || len(bobs.Activity) != 3 { // his create_board and the two rows
		t.Fatalf("bob's activity = %+v, %v", bobs, err)
	}
	diff(t, "cleaned IDs", []string{"b_\uFFFDevil", "b_\uFFFD"}, bobs.Activity[1].IDs)
	diff(t, "nil IDs", []string{}, bobs.Activity[0].IDs)

	sum, err := e.s.DeleteBoard(ctx, call(alice, "delete_board"), b.ID)
	if err != nil || sum.CardCount != 2 || sum.Title != "Launch" {
		t.Fatalf("DeleteBoard = %+v, %v", sum, err)
	}
	if n := e.count(t, `SELECT count(*) FROM cards`); n != 0 {
		t.Errorf("%d cards left after deleting the board", n)
	}
	if _, err := e.s.GetBoard(ctx, alice, b.ID); store.ErrorCode(err) != store.NotFound {
		t.Errorf("deleted board: %v", err)
	}

	all := e.count(t, `SELECT count(*) FROM activity`)
	n, err := e.s.PruneActivity(ctx, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || n != int64(all) {
		t.Errorf("PruneActivity = %d, %v; want %d", n, err, all)
	}

	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func cardTitles(cards []store.Card) []string {
	out := []string{}
	for _, c := range cards {
		out = append(out, c.Title)
	}
	return out
}

// TestHostileIDs checks that IDs PostgreSQL text cannot hold are not found,
// as in SQLite, rather than failing the query.
func TestHostileIDs(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	b := e.mustBoard(t, alice, "Board")
	for _, id := range []string{"\x00", "\xff", "\x00\xfe"} {
		_, err := e.s.GetBoard(ctx, alice, "b_"+id)
		wantCode(t, err, store.NotFound)
		_, err = e.s.GetCard(ctx, alice, "c_"+id)
		wantCode(t, err, store.NotFound)
		_, err = e.s.AddCard(ctx, call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: "col_" + id, Title: "x"})
		wantCode(t, err, store.NotFound)
		_, err = e.s.MoveCard(ctx, call(alice, "move_card"), "c_"+id, b.Columns[0].ID, nil)
		wantCode(t, err, store.NotFound)
		_, err = e.s.SearchCards(ctx, alice, store.CardQuery{Query: "x\x00", BoardID: "b_" + id})
		wantCode(t, err, store.NotFound)
		if list, err := e.s.SearchCards(ctx, alice, store.CardQuery{Query: "x\x00"}); err != nil || len(list.Cards) != 0 {
			t.Errorf("a query with NUL: %+v, %v", list, err)
		}
		if _, err := e.s.ListActivity(ctx, alice, "b_"+id, store.Page{}); err != nil {
			t.Errorf("ListActivity of board %q: %v", id, err)
		}
	}
	// A subject PostgreSQL cannot store owns nothing and cannot create.
	odd := store.Actor{Issuer: alice.Issuer, Subject: "alice\x00"}
	if list, err := e.s.ListBoards(ctx, odd, store.Page{}); err != nil || len(list.Boards) != 0 {
		t.Errorf("ListBoards of an odd subject = %+v, %v", list, err)
	}
	_, err := e.s.CreateBoard(ctx, call(odd, "create_board"), "x", nil)
	wantInfraError(t, err)
}

// TestFoldTable checks that foldFrom and foldTo hold exactly the
// characters whose Go lower case (strings.ToLower) is a different ASCII
// character, so that PostgreSQL's matching of ASCII queries is Go's.
func TestFoldTable(t *testing.T) {
	var from, to []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l != r && l < utf8.RuneSelf {
			from, to = append(from, r), append(to, l)
		}
	}
	diff(t, "from", string(from), foldFrom)
	diff(t, "to", string(to), foldTo)
	for _, s := range []string{"ABC", "İ", "K", "ß", "Σ"} {
		if strings.ToLower(s) != strings.Map(unicode.ToLower, s) {
			t.Errorf("strings.ToLower(%q) is not per character", s)
		}
	}
}

// TestSearchFolding checks search semantics where Go's lower-casing,
// PostgreSQL's lower() and the locale could differ.
func TestSearchFolding(t *testing.T) {
	e := newEnv(t, Options{})
	b := e.mustBoard(t, alice, "Fold")
	titles := []string{"İstanbul", "5 \u212Aelvin", "STRASSE", "Straße", "ΣΟΦΙΑ", "back\\slash", "it's", "ǅemal"}
	for _, title := range titles {
		e.mustCard(t, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: title})
	}
	for _, q := range []string{"i", "istanbul", "İSTANBUL", "k", "kelvin", "strasse", "straße", "σοφια", "\\", "'", "%", "ǆ", "ǅ", "dž"} {
		list, err := e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{}
		for _, title := range titles {
			if strings.Contains(strings.ToLower(title), strings.ToLower(q)) {
				want = append(want, title)
			}
		}
		diff(t, "search "+q, want, cardTitles(list.Cards))
	}
}

// TestSearchPagination pages through matches among non-matches, with the
// query matched in SQL and in Go, and with equal timestamps.
func TestSearchPagination(t *testing.T) {
	for _, step := range []time.Duration{0, time.Millisecond} {
		e := newEnv(t, Options{Now: newClock(step).Now})
		b := e.mustBoard(t, alice, "One")
		var want []string
		for i := range 300 {
			title := fmt.Sprintf("other %03d", i)
			if i%7 == 0 {
				title = fmt.Sprintf("Mätch %03d", i)
			}
			c := e.mustCard(t, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[i%3].ID, Title: title})
			if i%7 == 0 {
				want = append(want, c.ID)
			}
		}
		if step == 0 {
			slices.Sort(want)
		}
		for _, query := range []string{"TCH", "mätch"} {
			for _, limit := range []int{1, 5, 50} {
				var got []string
				page := store.Page{Limit: limit}
				for {
					list, err := e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: query, Page: page})
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range list.Cards {
						got = append(got, c.ID)
					}
					if list.NextCursor == "" {
						break
					}
					page.Cursor = list.NextCursor
				}
				diff(t, fmt.Sprintf("step %v query %q limit %d", step, query, limit), want, got)
			}
		}
	}
}

// TestReplicas runs writers on two Stores over one database, as two
// replicas would: positions stay dense, counts exact, quotas hold and an
// expected_version conflict is caught across them.
func TestReplicas(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	const workers, perWorker, room = 8, 6, 3
	opts := Options{Quotas: store.Quotas{BoardsPerUser: 3, CardsPerBoard: workers*perWorker + room}, Now: time.Now}
	e1 := envOn(t, url, opts)
	e2 := envOn(t, url, opts)
	replicas := []*Store{e1.s, e2.s}
	ctx := t.Context()

	b := e1.mustBoard(t, alice, "Busy", "A", "B", "C")
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	start := make(chan struct{})
	for w := range workers {
		s := replicas[w%2]
		wg.Go(func() {
			<-start
			var mine []string
			for i := range perWorker {
				c, err := s.AddCard(ctx, call(alice, "add_card"), store.NewCard{
					BoardID: b.ID, ColumnID: b.Columns[(w+i)%3].ID, Title: fmt.Sprintf("w%d c%d", w, i)})
				if err != nil {
					errs <- fmt.Errorf("AddCard: %w", err)
					return
				}
				mine = append(mine, c.ID)
				for j, id := range mine {
					pos := (w + j) % 4
					if _, err := s.MoveCard(ctx, call(alice, "move_card"), id, b.Columns[(i+j)%3].ID, &pos); err != nil {
						errs <- fmt.Errorf("MoveCard: %w", err)
						return
					}
				}
			}
			if err := s.Ping(ctx); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e1.checkBoard(t, b.ID)
	got := e2.mustGet(t, alice, b.ID)
	n := 0
	for _, col := range got.Columns {
		n += len(col.Cards)
	}
	if n != workers*perWorker {
		t.Errorf("%d cards, want %d", n, workers*perWorker)
	}
	if rows := e1.count(t, `SELECT count(*) FROM activity WHERE tool = 'add_card'`); rows != workers*perWorker {
		t.Errorf("%d add_card activity rows, want %d", rows, workers*perWorker)
	}

	t.Run("quotas", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		made, quota := 0, 0
		cards, cardQuota := 0, 0
		for w := range workers {
			s := replicas[w%2]
			wg.Go(func() {
				_, err := s.CreateBoard(ctx, call(alice, "create_board"), fmt.Sprint("board ", w), nil)
				_, cerr := s.AddCard(ctx, call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "fill"})
				mu.Lock()
				defer mu.Unlock()
				switch store.ErrorCode(err) {
				case "":
					if err != nil {
						t.Error(err)
					}
					made++
				case store.Quota:
					quota++
				default:
					t.Error(err)
				}
				switch store.ErrorCode(cerr) {
				case "":
					if cerr != nil {
						t.Error(cerr)
					}
					cards++
				case store.Quota:
					cardQuota++
				default:
					t.Error(cerr)
				}
			})
		}
		wg.Wait()
		if made != 2 || quota != workers-2 { // "Busy" is the first of 3
			t.Errorf("%d boards made, %d refused; want 2 and %d", made, quota, workers-2)
		}
		if cards != room || cardQuota != workers-room {
			t.Errorf("%d cards added, %d refused; want %d and %d", cards, cardQuota, room, workers-room)
		}
		e1.checkBoard(t, b.ID)
	})

	t.Run("expected_version across replicas", func(t *testing.T) {
		card := got.Columns[0].Cards[0]
		var wg sync.WaitGroup
		results := make([]error, 2)
		for i, s := range replicas {
			wg.Go(func() {
				_, results[i] = s.UpdateCard(ctx, call(alice, "update_card"), store.CardUpdate{
					CardID: card.ID, Title: ptr(fmt.Sprint("edit ", i)), ExpectedVersion: ptr(card.Version)})
			})
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, err := range results {
			switch {
			case err == nil:
				ok++
			case store.ErrorCode(err) == store.Conflict:
				conflict++
			default:
				t.Errorf("UpdateCard: %v", err)
			}
		}
		if ok != 1 || conflict != 1 {
			t.Errorf("%d succeeded and %d conflicted; want one of each", ok, conflict)
		}
		view, err := e2.s.GetCard(ctx, alice, card.ID)
		if err != nil || view.Card.Version != card.Version+1 {
			t.Errorf("card after the race: %+v, %v", view, err)
		}
	})
}

// TestMigrateConcurrently starts several Stores on one empty database at
// once, as replicas starting together do: the advisory lock lets one
// migrate and the others find the work done.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(t.Context(), url, Options{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	e := envOn(t, url, Options{})
	files, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM schema_migrations WHERE component = 'store'`); n != len(files) {
		t.Errorf("%d migrations recorded, want %d", n, len(files))
	}
}

// TestNewRefusesNonUTF8 checks the encoding check of New.
func TestNewRefusesNonUTF8(t *testing.T) {
	c := pgtest.Shared(t)
	e := newEnv(t, Options{})
	name := "ascii_" + strings.ToLower(store.NewID(""))
	if _, err := e.raw.Exec(t.Context(), `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+
		` ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.raw.Exec(t.Context(), `DROP DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	})
	_, err := Open(t.Context(), c.URL(name), Options{})
	if err == nil || !strings.Contains(err.Error(), "UTF8") {
		t.Errorf("Open on a SQL_ASCII database: %v", err)
	}
}

// TestUnavailable checks that a database that is down gives errors marked
// store.ErrUnavailable, and that the Store recovers when it is back.
func TestUnavailable(t *testing.T) {
	c := pgtest.Start(t)
	e := envOn(t, c.NewDatabase(t), Options{})
	ctx := t.Context()
	b := e.mustBoard(t, alice, "Before")

	c.Stop(t)
	errs := map[string]error{}
	errs["Ping"] = e.s.Ping(ctx)
	_, errs["GetBoard"] = e.s.GetBoard(ctx, alice, b.ID)
	_, errs["ListBoards"] = e.s.ListBoards(ctx, alice, store.Page{})
	_, errs["SearchCards"] = e.s.SearchCards(ctx, alice, store.CardQuery{Query: "x"})
	_, errs["AddCard"] = e.s.AddCard(ctx, call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "x"})
	_, errs["CreateBoard"] = e.s.CreateBoard(ctx, call(alice, "create_board"), "x", nil)
	errs["RecordActivity"] = e.s.RecordActivity(ctx, []store.Activity{{Tool: "x"}})
	for name, err := range errs {
		wantInfraError(t, err)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v is not ErrUnavailable", name, err)
		}
	}

	c.Start(t)
	if _, err := e.s.AddCard(ctx, call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "after"}); err != nil {
		t.Errorf("AddCard after the restart: %v", err)
	}

	// A restart closes the pool's idle connections under it: reads and
	// writes retry on fresh ones instead of failing.
	c.Restart(t)
	if _, err := e.s.GetBoard(ctx, alice, b.ID); err != nil {
		t.Errorf("GetBoard right after a restart: %v", err)
	}
	c.Restart(t)
	if _, err := e.s.AddCard(ctx, call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "after restart"}); err != nil {
		t.Errorf("AddCard right after a restart: %v", err)
	}
	e.raw.Reset() // its connections are closed too
	e.checkBoard(t, b.ID)

	// An error of the database that is no outage is not marked.
	if err := wrap("x", &pgconn.PgError{Code: "22012", Message: "division by zero"}); errors.Is(err, store.ErrUnavailable) {
		t.Errorf("division by zero: %v is ErrUnavailable", err)
	}
}
