// Package widget is the board's user interface for hosts that render MCP
// Apps (ChatGPT, Claude, any host of the io.modelcontextprotocol/ui
// extension): one self-contained HTML page, served as the UI resource
// ui://kanban/board.html, that draws the board a tool returned and lets a
// person move and add cards.
//
// The page is built from src/ by `go generate ./widget` (no Node needed)
// and embedded; a test fails when the committed board.html is stale.
package widget

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

//go:generate go run ./internal/gen

// The page, as generated from src/.
//
//go:embed board.html
var page string

const (
	// URI names the UI resource.
	URI = "ui://kanban/board.html"
	// MIMEType is the MCP Apps profile of HTML.
	MIMEType = "text/html;profile=mcp-app"
	// Extension is the MCP Apps extension identifier the server advertises.
	Extension = "io.modelcontextprotocol/ui"
	// ResultMetaKey is the key, in a tool result's _meta, of what only the
	// widget needs (ViewerHints). Hosts pass a result's _meta to the widget
	// and not to the model. It is a wire identifier, not a display name, so
	// it is fixed and does not follow product.Name: hosts cache the widget
	// page, and one cached before a rename would stop finding its hints.
	// src/board.js spells it out as RESULT_META_KEY; keep the two equal.
	ResultMetaKey = "kanban-mcp/widget"
)

// description tells hosts (and ChatGPT's model, through
// openai/widgetDescription) what the widget shows, so that the model does
// not repeat the board in prose.
const description = "An interactive kanban board: its columns with card counts and its cards with labels. " +
	"The person can drag cards between columns, move them with the keyboard, and add cards inline."

// HTML returns the page.
func HTML() string { return page }

// Capability is the server's io.modelcontextprotocol/ui extension settings.
func Capability() map[string]any {
	return map[string]any{Extension: map[string]any{"mimeTypes": []string{MIMEType}}}
}

// resourceMeta is the _meta of the resource and of its contents. The page
// needs no network and no remote resources: the empty CSP lists keep the
// host's most restrictive policy, and say so explicitly. domain, when set,
// is the widget's dedicated origin (WIDGET_DOMAIN), which ChatGPT's app
// directory asks for.
func resourceMeta(domain string) map[string]any {
	ui := map[string]any{
		"csp":           map[string]any{"connectDomains": []string{}, "resourceDomains": []string{}},
		"prefersBorder": true,
	}
	m := map[string]any{
		"ui": ui,
		// The same for hosts that still read OpenAI's Apps SDK keys.
		"openai/widgetCSP":           map[string]any{"connect_domains": []string{}, "resource_domains": []string{}},
		"openai/widgetPrefersBorder": true,
		"openai/widgetDescription":   description,
	}
	if domain != "" {
		ui["domain"] = domain
		m["openai/widgetDomain"] = domain
	}
	return m
}

// Resource is the UI resource as resources/list shows it; domain is the
// widget's dedicated origin, "" for none.
func Resource(domain string) mcp.Resource {
	r := mcp.NewResource(URI, "Kanban board",
		mcp.WithResourceDescription(description),
		mcp.WithMIMEType(MIMEType),
	)
	r.Meta = mcp.NewMetaFromMap(resourceMeta(domain))
	return r
}

// Reader serves resources/read of the UI resource, with the same _meta as
// Resource(domain). Like every resource it is public: the page holds no
// data until a tool result arrives.
func Reader(domain string) func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	return func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		if req.Params.URI != URI {
			return nil, fmt.Errorf("widget: no resource %q", req.Params.URI)
		}
		return []mcp.ResourceContents{mcp.TextResourceContents{
			URI:      URI,
			MIMEType: MIMEType,
			Text:     page,
			Meta:     resourceMeta(domain),
		}}, nil
	}
}

// TemplateMeta is the descriptor _meta of a tool whose result the widget
// renders: the MCP Apps key and OpenAI's alias name the same resource.
func TemplateMeta(invoking, invoked string) map[string]any {
	m := CallableMeta()
	m["ui"] = map[string]any{"resourceUri": URI}
	m["openai/outputTemplate"] = URI
	m["openai/toolInvocation/invoking"] = invoking
	m["openai/toolInvocation/invoked"] = invoked
	return m
}

// CallableMeta is the descriptor _meta of a tool the widget calls. MCP Apps
// lets a widget call any tool whose visibility includes "app" (the
// default); ChatGPT's older bridge also wants openai/widgetAccessible.
func CallableMeta() map[string]any {
	return map[string]any{"openai/widgetAccessible": true}
}

// ViewerHints is what the widget learns about its viewer, in a result's
// _meta[ResultMetaKey]. They shape the page (a read-only notice, the
// wording of messages) but are advice, not permission: the server checks
// every call the widget makes, and the token a host uses for the widget's
// calls may differ from the one that rendered it, so the widget keeps its
// controls and explains a refusal when one comes.
type ViewerHints struct {
	SignedIn bool `json:"signed_in"`
	// CanWrite says whether the viewer may change this board: it is theirs
	// and the token carries kanban.write.
	CanWrite bool `json:"can_write"`
	// WriteScope is the scope that changes need, for the message that asks
	// for it.
	WriteScope string `json:"write_scope"`
}

// ResultMeta is the result _meta that carries hints to the widget.
func ResultMeta(h ViewerHints) map[string]any {
	return map[string]any{ResultMetaKey: map[string]any{"viewer": h}}
}
