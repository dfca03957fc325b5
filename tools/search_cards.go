package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type searchCardsArgs struct {
	Query    string `json:"query" arg:"query,required" desc:"Text to look for; may be empty when board_id, column_id or label narrows the search"`
	BoardID  string `json:"board_id" arg:"board-id" desc:"board to search"`
	ColumnID string `json:"column_id" arg:"column-id" desc:"column to search"`
	Label    string `json:"label" arg:"label" desc:"Only cards with this label"`
	Limit    int    `json:"limit" arg:"limit"`
	Cursor   string `json:"cursor" arg:"cursor"`
}

type searchCardsOutput struct {
	Cards      []foundCardOutput `json:"cards"`
	NextCursor string            `json:"next_cursor,omitempty" jsonschema:"pass as cursor to get the next page; absent on the last page"`
}

// SearchCards declares search_cards.
func SearchCards() Tool {
	return Tool{
		Name:  "search_cards",
		Title: "Search cards",
		Description: "Find cards whose title, description or labels contain the query (case-insensitive). " +
			"Searches your own boards, or one board you can see when board_id is given. Narrow with column_id or label. " +
			"Long descriptions are shown cut (description_truncated); get_card shows a whole card.",
		Output:      mcp.WithOutputSchema[searchCardsOutput](),
		Effect:      Reads,
		Requires:    auth.Requirement{Scope: ScopeRead},
		LargeAnswer: true,
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in searchCardsArgs) (*Result, error) {
			list, err := s.SearchCards(ctx, c.Viewer, store.CardQuery{
				Query: in.Query, BoardID: in.BoardID, ColumnID: in.ColumnID, Label: in.Label,
				Page: store.Page{Limit: in.Limit, Cursor: in.Cursor},
			})
			if err != nil {
				return nil, err
			}
			out := searchCardsOutput{Cards: make([]foundCardOutput, 0, len(list.Cards)), NextCursor: list.NextCursor}
			ids := make([]string, 0, len(list.Cards))
			for _, card := range list.Cards {
				out.Cards = append(out.Cards, foundCardFrom(card))
				ids = append(ids, card.ID)
			}
			text := fmt.Sprintf("Found %s.", plural(len(out.Cards), "card", "cards"))
			if list.NextCursor != "" {
				text = fmt.Sprintf("Found %s on this page; more on the next page.", plural(len(out.Cards), "card", "cards"))
			}
			return &Result{
				Structured: out,
				Summary:    text,
				Activity:   store.Activity{BoardID: in.BoardID, IDs: ids, Summary: "searched cards, " + plural(len(ids), "match", "matches")},
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the IDs, the store the rest.
func (searchCardsArgs) validate() error { return nil }
