package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type addCardArgs struct {
	BoardID     string   `json:"board_id"`
	ColumnID    string   `json:"column_id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
}

// AddCard declares add_card.
func AddCard() Tool {
	return Tool{
		Name:        "add_card",
		Title:       "Add a card",
		Description: "Add a card at the end of a column on one of your boards.",
		Input: []mcp.ToolOption{
			idArg("board_id", "board (b_…)", true),
			idArg("column_id", "column to add the card to (col_…)", true),
			titleArg("title", "Card title", true),
			descriptionArg(),
			labelsArg("Labels, e.g. bug or urgent"),
		},
		Output:      mcp.WithOutputSchema[cardOutput](),
		Annotations: Annotations{Destructive: false},
		Requires:    auth.Requirement{Scope: auth.ScopeWrite},
		Handle: func(ctx context.Context, s store.Store, c *Call) (*Result, error) {
			var in addCardArgs
			if err := c.Bind(&in); err != nil {
				return nil, err
			}
			if err := store.ValidateID("board_id", store.BoardPrefix, in.BoardID); err != nil {
				return nil, err
			}
			if err := store.ValidateID("column_id", store.ColumnPrefix, in.ColumnID); err != nil {
				return nil, err
			}
			card, err := s.AddCard(ctx, store.Call{Actor: c.Viewer, Tool: c.Tool}, store.NewCard{
				BoardID: in.BoardID, ColumnID: in.ColumnID, Title: in.Title, Description: in.Description, Labels: in.Labels,
			})
			if err != nil {
				return nil, err
			}
			return &Result{
				Structured: cardFrom(*card),
				Text:       fmt.Sprintf("Added card '%s' to %s.", card.Title, card.ColumnName),
				Recorded:   true,
			}, nil
		},
	}
}
