package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type updateCardArgs struct {
	CardID          string    `json:"card_id" arg:"card-id,required" desc:"card"`
	Title           *string   `json:"title" arg:"title" desc:"New title"`
	Description     *string   `json:"description" arg:"description"`
	Labels          *[]string `json:"labels" arg:"labels" desc:"New labels; replaces all current labels"`
	ExpectedVersion *int64    `json:"expected_version" arg:"integer,min=1" desc:"The version you last read; the update is refused if the card has changed since"`
}

// UpdateCard declares update_card.
func UpdateCard() Tool {
	return Tool{
		Name:  "update_card",
		Title: "Update a card",
		Description: "Change a card's title, description or labels (labels replace the old set). " +
			"Pass expected_version (the card's version from get_board) to refuse the change if someone else changed the card first.",
		Output: mcp.WithOutputSchema[cardOutput](),
		// Overwrites: the title, description or labels it sets replace the
		// old ones, which are gone (destructive); sending the same values
		// again changes nothing (idempotent).
		Effect:   Overwrites,
		Requires: auth.Requirement{Scope: ScopeWrite},
		Describe: describeUpdateCard,
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in updateCardArgs) (*Result, error) {
			card, err := s.UpdateCard(ctx, c.StoreCall(), store.CardUpdate{
				CardID: in.CardID, Title: in.Title, Description: in.Description, Labels: in.Labels, ExpectedVersion: in.ExpectedVersion,
			})
			if err != nil {
				return nil, err
			}
			return &Result{
				Structured: cardFrom(*card),
				Summary:    fmt.Sprintf("Updated card '%s' (now version %d).", card.Title, card.Version),
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the ID, the store the rest.
func (updateCardArgs) validate() error { return nil }

// describeUpdateCard words update_card's activity row.
func describeUpdateCard(ch store.Change) string {
	if ch.Unchanged {
		return "card " + quoted(ch.Card) + " already as requested; nothing changed"
	}
	s := "updated card " + quoted(ch.Card) + " (" + strings.Join(ch.Fields, ", ") + ")"
	if ch.FormerCard != "" {
		s += ", formerly " + quoted(ch.FormerCard)
	}
	return s
}
