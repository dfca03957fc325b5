package tools

import (
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

// The structured content types. Their JSON shapes are the tools' output
// schemas (generated with mcp.WithOutputSchema), so the two cannot drift.

type BoardOutput struct {
	ID         string         `json:"id"`
	Title      string         `json:"title"`
	Visibility string         `json:"visibility" jsonschema:"private or public"`
	Owned      bool           `json:"owned" jsonschema:"whether the caller owns the board"`
	Version    int64          `json:"version"`
	CardCount  int            `json:"card_count"`
	UpdatedAt  string         `json:"updated_at" jsonschema:"RFC 3339 time"`
	Columns    []ColumnOutput `json:"columns"`
}

type ColumnOutput struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	CardCount int                 `json:"card_count"`
	Cards     []CardSummaryOutput `json:"cards"`
}

// CardSummaryOutput is a card where many are shown at once (a board, a
// search): everything but the whole description, of which it shows a
// preview. It is the one shape of a card in a list, so that what one
// answer can cost is bounded in one place; get_card shows a whole card.
type CardSummaryOutput struct {
	ID                   string   `json:"id"`
	Title                string   `json:"title"`
	Description          string   `json:"description" jsonschema:"the description; when description_truncated, only its beginning, ending in …"`
	DescriptionTruncated bool     `json:"description_truncated" jsonschema:"the description is longer than shown here; get_card returns the whole card"`
	Labels               []string `json:"labels"`
	Position             int      `json:"position" jsonschema:"0-based position in its column"`
	Version              int64    `json:"version" jsonschema:"pass as expected_version to update_card to refuse stale updates"`
}

// foundCardOutput is a card found by a search: its summary and where it is.
type foundCardOutput struct {
	CardSummaryOutput
	BoardID    string `json:"board_id"`
	ColumnID   string `json:"column_id"`
	ColumnName string `json:"column_name"`
}

// cardOutput is a whole card: what get_card shows and what the tools that
// change a card answer with.
type cardOutput struct {
	ID          string   `json:"id"`
	BoardID     string   `json:"board_id"`
	ColumnID    string   `json:"column_id"`
	ColumnName  string   `json:"column_name"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
	Position    int      `json:"position" jsonschema:"0-based position in its column"`
	Version     int64    `json:"version" jsonschema:"pass as expected_version to update_card to refuse stale updates"`
}

type boardSummaryOutput struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Visibility  string `json:"visibility" jsonschema:"private or public"`
	Owned       bool   `json:"owned" jsonschema:"whether the caller owns the board"`
	Version     int64  `json:"version"`
	ColumnCount int    `json:"column_count"`
	CardCount   int    `json:"card_count"`
	UpdatedAt   string `json:"updated_at" jsonschema:"RFC 3339 time"`
}

func boardFrom(b *store.Board) BoardOutput {
	out := BoardOutput{
		ID:         b.ID,
		Title:      b.Title,
		Visibility: string(b.Visibility),
		Owned:      b.Owned,
		Version:    b.Version,
		UpdatedAt:  timestamp(b.UpdatedAt),
		Columns:    make([]ColumnOutput, 0, len(b.Columns)),
	}
	for _, col := range b.Columns {
		c := ColumnOutput{ID: col.ID, Name: col.Name, CardCount: len(col.Cards), Cards: make([]CardSummaryOutput, 0, len(col.Cards))}
		for _, card := range col.Cards {
			c.Cards = append(c.Cards, cardSummaryFrom(card))
		}
		out.CardCount += len(col.Cards)
		out.Columns = append(out.Columns, c)
	}
	return out
}

func cardFrom(c store.Card) cardOutput {
	return cardOutput{
		ID:          c.ID,
		BoardID:     c.BoardID,
		ColumnID:    c.ColumnID,
		ColumnName:  c.ColumnName,
		Title:       c.Title,
		Description: c.Description,
		Labels:      nonNil(c.Labels),
		Position:    c.Position,
		Version:     c.Version,
	}
}

// cardSummaryFrom summarizes a card. The store already returns previews
// where it returns many cards; cutting here as well keeps the bound
// whatever the store does (a preview's preview is itself).
func cardSummaryFrom(c store.Card) CardSummaryOutput {
	description, cut := store.PreviewDescription(c.Description)
	return CardSummaryOutput{
		ID:                   c.ID,
		Title:                c.Title,
		Description:          description,
		DescriptionTruncated: c.DescriptionTruncated || cut,
		Labels:               nonNil(c.Labels),
		Position:             c.Position,
		Version:              c.Version,
	}
}

// foundCardFrom is a search result: the card's summary and its place.
func foundCardFrom(c store.Card) foundCardOutput {
	return foundCardOutput{CardSummaryOutput: cardSummaryFrom(c), BoardID: c.BoardID, ColumnID: c.ColumnID, ColumnName: c.ColumnName}
}

// nonNil makes an absent list an empty one, which JSON shows as [].
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func summaryFrom(b store.BoardSummary) boardSummaryOutput {
	return boardSummaryOutput{
		ID:          b.ID,
		Title:       b.Title,
		Visibility:  string(b.Visibility),
		Owned:       b.Owned,
		Version:     b.Version,
		ColumnCount: b.ColumnCount,
		CardCount:   b.CardCount,
		UpdatedAt:   timestamp(b.UpdatedAt),
	}
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ownerIf returns viewer when owned, so that an activity row about a board
// is readable by the board's owner.
func ownerIf(owned bool, viewer store.Actor) store.Actor {
	if owned {
		return viewer
	}
	return store.Actor{}
}

// widgetHints is the result _meta of a tool the widget renders: whether
// the viewer may change the board, so that the widget can say so up front.
func widgetHints(c *Call, owned bool) map[string]any {
	// The widget changes a board with move_card and add_card, which need
	// ScopeWrite.
	return WidgetResultMeta(c.Principal != nil, owned && c.Grants(ScopeWrite))
}

// WidgetResultMeta is the result _meta that get_board and create_board
// carry for the widget, for a viewer signed in or not who may change the
// board or not. Exported so that the bench's mcp-go floor answers with
// exactly the _meta the server does.
func WidgetResultMeta(signedIn, canWrite bool) map[string]any {
	return widget.ResultMeta(widget.ViewerHints{
		SignedIn:   signedIn,
		CanWrite:   canWrite,
		WriteScope: string(ScopeWrite),
	})
}

// plural formats a count with a singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// quoted puts a name in single quotes, as activity summaries show names.
func quoted(name string) string { return "'" + name + "'" }
