// Package storetest is the contract test suite of store.Store: the tests
// that every backend (store/sqlite, store/postgres) must pass, written
// once so that the backends cannot drift apart.
//
// A backend's test calls Run with a function that opens a store of that
// backend on an empty database:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, opts storetest.Options) store.Store {
//			return openOnAnEmptyDatabase(t, opts)
//		})
//	}
//
// The suite sees a store only through store.Store, so it can state only
// what the interface shows. Facts that need a look at the database itself
// (rows left behind, atomicity when a statement fails, migrations) are
// each backend's own tests, which use the suite's exported helpers
// (backends.go) instead of keeping copies.
package storetest

import (
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// Options are what the contract tests vary between the stores they open.
// The open function given to Run passes them on to its backend; a backend
// has no other choice to make for the suite.
type Options struct {
	// Quotas are the limits the store enforces. A zero field means the
	// value of store.DefaultQuotas(), as with every backend's own options.
	Quotas store.Quotas
	// Now is the store's clock, never nil: tests choose the step between
	// readings, down to zero, to get predictable or equal timestamps. The
	// store reads it once per write and once per RecordActivity batch
	// that has rows, and never otherwise, since a test predicts a time
	// from the readings. Its times carry nanoseconds, which the store
	// keeps: what a write returns is what a later read returns.
	Now func() time.Time
}

// Run runs every contract test against one backend, each as a subtest of
// t named after the method it is about ("AddCard/appends").
//
// open opens a new store on an empty database for the test t it is given,
// configured with opts, and fails t when it cannot. The suite closes each
// store it gets exactly once, before t ends; anything else open made (a
// folder, a database) is open's to remove, with t.Cleanup, which runs after
// that Close.
func Run(t *testing.T, open func(t *testing.T, opts Options) store.Store) {
	b := backend{open: open}
	for _, c := range contractTests() {
		t.Run(c.name, func(t *testing.T) { c.test(t, b) })
	}
}

// contractTest is one test of the suite.
type contractTest struct {
	name string
	test func(t *testing.T, b backend)
}

// contractTests lists the suite, grouped by the method each test is about.
func contractTests() []contractTest {
	return []contractTest{
		{"CreateBoard/columns", testCreateBoard},
		{"CreateBoard/invalid", testCreateBoardInvalid},
		{"CreateBoard/anonymous", testCreateBoardAnonymous},
		{"CreateBoard/quota", testCreateBoardQuota},
		{"GetBoard/columns and cards", testGetBoard},
		{"GetBoard/reads your writes", testGetBoardReadsYourWrites},
		{"GetBoard/visibility after the owner's read", testGetBoardVisibilityAfterOwnersRead},
		{"GetBoard/hands out copies", testGetBoardHandsOutCopies},
		{"GetBoard/reads beside writes", testGetBoardReadsBesideWrites},
		{"GetBoard/previews", testBoardReadsCarryPreviews},
		{"Visibility/isolation", testIsolation},
		{"ShareBoard/versions and no-ops", testShareBoard},
		{"DeleteBoard/deletes", testDeleteBoard},
		{"ListBoards/pagination", testListBoardsPagination},
		{"ListBoards/summary", testListBoardsSummary},
		{"Pages/errors", testPageErrors},

		{"AddCard/appends", testAddCard},
		{"AddCard/quota", testAddCardQuota},
		{"AddCard/concurrent", testAddCardConcurrent},
		{"UpdateCard/changes", testUpdateCard},
		{"UpdateCard/unchanged", testUpdateCardUnchanged},
		{"UpdateCard/errors", testUpdateCardErrors},
		{"UpdateCard/concurrent conflict", testUpdateCardConcurrentConflict},
		{"UpdateCard/refuses the preview", testUpdateCardRefusesThePreview},
		{"MoveCard/moves", testMoveCard},
		{"MoveCard/errors", testMoveCardErrors},
		{"MoveCard/shuffle", testMoveCardShuffle},
		{"MoveCard/concurrent writers", testConcurrentWriters},
		{"DeleteCard/closes the gap", testDeleteCard},
		{"GetCard/whole card", testGetCard},
		{"SearchCards/matches", testSearchCards},
		{"SearchCards/pagination", testSearchCardsPagination},

		{"Activity/one row per write", testWriteActivity},
		{"Activity/refused writes record nothing", testFailedWritesRecordNothing},
		{"Activity/writes need Describe", testWritesNeedDescribe},
		{"ListActivity/visibility", testListActivityVisibility},
		{"ListActivity/pagination", testListActivityPagination},
		{"RecordActivity/rows", testRecordActivity},
		{"PruneActivity/cutoff", testPruneActivity},

		{"Close/ping", testPingAndClose},
		{"Close/calls fail after", testCallsAfterClose},
	}
}

// backend opens the stores of one backend for the contract tests.
type backend struct {
	open func(t *testing.T, opts Options) store.Store
}

// env is one store under test.
type env struct {
	s store.Store
}

// newEnv opens a store that t closes when it ends. A nil Now gets a clock
// that steps one millisecond per reading.
func (b backend) newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	s := b.openUnclosed(t, opts)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{s: s}
}

// openUnclosed opens a store that the caller must close, for the tests of
// Close itself.
func (b backend) openUnclosed(t *testing.T, opts Options) store.Store {
	t.Helper()
	if opts.Now == nil {
		opts.Now = NewClock(time.Millisecond).Now
	}
	s := b.open(t, opts)
	if s == nil {
		t.Fatal("open returned no store")
	}
	return s
}
