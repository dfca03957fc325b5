package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
	"github.com/kanban-mcp/kanban-mcp/store"
)

type whoamiOutput struct {
	Authenticated bool     `json:"authenticated"`
	Issuer        string   `json:"issuer,omitempty"`
	Subject       string   `json:"subject,omitempty"`
	ClientID      string   `json:"client_id,omitempty" jsonschema:"the agent (OAuth client) acting for the user"`
	Scopes        []string `json:"scopes,omitempty" jsonschema:"scopes the token grants"`
	ClientFamily  string   `json:"client_family,omitempty" jsonschema:"the kind of MCP client this request came from, as its headers tell (chatgpt, claude, sdk or other): it decides how a call that needs sign-in is answered"`
}

// Whoami declares whoami.
func Whoami() Tool {
	return Tool{
		Name:        "whoami",
		Title:       "Who am I",
		Description: "Tell who this connection acts for: the signed-in user, the client (agent) and the granted scopes, or that it is anonymous.",
		Output:      mcp.WithOutputSchema[whoamiOutput](),
		Effect:      Reads,
		Requires:    auth.Requirement{Anonymous: true},
		Handle: Bound(func(ctx context.Context, s store.Store, c *Call, _ NoArguments) (*Result, error) {
			p := c.Principal
			var family string
			if hc, ok := hostclient.FromContext(ctx); ok {
				family = string(hc.Family)
			}
			if p == nil {
				return &Result{
					Structured: whoamiOutput{ClientFamily: family},
					Summary:    "Not signed in: only public boards are available. Sign in to work with your own boards.",
					Activity:   store.Activity{Summary: "checked identity (anonymous)"},
				}, nil
			}
			scopes := []string(p.Scopes)
			text := fmt.Sprintf("Signed in as %s", p.Subject)
			if p.ClientID != "" {
				text += " through client " + p.ClientID
			}
			text += ", scopes: " + orNone(strings.Join(scopes, " ")) + "."
			return &Result{
				Structured: whoamiOutput{Authenticated: true, Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID, Scopes: scopes, ClientFamily: family},
				Summary:    text,
				Activity:   store.Activity{Summary: "checked identity"},
			}, nil
		}),
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
