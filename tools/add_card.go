package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

type addCardArgs struct {
	BoardID     string   `json:"board_id" arg:"board-id,required" desc:"board"`
	ColumnID    string   `json:"column_id" arg:"column-id,required" desc:"column to add the card to"`
	Title       string   `json:"title" arg:"title,required" desc:"Card title"`
	Description string   `json:"description" arg:"description"`
	Labels      []string `json:"labels" arg:"labels" desc:"Labels, e.g. bug or urgent"`
}

// AddCard declares add_card.
func AddCard() Tool {
	return Tool{
		Name:        "add_card",
		Title:       "Add a card",
		Description: "Add a card at the end of a column on one of your boards.",
		Output:      mcp.WithOutputSchema[cardOutput](),
		Effect:      Creates,
		Requires:    auth.Requirement{Scope: ScopeWrite},
		Describe:    describeAddCard,
		Meta:        widget.CallableMeta(),
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in addCardArgs) (*Result, error) {
			card, err := s.AddCard(ctx, c.StoreCall(), store.NewCard{
				BoardID: in.BoardID, ColumnID: in.ColumnID, Title: in.Title, Description: in.Description, Labels: in.Labels,
			})
			if err != nil {
				return nil, err
			}
			return &Result{
				Structured: cardFrom(*card),
				Summary:    fmt.Sprintf("Added card '%s' to %s.", card.Title, card.ColumnName),
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the IDs, the store the rest.
func (addCardArgs) validate() error { return nil }

// describeAddCard words add_card's activity row.
func describeAddCard(ch store.Change) string {
	return "added card " + quoted(ch.Card) + " to " + ch.Column + " on " + quoted(ch.Board)
}
