package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type searchCardsArgs struct {
	Query    string `json:"query"`
	BoardID  string `json:"board_id"`
	ColumnID string `json:"column_id"`
	Label    string `json:"label"`
	Limit    int    `json:"limit"`
	Cursor   string `json:"cursor"`
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
		Input: append([]mcp.ToolOption{
			mcp.WithString("query", mcp.Required(), mcp.MaxLength(store.MaxQueryLen),
				mcp.Description("Text to look for; may be empty when board_id, column_id or label narrows the search")),
			idArg("board_id", "board to search (b_…)", false),
			idArg("column_id", "column to search (col_…)", false),
			mcp.WithString("label", mcp.MaxLength(store.MaxLabelLen), mcp.Description("Only cards with this label")),
		}, pageArgs()...),
		Output:      mcp.WithOutputSchema[searchCardsOutput](),
		Annotations: Annotations{ReadOnly: true, Idempotent: true},
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
				Text:       text,
				Activity:   store.Activity{BoardID: in.BoardID, IDs: ids, Summary: "searched cards, " + plural(len(ids), "match", "matches")},
			}, nil
		}),
	}
}

func (a searchCardsArgs) validate() error {
	return checkIDs(
		idCheck{name: "board_id", prefix: store.BoardPrefix, value: a.BoardID, optional: true},
		idCheck{name: "column_id", prefix: store.ColumnPrefix, value: a.ColumnID, optional: true},
	)
}
