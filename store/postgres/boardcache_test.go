package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/pgdb"
	"github.com/kanban-mcp/kanban-mcp/internal/pgtest"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/store/storetest"
)

// listening is how a replica in these tests hears of other replicas'
// writes.
type listening int

const (
	noListener   listening = iota // Options.Listener is nil
	listenerDown                  // a Listener that never reaches the server
	listenerUp                    // a Listener, connected
)

func (l listening) String() string {
	return [...]string{"no listener", "listener down", "listener up"}[l]
}

// replica is one server's Store on a database that others share.
type replica struct {
	*env
	listening listening
}

// newReplica opens a Store on url, with a Listener as mode says; the
// Listener runs until t ends.
func newReplica(t *testing.T, url string, mode listening) *replica {
	t.Helper()
	var l *pgdb.Listener
	switch mode {
	case listenerUp:
		l = newListener(t, url)
	case listenerDown:
		l = newListener(t, pgtest.UnreachableURL(t))
	}
	r := &replica{env: envOn(t, url, Options{Listener: l}), listening: mode}
	if l == nil {
		return r
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	if mode == listenerUp {
		pgtest.WaitFor(t, "the listener to be up", func() bool { _, up := l.Generation(); return up })
	}
	return r
}

func newListener(t *testing.T, url string) *pgdb.Listener {
	t.Helper()
	l, err := pgdb.NewListener(url, pgdb.ListenerOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// cached reports whether the replica's cache holds board id.
func (r *replica) cached(id string) bool {
	_, ok := r.s.boards.Lookup(id)
	return ok
}

// announced returns once the replica has announced every board it wrote
// so far (it announces after its writes commit).
func (r *replica) announced() {
	if r.s.announcer != nil {
		r.s.announcer.flush()
	}
}

// settle returns once the replica has handled every notification sent
// before the call, so that none of them can evict what the test caches
// next: a marker board is cached, announced, and waited for. A replica
// that hears nothing has nothing to settle. The replicas that wrote must
// have announced their writes (announced) by then.
func (r *replica) settle(t *testing.T) {
	t.Helper()
	if r.listening != listenerUp {
		return
	}
	marker := &store.Board{ID: "b_settle", Columns: []store.Column{}}
	r.s.boards.Put(marker, "", "x", 0, r.s.boards.Generation(marker.ID))
	if _, err := r.raw.Exec(t.Context(), `SELECT pg_notify($1, $2)`, BoardsChannel, marker.ID); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, "the marker's notification", func() bool { return !r.cached(marker.ID) })
}

// warm reads board id through the replica as viewer, and fails unless it
// is cached then.
func (r *replica) warm(t *testing.T, viewer store.Actor, id string) {
	t.Helper()
	r.settle(t)
	storetest.MustGet(t, r.s, viewer, id)
	if !r.cached(id) {
		t.Fatalf("board %s not cached after a read", id)
	}
}

// TestBoardCacheAcrossReplicas warms replica B's cache, changes the board
// through replica A, and reads it through B at once: B must show the
// change whether it hears of it (listener up) or not (no listener, or one
// that cannot connect), since a cached board is checked against the
// database's revision before it is served.
func TestBoardCacheAcrossReplicas(t *testing.T) {
	changes := []struct {
		name   string
		public bool        // the board is shared before B reads it
		viewer store.Actor // who reads through B
		change func(t *testing.T, a *Store, b *store.Board, card *store.Card)
		check  func(t *testing.T, got *store.Board, err error, card *store.Card)
	}{
		{"add card", false, alice, func(t *testing.T, a *Store, b *store.Board, _ *store.Card) {
			storetest.MustCard(t, a, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[2].ID, Title: "new"})
		}, func(t *testing.T, got *store.Board, err error, _ *store.Card) {
			if err != nil || len(got.Columns[2].Cards) != 1 || got.Columns[2].Cards[0].Title != "new" {
				t.Errorf("got %+v, %v; want the new card in the third column", got, err)
			}
		}},
		{"move card", false, alice, func(t *testing.T, a *Store, b *store.Board, card *store.Card) {
			if _, err := a.MoveCard(t.Context(), storetest.Call(alice, "move_card"), card.ID, b.Columns[1].ID, nil); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, err error, card *store.Card) {
			if err != nil || len(got.Columns[0].Cards) != 0 || len(got.Columns[1].Cards) != 1 || got.Columns[1].Cards[0].ID != card.ID {
				t.Errorf("got %+v, %v; want the card moved to the second column", got, err)
			}
		}},
		{"update card", false, alice, func(t *testing.T, a *Store, _ *store.Board, card *store.Card) {
			title, labels := "renamed", []string{"y"}
			if _, err := a.UpdateCard(t.Context(), storetest.Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Title: &title, Labels: &labels}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, err error, _ *store.Card) {
			if err != nil {
				t.Fatal(err)
			}
			c := got.Columns[0].Cards[0]
			storetest.Diff(t, "card", []any{"renamed", []string{"y"}, int64(2)}, []any{c.Title, c.Labels, c.Version})
		}},
		{"delete card", false, alice, func(t *testing.T, a *Store, _ *store.Board, card *store.Card) {
			if _, err := a.DeleteCard(t.Context(), storetest.Call(alice, "delete_card"), card.ID); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, err error, _ *store.Card) {
			if err != nil || len(got.Columns[0].Cards) != 0 {
				t.Errorf("got %+v, %v; want the card gone", got, err)
			}
		}},
		{"share", false, alice, func(t *testing.T, a *Store, b *store.Board, _ *store.Card) {
			if _, err := a.ShareBoard(t.Context(), storetest.Call(alice, "share_board"), b.ID, store.Public); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, err error, _ *store.Card) {
			if err != nil || got.Visibility != store.Public || got.Version != 2 {
				t.Errorf("got %+v, %v; want the board public, version 2", got, err)
			}
		}},
		{"unshare, read by another", true, bob, func(t *testing.T, a *Store, b *store.Board, _ *store.Card) {
			if _, err := a.ShareBoard(t.Context(), storetest.Call(alice, "share_board"), b.ID, store.Private); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, err error, _ *store.Card) {
			if err == nil {
				t.Errorf("bob read alice's board after she made it private: %+v", got)
			}
			storetest.WantCode(t, err, store.NotFound)
		}},
		{"delete board", false, alice, func(t *testing.T, a *Store, b *store.Board, _ *store.Card) {
			if _, err := a.DeleteBoard(t.Context(), storetest.Call(alice, "delete_board"), b.ID); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, got *store.Board, err error, _ *store.Card) {
			storetest.WantCode(t, err, store.NotFound)
		}},
	}
	for _, mode := range []listening{noListener, listenerDown, listenerUp} {
		t.Run(mode.String(), func(t *testing.T) {
			url := pgtest.Shared(t).NewDatabase(t)
			// A announces its writes whenever B could hear them.
			aMode := listenerUp
			if mode == noListener {
				aMode = noListener
			}
			a, b := newReplica(t, url, aMode), newReplica(t, url, mode)
			for _, tt := range changes {
				t.Run(tt.name, func(t *testing.T) {
					board, card := storetest.BoardWithCard(t, a.s, alice)
					if tt.public {
						if _, err := a.s.ShareBoard(t.Context(), storetest.Call(alice, "share_board"), board.ID, store.Public); err != nil {
							t.Fatal(err)
						}
					}
					a.announced()
					b.warm(t, tt.viewer, board.ID)
					tt.change(t, a.s, board, card)
					got, err := b.s.GetBoard(t.Context(), tt.viewer, board.ID)
					tt.check(t, got, err, card)
				})
			}
		})
	}
}

// TestBoardCacheEvictsOnNotification: a write announced by one replica
// evicts the board from another's cache without any read there, and
// evicts nothing else. A replica without a Listener announces nothing.
func TestBoardCacheEvictsOnNotification(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	a, b := newReplica(t, url, listenerUp), newReplica(t, url, listenerUp)
	quiet := newReplica(t, url, noListener)
	x, _ := storetest.BoardWithCard(t, a.s, alice)
	y, _ := storetest.BoardWithCard(t, a.s, alice)
	a.announced()
	b.warm(t, alice, x.ID)
	b.warm(t, alice, y.ID)
	if n, _ := b.s.boards.Usage(); n != 2 {
		t.Fatalf("B caches %d boards, want x and y", n)
	}

	// The quiet replica's write to x commits first; A's to y after it.
	// Notifications arrive in commit order, so once y is evicted, an
	// announcement of x would have evicted x too.
	storetest.MustCard(t, quiet.s, alice, store.NewCard{BoardID: x.ID, ColumnID: x.Columns[0].ID, Title: "unannounced"})
	storetest.MustCard(t, a.s, alice, store.NewCard{BoardID: y.ID, ColumnID: y.Columns[0].ID, Title: "announced"})
	pgtest.WaitFor(t, "B to evict y", func() bool { return !b.cached(y.ID) })
	if !b.cached(x.ID) {
		t.Error("B evicted x, which only a replica without a Listener changed")
	}
	if n, _ := b.s.boards.Usage(); n != 1 {
		t.Errorf("B caches %d boards after y's eviction, want x alone", n)
	}
	// x is stale in B's cache, and still not served.
	if got := storetest.MustGet(t, b.s, alice, x.ID); len(got.Columns[0].Cards) != 2 {
		t.Errorf("B shows x with %d cards in its first column, want 2", len(got.Columns[0].Cards))
	}
}

// TestBoardCacheChecksRevision changes a cached board behind the store's
// back: without a new revision the cached board is served (so the cache
// is in use), with one the board is read again.
func TestBoardCacheChecksRevision(t *testing.T) {
	e := newEnv(t, Options{})
	b, _ := storetest.BoardWithCard(t, e.s, alice)
	storetest.MustGet(t, e.s, alice, b.ID) // cached now
	if _, err := e.raw.Exec(t.Context(), `UPDATE boards SET title = 'behind its back' WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := storetest.MustGet(t, e.s, alice, b.ID); got.Title != b.Title {
		t.Errorf("title %q, want the cached %q: the revision did not change", got.Title, b.Title)
	}
	if _, err := e.raw.Exec(t.Context(), `UPDATE boards SET revision = revision + 1 WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := storetest.MustGet(t, e.s, alice, b.ID); got.Title != "behind its back" {
		t.Errorf("title %q after the revision changed, want the database's", got.Title)
	}
}

// TestBoardRevisionCountsEveryWrite: every write to a board moves its
// revision on, refused writes do not, and the revision a read caches is
// the one the database holds.
func TestBoardRevisionCountsEveryWrite(t *testing.T) {
	e := newEnv(t, Options{})
	b, card := storetest.BoardWithCard(t, e.s, alice)
	revision := func() int64 {
		t.Helper()
		return int64(e.count(t, `SELECT revision FROM boards WHERE id = $1`, b.ID))
	}
	title := "edited"
	writes := []struct {
		name  string
		write func() error
		bumps bool
	}{
		{"update card", func() error {
			_, err := e.s.UpdateCard(t.Context(), storetest.Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Title: &title})
			return err
		}, true},
		{"update by another (refused)", func() error {
			_, err := e.s.UpdateCard(t.Context(), storetest.Call(bob, "update_card"), store.CardUpdate{CardID: card.ID, Title: &title})
			if store.ErrorCode(err) == store.NotFound {
				return nil
			}
			return fmt.Errorf("bob's update: %v, want NotFound", err)
		}, false},
		{"move card", func() error {
			_, err := e.s.MoveCard(t.Context(), storetest.Call(alice, "move_card"), card.ID, b.Columns[1].ID, nil)
			return err
		}, true},
		{"share", func() error {
			_, err := e.s.ShareBoard(t.Context(), storetest.Call(alice, "share_board"), b.ID, store.Public)
			return err
		}, true},
		{"delete card", func() error {
			_, err := e.s.DeleteCard(t.Context(), storetest.Call(alice, "delete_card"), card.ID)
			return err
		}, true},
	}
	for _, w := range writes {
		before := revision()
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if moved := revision() != before; moved != w.bumps {
			t.Errorf("%s: revision moved %v, want %v", w.name, moved, w.bumps)
		}
	}
	storetest.MustGet(t, e.s, alice, b.ID)
	if entry, ok := e.s.boards.Lookup(b.ID); !ok || entry.Version() != revision() {
		t.Errorf("cached with revision %v (cached %v), want the database's %d", entry.Version(), ok, revision())
	}
}

// TestBoardCacheReadsBesideWritesAcrossReplicas: readers on replica B race
// a writer on replica A, with nothing to tell B of A's writes; after each
// write is acknowledged, B shows it or a later one, and at the end the
// last. A board cached from before a write and served unchecked, or
// stored by a reader that raced the write, would fail this.
func TestBoardCacheReadsBesideWritesAcrossReplicas(t *testing.T) {
	url := pgtest.Shared(t).NewDatabase(t)
	a, b := newReplica(t, url, noListener), newReplica(t, url, noListener)
	board, card := storetest.BoardWithCard(t, a.s, alice)
	ctx, stop := context.WithCancel(t.Context())
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for ctx.Err() == nil {
				if _, err := b.s.GetBoard(ctx, alice, board.ID); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	const writes = 100
	for i := 1; i <= writes; i++ {
		d := fmt.Sprintf("v%04d", i)
		if _, err := a.s.UpdateCard(t.Context(), storetest.Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &d}); err != nil {
			t.Fatal(err)
		}
		got := storetest.MustGet(t, b.s, alice, board.ID)
		if seen := got.Columns[0].Cards[0].Description; seen < d {
			t.Fatalf("after write %d was acknowledged on A, B shows %q", i, seen)
		}
	}
	stop()
	readers.Wait()
	if got := storetest.MustGet(t, b.s, alice, board.ID); got.Columns[0].Cards[0].Description != fmt.Sprintf("v%04d", writes) {
		t.Errorf("B's final read shows %q", got.Columns[0].Cards[0].Description)
	}
}

// TestBoardCacheOff: a negative budget caches nothing, and reads still
// work.
func TestBoardCacheOff(t *testing.T) {
	e := newEnv(t, Options{BoardCacheBytes: -1})
	storetest.WantNothingCached(t, e.s, alice, func() int { n, _ := e.s.boards.Usage(); return n })
}

// BenchmarkGetBoard50 reads a 50-card board (the load harness's shape)
// from a cache that holds it, where each read is the revision lookup and a
// copy, and with the cache off, where each read assembles the board.
func BenchmarkGetBoard50(b *testing.B) {
	url := pgtest.Shared(b).NewDatabase(b)
	for _, bench := range []struct {
		name  string
		bytes int64
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bench.name, func(b *testing.B) {
			e := envOn(b, url, Options{Now: time.Now, BoardCacheBytes: bench.bytes})
			board, _ := storetest.BenchBoard(b, e.s, alice)
			storetest.MustGet(b, e.s, alice, board.ID)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.s.GetBoard(b.Context(), alice, board.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
