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
	CardID   string `json:"card_id"`
	ColumnID string `json:"column_id"`
	Position *int   `json:"position"`
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
		Input: []mcp.ToolOption{
			idArg("card_id", "card (c_…)", true),
			idArg("column_id", "destination column (col_…)", true),
			mcp.WithInteger("position", mcp.Description("0-based position in the destination column; past the end means the end"), minimum(0)),
		},
		Output:      mcp.WithOutputSchema[moveCardOutput](),
		Annotations: Annotations{Idempotent: true},
		Requires:    auth.Requirement{Scope: ScopeWrite},
		Describe:    describeMoveCard,
		Meta:        widget.CallableMeta(),
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
				Text:       text,
			}, nil
		}),
	}
}

func (a moveCardArgs) validate() error {
	return checkIDs(
		idCheck{name: "card_id", prefix: store.CardPrefix, value: a.CardID},
		idCheck{name: "column_id", prefix: store.ColumnPrefix, value: a.ColumnID},
	)
}

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
