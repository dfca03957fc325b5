package postgres

import (
	"context"
	"encoding/base64"
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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

func TestNewDefaults(t *testing.T) {
	e := newEnv(t, Options{Quotas: store.Quotas{CardsPerBoard: 5}})
	storetest.Diff(t, "quotas", store.Quotas{BoardsPerUser: store.DefaultQuotas().BoardsPerUser, CardsPerBoard: 5}, e.s.quotas)

	pool, err := pgdb.Open(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), pool, Options{})
	if err != nil {
		pool.Close()
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Diff(t, "default quotas", store.DefaultQuotas(), s.quotas)
	storetest.WantRealClock(t, s, alice)
}

// TestReopen checks that a second Store on a database finds everything
// and applies no migration twice.
func TestReopen(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "Durable", "Only")
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Survivor", Labels: []string{"keep"}})
	want := storetest.MustGet(t, e.s, alice, b.ID)
	wantActivity, err := e.s.ListActivity(t.Context(), alice, "", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	e.s.Close()

	again := envOn(t, e.url, Options{})
	storetest.Diff(t, "board", want, storetest.MustGet(t, again.s, alice, b.ID))
	gotActivity, err := again.s.ListActivity(t.Context(), alice, "", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Diff(t, "activity", wantActivity, gotActivity)
	files, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if n := again.count(t, `SELECT count(*) FROM schema_migrations WHERE component = 'store'`); n != len(files) {
		t.Errorf("%d store migrations recorded, want %d (one per file)", n, len(files))
	}
}

// TestInfraErrors checks that failures that are not the caller's fault come
// back wrapped, never as domain errors, and that a write failing half-way,
// or whose activity row fails, changes nothing.
func TestInfraErrors(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	b := storetest.MustBoard(t, e.s, alice, "Launch")
	card := storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "A"})
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "B"})
	before := storetest.MustGet(t, e.s, alice, b.ID)
	rows := e.count(t, `SELECT count(*) FROM activity`)
	c := storetest.Call(alice, "tool")
	if _, err := e.raw.Exec(ctx, `CREATE FUNCTION fire() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'disk on fire'; END $$`); err != nil {
		t.Fatal(err)
	}

	// Each trigger breaks one statement that a write runs after its checks.
	for _, tt := range []struct {
		trigger string
		write   func() error
	}{
		{`BEFORE INSERT ON boards`, func() error { _, err := e.s.CreateBoard(ctx, c, "New", nil); return err }},
		{`BEFORE INSERT ON columns`, func() error { _, err := e.s.CreateBoard(ctx, c, "New", nil); return err }},
		{`BEFORE INSERT ON cards`, func() error {
			_, err := e.s.AddCard(ctx, c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "C"})
			return err
		}},
		{`BEFORE UPDATE ON boards`, func() error {
			_, err := e.s.AddCard(ctx, c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "C"})
			return err
		}},
		{`BEFORE INSERT ON activity`, func() error {
			_, err := e.s.AddCard(ctx, c, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "C"})
			return err
		}},
		{`BEFORE UPDATE OF title ON cards`, func() error {
			_, err := e.s.UpdateCard(ctx, c, store.CardUpdate{CardID: card.ID, Title: new("x")})
			return err
		}},
		{`BEFORE UPDATE OF column_id ON cards`, func() error {
			_, err := e.s.MoveCard(ctx, c, card.ID, b.Columns[1].ID, nil)
			return err
		}},
		{`BEFORE UPDATE OF position ON cards`, func() error {
			_, err := e.s.MoveCard(ctx, c, card.ID, b.Columns[0].ID, nil)
			return err
		}},
		{`BEFORE DELETE ON cards`, func() error { _, err := e.s.DeleteCard(ctx, c, card.ID); return err }},
		{`BEFORE UPDATE OF visibility ON boards`, func() error {
			_, err := e.s.ShareBoard(ctx, c, b.ID, store.Public)
			return err
		}},
		{`BEFORE DELETE ON boards`, func() error { _, err := e.s.DeleteBoard(ctx, c, b.ID); return err }},
	} {
		t.Run(tt.trigger, func(t *testing.T) {
			table := tt.trigger[strings.LastIndex(tt.trigger, " ")+1:]
			if _, err := e.raw.Exec(ctx, `CREATE TRIGGER broken `+tt.trigger+` FOR EACH ROW EXECUTE FUNCTION fire()`); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := e.raw.Exec(ctx, `DROP TRIGGER broken ON `+table); err != nil {
					t.Fatal(err)
				}
			}()
			err := tt.write()
			storetest.WantInfraError(t, err)
			if !strings.Contains(err.Error(), "disk on fire") {
				t.Errorf("error %q lost its cause", err)
			}
			if errors.Is(err, store.ErrUnavailable) {
				t.Errorf("error %q says the database is unavailable", err)
			}
			storetest.Diff(t, "board", before, storetest.MustGet(t, e.s, alice, b.ID))
			if n := e.count(t, `SELECT count(*) FROM boards`); n != 1 {
				t.Errorf("%d boards, want 1", n)
			}
			if n := e.count(t, `SELECT count(*) FROM activity`); n != rows {
				t.Errorf("%d activity rows, want %d", n, rows)
			}
		})
	}
}

// TestCursorWithNUL: a cursor someone made up with NUL in its ID finds
// nothing after it instead of failing the query. (The cursor format is
// store's, tested there.)
func TestCursorWithNUL(t *testing.T) {
	e := newEnv(t, Options{})
	b := storetest.MustBoard(t, e.s, alice, "One")
	storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "card"})
	raw := base64.RawURLEncoding.EncodeToString([]byte("b0.b_\x00"))
	if _, err := e.s.ListBoards(t.Context(), alice, store.Page{Cursor: raw}); err != nil {
		t.Errorf("ListBoards after a cursor with NUL: %v", err)
	}
	raw = base64.RawURLEncoding.EncodeToString([]byte("c0.c_\x00"))
	if _, err := e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: "card", Page: store.Page{Cursor: raw}}); err != nil {
		t.Errorf("SearchCards after a cursor with NUL: %v", err)
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
	b := storetest.MustBoard(t, e.s, alice, "Board")
	for _, id := range []string{"\x00", "\xff", "\x00\xfe"} {
		_, err := e.s.GetBoard(ctx, alice, "b_"+id)
		storetest.WantCode(t, err, store.NotFound)
		_, err = e.s.GetCard(ctx, alice, "c_"+id)
		storetest.WantCode(t, err, store.NotFound)
		_, err = e.s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: "col_" + id, Title: "x"})
		storetest.WantCode(t, err, store.NotFound)
		_, err = e.s.MoveCard(ctx, storetest.Call(alice, "move_card"), "c_"+id, b.Columns[0].ID, nil)
		storetest.WantCode(t, err, store.NotFound)
		_, err = e.s.SearchCards(ctx, alice, store.CardQuery{Query: "x\x00", BoardID: "b_" + id})
		storetest.WantCode(t, err, store.NotFound)
		if list, err := e.s.SearchCards(ctx, alice, store.CardQuery{Query: "x\x00"}); err != nil || len(list.Cards) != 0 {
			t.Errorf("a query with NUL: %+v, %v", list, err)
		}
		if _, err := e.s.ListActivity(ctx, alice, "b_"+id, store.Page{}); err != nil {
			t.Errorf("ListActivity of board %q: %v", id, err)
		}
	}
	// Rows of the audit queue, with text PostgreSQL cannot store.
	if err := e.s.RecordActivity(ctx, []store.Activity{
		{Tool: "get_board", Outcome: store.OutcomeNotFound, Actor: bob, IDs: []string{"b_\x00evil", "b_\xff"}, Summary: "not\x00found"},
		{Tool: "get_board", Outcome: store.OutcomeOK, Actor: bob, IDs: nil},
	}); err != nil {
		t.Fatalf("RecordActivity: %v", err)
	}
	bobs, err := e.s.ListActivity(ctx, bob, "", store.Page{})
	if err != nil || len(bobs.Activity) != 2 {
		t.Fatalf("bob's activity = %+v, %v", bobs, err)
	}
	storetest.Diff(t, "cleaned IDs", []string{"b_\uFFFDevil", "b_\uFFFD"}, bobs.Activity[1].IDs)
	storetest.Diff(t, "cleaned summary", "not\uFFFDfound", bobs.Activity[1].Summary)
	storetest.Diff(t, "nil IDs", []string{}, bobs.Activity[0].IDs)

	// A subject PostgreSQL cannot store owns nothing and cannot create.
	odd := store.Actor{Issuer: alice.Issuer, Subject: "alice\x00"}
	if list, err := e.s.ListBoards(ctx, odd, store.Page{}); err != nil || len(list.Boards) != 0 {
		t.Errorf("ListBoards of an odd subject = %+v, %v", list, err)
	}
	_, err = e.s.CreateBoard(ctx, storetest.Call(odd, "create_board"), "x", nil)
	storetest.WantInfraError(t, err)
	// Its activity rows are its own, and no storable identity's.
	if err := e.s.RecordActivity(ctx, []store.Activity{{Tool: "x", Actor: odd}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.Actor{odd, {Issuer: alice.Issuer, Subject: "alice\uFFFD"}} {
		list, err := e.s.ListActivity(ctx, a, "", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[a == odd]; len(list.Activity) != want {
			t.Errorf("%q sees %d rows, want %d", a.Subject, len(list.Activity), want)
		}
	}
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
	storetest.Diff(t, "from", string(from), foldFrom)
	storetest.Diff(t, "to", string(to), foldTo)
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
	b := storetest.MustBoard(t, e.s, alice, "Fold")
	titles := []string{"İstanbul", "5 \u212Aelvin", "STRASSE", "Straße", "ΣΟΦΙΑ", "back\\slash", "it's", "ǅemal"}
	for _, title := range titles {
		storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: title})
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
		storetest.Diff(t, "search "+q, want, cardTitles(list.Cards))
	}
}

// TestSearchPagination pages through matches among non-matches, with the
// query matched in SQL and in Go, and with equal timestamps.
func TestSearchPagination(t *testing.T) {
	for _, step := range []time.Duration{0, time.Millisecond} {
		e := newEnv(t, Options{Now: storetest.NewClock(step).Now})
		b := storetest.MustBoard(t, e.s, alice, "One")
		var want []string
		for i := range 300 {
			title := fmt.Sprintf("other %03d", i)
			if i%7 == 0 {
				title = fmt.Sprintf("Mätch %03d", i)
			}
			c := storetest.MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[i%3].ID, Title: title})
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
				storetest.Diff(t, fmt.Sprintf("step %v query %q limit %d", step, query, limit), want, got)
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

	b := storetest.MustBoard(t, e1.s, alice, "Busy", "A", "B", "C")
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*2)
	start := make(chan struct{})
	for w := range workers {
		s := replicas[w%2]
		wg.Go(func() {
			<-start
			var mine []string
			for i := range perWorker {
				c, err := s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{
					BoardID: b.ID, ColumnID: b.Columns[(w+i)%3].ID, Title: fmt.Sprintf("w%d c%d", w, i)})
				if err != nil {
					errs <- fmt.Errorf("AddCard: %w", err)
					return
				}
				mine = append(mine, c.ID)
				for j, id := range mine {
					pos := (w + j) % 4
					if _, err := s.MoveCard(ctx, storetest.Call(alice, "move_card"), id, b.Columns[(i+j)%3].ID, &pos); err != nil {
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
	got := storetest.MustGet(t, e2.s, alice, b.ID)
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
				_, err := s.CreateBoard(ctx, storetest.Call(alice, "create_board"), fmt.Sprint("board ", w), nil)
				_, cerr := s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "fill"})
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
				_, results[i] = s.UpdateCard(ctx, storetest.Call(alice, "update_card"), store.CardUpdate{
					CardID: card.ID, Title: new(fmt.Sprint("edit ", i)), ExpectedVersion: new(card.Version)})
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
	b := storetest.MustBoard(t, e.s, alice, "Before")

	c.Stop(t)
	errs := map[string]error{}
	errs["Ping"] = e.s.Ping(ctx)
	_, errs["GetBoard"] = e.s.GetBoard(ctx, alice, b.ID)
	_, errs["ListBoards"] = e.s.ListBoards(ctx, alice, store.Page{})
	_, errs["SearchCards"] = e.s.SearchCards(ctx, alice, store.CardQuery{Query: "x"})
	_, errs["AddCard"] = e.s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "x"})
	_, errs["CreateBoard"] = e.s.CreateBoard(ctx, storetest.Call(alice, "create_board"), "x", nil)
	errs["RecordActivity"] = e.s.RecordActivity(ctx, []store.Activity{{Tool: "x"}})
	for name, err := range errs {
		storetest.WantInfraError(t, err)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v is not ErrUnavailable", name, err)
		}
	}

	c.Start(t)
	if _, err := e.s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "after"}); err != nil {
		t.Errorf("AddCard after the restart: %v", err)
	}

	// A restart closes the pool's idle connections under it: reads and
	// writes retry on fresh ones instead of failing.
	c.Restart(t)
	if _, err := e.s.GetBoard(ctx, alice, b.ID); err != nil {
		t.Errorf("GetBoard right after a restart: %v", err)
	}
	c.Restart(t)
	if _, err := e.s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "after restart"}); err != nil {
		t.Errorf("AddCard right after a restart: %v", err)
	}
	e.raw.Reset() // its connections are closed too
	e.checkBoard(t, b.ID)

	// An error of the database that is no outage is not marked.
	if err := wrap("x", &pgconn.PgError{Code: "22012", Message: "division by zero"}); errors.Is(err, store.ErrUnavailable) {
		t.Errorf("division by zero: %v is ErrUnavailable", err)
	}
}

// TestRetryPolicy checks that every kind of operation (a read of one
// statement, a read transaction, a pipelined write) runs under the
// Policy of Options: each, after its connection was terminated, succeeds
// on its second run, and OnRetry hears that one retry.
func TestRetryPolicy(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	ctx := t.Context()
	// One connection, never pinged before use: the terminated connection
	// is surely the next one used, and only the Store's retry recovers.
	cfg, err := pgxpool.ParseConfig(url + "&pool_max_conns=1&application_name=retried")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var heard []string
	s, err := New(ctx, pool, Options{
		Now: storetest.NewClock(time.Millisecond).Now,
		Retry: pgdb.Policy{OnRetry: func(reason string) {
			mu.Lock()
			defer mu.Unlock()
			heard = append(heard, reason)
		}},
	})
	if err != nil {
		pool.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	raw, err := pgdb.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	b := storetest.MustBoard(t, s, alice, "Retried")
	storetest.MustCard(t, s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "needle"})

	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"GetBoard", func() error { _, err := s.GetBoard(ctx, alice, b.ID); return err }},
		{"SearchCards", func() error { _, err := s.SearchCards(ctx, alice, store.CardQuery{Query: "needle"}); return err }},
		{"AddCard", func() error {
			_, err := s.AddCard(ctx, storetest.Call(alice, "add_card"), store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "after"})
			return err
		}},
	} {
		mu.Lock()
		heard = nil
		mu.Unlock()
		// In the select list, so that it runs only for the rows the
		// filter keeps; with a timeout, it returns once the session is
		// gone.
		rows, _ := raw.Query(ctx, `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = 'retried'`)
		killed, err := pgx.CollectRows(rows, pgx.RowTo[bool])
		if err != nil || !slices.Equal(killed, []bool{true}) {
			t.Fatalf("terminating the Store's connection: %v, %v; want one terminated", killed, err)
		}
		err = op.run()
		mu.Lock()
		got := slices.Clone(heard)
		mu.Unlock()
		if want := []string{pgdb.ReasonConnectionLost}; err != nil || !slices.Equal(got, want) {
			t.Errorf("%s on a terminated connection: %v, heard %q; want success, heard %q", op.name, err, got, want)
		}
	}
}
