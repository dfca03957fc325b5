package e2e

// The board widget (ui://kanban/board.html) in a real browser, embedded as
// an MCP Apps host (SEP-1865, 2026-01-26) embeds it: the page comes from
// resources/read, a sandbox origin serves it under the CSP its _meta
// declares, and a host page on another origin frames it with
// sandbox="allow-scripts allow-same-origin" and speaks the host side of the
// JSON-RPC-over-postMessage bridge. The host relays the widget's tools/call
// requests to the real server with a token the test chooses, so every move
// and add reaches the database, and every refusal is the server's own.
//
// Both test origins are on 127.0.0.1: same site, different origins, so the
// frame stays in the page's process and its console and DOM reach chromedp
// without turning site isolation off.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The MCP Apps names this test relies on, spelled out rather than taken
// from package widget, so that a change to them fails here.
const (
	widgetURI      = "ui://kanban/board.html"
	widgetMIMEType = "text/html;profile=mcp-app"
	appsProtocol   = "2026-01-26"
)

// widgetWait bounds each wait for the page, so that one broken step fails
// its subtest without using up the whole browser's time.
const widgetWait = 10 * time.Second

// widgetOwner owns every board of this test.
const widgetOwner = "widget-owner"

// TestWidgetInBrowser drives the board widget inside a test MCP Apps host,
// in headless Chromium, against the real server: it renders what get_board
// returned, a mouse drag, the keyboard and the inline form change the
// database through tools/call and then tell the model the board's new state
// (ui/update-model-context, as each kind of host takes it, and ChatGPT's
// window.openai.setWidgetState), refused calls roll back, explain
// themselves and tell the model nothing, the bridge answers and ignores
// what it must, the page fits a 360 px screen in both themes, and the
// console stays clean, frame included. Screenshots go to KANBAN_ARTIFACTS
// when it is set.
func TestWidgetInBrowser(t *testing.T) {
	requireChromium(t)
	t.Parallel()

	// AUTH_CHALLENGE unset (auto): the relay speaks as ChatGPT's connector
	// unless a scenario says otherwise, so refusals take both shapes.
	srv := startServer(t, map[string]string{"AUTH_CHALLENGE": ""})
	res := readWidgetResource(t, srv)
	sandbox := startSandbox(t, res)
	host := startWidgetHost(t, srv, sandbox.URL)

	artifacts := artifactsDir(t)

	// One budget covers every subtest below, and a failing wait takes 10 s
	// of it. Since the model-context scenarios joined, the whole took
	// 61 s under -race on CI's two busy cores, past the 60 s it had.
	b := startBrowser(t, 180*time.Second, srv.Log.String)
	console := watchConsole(b.Ctx)
	b.do(t, "set a 1024 px viewport", chromedp.EmulateViewport(1024, 900))

	t.Run("console_reaches_the_frame", func(t *testing.T) { testWidgetConsoleCanary(t, b, host) })
	t.Run("renders_the_board", func(t *testing.T) { testWidgetRenders(t, b, host) })
	t.Run("drag_moves_a_card", func(t *testing.T) { testWidgetDrag(t, b, host) })
	t.Run("keyboard_moves_a_card", func(t *testing.T) { testWidgetKeyboard(t, b, host) })
	t.Run("inline_add", func(t *testing.T) { testWidgetAdd(t, b, host) })
	t.Run("model_context_by_host", func(t *testing.T) { testWidgetModelContextHosts(t, b, host) })
	t.Run("model_context_is_bounded", func(t *testing.T) { testWidgetModelContextBounded(t, b, host) })
	t.Run("refused_move_rolls_back", func(t *testing.T) { testWidgetRefusals(t, b, host) })
	t.Run("bridge", func(t *testing.T) { testWidgetBridge(t, b, host) })
	t.Run("screenshots", func(t *testing.T) { testWidgetScreenshots(t, b, host, artifacts) })

	// The whole run, host page and frame: no console error, no exception,
	// no CSP violation.
	checkConsoleClean(t, console.end(t, b, b.Ctx))
}

// ---- The resource and the sandbox origin. ----

// widgetResource is the UI resource as resources/read returned it.
type widgetResource struct {
	HTML string
	CSP  widgetCSP
}

// widgetCSP is _meta.ui.csp of the resource contents.
type widgetCSP struct {
	ConnectDomains  []string `json:"connectDomains"`
	ResourceDomains []string `json:"resourceDomains"`
	FrameDomains    []string `json:"frameDomains"`
	BaseURIDomains  []string `json:"baseUriDomains"`
}

// readWidgetResource reads the page the way a host does, with MCP
// resources/read and no token: the page is public and holds no data.
func readWidgetResource(t *testing.T, srv *testServer) widgetResource {
	t.Helper()
	r := srv.rpc(t, "", "resources/read", map[string]any{"uri": widgetURI})
	if r.Status != http.StatusOK {
		t.Fatalf("resources/read %s: status %d: %s", widgetURI, r.Status, r.Body)
	}
	var msg struct {
		Result struct {
			Contents []struct {
				URI      string `json:"uri"`
				MIMEType string `json:"mimeType"`
				Text     string `json:"text"`
				Meta     struct {
					UI *struct {
						CSP *widgetCSP `json:"csp"`
					} `json:"ui"`
				} `json:"_meta"`
			} `json:"contents"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		t.Fatalf("resources/read: %v\n%s", err, r.Body)
	}
	if len(msg.Result.Contents) != 1 {
		t.Fatalf("resources/read %s: %d contents, want 1: %s", widgetURI, len(msg.Result.Contents), r.Body)
	}
	c := msg.Result.Contents[0]
	if c.URI != widgetURI || c.MIMEType != widgetMIMEType {
		t.Errorf("resources/read contents[0]: uri %q, mimeType %q; want %q, %q", c.URI, c.MIMEType, widgetURI, widgetMIMEType)
	}
	if !strings.Contains(c.Text, "<html") {
		t.Fatalf("resources/read contents[0].text is not an HTML page:\n%.300s", c.Text)
	}
	if c.Meta.UI == nil || c.Meta.UI.CSP == nil {
		t.Fatalf("resources/read contents[0]._meta.ui.csp is missing: %s", r.Body)
	}
	csp := *c.Meta.UI.CSP
	// The page is self-contained: it asks for no network and no remote
	// resources, and says so with empty lists rather than leaving them out.
	if csp.ConnectDomains == nil || csp.ResourceDomains == nil || len(csp.ConnectDomains) != 0 || len(csp.ResourceDomains) != 0 {
		t.Errorf("_meta.ui.csp = %+v, want connectDomains and resourceDomains both present and empty", csp)
	}
	return widgetResource{HTML: c.Text, CSP: csp}
}

// sandboxPolicy is the Content-Security-Policy a host puts on the View:
// SEP-1865's restrictive default, with the declared domains added to the
// directives they govern. No connect domains means no network at all.
func sandboxPolicy(csp widgetCSP) string {
	with := func(base string, domains []string) string {
		return strings.Join(append([]string{base}, domains...), " ")
	}
	connect := "connect-src 'none'"
	if len(csp.ConnectDomains) > 0 {
		connect = with("connect-src 'self'", csp.ConnectDomains)
	}
	frame := "frame-src 'none'"
	if len(csp.FrameDomains) > 0 {
		frame = with("frame-src", csp.FrameDomains)
	}
	directives := []string{
		"default-src 'none'",
		with("script-src 'self' 'unsafe-inline'", csp.ResourceDomains),
		with("style-src 'self' 'unsafe-inline'", csp.ResourceDomains),
		with("img-src 'self' data:", csp.ResourceDomains),
		with("media-src 'self' data:", csp.ResourceDomains),
	}
	if len(csp.ResourceDomains) > 0 {
		directives = append(directives, with("font-src 'self'", csp.ResourceDomains))
	}
	directives = append(directives, connect, frame, "object-src 'none'", with("base-uri 'self'", csp.BaseURIDomains))
	return strings.Join(directives, "; ")
}

// siblingPage is a second frame of the sandbox origin, beside the View: it
// forwards what the host gives it to the View, as a frame that is not the
// View's parent, and then acknowledges.
const siblingPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sibling</title></head><body>
<script>
addEventListener("message", (event) => {
  if (event.source !== parent || !event.data || !Array.isArray(event.data.forward)) return;
  for (const msg of event.data.forward) parent.frames[0].postMessage(msg, "*");
  parent.postMessage({ siblingAck: event.data.forward.length }, "*");
});
</script>
</body></html>
`

// canaryPage runs under the View's CSP and does what must show in the
// console: a console.error and a blocked fetch (a CSP violation).
const canaryPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Canary</title></head><body>
<script>
document.addEventListener("securitypolicyviolation", (event) => {
  parent.postMessage({ canary: "violation", directive: event.effectiveDirective }, "*");
});
console.error("kanban-e2e canary: an error inside the frame");
fetch("http://127.0.0.1:9/kanban-e2e-canary").then(
  () => parent.postMessage({ canary: "fetched" }, "*"),
  () => parent.postMessage({ canary: "blocked" }, "*"));
</script>
</body></html>
`

// openaiStandIn plays what ChatGPT injects into a widget's window before
// the page runs, as far as the widget uses it: window.openai.setWidgetState,
// whose state ChatGPT documents as shown to the model (Apps SDK, "Persist
// component state, expose context to ChatGPT"). It records each call for
// the test to read.
const openaiStandIn = `<script>
window.openaiCalls = [];
window.openai = {
  widgetState: null,
  setWidgetState(state) {
    window.openaiCalls.push({ method: "setWidgetState", args: JSON.parse(JSON.stringify([state])) });
    this.widgetState = state;
    return Promise.resolve();
  },
};
</script>
`

// startSandbox serves the View, its sibling and the canary, each under the
// policy built from the resource's _meta.ui.csp. /view?openai=1 is the View
// as ChatGPT frames it, with window.openai (openaiStandIn) defined first.
func startSandbox(t *testing.T, res widgetResource) *httptest.Server {
	t.Helper()
	policy := sandboxPolicy(res.CSP)
	head := strings.Index(res.HTML, "<head>")
	if head < 0 {
		t.Fatalf("the widget page has no <head> to put window.openai before")
	}
	head += len("<head>")
	chatGPTView := res.HTML[:head] + "\n" + openaiStandIn + res.HTML[head:]
	pages := map[string]string{"/view": res.HTML, "/sibling": siblingPage, "/canary": canaryPage}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/view" && r.URL.Query().Get("openai") == "1" {
			page = chatGPTView
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", policy)
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, page)
	}))
	t.Cleanup(s.Close)
	return s
}

// ---- The host origin. ----

// widgetHost is the test MCP Apps host: it serves the host page and relays
// the widget's tool calls to the real server.
type widgetHost struct {
	URL        string
	srv        *testServer
	sandboxURL string

	mu        sync.Mutex
	scenarios map[string]*hostScenario
}

// hostScenario is one board shown in the host page, and how the host
// relays that page's tool calls.
type hostScenario struct {
	Key     string
	Board   widgetBoard
	Result  json.RawMessage // the get_board CallToolResult the host hands over
	Initial apiBoard        // the board as get_board returned it

	mu       sync.Mutex
	token    string // bearer token for relayed calls; "" sends none
	rpcError string // when set, the host answers every call with this JSON-RPC error
	// userAgent is what the relay says it is; "" is ChatGPT's connector,
	// which the server answers in-band.
	userAgent string
	relayed   []string

	// How the host page answers the View; see hostAs.
	hostCaps     map[string]any
	contextError bool
	openai       bool
}

// fullHostCaps is what the test host declares unless a scenario says
// otherwise: tool calls, logging, and model-context updates with text and
// structured content (SEP-1865's hostCapabilities.updateModelContext).
func fullHostCaps() map[string]any {
	return map[string]any{
		"serverTools": map[string]any{}, "logging": map[string]any{},
		"updateModelContext": map[string]any{"text": map[string]any{}, "structuredContent": map[string]any{}},
	}
}

// hostAs sets how the host page answers the View: the hostCapabilities
// of its ui/initialize answer, whether it refuses ui/update-model-context
// with an error, and whether the View runs as ChatGPT frames it, with
// window.openai. It takes effect when the page is next opened.
func (sc *hostScenario) hostAs(caps map[string]any, contextError, openai bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.hostCaps, sc.contextError, sc.openai = caps, contextError, openai
}

// chatGPTUserAgent is what ChatGPT's connector sends.
const chatGPTUserAgent = "openai-mcp/1.0.0"

// relayWith sets how the host relays this scenario's calls.
func (sc *hostScenario) relayWith(token, rpcError string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.token, sc.rpcError = token, rpcError
}

// relayAs sets the user agent the host relays this scenario's calls with.
func (sc *hostScenario) relayAs(userAgent string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.userAgent = userAgent
}

// relayLog is what the relay did, for failure messages.
func (sc *hostScenario) relayLog() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return strings.Join(sc.relayed, "\n")
}

func startWidgetHost(t *testing.T, srv *testServer, sandboxURL string) *widgetHost {
	t.Helper()
	h := &widgetHost{srv: srv, sandboxURL: sandboxURL, scenarios: map[string]*hostScenario{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /host.html", h.hostPage)
	mux.HandleFunc("GET /canary.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Canary host</title>
<script>window.canary = []; addEventListener("message", (e) => { if (e.data && e.data.canary) window.canary.push(e.data); });</script>
</head><body><iframe title="Canary" sandbox="allow-scripts allow-same-origin" src="%s/canary"></iframe></body></html>`, sandboxURL)
	})
	mux.HandleFunc("POST /call", h.relay)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent) // the browser asks by itself
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	h.URL = s.URL
	return h
}

// hostPageTemplate is the host page. The bridge code is in <head>, so that
// it listens before the frame can say anything.
const hostPageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MCP Apps test host</title>
<style>
html, body { margin: 0; padding: 0; background: #d6d9df; }
#view { display: block; width: 100%; height: 150px; border: 0; }
#sibling { display: none; }
</style>
<script id="scenario" type="application/json">{{SCENARIO}}</script>
<script>
"use strict";
(() => {
  const scenario = JSON.parse(document.getElementById("scenario").textContent);
  const theme = new URLSearchParams(location.search).get("theme") === "dark" ? "dark" : "light";
  const sandboxOrigin = new URL(scenario.sandbox).origin;
  const frameWindow = (id) => { const f = document.getElementById(id); return f && f.contentWindow; };
  // Every message in both directions, for the test to read.
  const log = window.hostLog = [];
  const record = (dir, msg) => log.push({ dir, msg: JSON.parse(JSON.stringify(msg)) });
  let nextId = 1;

  function send(msg) {
    record("to-view", msg);
    frameWindow("view").postMessage(msg, sandboxOrigin);
  }
  const respond = (id, result) => send({ jsonrpc: "2.0", id, result });
  const respondError = (id, code, message) => send({ jsonrpc: "2.0", id, error: { code, message } });

  // For the test: post anything to the widget, send requests and
  // notifications, or have the sibling frame post messages.
  window.hostPost = send;
  window.hostRequest = (method, params) => {
    const id = "host-" + nextId++;
    send({ jsonrpc: "2.0", id, method, params });
    return id;
  };
  window.hostNotify = (method, params) => send({ jsonrpc: "2.0", method, params });
  window.siblingAcks = 0;
  window.siblingForward = (messages) => frameWindow("sibling").postMessage({ forward: messages }, sandboxOrigin);

  // tools/call goes to the test's relay, which calls the real server.
  async function callTool(msg) {
    let answer;
    try {
      const response = await fetch("/call?s=" + encodeURIComponent(scenario.key), {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(msg),
      });
      answer = await response.json();
    } catch (err) {
      answer = { jsonrpc: "2.0", error: { code: -32603, message: "test host: relay failed: " + err } };
    }
    answer.id = msg.id;
    send(answer);
  }

  window.addEventListener("message", (event) => {
    if (event.origin !== sandboxOrigin) return;
    if (event.source === frameWindow("sibling")) {
      if (event.data && event.data.siblingAck) window.siblingAcks += event.data.siblingAck;
      return;
    }
    if (event.source !== frameWindow("view")) return;
    const msg = event.data;
    record("from-view", msg);
    if (!msg || msg.jsonrpc !== "2.0" || typeof msg.method !== "string") return;
    switch (msg.method) {
    case "ui/initialize":
      respond(msg.id, {
        protocolVersion: "2026-01-26",
        hostInfo: { name: "kanban-e2e-host", version: "1.0.0" },
        hostCapabilities: scenario.host_capabilities,
        hostContext: {
          theme, displayMode: "inline", availableDisplayModes: ["inline"],
          containerDimensions: { maxHeight: 4000 }, platform: "web", locale: "en-US",
        },
      });
      break;
    case "ui/notifications/initialized":
      window.hostNotify("ui/notifications/tool-input", { arguments: { board_id: scenario.board_id } });
      window.hostNotify("ui/notifications/tool-result", scenario.result);
      break;
    case "tools/call":
      callTool(msg);
      break;
    case "ui/update-model-context":
      // The host keeps the update for the model's next turn (the test reads
      // it from the log), or refuses it as SEP-1865's example does.
      if (scenario.context_error) respondError(msg.id, -32000, "Context update denied");
      else respond(msg.id, {});
      break;
    case "ui/notifications/size-changed":
      if (msg.params && msg.params.height > 0) {
        document.getElementById("view").style.height = Math.min(Math.ceil(msg.params.height), 4000) + "px";
      }
      break;
    default:
      if (msg.id !== undefined) respondError(msg.id, -32601, "Method not found: " + msg.method);
    }
  });
})();
</script>
</head>
<body>
<iframe id="view" title="Kanban board" sandbox="allow-scripts allow-same-origin" src="{{VIEW}}"></iframe>
{{SIBLING}}
</body>
</html>
`

// hostPage serves the host page of a scenario: ?s=key&theme=light|dark,
// and sibling=1 for a second frame of the sandbox origin.
func (h *widgetHost) hostPage(w http.ResponseWriter, r *http.Request) {
	sc := h.scenario(r.URL.Query().Get("s"))
	if sc == nil {
		http.NotFound(w, r)
		return
	}
	sc.mu.Lock()
	caps, contextError, openai := sc.hostCaps, sc.contextError, sc.openai
	sc.mu.Unlock()
	// json.Marshal escapes <, > and &, so the data cannot end the script.
	data, err := json.Marshal(map[string]any{
		"key": sc.Key, "board_id": sc.Board.ID, "result": sc.Result, "sandbox": h.sandboxURL,
		"host_capabilities": caps, "context_error": contextError,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	view := h.sandboxURL + "/view"
	if openai {
		view += "?openai=1"
	}
	sibling := ""
	if r.URL.Query().Get("sibling") == "1" {
		sibling = fmt.Sprintf(`<iframe id="sibling" title="Sibling" sandbox="allow-scripts allow-same-origin" src="%s/sibling"></iframe>`, h.sandboxURL)
	}
	page := strings.NewReplacer("{{SCENARIO}}", string(data), "{{VIEW}}", view, "{{SIBLING}}", sibling).Replace(hostPageTemplate)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, page)
}

func (h *widgetHost) scenario(key string) *hostScenario {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scenarios[key]
}

// relay forwards one tools/call of the widget to the server's /mcp, as
// the host's MCP client would, with the scenario's token, and hands the
// JSON-RPC answer back. An HTTP 401 or 403 becomes a JSON-RPC error that
// names the status and the challenge, as a host reports a failed call.
func (h *widgetHost) relay(w http.ResponseWriter, r *http.Request) {
	sc := h.scenario(r.URL.Query().Get("s"))
	if sc == nil {
		http.NotFound(w, r)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Method != "tools/call" || len(req.ID) == 0 {
		http.Error(w, "want a tools/call request", http.StatusBadRequest)
		return
	}
	sc.mu.Lock()
	token, rpcError, userAgent := sc.token, sc.rpcError, sc.userAgent
	sc.mu.Unlock()
	if userAgent == "" {
		userAgent = chatGPTUserAgent
	}
	note := func(what string) {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.relayed = append(sc.relayed, fmt.Sprintf("%s %s -> %s", req.ID, req.Params, what))
	}
	answer := func(msg map[string]any) {
		msg["jsonrpc"], msg["id"] = "2.0", req.ID
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(msg)
	}
	answerError := func(code int, message string) {
		note("JSON-RPC error: " + message)
		answer(map[string]any{"error": map[string]any{"code": code, "message": message}})
	}
	if rpcError != "" {
		answerError(-32000, rpcError)
		return
	}

	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "method": "tools/call", "params": req.Params})
	if err != nil {
		answerError(-32603, err.Error())
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, h.srv.MCP(), bytes.NewReader(body))
	if err != nil {
		answerError(-32603, err.Error())
		return
	}
	out.Header.Set("Content-Type", "application/json")
	out.Header.Set("Accept", "application/json, text/event-stream")
	out.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	out.Header.Set("User-Agent", userAgent)
	if token != "" {
		out.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		answerError(-32603, "test host: "+err.Error())
		return
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		answerError(-32603, "test host: "+err.Error())
		return
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		answerError(-32000, fmt.Sprintf("HTTP %d %s; WWW-Authenticate: %s", resp.StatusCode, http.StatusText(resp.StatusCode), resp.Header.Get("WWW-Authenticate")))
		return
	case resp.StatusCode != http.StatusOK:
		answerError(-32603, fmt.Sprintf("HTTP %d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), raw))
		return
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		raw = lastSSEData(raw)
	}
	var msg map[string]any
	if err := json.Unmarshal(raw, &msg); err != nil {
		answerError(-32603, fmt.Sprintf("test host: the server's answer is not JSON: %v: %s", err, raw))
		return
	}
	note(string(raw))
	answer(msg)
}

// lastSSEData is the data of the last event of a text/event-stream body.
func lastSSEData(body []byte) []byte {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
			last = bytes.Clone(bytes.TrimSpace(data))
		}
	}
	return last
}

// ---- Boards. ----

// widgetBoard is a board of widgetOwner's: three columns, cards with and
// without labels, and an empty last column.
type widgetBoard struct {
	ID       string
	Columns  []string          // column IDs in order
	Cards    map[string]string // card ID by title
	AdminTok string
	WriteTok string // what the host uses for the widget's calls
}

// widgetCards are the cards of every board, by column index.
var widgetCards = []struct {
	column int
	title  string
	labels []string
}{
	{0, "Write the spec", []string{"docs"}},
	{0, "Review the widget", []string{"ui", "review"}},
	{0, "Fix the flaky test", nil},
	{1, "Ship the server", []string{"backend"}},
	{1, "Tag the release", nil},
}

func newWidgetBoard(t *testing.T, srv *testServer, title string) widgetBoard {
	t.Helper()
	admin := srv.token(t, widgetOwner, "setup-client", "kanban.admin")
	created := srv.mustCall(t, admin, "create_board", map[string]any{"title": title})
	wb := widgetBoard{
		ID: str(created.Structured, "id"), Cards: map[string]string{}, AdminTok: admin,
		WriteTok: srv.token(t, widgetOwner, "widget-host", "kanban.write"),
	}
	for _, c := range list(created.Structured, "columns") {
		wb.Columns = append(wb.Columns, str(c.(map[string]any), "id"))
	}
	if wb.ID == "" || len(wb.Columns) != 3 {
		t.Fatalf("create_board: want a board with 3 columns, got %v", created.Structured)
	}
	for _, c := range widgetCards {
		args := map[string]any{"board_id": wb.ID, "column_id": wb.Columns[c.column], "title": c.title}
		if c.labels != nil {
			args["labels"] = c.labels
		}
		card := srv.mustCall(t, admin, "add_card", args)
		wb.Cards[c.title] = str(card.Structured, "id")
	}
	return wb
}

// newLongBoard is a board of widgetOwner's with the given columns and n
// cards in the first, "Item 1" to "Item n".
func newLongBoard(t *testing.T, srv *testServer, title string, columns []string, n int) widgetBoard {
	t.Helper()
	admin := srv.token(t, widgetOwner, "setup-client", "kanban.admin")
	created := srv.mustCall(t, admin, "create_board", map[string]any{"title": title, "columns": columns})
	wb := widgetBoard{
		ID: str(created.Structured, "id"), Cards: map[string]string{}, AdminTok: admin,
		WriteTok: srv.token(t, widgetOwner, "widget-host", "kanban.write"),
	}
	for _, c := range list(created.Structured, "columns") {
		wb.Columns = append(wb.Columns, str(c.(map[string]any), "id"))
	}
	if len(wb.Columns) != len(columns) {
		t.Fatalf("create_board: want %d columns, got %v", len(columns), created.Structured)
	}
	for i := 1; i <= n; i++ {
		title := fmt.Sprintf("Item %d", i)
		card := srv.mustCall(t, admin, "add_card", map[string]any{"board_id": wb.ID, "column_id": wb.Columns[0], "title": title})
		wb.Cards[title] = str(card.Structured, "id")
	}
	return wb
}

// apiBoard is get_board's structured content, as far as the widget shows
// it or tells the model about it.
type apiBoard struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Visibility string `json:"visibility"`
	Owned      bool   `json:"owned"`
	Version    int64  `json:"version"`
	Columns    []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		CardCount int    `json:"card_count"`
		Cards     []struct {
			ID       string   `json:"id"`
			Title    string   `json:"title"`
			Labels   []string `json:"labels"`
			Position int      `json:"position"`
			Version  int64    `json:"version"`
		} `json:"cards"`
	} `json:"columns"`
}

// layout is the card IDs of each column, in order.
func (b apiBoard) layout() []columnLayout {
	var out []columnLayout
	for _, c := range b.Columns {
		l := columnLayout{Column: c.ID}
		for _, card := range c.Cards {
			l.Cards = append(l.Cards, card.ID)
		}
		out = append(out, l)
	}
	return out
}

// columnLayout is one column and its card IDs in order.
type columnLayout struct {
	Column string
	Cards  []string
}

// fetchBoard reads the board from the database with a fresh get_board.
func fetchBoard(t *testing.T, srv *testServer, wb widgetBoard) apiBoard {
	t.Helper()
	res := srv.mustCall(t, wb.AdminTok, "get_board", map[string]any{"board_id": wb.ID})
	return decodeBoard(t, res.Structured)
}

func decodeBoard(t *testing.T, structured any) apiBoard {
	t.Helper()
	raw, err := json.Marshal(structured)
	if err != nil {
		t.Fatal(err)
	}
	var b apiBoard
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("get_board structured content: %v\n%s", err, raw)
	}
	return b
}

// newScenario makes a fresh board and registers it with the host: the
// host will hand the widget get_board's result for the owner's write
// token, and relay its calls with that token.
func (h *widgetHost) newScenario(t *testing.T, name string) *hostScenario {
	t.Helper()
	return h.scenarioFor(t, name, newWidgetBoard(t, h.srv, "Widget "+name))
}

// scenarioFor registers the board wb with the host, as newScenario does.
func (h *widgetHost) scenarioFor(t *testing.T, name string, wb widgetBoard) *hostScenario {
	t.Helper()
	r := h.srv.call(t, wb.WriteTok, "get_board", map[string]any{"board_id": wb.ID})
	res := r.result(t)
	if res.IsError {
		t.Fatalf("get_board: %s", res.Text())
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		t.Fatal(err)
	}
	sc := &hostScenario{Board: wb, Result: msg.Result, Initial: decodeBoard(t, res.Structured), token: wb.WriteTok, hostCaps: fullHostCaps()}
	h.mu.Lock()
	sc.Key = fmt.Sprintf("%d-%s", len(h.scenarios)+1, name)
	h.scenarios[sc.Key] = sc
	h.mu.Unlock()
	return sc
}

// ---- The page in the browser. ----

// widgetPage is the host page of one scenario, loaded in the browser.
type widgetPage struct {
	b     *browser
	sc    *hostScenario
	frame *chromedp.Node // the iframe element of the View
}

// open loads the host page of sc and waits for the board.
func (h *widgetHost) open(t *testing.T, b *browser, sc *hostScenario, theme string, sibling bool) *widgetPage {
	t.Helper()
	q := url.Values{"s": {sc.Key}, "theme": {theme}}
	if sibling {
		q.Set("sibling", "1")
	}
	b.do(t, "open the host page", chromedp.Navigate(h.URL+"/host.html?"+q.Encode()))
	p := &widgetPage{b: b, sc: sc}
	p.hostWait(t, "the widget completes the handshake (ui/initialize, then ui/notifications/initialized)",
		`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.method === "ui/notifications/initialized")`)
	nodes, err := chromedp.Run(b.Ctx, chromedp.Nodes(chromedp.CSS("iframe#view")))
	if err != nil || len(nodes) != 1 || nodes[0].FrameID == "" {
		p.fail(t, "find the widget's frame", fmt.Errorf("nodes %v, err %v", nodes, err))
	}
	p.frame = nodes[0]
	p.frameWait(t, "the board is rendered (data-state=ready)", `document.documentElement.dataset.state === "ready"`)
	// Until the host has fitted the frame to the size the widget reported,
	// part of the board lies outside the frame, where no pointer reaches it.
	p.frameWait(t, "the host has fitted the frame to the widget's reported size",
		`Math.abs(window.innerHeight - document.documentElement.getBoundingClientRect().height) <= 1`)
	return p
}

// fail ends the test at step, with what the page, the host and the relay
// saw, the browser output and the server log.
func (p *widgetPage) fail(t *testing.T, step string, err error) {
	t.Helper()
	var diag strings.Builder
	if p.b.Ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(p.b.Ctx, 3*time.Second)
		if log, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.hostLog || [], null, 1)`)); err == nil {
			fmt.Fprintf(&diag, "\nhost log:\n%s", log)
		}
		if p.frame != nil {
			if v, err := chromedp.Run(ctx, chromedp.Poll[boxed[domBoard]]("({v: ("+domBoardJS+")})", chromedp.WithPollingInFrame(p.frame), chromedp.WithPollingTimeout(2*time.Second))); err == nil {
				fmt.Fprintf(&diag, "\nwidget DOM: %+v", v.V)
			}
		}
		cancel()
	}
	fmt.Fprintf(&diag, "\nrelay:\n%s", p.sc.relayLog())
	p.b.fail(t, step, fmt.Errorf("%w%s", err, diag.String()))
}

// boxed wraps a value so that a poll, which waits for a truthy value,
// returns at once whatever the value is.
type boxed[T any] struct {
	V T `json:"v"`
}

// frameEval evaluates expr inside the View's frame.
func frameEval[T any](t *testing.T, p *widgetPage, step, expr string) T {
	t.Helper()
	v, err := chromedp.Run(p.b.Ctx, chromedp.Poll[boxed[T]]("({v: ("+expr+")})",
		chromedp.WithPollingInFrame(p.frame), chromedp.WithPollingTimeout(widgetWait)))
	if err != nil {
		p.fail(t, step, err)
	}
	return v.V
}

// frameWait polls predicate inside the View's frame until it holds. The
// interval polling keeps working in a frame the browser does not paint.
func (p *widgetPage) frameWait(t *testing.T, step, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(p.b.Ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInFrame(p.frame),
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(widgetWait))); err != nil {
		p.fail(t, "wait until "+step, err)
	}
}

// hostEval evaluates expr in the host page.
func hostEval[T any](t *testing.T, p *widgetPage, step, expr string) T {
	t.Helper()
	v, err := chromedp.Run(p.b.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fail(t, step, err)
	}
	return v
}

// hostWait polls predicate in the host page until it holds.
func (p *widgetPage) hostWait(t *testing.T, step, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(p.b.Ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(widgetWait))); err != nil {
		p.fail(t, "wait until "+step, err)
	}
}

// domBoard is what the widget shows.
type domBoard struct {
	State   string      `json:"state"`
	Theme   string      `json:"theme"`
	BoardID string      `json:"boardId"`
	Notice  domNotice   `json:"notice"`
	Pending int         `json:"pending"`
	Columns []domColumn `json:"columns"`
}

type domNotice struct {
	Shown bool   `json:"shown"`
	Kind  string `json:"kind"`
	Text  string `json:"text"`
}

type domColumn struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Count string    `json:"count"`
	Cards []domCard `json:"cards"`
}

type domCard struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Labels    []string `json:"labels"`
	TabIndex  string   `json:"tabindex"`
	Draggable string   `json:"draggable"`
	Pending   bool     `json:"pending"`
	Left      string   `json:"left"`  // the move-left button: enabled, disabled or missing
	Right     string   `json:"right"` // the move-right button
}

// layout is the card IDs of each column, in order.
func (d domBoard) layout() []columnLayout {
	var out []columnLayout
	for _, c := range d.Columns {
		l := columnLayout{Column: c.ID}
		for _, card := range c.Cards {
			l.Cards = append(l.Cards, card.ID)
		}
		out = append(out, l)
	}
	return out
}

// domBoardJS reads the widget's DOM as a domBoard.
const domBoardJS = `(() => {
  const text = (el) => (el ? el.textContent.trim() : "");
  const button = (b) => (!b ? "missing" : b.disabled ? "disabled" : "enabled");
  const board = document.getElementById("board");
  const notice = document.getElementById("notice");
  return {
    state: document.documentElement.dataset.state || "",
    theme: document.documentElement.dataset.theme || "",
    boardId: (board && board.dataset.boardId) || "",
    notice: notice && !notice.hidden && notice.getClientRects().length > 0
      ? { shown: true, kind: notice.dataset.kind || "", text: text(notice) }
      : { shown: false, kind: (notice && notice.dataset.kind) || "", text: "" },
    pending: document.querySelectorAll('[data-pending="true"]').length,
    columns: [...document.querySelectorAll("#board .column")].map((c) => ({
      id: c.dataset.columnId || "",
      name: text(c.querySelector(".column-name")),
      count: text(c.querySelector(".column-count")),
      cards: [...c.querySelectorAll(".column-cards .card")].map((k) => ({
        id: k.dataset.cardId || "",
        title: text(k.querySelector(".card-title")),
        labels: [...k.querySelectorAll(".label")].map(text),
        tabindex: k.getAttribute("tabindex") || "",
        draggable: k.getAttribute("draggable") || "",
        pending: k.dataset.pending === "true",
        left: button(k.querySelector('button[data-move="left"]')),
        right: button(k.querySelector('button[data-move="right"]')),
      })),
    })),
  };
})()`

func (p *widgetPage) dom(t *testing.T) domBoard {
	t.Helper()
	return frameEval[domBoard](t, p, "read the widget's DOM", domBoardJS)
}

// ---- The bridge log. ----

// bridgeEntry is one message of window.hostLog.
type bridgeEntry struct {
	Dir string     `json:"dir"` // from-view or to-view
	Msg bridgeJSON `json:"msg"`
}

type bridgeJSON struct {
	ID     any            `json:"id"`
	Method string         `json:"method"`
	Params map[string]any `json:"params"`
	Result map[string]any `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (p *widgetPage) bridgeLog(t *testing.T) []bridgeEntry {
	t.Helper()
	return hostEval[[]bridgeEntry](t, p, "read the host's message log", `window.hostLog`)
}

// toolCalls returns the arguments of the widget's tools/call requests of
// tool, in order.
func toolCalls(log []bridgeEntry, tool string) []map[string]any {
	var out []map[string]any
	for _, e := range log {
		if e.Dir == "from-view" && e.Msg.Method == "tools/call" && str(e.Msg.Params, "name") == tool {
			args, _ := e.Msg.Params["arguments"].(map[string]any)
			out = append(out, args)
		}
	}
	return out
}

// answerTo finds the host's answer to the widget's tools/call of tool,
// the n-th (from 0).
func answerTo(log []bridgeEntry, tool string, n int) (bridgeJSON, bool) {
	var ids []string
	for _, e := range log {
		if e.Dir == "from-view" && e.Msg.Method == "tools/call" && str(e.Msg.Params, "name") == tool {
			ids = append(ids, fmt.Sprint(e.Msg.ID))
		}
	}
	if n >= len(ids) {
		return bridgeJSON{}, false
	}
	return responseTo(log, "to-view", ids[n])
}

// responseTo finds the response with id sent in direction dir.
func responseTo(log []bridgeEntry, dir, id string) (bridgeJSON, bool) {
	for _, e := range log {
		if e.Dir == dir && e.Msg.Method == "" && fmt.Sprint(e.Msg.ID) == id {
			return e.Msg, true
		}
	}
	return bridgeJSON{}, false
}

// ---- What the View tells the model. ----

// contextUpdate is one ui/update-model-context request of the View: where
// it is in the host's log, its params, and the host's answer.
type contextUpdate struct {
	At       int
	ID       any
	Params   map[string]any
	Answer   bridgeJSON
	Answered bool
}

// contextUpdates returns the View's ui/update-model-context requests, in
// order.
func contextUpdates(log []bridgeEntry) []contextUpdate {
	var out []contextUpdate
	for i, e := range log {
		if e.Dir == "from-view" && e.Msg.Method == "ui/update-model-context" {
			u := contextUpdate{At: i, ID: e.Msg.ID, Params: e.Msg.Params}
			if e.Msg.ID != nil {
				u.Answer, u.Answered = responseTo(log, "to-view", fmt.Sprint(e.Msg.ID))
			}
			out = append(out, u)
		}
	}
	return out
}

// answerIndex is where in the log the host answered the n-th (from 0)
// tools/call of tool, or -1.
func answerIndex(log []bridgeEntry, tool string, n int) int {
	var ids []string
	for _, e := range log {
		if e.Dir == "from-view" && e.Msg.Method == "tools/call" && str(e.Msg.Params, "name") == tool {
			ids = append(ids, fmt.Sprint(e.Msg.ID))
		}
	}
	if n >= len(ids) {
		return -1
	}
	for i, e := range log {
		if e.Dir == "to-view" && e.Msg.Method == "" && fmt.Sprint(e.Msg.ID) == ids[n] {
			return i
		}
	}
	return -1
}

// checkModelContext asserts the View's ui/update-model-context requests:
// exactly want (their params), each a request with an id that the host
// answered, the i-th sent only after the host's answer to the i-th call of
// tool, the change it reports.
func checkModelContext(t *testing.T, log []bridgeEntry, tool string, want []map[string]any) {
	t.Helper()
	updates := contextUpdates(log)
	got := make([]map[string]any, 0, len(updates))
	for _, u := range updates {
		got = append(got, u.Params)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ui/update-model-context params (-want +got):\n%s", diff)
	}
	for i, u := range updates {
		if u.ID == nil || !u.Answered {
			t.Errorf("ui/update-model-context #%d: id %v, answered %t; want a request the host answered", i, u.ID, u.Answered)
		}
		if answered := answerIndex(log, tool, i); answered < 0 || u.At < answered {
			t.Errorf("ui/update-model-context #%d is at %d of the host's log, the answer to %s #%d at %d: want the update after the change", i, u.At, tool, i, answered)
		}
	}
}

// settleBridge returns once everything the View posted so far has reached
// the host: messages of one window arrive in order, so the View's answer
// to a ping sent now comes after them. What the View did not send by then
// it did not send in reaction to what came before.
func (p *widgetPage) settleBridge(t *testing.T) {
	t.Helper()
	id := hostEval[string](t, p, "ping the widget", `hostRequest("ping", {})`)
	p.hostWait(t, "the widget answers the ping",
		fmt.Sprintf(`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.id === %q && e.msg.method === undefined)`, id))
}

// openaiCall is one call of the View to window.openai (openaiStandIn).
type openaiCall struct {
	Method string `json:"method"`
	Args   []any  `json:"args"`
}

// openaiCalls returns the View's calls to window.openai; none when it runs
// without it.
func (p *widgetPage) openaiCalls(t *testing.T) []openaiCall {
	t.Helper()
	return frameEval[[]openaiCall](t, p, "read the calls to window.openai", `window.openaiCalls || []`)
}

// The bound on what the View tells the model: at most contextCards cards,
// shared out among the columns, at most contextCardsPerColumn in each,
// plus the changed card wherever it is.
const (
	contextCards          = 50
	contextCardsPerColumn = 10
)

// contextToken is a plain token: letters, digits and _ . / : @ + -.
var contextToken = regexp.MustCompile(`^[A-Za-z0-9_./:@+-]+$`)

// contextValue is a value as the server's tool results show it: a plain
// token as it is, anything else as a JSON string.
func contextValue(s string) string {
	if contextToken.MatchString(s) {
		return s
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// contextBoard is the board in the View's update: get_board's shape, less
// what a change leaves stale or the model needs no more of.
type contextBoard struct {
	ID         string          `json:"id"`
	Title      string          `json:"title"`
	Visibility string          `json:"visibility"`
	Owned      bool            `json:"owned"`
	Version    int64           `json:"version"`
	CardCount  int             `json:"card_count"`
	Columns    []contextColumn `json:"columns"`
}

type contextColumn struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	CardCount int           `json:"card_count"`
	Cards     []contextCard `json:"cards"`
}

type contextCard struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Position int    `json:"position"`
	Version  int64  `json:"version"`
}

// boardContext is what the View must tell the model about b (the board as
// the database has it after a change), with changed the changed card: the
// summary line, then a line per board, column and listed card, and the
// same board as structured content.
func boardContext(summary string, b apiBoard, changed string) (string, contextBoard) {
	perColumn := min(contextCardsPerColumn, max(1, contextCards/max(1, len(b.Columns))))
	board := contextBoard{ID: b.ID, Title: b.Title, Visibility: b.Visibility, Owned: b.Owned, Version: b.Version, Columns: []contextColumn{}}
	for _, c := range b.Columns {
		board.CardCount += len(c.Cards)
	}
	lines := []string{summary, fmt.Sprintf("board id=%s title=%s version=%d card_count=%d", contextValue(b.ID), contextValue(b.Title), b.Version, board.CardCount)}
	for _, c := range b.Columns {
		col := contextColumn{ID: c.ID, Name: c.Name, CardCount: len(c.Cards), Cards: []contextCard{}}
		lines = append(lines, fmt.Sprintf("column id=%s name=%s card_count=%d", contextValue(c.ID), contextValue(c.Name), len(c.Cards)))
		for i, card := range c.Cards {
			if i >= perColumn && card.ID != changed {
				continue
			}
			col.Cards = append(col.Cards, contextCard{ID: card.ID, Title: card.Title, Position: card.Position, Version: card.Version})
			lines = append(lines, fmt.Sprintf("  card id=%s title=%s position=%d version=%d", contextValue(card.ID), contextValue(card.Title), card.Position, card.Version))
		}
		if more := len(c.Cards) - len(col.Cards); more == 1 {
			lines = append(lines, "  …and 1 more card; get_board lists every card")
		} else if more > 1 {
			lines = append(lines, fmt.Sprintf("  …and %d more cards; get_board lists every card", more))
		}
		board.Columns = append(board.Columns, col)
	}
	return strings.Join(lines, "\n"), board
}

// contextParams is ui/update-model-context's params as the host's log
// shows them: the text as a content block unless text is "", the board as
// structured content unless board is nil.
func contextParams(t *testing.T, text string, board *contextBoard) map[string]any {
	t.Helper()
	params := map[string]any{}
	if text != "" {
		params["content"] = []map[string]any{{"type": "text", "text": text}}
	}
	if board != nil {
		params["structuredContent"] = board
	}
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- Input. ----

// point is a position in the host page's viewport, in CSS pixels.
type point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// framePoint returns the page position of a point of the first element
// that matches sel inside the View: its center, or, with bottom, 6 px
// above its bottom edge. Input events take page positions, so the frame's
// offset in the host page is added.
func (p *widgetPage) framePoint(t *testing.T, sel string, bottom bool) point {
	t.Helper()
	js, _ := json.Marshal(sel)
	inner := frameEval[*point](t, p, "locate "+sel, fmt.Sprintf(`(() => {
  const el = document.querySelector(%s);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return { x: r.left + r.width / 2, y: %t ? r.bottom - 6 : r.top + r.height / 2 };
})()`, js, bottom))
	if inner == nil {
		p.fail(t, "locate "+sel, errors.New("no such element in the widget"))
	}
	offset := hostEval[point](t, p, "locate the widget's frame", `(() => {
  const f = document.getElementById("view");
  const r = f.getBoundingClientRect();
  return { x: r.left + f.clientLeft, y: r.top + f.clientTop };
})()`)
	return point{X: offset.X + inner.X, Y: offset.Y + inner.Y}
}

// dragAndDrop drags with the mouse from one point to another, as
// Playwright does in a headless browser: the press and a first move start
// a drag, which the browser hands over instead of running it (input
// interception); the drag then goes on with the protocol's drag events,
// along the way and resting over the target for a few dragover ticks, as
// a pointer does, and drops there.
func dragAndDrop(from, to point) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) (err error) {
		if _, err := cdp.Call(ctx, t, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: true}); err != nil {
			return err
		}
		last := from
		mouse := func(ctx context.Context, typ input.DispatchMouseEventType, at point) error {
			p := input.DispatchMouseEventParams{Type: typ, X: at.X, Y: at.Y, Button: input.MouseButtonLeft}
			switch typ {
			case chromedp.MousePressed:
				p.Buttons, p.ClickCount = 1, 1
			case chromedp.MouseMoved:
				p.Buttons = 1
			case chromedp.MouseReleased:
				p.ClickCount = 1
			}
			last = at
			_, err := cdp.Call(ctx, t, input.DispatchMouseEvent, p)
			return err
		}
		pressed := false
		defer func() {
			// Leave no button down and no interception on, even after an error.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if pressed {
				_ = mouse(ctx, chromedp.MouseReleased, last)
			}
			if _, off := cdp.Call(ctx, t, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: false}); off != nil && err == nil {
				err = off
			}
		}()

		// Press, and move past the browser's drag threshold towards the target.
		dist := math.Hypot(to.X-from.X, to.Y-from.Y)
		if dist < 20 {
			return fmt.Errorf("drag of %.0f px: too short to start a drag", dist)
		}
		along := func(d float64) point {
			return point{X: from.X + (to.X-from.X)*d/dist, Y: from.Y + (to.Y-from.Y)*d/dist}
		}
		wctx, cancel := context.WithTimeout(ctx, widgetWait)
		defer cancel()
		ev, err := chromedp.WaitEvent(input.DragIntercepted, nil, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if err := mouse(ctx, chromedp.MousePressed, from); err != nil {
				return err
			}
			pressed = true
			for _, d := range []float64{5, 10, 15} {
				if err := mouse(ctx, chromedp.MouseMoved, along(d)); err != nil {
					return err
				}
			}
			return nil
		}))(wctx, t)
		if err != nil {
			return fmt.Errorf("the browser started no drag: %w", err)
		}
		drag := func(typ input.DispatchDragEventType, at point) error {
			_, err := cdp.Call(ctx, t, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: at.X, Y: at.Y, Data: ev.Data})
			return err
		}
		if err := drag(input.DispatchDragEventTypeDragEnter, last); err != nil {
			return err
		}
		const steps = 8
		for i := 1; i <= steps; i++ {
			if err := drag(input.DispatchDragEventTypeDragOver, along(15+(dist-15)*float64(i)/steps)); err != nil {
				return err
			}
		}
		for range 3 {
			if err := drag(input.DispatchDragEventTypeDragOver, to); err != nil {
				return err
			}
		}
		if err := drag(input.DispatchDragEventTypeDrop, to); err != nil {
			return err
		}
		pressed = false
		return mouse(ctx, chromedp.MouseReleased, to)
	})
}

// dragCardToColumnEnd drags a card below the last card of a column.
func (p *widgetPage) dragCardToColumnEnd(t *testing.T, cardID, columnID string) {
	t.Helper()
	from := p.framePoint(t, fmt.Sprintf(`.card[data-card-id=%q] .card-title`, cardID), false)
	to := p.framePoint(t, fmt.Sprintf(`.column[data-column-id=%q]`, columnID), true)
	if err := chromedp.Do(p.b.Ctx, dragAndDrop(from, to)); err != nil {
		p.fail(t, "drag the card to the end of the column", err)
	}
}

// cardAt is a predicate: the card is at index of the column, and no call
// is in flight.
func cardAt(cardID, columnID string, index int) string {
	return fmt.Sprintf(`(() => {
  const cards = [...document.querySelectorAll('.column[data-column-id=%q] .column-cards .card')];
  return cards.length > %d && cards[%d].dataset.cardId === %q && !document.querySelector('[data-pending="true"]');
})()`, columnID, index, index, cardID)
}

// noticeShown is a predicate: #notice is visible with kind, and no call
// is in flight any more.
func noticeShown(kind string) string {
	return fmt.Sprintf(`(() => {
  const n = document.getElementById("notice");
  return !!n && !n.hidden && n.getClientRects().length > 0 && n.dataset.kind === %q && !document.querySelector('[data-pending="true"]');
})()`, kind)
}

// ---- The subtests. ----

// testWidgetConsoleCanary proves that the console check sees a frame's
// console and CSP violations, and that the sandbox enforces the policy:
// a page of the sandbox origin, under the View's policy, logs an error
// and tries the network, in a tab of its own.
func testWidgetConsoleCanary(t *testing.T, b *browser, h *widgetHost) {
	ctx, cancel := chromedp.NewContext(b.Ctx)
	defer cancel()
	w := watchConsole(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(h.URL+"/canary.html")); err != nil {
		b.fail(t, "open the canary page", err)
	}
	type report struct {
		Canary    string `json:"canary"`
		Directive string `json:"directive"`
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[[]report](`window.canary.length >= 2 && window.canary`,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(widgetWait)))
	if err != nil {
		b.fail(t, "wait for the canary's reports", err)
	}
	slices.SortFunc(got, func(a, b report) int { return strings.Compare(a.Canary, b.Canary) })
	want := []report{{Canary: "blocked"}, {Canary: "violation", Directive: "connect-src"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the sandbox's CSP must block the frame's fetch (connect-src 'none') (-want +got):\n%s", diff)
	}
	var sawError, sawViolation bool
	for _, m := range w.end(t, b, ctx) {
		t.Logf("canary console: %s %s", m, m.URL)
		if !consoleBad(m) {
			continue
		}
		sawError = sawError || strings.Contains(m.Text, "kanban-e2e canary: an error inside the frame")
		sawViolation = sawViolation || strings.Contains(m.Text, "Content Security Policy")
	}
	if !sawError || !sawViolation {
		t.Errorf("the console capture missed the frame's messages: console.error seen %t, CSP violation seen %t; the console check of the widget would be blind", sawError, sawViolation)
	}
}

// testWidgetRenders compares the widget's DOM with get_board's structured
// content, which is what the host handed it.
func testWidgetRenders(t *testing.T, b *browser, h *widgetHost) {
	sc := h.newScenario(t, "render")
	var res toolResult
	if err := json.Unmarshal(sc.Result, &res); err != nil {
		t.Fatal(err)
	}
	viewer, _ := res.Meta["kanban-mcp/widget"].(map[string]any)["viewer"].(map[string]any)
	if viewer["signed_in"] != true || viewer["can_write"] != true || viewer["write_scope"] != "kanban.write" {
		t.Errorf(`get_board _meta["kanban-mcp/widget"].viewer = %v, want signed_in, can_write and write_scope kanban.write`, viewer)
	}
	p := h.open(t, b, sc, "light", false)
	got := p.dom(t)

	want := domBoard{State: "ready", Theme: "light", BoardID: sc.Initial.ID}
	for ci, c := range sc.Initial.Columns {
		col := domColumn{ID: c.ID, Name: c.Name, Count: strconv.Itoa(c.CardCount)}
		for _, card := range c.Cards {
			left, right := "enabled", "enabled"
			if ci == 0 {
				left = "disabled"
			}
			if ci == len(sc.Initial.Columns)-1 {
				right = "disabled"
			}
			col.Cards = append(col.Cards, domCard{ID: card.ID, Title: card.Title, Labels: card.Labels,
				TabIndex: "0", Draggable: "true", Left: left, Right: right})
		}
		want.Columns = append(want.Columns, col)
	}
	if len(want.Columns) != 3 || len(want.Columns[0].Cards) != 3 || len(want.Columns[2].Cards) != 0 {
		t.Fatalf("get_board returned an unexpected board: %+v", sc.Initial)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the widget's board differs from get_board's structured content (-want +got):\n%s", diff)
	}
}

// testWidgetDrag drags a card with the mouse below the last card of the
// next column.
func testWidgetDrag(t *testing.T, b *browser, h *widgetHost) {
	sc := h.newScenario(t, "drag")
	p := h.open(t, b, sc, "light", false)
	wb := sc.Board
	card, target := wb.Cards["Fix the flaky test"], wb.Columns[1]

	p.dragCardToColumnEnd(t, card, target)
	p.frameWait(t, "the dragged card is last in the next column, and settled", cardAt(card, target, 2))

	log := p.bridgeLog(t)
	wantArgs := []map[string]any{{"card_id": card, "column_id": target, "position": float64(2)}}
	if diff := cmp.Diff(wantArgs, toolCalls(log, "move_card")); diff != "" {
		t.Errorf("move_card calls of one drag (-want +got):\n%s", diff)
	}
	if a, ok := answerTo(log, "move_card", 0); !ok || a.Error != nil || a.Result["isError"] == true {
		t.Errorf("the host's answer to move_card = %+v (found %t), want a successful result", a, ok)
	}
	db := fetchBoard(t, h.srv, wb)
	wantDB := []columnLayout{
		{wb.Columns[0], []string{wb.Cards["Write the spec"], wb.Cards["Review the widget"]}},
		{wb.Columns[1], []string{wb.Cards["Ship the server"], wb.Cards["Tag the release"], card}},
		{wb.Columns[2], nil},
	}
	if diff := cmp.Diff(wantDB, db.layout()); diff != "" {
		t.Errorf("database after the drag (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(db.layout(), p.dom(t).layout()); diff != "" {
		t.Errorf("the widget after the drag differs from the database (-database +widget):\n%s", diff)
	}

	// The host hears of the move for the model's next turn: what changed,
	// then the board as it now is, in the lines of the server's tool
	// results. Spelled out here, this pins the format that boardContext
	// computes for the other cases.
	p.hostWait(t, "the widget sends ui/update-model-context",
		`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.method === "ui/update-model-context")`)
	p.settleBridge(t)
	cardLine := func(title string, position int, version int64) string {
		return fmt.Sprintf(`  card id=%s title="%s" position=%d version=%d`, wb.Cards[title], title, position, version)
	}
	wantText := strings.Join([]string{
		`The user moved card "Fix the flaky test" from "To do" to Doing (position 2) in the board widget.`,
		fmt.Sprintf(`board id=%s title="Widget drag" version=%d card_count=5`, wb.ID, db.Version),
		fmt.Sprintf(`column id=%s name="To do" card_count=2`, wb.Columns[0]),
		cardLine("Write the spec", 0, 1),
		cardLine("Review the widget", 1, 1),
		fmt.Sprintf(`column id=%s name=Doing card_count=3`, wb.Columns[1]),
		cardLine("Ship the server", 0, 1),
		cardLine("Tag the release", 1, 1),
		cardLine("Fix the flaky test", 2, 2),
		fmt.Sprintf(`column id=%s name=Done card_count=0`, wb.Columns[2]),
	}, "\n")
	text, board := boardContext(`The user moved card "Fix the flaky test" from "To do" to Doing (position 2) in the board widget.`, db, card)
	if diff := cmp.Diff(wantText, text); diff != "" {
		t.Fatalf("boardContext disagrees with the format spelled out here (-want +boardContext):\n%s", diff)
	}
	checkModelContext(t, p.bridgeLog(t), "move_card", []map[string]any{contextParams(t, text, &board)})
}

// testWidgetKeyboard moves a card with Shift+arrows, after checking that
// plain arrows only move the focus.
func testWidgetKeyboard(t *testing.T, b *browser, h *widgetHost) {
	sc := h.newScenario(t, "keyboard")
	p := h.open(t, b, sc, "light", false)
	wb := sc.Board
	card := wb.Cards["Review the widget"]
	focused := func(id string) string {
		return fmt.Sprintf(`document.hasFocus() && document.activeElement && document.activeElement.dataset.cardId === %q`, id)
	}
	key := func(step string, k string, mods ...chromedp.Modifier) {
		t.Helper()
		if err := chromedp.Do(p.b.Ctx, chromedp.KeyEvent(k, chromedp.KeyModifiers(mods...))); err != nil {
			p.fail(t, step, err)
		}
	}

	// A person clicks the card, which focuses it.
	at := p.framePoint(t, fmt.Sprintf(`.card[data-card-id=%q] .card-title`, card), false)
	p.b.do(t, "click the card", chromedp.MouseClickXY(at.X, at.Y))
	p.frameWait(t, "the clicked card has the focus", focused(card))

	key("press ArrowDown", kb.ArrowDown)
	p.frameWait(t, "ArrowDown focuses the next card", focused(wb.Cards["Fix the flaky test"]))
	key("press ArrowUp", kb.ArrowUp)
	p.frameWait(t, "ArrowUp focuses the card again", focused(card))

	// Shift+ArrowRight: the next column, at the same index.
	key("press Shift+ArrowRight", kb.ArrowRight, chromedp.ModifierShift)
	p.frameWait(t, "Shift+ArrowRight moves the card to index 1 of the next column, settled", cardAt(card, wb.Columns[1], 1))
	db := fetchBoard(t, h.srv, wb)
	afterRight := db
	want := []columnLayout{
		{wb.Columns[0], []string{wb.Cards["Write the spec"], wb.Cards["Fix the flaky test"]}},
		{wb.Columns[1], []string{wb.Cards["Ship the server"], card, wb.Cards["Tag the release"]}},
		{wb.Columns[2], nil},
	}
	if diff := cmp.Diff(want, db.layout()); diff != "" {
		t.Errorf("database after Shift+ArrowRight (-want +got):\n%s", diff)
	}

	// The moved card keeps the focus, so Shift+ArrowUp goes on moving it.
	p.frameWait(t, "the moved card keeps the focus", focused(card))
	key("press Shift+ArrowUp", kb.ArrowUp, chromedp.ModifierShift)
	p.frameWait(t, "Shift+ArrowUp moves the card to the top of its column, settled", cardAt(card, wb.Columns[1], 0))
	db = fetchBoard(t, h.srv, wb)
	want[1].Cards = []string{card, wb.Cards["Ship the server"], wb.Cards["Tag the release"]}
	if diff := cmp.Diff(want, db.layout()); diff != "" {
		t.Errorf("database after Shift+ArrowUp (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(db.layout(), p.dom(t).layout()); diff != "" {
		t.Errorf("the widget after the keyboard moves differs from the database (-database +widget):\n%s", diff)
	}

	// Exactly the two moves: the plain arrows sent nothing.
	wantArgs := []map[string]any{
		{"card_id": card, "column_id": wb.Columns[1], "position": float64(1)},
		{"card_id": card, "column_id": wb.Columns[1], "position": float64(0)},
	}
	if diff := cmp.Diff(wantArgs, toolCalls(p.bridgeLog(t), "move_card")); diff != "" {
		t.Errorf("move_card calls of the keyboard moves (-want +got):\n%s", diff)
	}

	// Each move tells the model the board after it; the host keeps the
	// last, which is the board as it now is.
	p.hostWait(t, "the widget sends ui/update-model-context for both moves",
		`hostLog.filter((e) => e.dir === "from-view" && e.msg && e.msg.method === "ui/update-model-context").length >= 2`)
	p.settleBridge(t)
	first, firstBoard := boardContext(`The user moved card "Review the widget" from "To do" to Doing (position 1) in the board widget.`, afterRight, card)
	second, secondBoard := boardContext(`The user moved card "Review the widget" within Doing from position 1 to position 0 in the board widget.`, db, card)
	checkModelContext(t, p.bridgeLog(t), "move_card", []map[string]any{
		contextParams(t, first, &firstBoard), contextParams(t, second, &secondBoard),
	})
}

// addCardInline adds a card as a person does: a click on the column's add
// button, the title typed, Enter. It returns once the card is shown last
// in the column, of count cards, and no call is in flight.
func (p *widgetPage) addCardInline(t *testing.T, column, title string, count int) {
	t.Helper()
	at := p.framePoint(t, fmt.Sprintf(`.column[data-column-id=%q] button.add-card`, column), false)
	p.b.do(t, "click the column's add button", chromedp.MouseClickXY(at.X, at.Y))
	p.frameWait(t, "the add form's title field has the focus",
		fmt.Sprintf(`document.hasFocus() && document.activeElement && document.activeElement.matches('.column[data-column-id=%q] .add-card-form input[name="title"]')`, column))
	p.b.do(t, "type the title and press Enter", chromedp.KeyEvent(title), chromedp.KeyEvent(kb.Enter))
	titleJS, _ := json.Marshal(title)
	p.frameWait(t, "the new card is shown, settled", fmt.Sprintf(`(() => {
  const cards = [...document.querySelectorAll('.column[data-column-id=%q] .column-cards .card')];
  return cards.length === %d && cards[%d].querySelector(".card-title").textContent.trim() === %s && !document.querySelector('[data-pending="true"]');
})()`, column, count, count-1, titleJS))
}

// testWidgetAdd adds a card to the empty column with the inline form.
func testWidgetAdd(t *testing.T, b *browser, h *widgetHost) {
	sc := h.newScenario(t, "add")
	p := h.open(t, b, sc, "light", false)
	wb := sc.Board
	column := wb.Columns[2]
	const title = "Added in the browser"

	p.addCardInline(t, column, title, 1)

	wantArgs := []map[string]any{{"board_id": wb.ID, "column_id": column, "title": title}}
	if diff := cmp.Diff(wantArgs, toolCalls(p.bridgeLog(t), "add_card")); diff != "" {
		t.Errorf("add_card calls (-want +got):\n%s", diff)
	}
	db := fetchBoard(t, h.srv, wb)
	if got := db.Columns[2].Cards; len(got) != 1 || got[0].Title != title {
		t.Fatalf("database column %s after adding = %+v, want one card %q", column, got, title)
	}
	if diff := cmp.Diff(db.layout(), p.dom(t).layout()); diff != "" {
		t.Errorf("the widget after adding differs from the database (-database +widget):\n%s", diff)
	}

	p.hostWait(t, "the widget sends ui/update-model-context",
		`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.method === "ui/update-model-context")`)
	p.settleBridge(t)
	text, board := boardContext(`The user added card "Added in the browser" to Done (position 0) in the board widget.`, db, db.Columns[2].Cards[0].ID)
	checkModelContext(t, p.bridgeLog(t), "add_card", []map[string]any{contextParams(t, text, &board)})
}

// testWidgetModelContextHosts drags a card under hosts that take what the
// widget tells the model in different ways: the standard request with the
// parts the host declares (SEP-1865's hostCapabilities.updateModelContext
// and its modalities), nothing for a host that declares none, a refusal
// taken quietly, and ChatGPT's window.openai.setWidgetState beside it.
func testWidgetModelContextHosts(t *testing.T, b *browser, h *widgetHost) {
	withContext := func(modalities map[string]any) map[string]any {
		caps := map[string]any{"serverTools": map[string]any{}}
		if modalities != nil {
			caps["updateModelContext"] = modalities
		}
		return caps
	}
	tests := []struct {
		name         string
		caps         map[string]any
		contextError bool // the host answers ui/update-model-context with an error
		openai       bool // the frame has window.openai, as in ChatGPT
		// What ui/update-model-context carries: the text, the structured
		// board; neither means no request at all.
		wantText, wantBoard bool
		wantSetWidgetState  bool
	}{
		{name: "text_and_structured", caps: fullHostCaps(), wantText: true, wantBoard: true},
		{name: "text_only", caps: withContext(map[string]any{"text": map[string]any{}}), wantText: true},
		{name: "structured_only", caps: withContext(map[string]any{"structuredContent": map[string]any{}}), wantBoard: true},
		{name: "no_modality", caps: withContext(map[string]any{"image": map[string]any{}})},
		{name: "not_declared", caps: withContext(nil)},
		{name: "refused_by_the_host", caps: fullHostCaps(), contextError: true, wantText: true, wantBoard: true},
		{name: "chatgpt", caps: fullHostCaps(), openai: true, wantText: true, wantBoard: true, wantSetWidgetState: true},
		{name: "chatgpt_not_declared", caps: withContext(nil), openai: true, wantSetWidgetState: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := h.newScenario(t, "context-"+tt.name)
			sc.hostAs(tt.caps, tt.contextError, tt.openai)
			p := h.open(t, b, sc, "light", false)
			wb := sc.Board
			card, target := wb.Cards["Fix the flaky test"], wb.Columns[1]

			p.dragCardToColumnEnd(t, card, target)
			p.frameWait(t, "the dragged card is last in the next column, and settled", cardAt(card, target, 2))
			p.settleBridge(t)

			db := fetchBoard(t, h.srv, wb)
			text, board := boardContext(`The user moved card "Fix the flaky test" from "To do" to Doing (position 2) in the board widget.`, db, card)
			var want []map[string]any
			if tt.wantText || tt.wantBoard {
				params := contextParams(t, "", nil)
				if tt.wantText {
					params = contextParams(t, text, nil)
				}
				if tt.wantBoard {
					params["structuredContent"] = contextParams(t, "", &board)["structuredContent"]
				}
				want = append(want, params)
			}
			log := p.bridgeLog(t)
			checkModelContext(t, log, "move_card", want)
			for _, u := range contextUpdates(log) {
				if refused := u.Answer.Error != nil; refused != tt.contextError {
					t.Errorf("the host's answer to ui/update-model-context = %+v; this case wants it refused: %t", u.Answer, tt.contextError)
				}
			}

			var wantCalls []openaiCall
			if tt.wantSetWidgetState {
				wantCalls = []openaiCall{{Method: "setWidgetState", Args: []any{map[string]any{"modelContext": text}}}}
			}
			if diff := cmp.Diff(wantCalls, p.openaiCalls(t), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("calls to window.openai (-want +got):\n%s", diff)
			}

			// However the host took it, the move stands and the person is
			// not troubled with it.
			after := p.dom(t)
			if after.State != "ready" || after.Notice.Shown {
				t.Errorf("after the move: state %q, notice %+v; want ready and no notice", after.State, after.Notice)
			}
			if diff := cmp.Diff(db.layout(), after.layout()); diff != "" {
				t.Errorf("the widget differs from the database (-database +widget):\n%s", diff)
			}
		})
	}
}

// testWidgetModelContextBounded adds a card, whose title tries to forge a
// field, below a column longer than the update lists: the update lists the
// first cards of each column and the new one, says how many more there
// are, and quotes the title.
func testWidgetModelContextBounded(t *testing.T, b *browser, h *widgetHost) {
	// Tall enough for every card and the add button under them.
	b.do(t, "set a tall viewport", chromedp.EmulateViewport(1024, 2400))
	t.Cleanup(func() { b.do(t, "set the 1024 px viewport again", chromedp.EmulateViewport(1024, 900)) })
	const title = `Ship "v2" id=c_forged`
	tests := []struct {
		name    string
		columns []string
		cards   int   // in the first column, before the new one
		listed  []int // positions of the first column that the update lists
		more    string
	}{{
		// Ten per column at most.
		name: "ten_per_column", columns: []string{"To do", "Doing", "Done"}, cards: 12,
		listed: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12},
		more:   "  …and 2 more cards; get_board lists every card",
	}, {
		// Fifty cards shared out among six columns: eight each.
		name: "shared_among_six_columns", columns: []string{"Ideas", "To do", "Doing", "Review", "Testing", "Done"}, cards: 9,
		listed: []int{0, 1, 2, 3, 4, 5, 6, 7, 9},
		more:   "  …and 1 more card; get_board lists every card",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wb := newLongBoard(t, h.srv, "Widget context "+tt.name, tt.columns, tt.cards)
			sc := h.scenarioFor(t, "context-"+tt.name, wb)
			p := h.open(t, b, sc, "light", false)
			p.addCardInline(t, wb.Columns[0], title, tt.cards+1)
			p.hostWait(t, "the widget sends ui/update-model-context",
				`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.method === "ui/update-model-context")`)
			p.settleBridge(t)

			db := fetchBoard(t, h.srv, wb)
			first := db.Columns[0].Cards
			if len(first) != tt.cards+1 || first[tt.cards].Title != title {
				t.Fatalf("database column %s after adding = %+v, want %d cards, the last %q", wb.Columns[0], first, tt.cards+1, title)
			}
			added := first[tt.cards].ID
			summary := fmt.Sprintf(`The user added card "Ship \"v2\" id=c_forged" to %s (position %d) in the board widget.`, contextValue(tt.columns[0]), tt.cards)
			text, board := boardContext(summary, db, added)
			log := p.bridgeLog(t)
			checkModelContext(t, log, "add_card", []map[string]any{contextParams(t, text, &board)})

			// The same, said without boardContext: which cards the first
			// column lists, how the rest are counted, how the title shows.
			updates := contextUpdates(log)
			if len(updates) != 1 {
				t.Fatalf("%d ui/update-model-context requests, want 1", len(updates))
			}
			var got struct {
				Content           []toolContent `json:"content"`
				StructuredContent contextBoard  `json:"structuredContent"`
			}
			raw, _ := json.Marshal(updates[0].Params)
			if err := json.Unmarshal(raw, &got); err != nil || len(got.Content) != 1 || len(got.StructuredContent.Columns) != len(tt.columns) {
				t.Fatalf("ui/update-model-context params %s: want one text block and %d columns (%v)", raw, len(tt.columns), err)
			}
			var listed []int
			for _, c := range got.StructuredContent.Columns[0].Cards {
				listed = append(listed, c.Position)
			}
			if diff := cmp.Diff(tt.listed, listed); diff != "" {
				t.Errorf("positions the update lists in the first column (-want +got):\n%s", diff)
			}
			lines := strings.Split(got.Content[0].Text, "\n")
			wantCard := fmt.Sprintf(`  card id=%s title="Ship \"v2\" id=c_forged" position=%d version=1`, added, tt.cards)
			if !slices.Contains(lines, wantCard) || !slices.Contains(lines, tt.more) {
				t.Errorf("the update's text lacks the line %q or %q:\n%s", wantCard, tt.more, got.Content[0].Text)
			}
			for _, line := range lines {
				if strings.Contains(line, "id=c_forged ") || strings.HasSuffix(line, "id=c_forged") {
					t.Errorf("the title forged a field: %q", line)
				}
			}
		})
	}
}

// testWidgetRefusals drags a card while the host's calls are refused: the
// card goes back where it was, the notice says why, nothing changes.
func testWidgetRefusals(t *testing.T, b *browser, h *widgetHost) {
	// An expired token: the server refuses it with HTTP 401 whatever the
	// challenge mode, so the relay answers with a JSON-RPC error.
	expired := func(t *testing.T) string {
		c := h.srv.Issuer.Standard(h.srv.MCP(), widgetOwner, "widget-host", "kanban.write")
		past := time.Now().Add(-2 * time.Hour)
		c["iat"], c["nbf"], c["exp"] = past.Unix(), past.Unix(), past.Add(time.Hour).Unix()
		return h.srv.Issuer.Mint(t, c)
	}
	signIn := regexp.MustCompile(`(?i)sign in|connect`)
	tests := []struct {
		name      string
		token     func(t *testing.T) string
		rpcError  string
		userAgent string // "" is ChatGPT's connector: in-band answers
		// answer checks what the host gave the widget, so that each case
		// really takes the path it names.
		answer   func(a bridgeJSON) bool
		kind     string
		wantText *regexp.Regexp
	}{{
		name:  "read_only_token",
		token: func(t *testing.T) string { return h.srv.token(t, widgetOwner, "widget-host", "kanban.read") },
		answer: func(a bridgeJSON) bool {
			return a.Result["isError"] == true && strings.Contains(fmt.Sprint(a.Result["_meta"]), `error="insufficient_scope"`)
		},
		kind:     "scope",
		wantText: regexp.MustCompile(`kanban\.write`),
	}, {
		name:  "no_token",
		token: func(t *testing.T) string { return "" },
		answer: func(a bridgeJSON) bool {
			return a.Result["isError"] == true && strings.Contains(fmt.Sprint(a.Result["_meta"]), `error="invalid_token"`)
		},
		kind:     "signin",
		wantText: signIn,
	}, {
		// The same refusals for a host that is not ChatGPT: HTTP 403 and
		// 401, which the host reports as JSON-RPC errors.
		name:      "read_only_token_http_403",
		token:     func(t *testing.T) string { return h.srv.token(t, widgetOwner, "widget-host", "kanban.read") },
		userAgent: "Claude-User",
		answer: func(a bridgeJSON) bool {
			return a.Error != nil && strings.Contains(a.Error.Message, "HTTP 403") && strings.Contains(a.Error.Message, `error="insufficient_scope"`)
		},
		kind:     "scope",
		wantText: regexp.MustCompile(`kanban\.write`),
	}, {
		name:      "no_token_http_401",
		token:     func(t *testing.T) string { return "" },
		userAgent: "Claude-User",
		answer: func(a bridgeJSON) bool {
			return a.Error != nil && strings.Contains(a.Error.Message, "HTTP 401") && strings.Contains(a.Error.Message, `scope="kanban.write"`)
		},
		kind:     "signin",
		wantText: signIn,
	}, {
		name:  "expired_token_http_401",
		token: expired,
		answer: func(a bridgeJSON) bool {
			return a.Error != nil && strings.Contains(a.Error.Message, "HTTP 401") && strings.Contains(a.Error.Message, `error="invalid_token"`)
		},
		kind:     "signin",
		wantText: signIn,
	}, {
		name:     "jsonrpc_error_401",
		token:    func(t *testing.T) string { return "" },
		rpcError: "HTTP 401 Unauthorized",
		answer:   func(a bridgeJSON) bool { return a.Error != nil && a.Error.Message == "HTTP 401 Unauthorized" },
		kind:     "signin",
		wantText: signIn,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := h.newScenario(t, "refused-"+tt.name)
			wb := sc.Board
			// As ChatGPT frames the widget when ChatGPT relays its calls.
			sc.hostAs(fullHostCaps(), false, tt.userAgent == "")
			p := h.open(t, b, sc, "light", false)
			before := p.dom(t)
			if before.Notice.Shown {
				t.Fatalf("the notice shows before any call: %+v", before.Notice)
			}
			sc.relayWith(tt.token(t), tt.rpcError)
			sc.relayAs(tt.userAgent)
			card := wb.Cards["Fix the flaky test"]

			p.dragCardToColumnEnd(t, card, wb.Columns[1])
			p.frameWait(t, "the "+tt.kind+" notice shows and the move has settled", noticeShown(tt.kind))

			after := p.dom(t)
			if !tt.wantText.MatchString(after.Notice.Text) {
				t.Errorf("the %s notice says %q; want it to match %s", tt.kind, after.Notice.Text, tt.wantText)
			}
			if diff := cmp.Diff(before.layout(), after.layout()); diff != "" {
				t.Errorf("the board did not roll back (-before +after):\n%s", diff)
			}
			log := p.bridgeLog(t)
			if n := len(toolCalls(log, "move_card")); n != 1 {
				t.Errorf("%d move_card calls, want 1", n)
			}
			if a, ok := answerTo(log, "move_card", 0); !ok || !tt.answer(a) {
				t.Errorf("the host's answer to move_card = %+v (found %t): not the refusal this case is about", a, ok)
			}
			if diff := cmp.Diff(sc.Initial.layout(), fetchBoard(t, h.srv, wb).layout()); diff != "" {
				t.Errorf("the refused move changed the database (-before +after):\n%s", diff)
			}
			// Nothing changed, so the model is told nothing, by either way.
			p.settleBridge(t)
			if updates := contextUpdates(p.bridgeLog(t)); len(updates) != 0 {
				t.Errorf("after a refused move the widget sent ui/update-model-context: %+v", updates)
			}
			if calls := p.openaiCalls(t); len(calls) != 0 {
				t.Errorf("after a refused move the widget called window.openai: %+v", calls)
			}
		})
	}
}

// testWidgetBridge checks the View's side of the protocol: the handshake,
// size reports, ping, teardown, unknown methods, host context changes, and
// that only the parent window is listened to.
func testWidgetBridge(t *testing.T, b *browser, h *widgetHost) {
	sc := h.newScenario(t, "bridge")
	p := h.open(t, b, sc, "light", true)

	// The handshake: ui/initialize with the protocol version first, and
	// ui/notifications/initialized only after the host's answer.
	log := p.bridgeLog(t)
	if len(log) == 0 || log[0].Dir != "from-view" || log[0].Msg.Method != "ui/initialize" {
		t.Fatalf("the widget's first message is %+v, want a ui/initialize request", log[:min(len(log), 1)])
	}
	init := log[0].Msg
	if init.ID == nil || str(init.Params, "protocolVersion") != appsProtocol || str(init.Params, "appInfo", "name") == "" {
		t.Errorf("ui/initialize = %+v, want an id, protocolVersion %q and appInfo.name", init, appsProtocol)
	}
	answered, initialized := -1, -1
	for i, e := range log {
		if e.Dir == "to-view" && e.Msg.Method == "" && fmt.Sprint(e.Msg.ID) == fmt.Sprint(init.ID) && answered < 0 {
			answered = i
		}
		if e.Dir == "from-view" && e.Msg.Method == "ui/notifications/initialized" && initialized < 0 {
			initialized = i
			if e.Msg.ID != nil {
				t.Errorf("ui/notifications/initialized carries an id (%v): a notification has none", e.Msg.ID)
			}
		}
	}
	if answered < 0 || initialized < answered {
		t.Errorf("ui/notifications/initialized at %d, the answer to ui/initialize at %d: want the notification after the answer", initialized, answered)
	}

	// The widget reports its size, and the host fits the frame to it.
	sized := false
	for _, e := range log {
		if e.Dir == "from-view" && e.Msg.Method == "ui/notifications/size-changed" {
			width, _ := e.Msg.Params["width"].(float64)
			height, _ := e.Msg.Params["height"].(float64)
			sized = sized || (width > 0 && height > 0)
		}
	}
	if !sized {
		t.Errorf("no ui/notifications/size-changed with a positive width and height")
	}

	// request sends a request from the host and waits for the answer.
	request := func(method string, params map[string]any) bridgeJSON {
		t.Helper()
		pj, _ := json.Marshal(params)
		mj, _ := json.Marshal(method)
		id := hostEval[string](t, p, "send "+method, fmt.Sprintf(`hostRequest(%s, %s)`, mj, pj))
		p.hostWait(t, "the widget answers "+method,
			fmt.Sprintf(`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.id === %q && e.msg.method === undefined)`, id))
		a, _ := responseTo(p.bridgeLog(t), "from-view", id)
		return a
	}
	if a := request("ping", map[string]any{}); a.Error != nil || a.Result == nil || len(a.Result) != 0 {
		t.Errorf("ping answer = %+v, want the result {}", a)
	}

	// The host switches to dark.
	hostEval[chromedp.Void](t, p, "send host-context-changed", `hostNotify("ui/notifications/host-context-changed", { theme: "dark" })`)
	p.frameWait(t, "host-context-changed {theme: dark} makes the widget dark", `document.documentElement.dataset.theme === "dark"`)
	before := p.dom(t)

	// Messages from windows that are not the parent: the frame's own
	// window, and a sibling frame of the same origin as the widget. If the
	// widget obeyed them it would answer the pings to its parent, turn
	// light, or show an error.
	forged := func(id string) string {
		return fmt.Sprintf(`[
  { jsonrpc: "2.0", id: %q, method: "ping", params: {} },
  { jsonrpc: "2.0", method: "ui/notifications/host-context-changed", params: { theme: "light" } },
  { jsonrpc: "2.0", method: "ui/notifications/tool-result", params: { isError: true, content: [{ type: "text", text: "forged" }] } },
]`, id)
	}
	frameEval[bool](t, p, "post messages from the frame's own window",
		fmt.Sprintf(`(() => { for (const m of %s) window.postMessage(m, "*"); return true; })()`, forged("forged-self")))
	hostEval[chromedp.Void](t, p, "have the sibling frame post messages", fmt.Sprintf(`siblingForward(%s)`, forged("forged-sibling")))
	p.hostWait(t, "the sibling frame has posted", `window.siblingAcks === 3`)
	// Messages to a window are handled in order: once this ping is
	// answered, the forged ones have been seen.
	if a := request("ping", map[string]any{}); a.Error != nil || a.Result == nil {
		t.Errorf("second ping answer = %+v, want a result", a)
	}
	for _, e := range p.bridgeLog(t) {
		if id := fmt.Sprint(e.Msg.ID); e.Dir == "from-view" && strings.HasPrefix(id, "forged-") {
			t.Errorf("the widget answered a message that did not come from its parent: %+v", e.Msg)
		}
	}
	after := p.dom(t)
	if after.Theme != "dark" || after.State != "ready" || after.Notice.Shown {
		t.Errorf("after messages from other windows: theme %q, state %q, notice %+v; want dark, ready and no notice", after.Theme, after.State, after.Notice)
	}
	if diff := cmp.Diff(before.layout(), after.layout()); diff != "" {
		t.Errorf("messages from other windows changed the board (-before +after):\n%s", diff)
	}

	// An unknown request, posted raw with a numeric id: the error answer
	// must carry the same id, still a number.
	hostEval[chromedp.Void](t, p, "post an unknown request", `hostPost({ jsonrpc: "2.0", id: 9001, method: "ui/kanban-e2e-no-such-method", params: {} })`)
	p.hostWait(t, "the widget answers the unknown request",
		`hostLog.some((e) => e.dir === "from-view" && e.msg && e.msg.id === 9001 && e.msg.method === undefined)`)
	if a, _ := responseTo(p.bridgeLog(t), "from-view", "9001"); a.Error == nil || a.Error.Code != -32601 || a.ID != float64(9001) {
		t.Errorf("answer to an unknown request = %+v, want error -32601 with id 9001", a)
	}
	// Teardown last: the host is about to remove the frame.
	if a := request("ui/resource-teardown", map[string]any{}); a.Error != nil || a.Result == nil || len(a.Result) != 0 {
		t.Errorf("ui/resource-teardown answer = %+v, want the result {}", a)
	}
}

// testWidgetScreenshots keeps screenshots of the host page at a phone and
// a desktop width, in both themes, and checks that nothing scrolls
// sideways.
func testWidgetScreenshots(t *testing.T, b *browser, h *widgetHost, artifacts string) {
	sc := h.newScenario(t, "screenshots")
	for _, width := range []int64{browserWidth, 1024} {
		for _, theme := range []string{"light", "dark"} {
			name := fmt.Sprintf("widget-%d-%s", width, theme)
			opts := []chromedp.EmulateViewportOption{}
			if width == browserWidth {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
			}
			b.do(t, "set the viewport for "+name, chromedp.EmulateViewport(width, 800, opts...))
			p := h.open(t, b, sc, theme, false)
			if got := p.dom(t).Theme; got != theme {
				t.Errorf("%s: data-theme %q, want %q (the host's theme)", name, got, theme)
			}
			type widths struct {
				Inner  float64 `json:"inner"`
				Scroll float64 `json:"scroll"`
				Frame  float64 `json:"frame"`
			}
			hw := hostEval[widths](t, p, "measure the host page", `({ inner: window.innerWidth, scroll: document.documentElement.scrollWidth, frame: document.getElementById("view").getBoundingClientRect().width })`)
			fw := frameEval[widths](t, p, "measure the widget", `({ inner: window.innerWidth, scroll: document.documentElement.scrollWidth, frame: document.getElementById("board").getBoundingClientRect().right })`)
			if hw.Inner != float64(width) || hw.Frame != hw.Inner || hw.Scroll > hw.Inner {
				t.Errorf("%s: host page %+v: want the frame as wide as the %d px window and nothing wider", name, hw, width)
			}
			if fw.Inner != hw.Frame || fw.Scroll > fw.Inner || fw.Frame > fw.Inner {
				t.Errorf("%s: widget %+v (inner width, scroll width, right edge of #board): it scrolls sideways in a %.0f px frame", name, fw, hw.Frame)
			}
			png := browserRun(t, b.Ctx, "screenshot "+name, chromedp.FullScreenshot(100))
			file := filepath.Join(artifacts, name+".png")
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot of the widget at %d px, %s: %s", width, theme, file)
		}
	}
}
