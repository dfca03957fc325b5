package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type shareBoardArgs struct {
	BoardID    string `json:"board_id" arg:"board-id,required" desc:"board"`
	Visibility string `json:"visibility" arg:"visibility,required" desc:"public or private"`
}

// ShareBoard declares share_board.
func ShareBoard() Tool {
	return Tool{
		Name:  "share_board",
		Title: "Share or unshare a board",
		Description: "Make one of your boards public (anyone, even without signing in, can read it; only you can change it) " +
			"or private again.",
		Output: mcp.WithOutputSchema[boardSummaryOutput](),
		// Publishes: making a board public shows it to anyone, without
		// signing in (open world); making it private again withdraws that
		// access (destructive, in OpenAI's review: it revokes access).
		Effect:   Publishes,
		Requires: auth.Requirement{Scope: ScopeAdmin},
		Describe: describeShareBoard,
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in shareBoardArgs) (*Result, error) {
			v := store.Visibility(in.Visibility)
			b, err := s.ShareBoard(ctx, c.StoreCall(), in.BoardID, v)
			if err != nil {
				return nil, err
			}
			text := fmt.Sprintf("Board '%s' is now public: anyone can read it, only you can change it.", b.Title)
			if v == store.Private {
				text = fmt.Sprintf("Board '%s' is now private: only you can see it.", b.Title)
			}
			return &Result{Structured: summaryFrom(*b), Summary: text}, nil
		}),
	}
}

func (a shareBoardArgs) validate() error {
	if v := store.Visibility(a.Visibility); v != store.Public && v != store.Private {
		return store.Errorf(store.Invalid, "visibility must be %q or %q", store.Public, store.Private)
	}
	return nil
}

// describeShareBoard words share_board's activity row.
func describeShareBoard(ch store.Change) string {
	if ch.Unchanged {
		return "board " + quoted(ch.Board) + " already " + string(ch.Visibility) + "; nothing changed"
	}
	return "made board " + quoted(ch.Board) + " " + string(ch.Visibility)
}
