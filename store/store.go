// Package store defines the kanban data model and the narrow interface that
// the MCP tools use to read and change it.
//
// The package knows boards, columns, cards and the activity trail, and
// nothing of tokens or HTTP: callers identify themselves with an Actor, which
// is plain data. The implementations live in store/sqlite and
// store/postgres; store/storetest holds the contract tests that every
// implementation passes.
//
// What the implementations share apart from SQL lives here, once: the
// checks of a call's input before any query (validate.go, Check… in
// writes.go and search.go), what a write makes of what it read, the cards
// it shifts and the Change it reports (writes.go), the errors of what is
// not found (errors.go), how a search matches a card (search.go),
// previews (preview.go), page cursors (cursor.go) and the encoding of
// times (time.go).
package store

import (
	"context"
	"time"
)

// Store is everything the tools need from persistent storage.
//
// Reads take the Actor whose view is wanted: an anonymous Actor sees public
// boards only; a signed-in one sees public boards and its own. A private
// board that is not the viewer's is reported as not found, exactly like a
// board that does not exist, so that existence never leaks.
//
// Writes take a Call and commit their activity row in the same transaction
// as the change itself: a write whose activity row cannot be written does not
// happen, and a write that returns without error is durable. Writes change
// only boards the actor owns; any other board is reported as not found.
type Store interface {
	// ListBoards lists the boards that viewer may see, oldest first:
	// public boards, and for a signed-in viewer also its own.
	ListBoards(ctx context.Context, viewer Actor, page Page) (BoardList, error)
	// GetBoard returns a board with its columns and their cards in order.
	// Card descriptions are previews (PreviewDescription), so that one
	// board costs a bounded amount however long its descriptions are;
	// GetCard returns a whole card.
	GetBoard(ctx context.Context, viewer Actor, boardID string) (*Board, error)
	// GetCard returns one whole card on a board that viewer may see, with
	// the board's title. A card on someone else's private board is not
	// found, exactly like a card that does not exist.
	GetCard(ctx context.Context, viewer Actor, cardID string) (*CardView, error)
	// SearchCards finds cards on the viewer's own boards (or on the one
	// board q.BoardID, when the viewer may see it) whose title, description
	// or labels contain q.Query, case-insensitively. It matches the whole
	// description and returns previews of the descriptions, as GetBoard.
	SearchCards(ctx context.Context, viewer Actor, q CardQuery) (CardList, error)
	// ListActivity returns activity rows newest first: rows the viewer made,
	// and rows recorded against boards the viewer owned at the time. With
	// boardID set, only rows of that board.
	ListActivity(ctx context.Context, viewer Actor, boardID string, page Page) (ActivityList, error)

	// CreateBoard creates a private board owned by c.Actor with the given
	// column names, in order.
	CreateBoard(ctx context.Context, c Call, title string, columns []string) (*Board, error)
	// AddCard appends a card to the end of a column.
	AddCard(ctx context.Context, c Call, in NewCard) (*Card, error)
	// UpdateCard changes the fields that are set in in. When
	// in.ExpectedVersion is set and differs from the card's version, nothing
	// changes and the error has code Conflict. Fields set to the value they
	// already have do not count: an update that changes nothing keeps the
	// version, so repeating it is harmless.
	UpdateCard(ctx context.Context, c Call, in CardUpdate) (*Card, error)
	// MoveCard moves a card to a column of the same board, at a 0-based
	// position (nil means the end; past the end is clamped to the end).
	// Moving a card to where it already is changes nothing and succeeds.
	MoveCard(ctx context.Context, c Call, cardID, columnID string, position *int) (*CardMove, error)
	// DeleteCard deletes a card and closes the gap in its column.
	DeleteCard(ctx context.Context, c Call, cardID string) (*DeletedCard, error)
	// ShareBoard sets a board's visibility; setting the one it has changes
	// nothing (not even the version).
	ShareBoard(ctx context.Context, c Call, boardID string, v Visibility) (*BoardSummary, error)
	// DeleteBoard deletes a board with all its columns and cards.
	DeleteBoard(ctx context.Context, c Call, boardID string) (*BoardSummary, error)

	// RecordActivity appends activity rows that are not tied to a write
	// (reads, denials, failures) in one transaction. The audit queue calls it
	// with batches.
	RecordActivity(ctx context.Context, rows []Activity) error
	// PruneActivity deletes activity rows recorded before cutoff and reports
	// how many it deleted.
	PruneActivity(ctx context.Context, cutoff time.Time) (int64, error)

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Actor identifies who acts: a user (issuer + subject) through an agent
// (client ID). The zero Actor is anonymous.
type Actor struct {
	Issuer   string
	Subject  string
	ClientID string
}

// Anonymous reports whether a is nobody in particular.
func (a Actor) Anonymous() bool { return a.Subject == "" }

// Is reports whether a is the signed-in person (issuer, subject), such as
// a board's owner as a backend stored it. The anonymous Actor is nobody,
// so it owns nothing even where an owner's subject were empty.
func (a Actor) Is(issuer, subject string) bool {
	return !a.Anonymous() && a.Issuer == issuer && a.Subject == subject
}

// Call is the context of a write: who makes it and through which tool. It is
// what the activity row of the write records.
type Call struct {
	Actor Actor
	Tool  string
	// Describe words what a write changed as the summary of its activity
	// row, which the store commits in the write's transaction. The tool
	// that makes the write supplies it, so no audit wording lives in a
	// storage backend; every write needs one.
	Describe func(Change) string
}

// Change is what one write changed, as the store reports it for the
// write's activity row (Call.Describe words it). Fields a write has no use
// for stay zero.
type Change struct {
	BoardID string   // the board the write concerned
	IDs     []string // every board, column and card ID it touched
	// Unchanged says the write found everything as requested and changed
	// nothing (the idempotent repeat of an update, a move or a share).
	Unchanged  bool
	Board      string     // the board's title (as it was, for a deleted board)
	Card       string     // the card's title after the write
	FormerCard string     // the card's title before, when the write renamed it
	Column     string     // the card's column after the write (before, for a deleted card)
	FromColumn string     // the column a move took the card from, when it changed
	From, To   int        // the card's positions before and after a move
	Fields     []string   // what an update changed: title, description, labels
	Columns    int        // columns of a created board
	Cards      int        // cards of a deleted board
	Visibility Visibility // a shared board's visibility
}

// Visibility says who may read a board.
type Visibility string

// The visibilities a board can have.
const (
	Private Visibility = "private" // only the owner
	Public  Visibility = "public"  // anyone, even anonymous callers; only the owner may change it
)

// Board is a board with its columns and cards.
type Board struct {
	ID         string
	Title      string
	Visibility Visibility
	Owned      bool // the viewer owns it
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Columns    []Column
}

// Column is a list of cards on a board, cards in position order.
type Column struct {
	ID       string
	Name     string
	Position int
	Cards    []Card
}

// Card is one card. Position is 0-based within its column.
type Card struct {
	ID         string
	BoardID    string
	ColumnID   string
	ColumnName string
	Title      string
	// Description is the whole text, or, on cards that GetBoard and
	// SearchCards return, its preview: see DescriptionTruncated.
	Description string
	// DescriptionTruncated says that Description is the preview of a
	// longer text, which GetCard returns.
	DescriptionTruncated bool
	Labels               []string
	Position             int
	Version              int64
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// CardView is what GetCard returns: a whole card, the title of its board,
// and whether the viewer owns that board.
type CardView struct {
	Card       Card
	BoardTitle string
	Owned      bool
}

// BoardSummary describes a board without its cards.
type BoardSummary struct {
	ID          string
	Title       string
	Visibility  Visibility
	Owned       bool
	Version     int64
	ColumnCount int
	CardCount   int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// BoardList is one page of boards.
type BoardList struct {
	Boards     []BoardSummary
	NextCursor string // empty on the last page
}

// NewCard is the input of AddCard.
type NewCard struct {
	BoardID     string
	ColumnID    string
	Title       string
	Description string
	Labels      []string
}

// CardUpdate is the input of UpdateCard. Nil fields stay as they are; Labels
// replaces the whole label set when not nil.
type CardUpdate struct {
	CardID          string
	Title           *string
	Description     *string
	Labels          *[]string
	ExpectedVersion *int64
}

// CardMove is the result of MoveCard.
type CardMove struct {
	Card           Card
	FromColumnID   string
	FromColumnName string
	FromPosition   int
	Moved          bool // false when the card already was there
}

// DeletedCard is the result of DeleteCard.
type DeletedCard struct {
	CardID     string
	BoardID    string
	ColumnID   string
	Title      string
	ColumnName string
}

// CardQuery is the input of SearchCards. Query may be empty when a filter
// is set.
type CardQuery struct {
	Query    string
	BoardID  string
	ColumnID string
	Label    string
	Page     Page
}

// CardList is one page of cards.
type CardList struct {
	Cards      []Card
	NextCursor string
}

// Page asks for one page of a list. A zero Limit means DefaultPageSize; an
// empty Cursor means the first page. Cursors are opaque strings returned by
// the previous page.
type Page struct {
	Limit  int
	Cursor string
}

// Outcome is how a tool call ended, as recorded in the activity trail.
type Outcome string

// The outcomes an activity row can record.
const (
	OutcomeOK                Outcome = "ok"
	OutcomeUnauthenticated   Outcome = "unauthenticated"
	OutcomeInsufficientScope Outcome = "insufficient_scope"
	OutcomeInvalidInput      Outcome = "invalid_input"
	OutcomeNotFound          Outcome = "not_found"
	OutcomeConflict          Outcome = "conflict"
	OutcomeQuota             Outcome = "quota"
	OutcomeError             Outcome = "error"
)

// Outcomes lists every outcome of a tool call, for metrics that show each
// from the start.
func Outcomes() []Outcome {
	return []Outcome{OutcomeOK, OutcomeUnauthenticated, OutcomeInsufficientScope, OutcomeInvalidInput,
		OutcomeNotFound, OutcomeConflict, OutcomeQuota, OutcomeError}
}

// Activity is one row of the audit trail: what one tool call did.
//
// Summary may name boards, columns and cards, but never holds argument
// dumps or tokens. Rows of denied and not-found calls keep only the IDs the
// caller supplied.
type Activity struct {
	ID      int64 // assigned by the store
	At      time.Time
	Tool    string
	Outcome Outcome
	Actor   Actor
	BoardID string   // the board the call concerned, if any
	IDs     []string // every board, column and card ID the call touched or named
	Summary string
	// BoardOwner is the owner of BoardID when the caller owns that board
	// (every write, and reads of one's own boards); it lets the owner read
	// the row. Zero otherwise, so rows about other people's boards stay
	// with the caller who made them.
	BoardOwner Actor
}

// ActivityList is one page of activity.
type ActivityList struct {
	Activity   []Activity
	NextCursor string
}
