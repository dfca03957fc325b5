package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

type moveCardArgs struct {
	CardID   string `json:"card_id" arg:"card-id,required" desc:"card"`
	ColumnID string `json:"column_id" arg:"column-id,required" desc:"destination column"`
	Position *int   `json:"position" arg:"integer,min=0" desc:"0-based position in the destination column; past the end means the end"`
}

type moveCardOutput struct {
	Card         cardOutput `json:"card"`
	FromColumnID string     `json:"from_column_id"`
	FromPosition int        `json:"from_position"`
	Moved        bool       `json:"moved" jsonschema:"false when the card already was there"`
}

// MoveCard declares move_card.
func MoveCard() Tool {
	return Tool{
		Name:        "move_card",
		Title:       "Move a card",
		Description: "Move a card to a column of the same board, at a 0-based position (default: the end).",
		Output:      mcp.WithOutputSchema[moveCardOutput](),
		// UpdatesInPlace: a move loses nothing (the card keeps every field,
		// and can be moved back), so it is not destructive; moving it to
		// where it already is changes nothing (idempotent).
		Effect:   UpdatesInPlace,
		Requires: auth.Requirement{Scope: ScopeWrite},
		Describe: describeMoveCard,
		Meta:     widget.CallableMeta(),
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in moveCardArgs) (*Result, error) {
			m, err := s.MoveCard(ctx, c.StoreCall(), in.CardID, in.ColumnID, in.Position)
			if err != nil {
				return nil, err
			}
			text := fmt.Sprintf("Moved card '%s' from %s to %s (position %d).", m.Card.Title, m.FromColumnName, m.Card.ColumnName, m.Card.Position)
			if !m.Moved {
				text = fmt.Sprintf("Card '%s' already is in %s at position %d; nothing changed.", m.Card.Title, m.Card.ColumnName, m.Card.Position)
			}
			return &Result{
				Structured: moveCardOutput{Card: cardFrom(m.Card), FromColumnID: m.FromColumnID, FromPosition: m.FromPosition, Moved: m.Moved},
				Summary:    text,
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the IDs, the store the
// position.
func (moveCardArgs) validate() error { return nil }

// describeMoveCard words move_card's activity row.
func describeMoveCard(ch store.Change) string {
	switch {
	case ch.Unchanged:
		return fmt.Sprintf("card %s already in %s at position %d", quoted(ch.Card), ch.Column, ch.From)
	case ch.FromColumn == "":
		return fmt.Sprintf("moved card %s in %s from position %d to %d", quoted(ch.Card), ch.Column, ch.From, ch.To)
	}
	return fmt.Sprintf("moved card %s from %s to %s", quoted(ch.Card), ch.FromColumn, ch.Column)
}
