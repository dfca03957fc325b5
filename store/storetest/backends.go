package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// The helpers of the suite that each backend's own tests (of what only
// its database shows) use too. They are exported so that there is one of
// each rather than a copy per backend; they see a store only through
// store.Store.

// Call is the Call of a write by a through tool, worded as that tool's
// declaration words its activity rows, so that tests check the rows the
// server really writes (a tool name no declaration has gets a plain
// wording: the tool and the board ID).
func Call(a store.Actor, tool string) store.Call {
	describe := func(ch store.Change) string { return tool + " " + ch.BoardID }
	for _, d := range tools.All() {
		if d.Name == tool && d.Describe != nil {
			describe = d.Describe
		}
	}
	return store.Call{Actor: a, Tool: tool, Describe: describe}
}

// Clock is a fake clock that moves by step on every reading; step 0 gives
// every write the same timestamp, which exercises ID tie-breaking. Its
// start has nanoseconds, so a store that rounds times is caught.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

// NewClock returns a Clock that moves by step on every reading.
func NewClock(step time.Duration) *Clock {
	return &Clock{t: time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC), step: step}
}

// Now moves the clock by its step and returns the time; it is safe for
// concurrent use, as a store's clock must be.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// WantCode fails unless err is a store error with code want.
func WantCode(t testing.TB, err error, want store.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one with code %q", want)
	}
	if got := store.ErrorCode(err); got != want {
		t.Fatalf("error %q has code %q, want %q", err, got, want)
	}
}

// WantInfraError fails unless err is an infrastructure error, that is, not
// nil and not a store error.
func WantInfraError(t testing.TB, err error) {
	t.Helper()
	var se *store.Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("got error %v, want an infrastructure error", err)
	}
}

// Diff reports a cmp.Diff as (-want +got).
func Diff(t testing.TB, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// MustBoard creates a board in s or fails the test.
func MustBoard(t testing.TB, s store.Store, owner store.Actor, title string, columns ...string) *store.Board {
	t.Helper()
	b, err := s.CreateBoard(t.Context(), Call(owner, "create_board"), title, columns)
	if err != nil {
		t.Fatalf("CreateBoard(%q): %v", title, err)
	}
	return b
}

// MustCard adds a card in s or fails the test.
func MustCard(t testing.TB, s store.Store, owner store.Actor, in store.NewCard) *store.Card {
	t.Helper()
	c, err := s.AddCard(t.Context(), Call(owner, "add_card"), in)
	if err != nil {
		t.Fatalf("AddCard(%q): %v", in.Title, err)
	}
	return c
}

// MustGet reads a board from s or fails the test.
func MustGet(t testing.TB, s store.Store, viewer store.Actor, id string) *store.Board {
	t.Helper()
	b, err := s.GetBoard(t.Context(), viewer, id)
	if err != nil {
		t.Fatalf("GetBoard(%s): %v", id, err)
	}
	return b
}

// BoardWithCard makes owner a private board in s with one labelled card
// in its first column.
func BoardWithCard(t testing.TB, s store.Store, owner store.Actor) (*store.Board, *store.Card) {
	t.Helper()
	b := MustBoard(t, s, owner, "Cached")
	card := MustCard(t, s, owner, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "card", Labels: []string{"x"}})
	return b, card
}

// WantRealClock fails unless s times a write by owner now: for a
// backend's test that a store opened without a clock uses the real one.
func WantRealClock(t testing.TB, s store.Store, owner store.Actor) {
	t.Helper()
	b := MustBoard(t, s, owner, "Now")
	if d := time.Since(b.CreatedAt); d < 0 || d > time.Minute {
		t.Errorf("CreatedAt %v is not now", b.CreatedAt)
	}
}

// BenchBoard makes owner a board in s with 50 cards over its 3 columns,
// the load harness's shape, for the backends' benchmarks to read and
// change; it returns the board as created and its cards.
func BenchBoard(tb testing.TB, s store.Store, owner store.Actor) (*store.Board, []*store.Card) {
	tb.Helper()
	board := MustBoard(tb, s, owner, "Bench")
	cards := make([]*store.Card, 50)
	for i := range cards {
		cards[i] = MustCard(tb, s, owner, store.NewCard{
			BoardID: board.ID, ColumnID: board.Columns[i%3].ID,
			Title: fmt.Sprintf("Card %d", i), Description: "A description of moderate length.", Labels: []string{"bench"},
		})
	}
	return board, cards
}

// WantNothingCached fails unless s, a store whose board cache is off,
// reads a board of owner's right each time and leaves cachedBoards (the
// backend's count of cached boards) at zero.
func WantNothingCached(t testing.TB, s store.Store, owner store.Actor, cachedBoards func() int) {
	t.Helper()
	b, _ := BoardWithCard(t, s, owner)
	for range 2 {
		if got := MustGet(t, s, owner, b.ID); len(got.Columns[0].Cards) != 1 {
			t.Fatalf("board %+v, want its card", got)
		}
	}
	if n := cachedBoards(); n != 0 {
		t.Errorf("%d boards cached with the cache off", n)
	}
}
