package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type deleteCardArgs struct {
	CardID string `json:"card_id"`
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
		Input:       []mcp.ToolOption{idArg("card_id", "card (c_…)", true)},
		Output:      mcp.WithOutputSchema[deleteCardOutput](),
		Annotations: Annotations{Destructive: true, Idempotent: true},
		Requires:    auth.Requirement{Scope: auth.ScopeWrite},
		Handle: func(ctx context.Context, s store.Store, c *Call) (*Result, error) {
			var in deleteCardArgs
			if err := c.Bind(&in); err != nil {
				return nil, err
			}
			if err := store.ValidateID("card_id", store.CardPrefix, in.CardID); err != nil {
				return nil, err
			}
			d, err := s.DeleteCard(ctx, store.Call{Actor: c.Viewer, Tool: c.Tool}, in.CardID)
			if err != nil {
				return nil, err
			}
			return &Result{
				Structured: deleteCardOutput{Deleted: true, CardID: d.CardID, BoardID: d.BoardID, ColumnID: d.ColumnID, Title: d.Title},
				Text:       fmt.Sprintf("Deleted card '%s' from %s.", d.Title, d.ColumnName),
				Recorded:   true,
			}, nil
		},
	}
}
