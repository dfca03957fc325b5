package e2e

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/app"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// TestProductNameIsShown: every place that shows or announces the product
// takes its name from product.Name, through the real server and CLI. The
// expectations are built from the constant, so a place with the name
// written out fails here as soon as the constant changes, and
// internal/product's TestNoHardCodedName fails on it even before.
func TestProductNameIsShown(t *testing.T) {
	t.Parallel()
	// The built-in authorization server, with its pages and demo banner.
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	name := product.Name
	escaped := html.EscapeString(name)

	initialize := func() string {
		res := rpcResult(t, srv.rpc(t, "", "initialize", map[string]any{
			"protocolVersion": "2025-06-18",
			"capabilities":    map[string]any{},
			"clientInfo":      map[string]any{"name": "e2e-name", "version": "1"},
		}), "initialize")
		return str(res, "serverInfo", "name")
	}
	resourceName := func() string {
		var prm struct {
			ResourceName string `json:"resource_name"`
		}
		getJSON(t, srv.PRM(), &prm)
		return prm.ResourceName
	}
	home := func() string {
		resp := rawRequest(t, http.MethodGet, srv.URL+"/", "", nil, nil)
		first, _, _ := strings.Cut(string(resp.Body), "\n")
		return first
	}
	signIn := fetchPage(t, secBrowser(), http.MethodGet, srv.URL+"/account", nil)
	cli := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		app.Run(context.Background(), "test", args, func(string) string { return "" }, nil, &stdout, &stderr)
		return stdout.String() + stderr.String()
	}

	tests := []struct {
		place string
		got   func() string
		want  string // the whole value, or with contains a part of it
		part  bool
	}{
		{"MCP initialize serverInfo.name", initialize, name, false},
		{"protected-resource metadata resource_name", resourceName, name, false},
		{"GET / first line", home, name + " ", true},
		{"sign-in page title", func() string { return signIn }, "<title>Sign in · " + escaped + "</title>", true},
		{"sign-in page heading", func() string { return signIn }, `<p class="brand">` + escaped + "</p>", true},
		{"listening log line", srv.Log.String, `"msg":"` + name + ` listening"`, true},
		{"demo user banner", srv.Log.String, "\n" + name + " is ready at ", true},
		{"CLI usage", func() string { return cli("help") }, "\n  " + name + " [serve] ", true},
		{"CLI error prefix", func() string { return cli("unrevoke") }, name + " unrevoke: ", true},
	}
	for _, tt := range tests {
		got := tt.got()
		if tt.part && !strings.Contains(got, tt.want) || !tt.part && got != tt.want {
			if len(got) > 300 {
				got = got[:300] + "…"
			}
			t.Errorf("%s: %q does not show product.Name as %q", tt.place, got, tt.want)
		}
	}
}
