package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

type getBoardArgs struct {
	BoardID string `json:"board_id" arg:"board-id,required" desc:"board"`
}

// GetBoard declares get_board.
func GetBoard() Tool {
	return Tool{
		Name:  "get_board",
		Title: "Show a board",
		Description: "Show one board with its columns and their cards in order: each card's title, labels, position, version and description, " +
			"long descriptions cut (description_truncated; get_card shows a whole card). Public boards are visible to anyone; private boards only to their owner.",
		Output:      mcp.WithOutputSchema[BoardOutput](),
		Effect:      Reads,
		Requires:    auth.Requirement{Anonymous: true, Scope: ScopeRead},
		LargeAnswer: true,
		Meta:        widget.TemplateMeta("Opening the board…", "Board shown"),
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in getBoardArgs) (*Result, error) {
			b, err := s.GetBoard(ctx, c.Viewer, in.BoardID)
			if err != nil {
				return nil, err
			}
			out := boardFrom(b)
			return &Result{
				Structured: out,
				Summary:    BoardSummary(out),
				Activity: store.Activity{
					BoardID:    b.ID,
					IDs:        []string{b.ID},
					Summary:    fmt.Sprintf("viewed board '%s'", b.Title),
					BoardOwner: ownerIf(b.Owned, c.Viewer),
				},
				Meta: widgetHints(c, b.Owned),
			}, nil
		}),
	}
}

// BoardSummary is get_board's summary line of a board: its title, how
// many columns and cards, and how many descriptions are cut. Exported so
// that the bench's mcp-go floor answers with the very same text.
func BoardSummary(out BoardOutput) string {
	text := fmt.Sprintf("Board '%s' — %s, %s.", out.Title,
		plural(len(out.Columns), "column", "columns"), plural(out.CardCount, "card", "cards"))
	if cut := truncatedCount(out); cut > 0 {
		text += fmt.Sprintf(" %s cut short (description_truncated); get_card shows a whole card.",
			plural(cut, "description is", "descriptions are"))
	}
	return text
}

// validate has nothing to add: Bound checks the ID.
func (getBoardArgs) validate() error { return nil }

// truncatedCount counts the cards of a board whose description is cut.
func truncatedCount(b BoardOutput) int {
	n := 0
	for _, col := range b.Columns {
		for _, card := range col.Cards {
			if card.DescriptionTruncated {
				n++
			}
		}
	}
	return n
}
