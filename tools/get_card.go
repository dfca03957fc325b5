package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type getCardArgs struct {
	CardID string `json:"card_id" arg:"card-id,required" desc:"card"`
}

// GetCard declares get_card.
func GetCard() Tool {
	return Tool{
		Name:  "get_card",
		Title: "Show a card",
		Description: "Show one card whole, with its full description (get_board and search_cards cut long ones). " +
			"Cards on public boards are visible to anyone; cards on private boards only to the board's owner.",
		Output:   mcp.WithOutputSchema[cardOutput](),
		Effect:   Reads,
		Requires: auth.Requirement{Anonymous: true, Scope: ScopeRead},
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in getCardArgs) (*Result, error) {
			v, err := s.GetCard(ctx, c.Viewer, in.CardID)
			if err != nil {
				return nil, err
			}
			card := v.Card
			return &Result{
				Structured: cardFrom(card),
				Summary:    fmt.Sprintf("Card '%s' in %s on board '%s' (version %d).", card.Title, card.ColumnName, v.BoardTitle, card.Version),
				Activity: store.Activity{
					BoardID:    card.BoardID,
					IDs:        []string{card.BoardID, card.ID},
					Summary:    fmt.Sprintf("viewed card '%s' on board '%s'", card.Title, v.BoardTitle),
					BoardOwner: ownerIf(v.Owned, c.Viewer),
				},
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the ID.
func (getCardArgs) validate() error { return nil }
