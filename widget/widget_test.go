package widget_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/widget"
	"github.com/kanban-mcp/kanban-mcp/widget/internal/assemble"
)

// TestEmbeddedPageIsCurrent fails when src/ changed and board.html was not
// regenerated, so that what is served is what the sources say.
func TestEmbeddedPageIsCurrent(t *testing.T) {
	want, err := assemble.Page(os.DirFS("src"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), widget.HTML()); diff != "" {
		t.Fatalf("board.html is stale; run `go generate ./widget` (-want +got):\n%s", diff)
	}
}

// TestPageNames: the page calls the product by product.Name (written in by
// the generator, so a rename shows up as a stale page above) and reads the
// server's hints under the very key the server writes them.
func TestPageNames(t *testing.T) {
	for _, want := range []string{
		`const PRODUCT_NAME = "` + product.Name + `";`,
		`const RESULT_META_KEY = "` + widget.ResultMetaKey + `";`,
	} {
		if !strings.Contains(widget.HTML(), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestPageIsSelfContained checks what host CSPs require: no network, no
// remote scripts, styles, fonts or images. Everything is inline.
func TestPageIsSelfContained(t *testing.T) {
	page := strings.ToLower(widget.HTML())
	for _, banned := range []string{
		"<script src", "<link ", "@import", "url(", "fetch(", "xmlhttprequest", "websocket", "eventsource",
		"http://", "https://", "//@inline", "/*@inline",
	} {
		if strings.Contains(page, banned) {
			t.Errorf("the page contains %q; it must be self-contained", banned)
		}
	}
	for _, want := range []string{"<!doctype html>", "<style>", "<script>", `id="board"`, `id="notice"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestRead(t *testing.T) {
	contents, err := widget.Reader("")(context.Background(), readRequest(widget.URI))
	if err != nil {
		t.Fatal(err)
	}
	if len(contents) != 1 {
		t.Fatalf("got %d contents, want 1", len(contents))
	}
	c, ok := contents[0].(mcp.TextResourceContents)
	if !ok {
		t.Fatalf("contents are %T, want text", contents[0])
	}
	if c.URI != widget.URI || c.MIMEType != "text/html;profile=mcp-app" || c.Text != widget.HTML() {
		t.Errorf("contents: uri %q, mime %q, %d bytes of text; want %q, text/html;profile=mcp-app, the page", c.URI, c.MIMEType, len(c.Text), widget.URI)
	}

	if _, err := widget.Reader("")(context.Background(), readRequest("ui://kanban/other.html")); err == nil {
		t.Error("reading another URI succeeded; want an error")
	}
}

// TestWidgetDomain: a dedicated origin (WIDGET_DOMAIN) is announced in
// both hosts' keys, on the resource and on what resources/read returns;
// without one, neither key is sent.
func TestWidgetDomain(t *testing.T) {
	const domain = "https://kanban-widget.example.com"
	for _, d := range []string{domain, ""} {
		contents, err := widget.Reader(d)(context.Background(), readRequest(widget.URI))
		if err != nil {
			t.Fatal(err)
		}
		for name, meta := range map[string]map[string]any{
			"resource": widget.Resource(d).Meta.AdditionalFields,
			"contents": contents[0].(mcp.TextResourceContents).Meta,
		} {
			ui, _ := meta["ui"].(map[string]any)
			gotUI, hasUI := ui["domain"]
			gotOpenAI, hasOpenAI := meta["openai/widgetDomain"]
			switch {
			case d == "" && (hasUI || hasOpenAI):
				t.Errorf("%s without a domain has ui.domain %v, openai/widgetDomain %v", name, gotUI, gotOpenAI)
			case d != "" && (gotUI != d || gotOpenAI != d):
				t.Errorf("%s: ui.domain %v, openai/widgetDomain %v; want %s in both", name, gotUI, gotOpenAI, d)
			}
		}
	}
}

func TestTemplateMeta(t *testing.T) {
	got := widget.TemplateMeta("Opening…", "Shown")
	want := map[string]any{
		"ui":                             map[string]any{"resourceUri": "ui://kanban/board.html"},
		"openai/outputTemplate":          "ui://kanban/board.html",
		"openai/widgetAccessible":        true,
		"openai/toolInvocation/invoking": "Opening…",
		"openai/toolInvocation/invoked":  "Shown",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TemplateMeta (-want +got):\n%s", diff)
	}
}

func TestAssembleRefusesBrokenSources(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing file", map[string]string{"board.html": "<!DOCTYPE html>\n<script>\n//@inline gone.js\n</script>\n"}, "gone.js"},
		{"script closer", map[string]string{"board.html": "<!DOCTYPE html>\n<script>\n//@inline a.js\n</script>\n", "a.js": "x = '</script>'"}, "</script"},
		{"no doctype", map[string]string{"board.html": "<html></html>\n"}, "DOCTYPE"},
		{"product marker outside a string", map[string]string{"board.html": "<!DOCTYPE html>\n<script>\nconst n = @product@;\n</script>\n"}, "@product@"},
		{"marker not alone", map[string]string{"board.html": "<!DOCTYPE html>\n<style>/*@inline a.css*/</style>\n", "a.css": "p{}"}, "marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(body)}
			}
			_, err := assemble.Page(fsys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Page() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func readRequest(uri string) mcp.ReadResourceRequest {
	var r mcp.ReadResourceRequest
	r.Params.URI = uri
	return r
}
