package e2e

// End-to-end test helpers: a real kanban-mcp server (the same app.Serve that
// the binary runs) on loopback, a real issuer publishing a JWKS over HTTP,
// real signed tokens, and raw JSON-RPC over HTTP so that statuses and
// headers can be asserted exactly.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/app"
	"github.com/kanban-mcp/kanban-mcp/internal/freeport"
	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// testServer is a running kanban-mcp.
type testServer struct {
	URL string // BASE_URL
	// Addr is where requests go when that is not URL: a replica that
	// serves BASE_URL URL from an address of its own, as replicas behind
	// a load balancer do. Tokens and challenges still name URL.
	Addr     string
	Issuer   *testissuer.Issuer
	DBPath   string
	Env      map[string]string
	Log      *syncbuf.Buffer
	cancel   context.CancelFunc
	finished chan error
}

// MCP returns the MCP endpoint URL.
func (s *testServer) MCP() string { return s.URL + "/mcp" }

// PRM returns the path-aware protected-resource metadata URL.
func (s *testServer) PRM() string { return s.URL + "/.well-known/oauth-protected-resource/mcp" }

// freePort finds a loopback port for a server that must know its port
// before it starts (see package freeport for why not the kernel's choice).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startServer runs app.Serve with a fresh database and a fresh issuer. env
// entries override the defaults; an entry with an empty value unsets it.
func startServer(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	iss := testissuer.New(t, testissuer.Options{})
	return startServerWithIssuer(t, iss, env)
}

func startServerWithIssuer(t *testing.T, iss *testissuer.Issuer, env map[string]string) *testServer {
	t.Helper()
	return startServerOn(t, freePort(t), iss, env)
}

// startServerOn is startServerWithIssuer on a port chosen beforehand, for
// a server whose URL another server's configuration names.
func startServerOn(t *testing.T, port int, iss *testissuer.Issuer, env map[string]string) *testServer {
	t.Helper()
	base, full := inProcessEnv(t, port, iss)
	// Every result the tests see is also checked against its schema.
	full["VALIDATE_OUTPUT"] = "true"
	for k, v := range env {
		full[k] = v
	}
	getenv := func(k string) string { return full[k] }

	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{URL: base, Issuer: iss, DBPath: full["DATABASE_URL"], Env: full, Log: &syncbuf.Buffer{}, cancel: cancel, finished: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { s.finished <- app.Serve(ctx, "test", nil, getenv, s.Log, s.Log, ready) }()
	select {
	case <-ready:
	case err := <-s.finished:
		t.Fatalf("server did not start: %v\nlog:\n%s", err, s.Log.String())
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start within 30s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.finished:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not shut down within 15s")
		}
	})
	s.waitReady(t)
	return s
}

// stop shuts the server down now, as its cleanup would, and checks that
// it ended well.
func (s *testServer) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.finished:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
		s.finished <- nil // for the cleanup, which waits for it too
	case <-time.After(15 * time.Second):
		t.Fatal("server did not shut down within 15s")
	}
}

// inProcessEnv is the environment of a server that app.Serve runs in the
// test process, on port, trusting iss: its URL and a fresh database.
func inProcessEnv(t *testing.T, port int, iss *testissuer.Issuer) (baseURL string, env map[string]string) {
	baseURL = "http://localhost:" + strconv.Itoa(port)
	return baseURL, map[string]string{
		"LISTEN_ADDR":    "127.0.0.1:" + strconv.Itoa(port),
		"BASE_URL":       baseURL,
		"DATABASE_URL":   filepath.Join(t.TempDir(), "kanban.db"),
		"OAUTH_ISSUER":   iss.URL,
		"AUTH_CHALLENGE": "tool-result",
		"LOG_LEVEL":      "debug",
		// The servers share the test process, whose memory a limit meant
		// for one server must not govern.
		"MEMORY_LIMIT": "0",
	}
}

// waitReady polls /readyz until the signing keys are loaded.
func (s *testServer) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := testClient.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 20s\nlog:\n%s", s.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// token mints a standard access token for this server's audience.
func (s *testServer) token(t *testing.T, subject, clientID, scope string) string {
	t.Helper()
	return s.Issuer.Mint(t, s.Issuer.Standard(s.MCP(), subject, clientID, scope))
}

// rpcResponse is a raw HTTP answer from /mcp.
type rpcResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body.
func (r rpcResponse) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON (status %d): %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// post sends a raw body to /mcp with optional headers.
func (s *testServer) post(t *testing.T, body []byte, headers map[string]string) rpcResponse {
	t.Helper()
	endpoint := s.MCP()
	if s.Addr != "" {
		endpoint = s.Addr + "/mcp"
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// testClient bounds every request of the end-to-end tests, so that a hung
// server fails the test that met it, with its log, instead of the run.
var testClient = &http.Client{Timeout: time.Minute}

// do sends req and reads the whole answer.
func do(t *testing.T, req *http.Request) rpcResponse {
	t.Helper()
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rpcResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// rpc sends one JSON-RPC request with an optional bearer token.
func (s *testServer) rpc(t *testing.T, token, method string, params any) rpcResponse {
	t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		msg["params"] = params
	}
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{}
	if token != "" {
		headers["Authorization"] = "Bearer " + token
	}
	return s.post(t, body, headers)
}

// toolResult is a decoded tools/call result.
type toolResult struct {
	IsError    bool           `json:"isError"`
	Content    []toolContent  `json:"content"`
	Structured map[string]any `json:"structuredContent"`
	Meta       map[string]any `json:"_meta"`
}

type toolContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Text joins the text content.
func (r toolResult) Text() string {
	var parts []string
	for _, c := range r.Content {
		parts = append(parts, c.Text)
	}
	return strings.Join(parts, "\n")
}

// call invokes a tool and returns the raw response; see mustCall.
func (s *testServer) call(t *testing.T, token, tool string, args map[string]any) rpcResponse {
	t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	return s.rpc(t, token, "tools/call", map[string]any{"name": tool, "arguments": args})
}

// result decodes a 200 tools/call answer.
func (r rpcResponse) result(t *testing.T) toolResult {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", r.Status, r.Body)
	}
	var msg struct {
		Result *toolResult     `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		t.Fatalf("bad JSON-RPC reply: %v\n%s", err, r.Body)
	}
	if msg.Result == nil {
		t.Fatalf("JSON-RPC error instead of a result: %s", msg.Error)
	}
	return *msg.Result
}

// mustCall invokes a tool and fails the test unless it succeeds.
func (s *testServer) mustCall(t *testing.T, token, tool string, args map[string]any) toolResult {
	t.Helper()
	res := s.call(t, token, tool, args).result(t)
	if res.IsError {
		t.Fatalf("%s(%v) failed: %s", tool, args, res.Text())
	}
	return res
}

// challengeParams parses a Bearer challenge into its parameters. It is
// strict: every parameter must be name="quoted value", comma-separated.
func challengeParams(t *testing.T, header string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		t.Fatalf("challenge %q does not start with 'Bearer '", header)
	}
	params := map[string]string{}
	for len(rest) > 0 {
		name, after, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("challenge %q: parameter without a quoted value at %q", header, rest)
		}
		var val strings.Builder
		i := 0
		for ; i < len(after); i++ {
			c := after[i]
			if c == '\\' && i+1 < len(after) {
				i++
				val.WriteByte(after[i])
				continue
			}
			if c == '"' {
				break
			}
			val.WriteByte(c)
		}
		if i == len(after) {
			t.Fatalf("challenge %q: unterminated value for %s", header, name)
		}
		params[name] = val.String()
		rest = after[i+1:]
		if rest != "" {
			var found bool
			rest, found = strings.CutPrefix(rest, ", ")
			if !found {
				t.Fatalf("challenge %q: parameters must be separated by ', ' (at %q)", header, rest)
			}
		}
	}
	return params
}

// metaChallenge returns the one challenge in a result's
// _meta["mcp/www_authenticate"].
func metaChallenge(t *testing.T, r toolResult) string {
	t.Helper()
	raw, ok := r.Meta["mcp/www_authenticate"]
	if !ok {
		t.Fatalf("result has no _meta[\"mcp/www_authenticate\"]; meta=%v text=%q", r.Meta, r.Text())
	}
	list, ok := raw.([]any)
	if !ok || len(list) != 1 {
		t.Fatalf(`_meta["mcp/www_authenticate"] = %#v, want a one-element array`, raw)
	}
	s, ok := list[0].(string)
	if !ok {
		t.Fatalf("challenge is %T, want string", list[0])
	}
	return s
}

// str digs a string out of decoded JSON by path.
func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

// list digs an array out of decoded JSON by path.
func list(m map[string]any, path ...string) []any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	l, _ := cur.([]any)
	return l
}

// fixture is a board of alice's with its columns and a card.
type fixture struct {
	BoardID  string
	Columns  []string // column IDs in order
	CardID   string
	Owner    string // subject
	AdminTok string
}

// newFixture creates a private board for subject with one card in the
// first column.
func (s *testServer) newFixture(t *testing.T, subject, title string) fixture {
	t.Helper()
	tok := s.token(t, subject, "setup-client", "kanban.admin")
	b := s.mustCall(t, tok, "create_board", map[string]any{"title": title})
	f := fixture{BoardID: str(b.Structured, "id"), Owner: subject, AdminTok: tok}
	for _, c := range list(b.Structured, "columns") {
		f.Columns = append(f.Columns, str(c.(map[string]any), "id"))
	}
	card := s.mustCall(t, tok, "add_card", map[string]any{"board_id": f.BoardID, "column_id": f.Columns[0], "title": "First card"})
	f.CardID = str(card.Structured, "id")
	if f.BoardID == "" || len(f.Columns) != 3 || f.CardID == "" {
		t.Fatalf("fixture incomplete: %+v", f)
	}
	return f
}

func describe(v any) string { return fmt.Sprintf("%v", v) }

// requestBody is body as a request body: with a known length, or through
// a pipe, so that the client sends it chunked without a Content-Length.
// Call done when the request has finished.
func requestBody(body []byte, chunked bool) (r io.Reader, done func()) {
	if !chunked {
		return bytes.NewReader(body), func() {}
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := pw.Write(body)
		pw.CloseWithError(err)
	}()
	return pr, func() { pr.Close() }
}

// declaredToolNames returns the names of the declared tools, sorted: what
// tools/list must show every caller.
func declaredToolNames() []string {
	var names []string
	for _, d := range tools.All() {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names
}

// readiness is /readyz's answer.
type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// readyzOnceKeysLoad polls srv's /readyz until its signing keys have
// loaded (they load in the background, and until then /readyz answers 503
// whatever else it finds), and returns that answer.
func readyzOnceKeysLoad(t *testing.T, srv *testServer) (status int, r readiness, body []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := rawRequest(t, http.MethodGet, srv.URL+"/readyz", "", nil, nil)
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			t.Fatalf("/readyz body is not JSON: %v: %s", err, resp.Body)
		}
		if r.Checks["signing_keys"] == "ok" {
			return resp.Status, r, resp.Body
		}
		if time.Now().After(deadline) {
			t.Fatalf("signing keys not loaded within 20s: %s\nlog:\n%s", resp.Body, srv.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
