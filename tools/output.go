package tools

import (
	"time"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

// The structured content types. Their JSON shapes are the tools' output
// schemas (generated with mcp.WithOutputSchema), so the two cannot drift.

type boardOutput struct {
	ID         string         `json:"id"`
	Title      string         `json:"title"`
	Visibility string         `json:"visibility" jsonschema:"private or public"`
	Owned      bool           `json:"owned" jsonschema:"whether the caller owns the board"`
	Version    int64          `json:"version"`
	CardCount  int            `json:"card_count"`
	UpdatedAt  string         `json:"updated_at" jsonschema:"RFC 3339 time"`
	Columns    []columnOutput `json:"columns"`
}

type columnOutput struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	CardCount int          `json:"card_count"`
	Cards     []cardOutput `json:"cards"`
}

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

func boardFrom(b *store.Board) boardOutput {
	out := boardOutput{
		ID:         b.ID,
		Title:      b.Title,
		Visibility: string(b.Visibility),
		Owned:      b.Owned,
		Version:    b.Version,
		UpdatedAt:  timestamp(b.UpdatedAt),
		Columns:    make([]columnOutput, 0, len(b.Columns)),
	}
	for _, col := range b.Columns {
		c := columnOutput{ID: col.ID, Name: col.Name, CardCount: len(col.Cards), Cards: make([]cardOutput, 0, len(col.Cards))}
		for _, card := range col.Cards {
			c.Cards = append(c.Cards, cardFrom(card))
		}
		out.CardCount += len(col.Cards)
		out.Columns = append(out.Columns, c)
	}
	return out
}

func cardFrom(c store.Card) cardOutput {
	labels := c.Labels
	if labels == nil {
		labels = []string{}
	}
	return cardOutput{
		ID:          c.ID,
		BoardID:     c.BoardID,
		ColumnID:    c.ColumnID,
		ColumnName:  c.ColumnName,
		Title:       c.Title,
		Description: c.Description,
		Labels:      labels,
		Position:    c.Position,
		Version:     c.Version,
	}
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
	p := c.Principal
	return widget.ResultMeta(widget.ViewerHints{
		SignedIn:   p != nil,
		CanWrite:   owned && p != nil && p.Scopes.Allow(auth.ScopeWrite),
		WriteScope: string(auth.ScopeWrite),
	})
}

// plural formats a count with a singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}
