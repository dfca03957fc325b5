package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type listBoardsArgs struct {
	Limit  int    `json:"limit" arg:"limit"`
	Cursor string `json:"cursor" arg:"cursor"`
}

type listBoardsOutput struct {
	Boards     []boardSummaryOutput `json:"boards"`
	NextCursor string               `json:"next_cursor,omitempty" jsonschema:"pass as cursor to get the next page; absent on the last page"`
}

// ListBoards declares list_boards.
func ListBoards() Tool {
	return Tool{
		Name:        "list_boards",
		Title:       "List boards",
		Description: "List the kanban boards you can see: public boards, and your own when signed in with kanban.read.",
		Output:      mcp.WithOutputSchema[listBoardsOutput](),
		Effect:      Reads,
		Requires:    auth.Requirement{Anonymous: true, Scope: ScopeRead},
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in listBoardsArgs) (*Result, error) {
			list, err := s.ListBoards(ctx, c.Viewer, store.Page{Limit: in.Limit, Cursor: in.Cursor})
			if err != nil {
				return nil, err
			}
			out := listBoardsOutput{Boards: make([]boardSummaryOutput, 0, len(list.Boards)), NextCursor: list.NextCursor}
			var ids, titles []string
			for _, b := range list.Boards {
				out.Boards = append(out.Boards, summaryFrom(b))
				ids = append(ids, b.ID)
				titles = append(titles, fmt.Sprintf("'%s'", b.Title))
			}
			text := "No boards to show."
			if len(titles) > 0 {
				text = plural(len(titles), "board", "boards") + ": " + strings.Join(titles, ", ")
				if list.NextCursor != "" {
					text += " (more on the next page)"
				}
			}
			if c.Viewer.Anonymous() {
				text += " Only public boards are listed; sign in with kanban.read to see your own."
			}
			return &Result{
				Structured: out,
				Summary:    text,
				Activity:   store.Activity{IDs: ids, Summary: "listed " + plural(len(ids), "board", "boards")},
			}, nil
		}),
	}
}

// validate has nothing to add: the store checks the page size
// (store.PageLimit) and the cursor.
func (listBoardsArgs) validate() error { return nil }
