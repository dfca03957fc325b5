package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// The exported helpers must fail a test when they should, or the tests
// that use them would pass whatever the store does.

// recorder is a testing.TB that records failures instead of failing:
// Fatalf does not stop the helper, which then goes on to its end.
type recorder struct {
	testing.TB // the real test, for Context and Helper
	failures   []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// fakeStore answers CreateBoard, AddCard and GetBoard with board, or
// fails them when board is nil; it has no other method.
type fakeStore struct {
	store.Store
	board *store.Board
}

func (f fakeStore) result() (*store.Board, error) {
	if f.board == nil {
		return nil, errors.New("disk on fire")
	}
	return f.board, nil
}

func (f fakeStore) CreateBoard(context.Context, store.Call, string, []string) (*store.Board, error) {
	return f.result()
}

func (f fakeStore) GetBoard(context.Context, store.Actor, string) (*store.Board, error) {
	return f.result()
}

func (f fakeStore) AddCard(context.Context, store.Call, store.NewCard) (*store.Card, error) {
	if _, err := f.result(); err != nil {
		return nil, err
	}
	return &store.Card{ID: "c_1"}, nil
}

func TestHelpersFail(t *testing.T) {
	broken := fakeStore{}
	old := fakeStore{board: &store.Board{ID: "b_1", CreatedAt: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Columns: []store.Column{{ID: "col_1"}}}}
	for name, tt := range map[string]struct {
		check func(t testing.TB)
		fails bool
	}{
		"WantCode of no error":                    {func(t testing.TB) { WantCode(t, nil, store.Invalid) }, true},
		"WantCode of another code":                {func(t testing.TB) { WantCode(t, store.Errorf(store.NotFound, "x"), store.Invalid) }, true},
		"WantCode of the code":                    {func(t testing.TB) { WantCode(t, store.Errorf(store.Invalid, "x"), store.Invalid) }, false},
		"WantInfraError of no error":              {func(t testing.TB) { WantInfraError(t, nil) }, true},
		"WantInfraError of a domain error":        {func(t testing.TB) { WantInfraError(t, store.Errorf(store.Invalid, "x")) }, true},
		"WantInfraError of an infrastructure one": {func(t testing.TB) { WantInfraError(t, errors.New("x")) }, false},
		"Diff of different values":                {func(t testing.TB) { Diff(t, "n", 1, 2) }, true},
		"Diff of equal values":                    {func(t testing.TB) { Diff(t, "n", 1, 1) }, false},
		"MustBoard on a broken store":             {func(t testing.TB) { MustBoard(t, broken, alice, "x") }, true},
		"MustCard on a broken store":              {func(t testing.TB) { MustCard(t, broken, alice, store.NewCard{}) }, true},
		"MustGet on a broken store":               {func(t testing.TB) { MustGet(t, broken, alice, "b_1") }, true},
		"BoardWithCard":                           {func(t testing.TB) { BoardWithCard(t, old, alice) }, false},
		"WantRealClock of an old board":           {func(t testing.TB) { WantRealClock(t, old, alice) }, true},
		"WantRealClock of a board made now": {func(t testing.TB) {
			WantRealClock(t, fakeStore{board: &store.Board{CreatedAt: time.Now()}}, alice)
		}, false},
	} {
		r := &recorder{TB: t}
		tt.check(r)
		if failed := len(r.failures) > 0; failed != tt.fails {
			t.Errorf("%s: failed %v (%q), want %v", name, failed, r.failures, tt.fails)
		}
	}
}

func TestCallAndClock(t *testing.T) {
	ch := store.Change{BoardID: "b_1", Board: "Launch", Columns: 3}
	if got := Call(alice, "no_such_tool").Describe(ch); got != "no_such_tool b_1" {
		t.Errorf("the plain wording is %q", got)
	}
	if got := Call(alice, "create_board").Describe(ch); got == "create_board b_1" {
		t.Errorf("create_board is worded plainly (%q), not as the tool words it", got)
	}
	c := NewClock(time.Second)
	if a, b := c.Now(), c.Now(); b.Sub(a) != time.Second || a.Nanosecond() == 0 {
		t.Errorf("readings %v and %v, want one second apart and with nanoseconds", a, b)
	}
}
