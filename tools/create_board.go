package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/widget"
)

type createBoardArgs struct {
	Title   string   `json:"title" arg:"title,required" desc:"Board title"`
	Columns []string `json:"columns" arg:"column-names" desc:"Column names in order (default \"To do\", \"Doing\", \"Done\")"`
}

// CreateBoard declares create_board.
func CreateBoard() Tool {
	return Tool{
		Name:        "create_board",
		Title:       "Create a board",
		Description: `Create a new private board. Columns default to "To do", "Doing", "Done".`,
		Output:      mcp.WithOutputSchema[BoardOutput](),
		Effect:      Creates,
		Requires:    auth.Requirement{Scope: ScopeWrite},
		Describe:    describeCreateBoard,
		Meta:        widget.TemplateMeta("Creating the board…", "Board created"),
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in createBoardArgs) (*Result, error) {
			b, err := s.CreateBoard(ctx, c.StoreCall(), in.Title, in.Columns)
			if err != nil {
				return nil, err
			}
			out := boardFrom(b)
			return &Result{
				Structured: out,
				Summary:    fmt.Sprintf("Created board '%s' with %s.", b.Title, plural(len(out.Columns), "column", "columns")),
				Meta:       widgetHints(c, b.Owned),
			}, nil
		}),
	}
}

// validate has nothing to add: the store checks the title and each column
// name (store.ValidateTitle) in the same words for every caller.
func (createBoardArgs) validate() error { return nil }

// describeCreateBoard words create_board's activity row.
func describeCreateBoard(ch store.Change) string {
	return "created board " + quoted(ch.Board) + " with " + plural(ch.Columns, "column", "columns")
}
