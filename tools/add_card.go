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
				Text:       fmt.Sprintf("Added card '%s' to %s.", card.Title, card.ColumnName),
			}, nil
		}),
	}
}

func (a addCardArgs) validate() error {
	return checkIDs(
		idCheck{name: "board_id", prefix: store.BoardPrefix, value: a.BoardID},
		idCheck{name: "column_id", prefix: store.ColumnPrefix, value: a.ColumnID},
	)
}

// describeAddCard words add_card's activity row.
func describeAddCard(ch store.Change) string {
	return "added card " + quoted(ch.Card) + " to " + ch.Column + " on " + quoted(ch.Board)
}
