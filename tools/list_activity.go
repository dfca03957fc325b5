package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type listActivityArgs struct {
	BoardID string `json:"board_id" arg:"board-id" desc:"board to show activity for"`
	Limit   int    `json:"limit" arg:"limit"`
	Cursor  string `json:"cursor" arg:"cursor"`
}

type activityOutput struct {
	At       string   `json:"at" jsonschema:"RFC 3339 time"`
	Tool     string   `json:"tool"`
	Outcome  string   `json:"outcome" jsonschema:"ok, unauthenticated, insufficient_scope, invalid_input, not_found, conflict, quota or error"`
	Issuer   string   `json:"issuer,omitempty"`
	Subject  string   `json:"subject,omitempty" jsonschema:"the user, as the issuer names them"`
	ClientID string   `json:"client_id,omitempty" jsonschema:"the agent that acted"`
	BoardID  string   `json:"board_id,omitempty"`
	IDs      []string `json:"ids"`
	Summary  string   `json:"summary"`
}

type listActivityOutput struct {
	Activity   []activityOutput `json:"activity"`
	NextCursor string           `json:"next_cursor,omitempty" jsonschema:"pass as cursor to get the next page; absent on the last page"`
}

// ListActivity declares list_activity.
func ListActivity() Tool {
	return Tool{
		Name:  "list_activity",
		Title: "List activity",
		Description: "Show the audit trail, newest first: what each agent did on your boards and what you did, " +
			"with time, tool, outcome, user and client. Filter to one board with board_id.",
		Output:   mcp.WithOutputSchema[listActivityOutput](),
		Effect:   Reads,
		Requires: auth.Requirement{Scope: ScopeRead},
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, in listActivityArgs) (*Result, error) {
			list, err := s.ListActivity(ctx, c.Viewer, in.BoardID, store.Page{Limit: in.Limit, Cursor: in.Cursor})
			if err != nil {
				return nil, err
			}
			out := listActivityOutput{Activity: make([]activityOutput, 0, len(list.Activity)), NextCursor: list.NextCursor}
			for _, a := range list.Activity {
				ids := a.IDs
				if ids == nil {
					ids = []string{}
				}
				out.Activity = append(out.Activity, activityOutput{
					At: a.At.UTC().Format(time.RFC3339Nano), Tool: a.Tool, Outcome: string(a.Outcome),
					Issuer: a.Actor.Issuer, Subject: a.Actor.Subject, ClientID: a.Actor.ClientID,
					BoardID: a.BoardID, IDs: ids, Summary: a.Summary,
				})
			}
			text := fmt.Sprintf("%s of activity.", plural(len(out.Activity), "entry", "entries"))
			if len(list.Activity) > 0 {
				a := list.Activity[0]
				text += fmt.Sprintf(" Latest: %s %s (%s).", a.Tool, a.Summary, a.Outcome)
			}
			return &Result{
				Structured: out,
				Summary:    text,
				Activity:   store.Activity{BoardID: in.BoardID, Summary: "read the activity trail"},
			}, nil
		}),
	}
}

// validate has nothing to add: Bound checks the ID, the store the page.
func (listActivityArgs) validate() error { return nil }
