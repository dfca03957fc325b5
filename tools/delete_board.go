package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type deleteBoardArgs struct {
	BoardID string `json:"board_id" arg:"board-id,required" desc:"board"`
	Confirm bool   `json:"confirm" arg:"boolean,required" desc:"Must be true: deleting a board cannot be undone"`
}

type deleteBoardOutput struct {
	Deleted   bool   `json:"deleted"`
	BoardID   string `json:"board_id"`
	Title     string `json:"title"`
	CardCount int    `json:"card_count" jsonschema:"cards deleted with the board"`
}

// DeleteBoard declares delete_board.
func DeleteBoard() Tool {
	return Tool{
		Name:        "delete_board",
		Title:       "Delete a board",
		Description: "Delete one of your boards with all its columns and cards. This cannot be undone; confirm must be true.",
		Output:      mcp.WithOutputSchema[deleteBoardOutput](),
		Effect:      Deletes,
		Requires:    auth.Requirement{Scope: ScopeAdmin},
		Describe:    describeDeleteBoard,
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in deleteBoardArgs) (*Result, error) {
			b, err := s.DeleteBoard(ctx, c.StoreCall(), in.BoardID)
			if err != nil {
				return nil, err
			}
			return &Result{
				Structured: deleteBoardOutput{Deleted: true, BoardID: b.ID, Title: b.Title, CardCount: b.CardCount},
				Summary:    fmt.Sprintf("Deleted board '%s' and its %s.", b.Title, plural(b.CardCount, "card", "cards")),
			}, nil
		}),
	}
}

func (a deleteBoardArgs) validate() error {
	if !a.Confirm {
		return store.Errorf(store.Invalid, "set confirm to true to delete board %s: this deletes all its cards and cannot be undone", a.BoardID)
	}
	return nil
}

// describeDeleteBoard words delete_board's activity row.
func describeDeleteBoard(ch store.Change) string {
	return "deleted board " + quoted(ch.Board) + " (" + plural(ch.Cards, "card", "cards") + ")"
}
