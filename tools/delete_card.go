package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type deleteCardArgs struct {
	CardID string `json:"card_id" arg:"card-id,required" desc:"card"`
}

type deleteCardOutput struct {
	Deleted  bool   `json:"deleted"`
	CardID   string `json:"card_id"`
	BoardID  string `json:"board_id"`
	ColumnID string `json:"column_id"`
	Title    string `json:"title"`
}

// DeleteCard declares delete_card.
func DeleteCard() Tool {
	return Tool{
		Name:        "delete_card",
		Title:       "Delete a card",
		Description: "Delete a card from one of your boards. This cannot be undone.",
		Output:      mcp.WithOutputSchema[deleteCardOutput](),
		Effect:      Deletes,
		Requires:    auth.Requirement{Scope: ScopeWrite},
		Describe:    describeDeleteCard,
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in deleteCardArgs) (*Result, error) {
			d, err := s.DeleteCard(ctx, c.StoreCall(), in.CardID)
			if err != nil {
				return nil, err
			}
			return &Result{
				Structured: deleteCardOutput{Deleted: true, CardID: d.CardID, BoardID: d.BoardID, ColumnID: d.ColumnID, Title: d.Title},
				Summary:    fmt.Sprintf("Deleted card '%s' from %s.", d.Title, d.ColumnName),
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the ID.
func (deleteCardArgs) validate() error { return nil }

// describeDeleteCard words delete_card's activity row.
func describeDeleteCard(ch store.Change) string {
	return "deleted card " + quoted(ch.Card) + " from " + ch.Column
}
