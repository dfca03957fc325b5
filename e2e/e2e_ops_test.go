package e2e

// End-to-end tests of the operational surface: the revocation CLI against a
// running server, Host and Origin checks, the protected-resource metadata,
// body limits, health and readiness, graceful shutdown, logs, and a real
// MCP client.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/app"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"

	"github.com/kanban-mcp/kanban-mcp/internal/syncbuf"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// launchedServer is a app.Serve whose end the test observes itself.
type launchedServer struct {
	*testServer
	exited chan struct{} // closed when serve returned
	err    error         // what serve returned; read after exited
}

// launchServer runs app.Serve like startServerWithIssuer, but neither waits
// for readiness nor expects to be the only one to stop the server.
func launchServer(t *testing.T, iss *testissuer.Issuer, env map[string]string) *launchedServer {
	t.Helper()
	base, full := inProcessEnv(t, freePort(t), iss)
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &launchedServer{
		testServer: &testServer{URL: base, Issuer: iss, DBPath: full["DATABASE_URL"], Env: full, Log: &syncbuf.Buffer{}, cancel: cancel},
		exited:     make(chan struct{}),
	}
	ready := make(chan string, 1)
	go func() {
		s.err = app.Serve(ctx, "test", nil, func(k string) string { return full[k] }, s.Log, s.Log, ready)
		close(s.exited)
	}()
	select {
	case <-ready:
	case <-s.exited:
		t.Fatalf("server did not start: %v\nlog:\n%s", s.err, s.Log.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			t.Error("server did not shut down within 15s")
		}
	})
	return s
}

// rawRequest sends one request to the server with full control of the
// Host header and the other headers.
func rawRequest(t *testing.T, method, url, host string, headers map[string]string, body []byte) rpcResponse {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// mcpHeaders are the headers of a Streamable HTTP POST.
func mcpHeaders(extra map[string]string) map[string]string {
	h := map[string]string{
		"Content-Type":         "application/json",
		"Accept":               "application/json, text/event-stream",
		"Mcp-Protocol-Version": "2025-06-18",
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

const toolsListBody = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

// TestRevocationCLI runs the revoke and unrevoke commands against the
// database of a running server, as an operator would from another process,
// and checks that the very next request obeys them.
func TestRevocationCLI(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	getenv := func(k string) string { return srv.Env[k] }
	iss := srv.Issuer.URL

	tokens := map[string]string{}
	for _, who := range []string{"alice/agent-1", "alice/agent-2", "alice/agent-3", "bob/agent-1", "bob/agent-2"} {
		sub, clientID, _ := strings.Cut(who, "/")
		tokens[who] = srv.token(t, sub, clientID, "kanban.read")
	}
	works := func(t *testing.T, who string) {
		t.Helper()
		if resp := srv.rpc(t, tokens[who], "tools/list", nil); resp.Status != http.StatusOK {
			t.Errorf("%s: tools/list status %d, want 200; body %s", who, resp.Status, resp.Body)
			return
		}
		sub, clientID, _ := strings.Cut(who, "/")
		who2 := srv.mustCall(t, tokens[who], "whoami", nil).Structured
		if str(who2, "subject") != sub || str(who2, "client_id") != clientID {
			t.Errorf("%s: whoami = %v", who, who2)
		}
		srv.mustCall(t, tokens[who], "list_boards", nil)
	}
	refused := func(t *testing.T, who string) {
		t.Helper()
		for _, method := range []string{"tools/list", "tools/call"} {
			var params any
			if method == "tools/call" {
				params = map[string]any{"name": "whoami", "arguments": map[string]any{}}
			}
			resp := srv.rpc(t, tokens[who], method, params)
			checkInvalidToken(t, srv, resp)
			if d := challengeParams(t, resp.Header.Get("WWW-Authenticate"))["error_description"]; !strings.Contains(d, "revoked") {
				t.Errorf("%s %s: error_description %q does not say the access was revoked", who, method, d)
			}
			if !strings.Contains(string(resp.Body), "revoked") {
				t.Errorf("%s %s: body %s does not say the access was revoked", who, method, resp.Body)
			}
		}
	}

	idPattern := regexp.MustCompile(`unrevoke (rv_[a-z2-7]{12})\n$`)
	var ids []string // entry IDs printed by revoke, in order
	idAt := func(i int) string {
		if i < len(ids) {
			return ids[i]
		}
		return "rv_missing" // an earlier step failed; this one fails too
	}
	steps := []struct {
		name     string
		args     func() []string
		wantCode int
		wantOut  []string // substrings of stdout
		notOut   []string // strings stdout must not contain
		wantErr  string   // substring of stderr
		refused  []string // the tokens refused afterwards; all others work
	}{
		{name: "baseline"},
		{name: "revoke client", args: func() []string { return []string{"revoke", "client", "agent-1", "-note", "lost laptop"} },
			wantOut: []string{"revoked (every user of client agent-1); undo with: " + product.Name + " unrevoke rv_"},
			refused: []string{"alice/agent-1", "bob/agent-1"}},
		{name: "revoke list shows it", args: func() []string { return []string{"revoke", "list"} },
			wantOut: []string{"every user of client agent-1", "lost laptop", "{0}"},
			refused: []string{"alice/agent-1", "bob/agent-1"}},
		{name: "unrevoke restores access", args: func() []string { return []string{"unrevoke", idAt(0)} },
			wantOut: []string{"removed {0}"}},
		{name: "revoke one user's client", args: func() []string { return []string{"revoke", "subject", iss, "alice", "-client", "agent-2"} },
			wantOut: []string{"revoked (user alice of " + iss + " through client agent-2)"},
			refused: []string{"alice/agent-2"}},
		{name: "revoke a user", args: func() []string { return []string{"revoke", "subject", iss, "alice"} },
			wantOut: []string{"revoked (user alice of " + iss + " through every client)"},
			refused: []string{"alice/agent-1", "alice/agent-2", "alice/agent-3"}},
		{name: "revoking again returns the same entry", args: func() []string { return []string{"revoke", "subject", iss, "alice"} },
			wantOut: []string{"unrevoke {2}"},
			refused: []string{"alice/agent-1", "alice/agent-2", "alice/agent-3"}},
		{name: "removing the wide entry leaves the narrow one", args: func() []string { return []string{"unrevoke", idAt(2)} },
			wantOut: []string{"removed {2}"},
			refused: []string{"alice/agent-2"}},
		{name: "unrevoke of an unknown id fails", args: func() []string { return []string{"unrevoke", "rv_nonexistent"} },
			wantCode: 1, wantErr: `no blocklist entry "rv_nonexistent"`,
			refused: []string{"alice/agent-2"}},
		{name: "revoke list shows what is left", args: func() []string { return []string{"revoke", "list"} },
			wantOut: []string{"{1}", "user alice of " + iss + " through client agent-2"},
			notOut:  []string{"{0}", "{2}", "every user of client", "through every client"},
			refused: []string{"alice/agent-2"}},
		{name: "a usage error fails", args: func() []string { return []string{"revoke", "subject", "alice"} },
			wantCode: 1, wantErr: "usage:",
			refused: []string{"alice/agent-2"}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.args != nil {
				var stdout, stderr bytes.Buffer
				code := app.Run(context.Background(), "test", step.args(), getenv, nil, &stdout, &stderr)
				if code != step.wantCode {
					t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, step.wantCode, stdout.String(), stderr.String())
				}
				if m := idPattern.FindStringSubmatch(stdout.String()); m != nil && step.args()[0] == "revoke" && step.args()[1] != "list" {
					ids = append(ids, m[1])
				}
				expand := func(s string) string {
					for i, id := range ids {
						s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", id)
					}
					return s
				}
				for _, want := range step.wantOut {
					if want = expand(want); !strings.Contains(stdout.String(), want) {
						t.Errorf("stdout %q does not contain %q", stdout.String(), want)
					}
				}
				for _, unwanted := range step.notOut {
					if unwanted = expand(unwanted); strings.Contains(stdout.String(), unwanted) {
						t.Errorf("stdout %q contains %q", stdout.String(), unwanted)
					}
				}
				if !strings.Contains(stderr.String(), step.wantErr) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), step.wantErr)
				}
			}
			for _, who := range slices.Sorted(maps.Keys(tokens)) {
				if slices.Contains(step.refused, who) {
					refused(t, who)
				} else {
					works(t, who)
				}
			}
		})
	}
	if len(ids) != 4 || ids[2] != ids[3] || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Errorf("revoke printed the IDs %v; want three distinct entries, the third printed twice", ids)
	}
}

// TestHostAndOrigin: the DNS-rebinding defence admits only loopback names,
// BASE_URL's host and ALLOWED_HOSTS, in Host everywhere but the health
// checks and in Origin on /mcp; allowed origins get CORS answers.
func TestHostAndOrigin(t *testing.T) {
	t.Parallel()
	local := startServer(t, nil)
	// A public BASE_URL, reached through the loopback listener with the
	// public Host, as a proxy or tunnel would forward it.
	public := startServer(t, map[string]string{"BASE_URL": "https://kanban.example.com", "ALLOWED_HOSTS": "tunnel.example.net"})
	localPort := strings.TrimPrefix(local.URL, "http://localhost:")

	type row struct {
		name        string
		srv         *testServer
		method      string
		path        string
		host        string
		headers     map[string]string
		wantStatus  int
		wantHeaders map[string]string   // exact values
		wantListed  map[string][]string // comma-separated lists that must contain these
	}
	post := func(extra map[string]string) map[string]string { return mcpHeaders(extra) }
	tests := []row{
		{name: "loopback Host", srv: local, method: "POST", path: "/mcp", headers: post(nil), wantStatus: 200},
		{name: "127.0.0.1 Host", srv: local, method: "POST", path: "/mcp", host: "127.0.0.1:" + localPort, headers: post(nil), wantStatus: 200},
		{name: "::1 Host", srv: local, method: "POST", path: "/mcp", host: "[::1]:" + localPort, headers: post(nil), wantStatus: 200},
		{name: "foreign Host on /mcp", srv: local, method: "POST", path: "/mcp", host: "evil.example", headers: post(nil), wantStatus: 403},
		{name: "foreign Host with a port on /mcp", srv: local, method: "POST", path: "/mcp", host: "evil.example:" + localPort, headers: post(nil), wantStatus: 403},
		{name: "Host that only starts with localhost", srv: local, method: "POST", path: "/mcp", host: "localhost.evil.example", headers: post(nil), wantStatus: 403},
		{name: "foreign Host on the metadata", srv: local, method: "GET", path: "/.well-known/oauth-protected-resource", host: "evil.example", wantStatus: 403},
		{name: "foreign Host on the path-aware metadata", srv: local, method: "GET", path: "/.well-known/oauth-protected-resource/mcp", host: "evil.example", wantStatus: 403},
		{name: "foreign Host on /", srv: local, method: "GET", path: "/", host: "evil.example", wantStatus: 403},
		{name: "foreign Host on /healthz", srv: local, method: "GET", path: "/healthz", host: "evil.example", wantStatus: 200},
		{name: "foreign Host on /readyz", srv: local, method: "GET", path: "/readyz", host: "evil.example", wantStatus: 200},
		{name: "tunnel Host without ALLOWED_HOSTS", srv: local, method: "POST", path: "/mcp", host: "tunnel.example.net", headers: post(nil), wantStatus: 403},
		{name: "foreign Origin", srv: local, method: "POST", path: "/mcp", headers: post(map[string]string{"Origin": "http://evil.example"}), wantStatus: 403},
		{name: "foreign Origin on the loopback port", srv: local, method: "POST", path: "/mcp", headers: post(map[string]string{"Origin": "http://evil.example:" + localPort}), wantStatus: 403},
		{name: "null Origin", srv: local, method: "POST", path: "/mcp", headers: post(map[string]string{"Origin": "null"}), wantStatus: 403},
		{name: "Origin with another scheme", srv: local, method: "POST", path: "/mcp", headers: post(map[string]string{"Origin": "file://localhost"}), wantStatus: 403},
		{name: "allowed Origin", srv: local, method: "POST", path: "/mcp", headers: post(map[string]string{"Origin": local.URL}), wantStatus: 200,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": local.URL},
			wantListed:  map[string][]string{"Access-Control-Expose-Headers": {"WWW-Authenticate", "Retry-After"}, "Vary": {"Origin"}}},
		{name: "allowed Origin on a 401", srv: local, method: "POST", path: "/mcp", headers: post(map[string]string{"Origin": local.URL, "Authorization": "Bearer not-a-jwt"}), wantStatus: 401,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": local.URL},
			wantListed:  map[string][]string{"Access-Control-Expose-Headers": {"WWW-Authenticate"}}},
		{name: "preflight from the allowed Origin", srv: local, method: "OPTIONS", path: "/mcp",
			headers:     map[string]string{"Origin": local.URL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version"},
			wantStatus:  204,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": local.URL},
			wantListed: map[string][]string{
				"Access-Control-Allow-Headers": {"Authorization", "Content-Type", "Mcp-Protocol-Version"},
				"Access-Control-Allow-Methods": {"POST"},
			}},
		{name: "preflight from a foreign Origin", srv: local, method: "OPTIONS", path: "/mcp",
			headers:    map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
			wantStatus: 403},
		{name: "any Origin on the metadata", srv: local, method: "GET", path: "/.well-known/oauth-protected-resource/mcp", headers: map[string]string{"Origin": "https://chatgpt.com"},
			wantStatus: 200, wantHeaders: map[string]string{"Access-Control-Allow-Origin": "*"}},

		{name: "BASE_URL's host", srv: public, method: "POST", path: "/mcp", host: "kanban.example.com", headers: post(nil), wantStatus: 200},
		{name: "BASE_URL's host with the https port", srv: public, method: "POST", path: "/mcp", host: "kanban.example.com:443", headers: post(nil), wantStatus: 200},
		{name: "BASE_URL's host in capitals", srv: public, method: "POST", path: "/mcp", host: "KANBAN.example.com", headers: post(nil), wantStatus: 200},
		{name: "ALLOWED_HOSTS entry", srv: public, method: "POST", path: "/mcp", host: "tunnel.example.net", headers: post(nil), wantStatus: 200},
		{name: "ALLOWED_HOSTS entry on the metadata", srv: public, method: "GET", path: "/.well-known/oauth-protected-resource/mcp", host: "tunnel.example.net", wantStatus: 200},
		{name: "other host of the same domain", srv: public, method: "POST", path: "/mcp", host: "other.example.net", headers: post(nil), wantStatus: 403},
		{name: "subdomain of BASE_URL's host", srv: public, method: "POST", path: "/mcp", host: "evil.kanban.example.com", headers: post(nil), wantStatus: 403},
		{name: "BASE_URL's Origin", srv: public, method: "POST", path: "/mcp", host: "kanban.example.com", headers: post(map[string]string{"Origin": "https://kanban.example.com"}), wantStatus: 200,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": "https://kanban.example.com"},
			wantListed:  map[string][]string{"Access-Control-Expose-Headers": {"WWW-Authenticate"}}},
		{name: "ALLOWED_HOSTS Origin", srv: public, method: "POST", path: "/mcp", host: "tunnel.example.net", headers: post(map[string]string{"Origin": "https://tunnel.example.net"}), wantStatus: 200,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": "https://tunnel.example.net"}},
		{name: "foreign Origin through BASE_URL's host", srv: public, method: "POST", path: "/mcp", host: "kanban.example.com", headers: post(map[string]string{"Origin": "https://evil.example"}), wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.method == "POST" {
				body = []byte(toolsListBody)
			}
			resp := rawRequest(t, tt.method, tt.srv.URL+tt.path, tt.host, tt.headers, body)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.Status, tt.wantStatus, resp.Body)
			}
			if tt.wantStatus == 403 && resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("a refused request carries Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if tt.path == "/mcp" && tt.wantStatus == 200 && tt.method == "POST" {
				if n, want := len(list(resp.JSON(t), "result", "tools")), len(tools.All()); n != want {
					t.Errorf("tools/list returned %d tools, want %d", n, want)
				}
			}
			for k, want := range tt.wantHeaders {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for k, wants := range tt.wantListed {
				var got []string
				for _, v := range resp.Header.Values(k) {
					for item := range strings.SplitSeq(v, ",") {
						got = append(got, strings.ToLower(strings.TrimSpace(item)))
					}
				}
				for _, want := range wants {
					if !slices.Contains(got, strings.ToLower(want)) {
						t.Errorf("%s = %q, want it to list %s", k, resp.Header.Values(k), want)
					}
				}
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" && resp.Header.Get("Access-Control-Allow-Origin") == "*" {
				t.Errorf("Access-Control-Allow-Credentials together with a wildcard origin")
			}
		})
	}

	// With a public BASE_URL the audience is BASE_URL/mcp, and a token for
	// it works through the public Host.
	t.Run("token for the public audience", func(t *testing.T) {
		const resource = "https://kanban.example.com/mcp"
		const prm = "https://kanban.example.com/.well-known/oauth-protected-resource/mcp"
		call := func(token string) rpcResponse {
			body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
			return rawRequest(t, "POST", public.MCP(), "kanban.example.com", mcpHeaders(map[string]string{"Authorization": "Bearer " + token}), []byte(body))
		}
		good := public.Issuer.Mint(t, public.Issuer.Standard(resource, "alice", "agent-1", "kanban.read"))
		res := call(good).result(t)
		if res.IsError || res.Structured["authenticated"] != true || str(res.Structured, "subject") != "alice" {
			t.Errorf("whoami with a token for %s = %s %v", resource, res.Text(), res.Structured)
		}
		// The loopback URL is not the resource.
		loopbackTok := public.Issuer.Mint(t, public.Issuer.Standard(public.MCP(), "alice", "agent-1", "kanban.read"))
		resp := call(loopbackTok)
		if resp.Status != http.StatusUnauthorized {
			t.Fatalf("a token for %s: status %d, want 401; body %s", public.MCP(), resp.Status, resp.Body)
		}
		got := challengeParams(t, resp.Header.Get("WWW-Authenticate"))
		delete(got, "error_description")
		if diff := cmp.Diff(map[string]string{"resource_metadata": prm, "error": "invalid_token"}, got); diff != "" {
			t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
		}
		// Anonymous challenges point at the public metadata too.
		anon := rawRequest(t, "POST", public.MCP(), "kanban.example.com", mcpHeaders(nil),
			[]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_board","arguments":{"title":"x"}}}`)).result(t)
		if got := challengeParams(t, metaChallenge(t, anon))["resource_metadata"]; got != prm {
			t.Errorf("challenge resource_metadata = %q, want %q", got, prm)
		}
		meta := rawRequest(t, "GET", public.URL+"/.well-known/oauth-protected-resource", "kanban.example.com", nil, nil)
		if got := str(meta.JSON(t), "resource"); got != resource {
			t.Errorf("metadata resource = %q, want %q", got, resource)
		}
	})
}

// TestMetadata: the protected-resource metadata is served at both paths.
func TestMetadata(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	// Only the default scopes: a client that asks for nothing specific
	// requests scopes_supported, and reaches the others by step-up.
	var defaults []any
	for _, s := range defaultScopes() {
		defaults = append(defaults, s)
	}
	want := map[string]any{
		"resource":                 srv.MCP(),
		"authorization_servers":    []any{srv.Issuer.URL},
		"scopes_supported":         defaults,
		"bearer_methods_supported": []any{"header"},
		"resource_name":            product.Name,
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		t.Run(path, func(t *testing.T) {
			resp := rawRequest(t, "GET", srv.URL+path, "", nil, nil)
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", resp.Status, resp.Body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if diff := cmp.Diff(want, resp.JSON(t)); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
	// The challenges point at the path-aware document.
	res := srv.call(t, "", "create_board", map[string]any{"title": "x"}).result(t)
	if got := challengeParams(t, metaChallenge(t, res))["resource_metadata"]; got != srv.URL+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("challenge resource_metadata = %q", got)
	}
}

// paddedToolsList is a valid tools/list request of exactly n bytes.
func paddedToolsList(n int) []byte {
	return append([]byte(toolsListBody), bytes.Repeat([]byte(" "), n-len(toolsListBody))...)
}

// TestBodyLimitsAndMalformedJSON: bodies over 1 MiB get 413 whether or not
// they announce their length, malformed JSON gets a JSON-RPC parse error,
// and nothing gets a 500.
func TestBodyLimitsAndMalformedJSON(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	const limit = 1 << 20

	send := func(t *testing.T, body []byte, chunked bool) rpcResponse {
		t.Helper()
		r, done := requestBody(body, chunked)
		defer done()
		req, err := http.NewRequest(http.MethodPost, srv.MCP(), r)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
		}
		for k, v := range mcpHeaders(nil) {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	rpcError := func(t *testing.T, resp rpcResponse) int {
		t.Helper()
		var msg struct {
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(resp.Body, &msg); err != nil || msg.Error == nil {
			t.Fatalf("status %d: body is not a JSON-RPC error: %s", resp.Status, resp.Body)
		}
		return msg.Error.Code
	}

	for _, chunked := range []bool{false, true} {
		name := "with Content-Length"
		if chunked {
			name = "chunked"
		}
		t.Run(name+"/exactly 1 MiB", func(t *testing.T) {
			resp := send(t, paddedToolsList(limit), chunked)
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %.300s", resp.Status, resp.Body)
			}
			if n, want := len(list(resp.JSON(t), "result", "tools")), len(tools.All()); n != want {
				t.Errorf("%d tools, want %d", n, want)
			}
		})
		t.Run(name+"/1 MiB + 1 byte", func(t *testing.T) {
			resp := send(t, paddedToolsList(limit+1), chunked)
			if resp.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413; body %.300s", resp.Status, resp.Body)
			}
			if code := rpcError(t, resp); code != -32600 {
				t.Errorf("JSON-RPC error code %d, want -32600", code)
			}
		})
	}
	t.Run("10 MiB with Content-Length", func(t *testing.T) {
		if resp := send(t, paddedToolsList(10*limit), false); resp.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.Status)
		}
	})

	malformed := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   int
	}{
		{"truncated object", `{"jsonrpc":"2.0",`, 400, -32700},
		{"not JSON", `hello`, 400, -32700},
		{"empty body", ``, 400, -32700},
		{"trailing garbage", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}}`, 400, -32700},
	}
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, []byte(tt.body), false)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.Status, tt.wantStatus, resp.Body)
			}
			if code := rpcError(t, resp); code != tt.wantCode {
				t.Errorf("JSON-RPC error code %d, want %d", code, tt.wantCode)
			}
		})
	}

	// Well-formed JSON that is not a usable request: never a 500. The
	// answers are mcp-go's.
	odd := []struct {
		body       string
		wantStatus int
		wantCode   int // 0: no body
	}{
		{`null`, 200, -32600},
		{`{}`, 200, -32600},
		{`[]`, 400, -32700},
		{`"x"`, 400, -32700},
		// No method: taken for a response from the client, and accepted.
		{`{"jsonrpc":"2.0","id":1}`, 202, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"no/such/method"}`, 200, -32601},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, 200, -32602},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}`, 200, -32600},
	}
	for _, tt := range odd {
		t.Run("odd "+tt.body, func(t *testing.T) {
			resp := send(t, []byte(tt.body), false)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.Status, tt.wantStatus, resp.Body)
			}
			if tt.wantCode == 0 {
				if len(bytes.TrimSpace(resp.Body)) != 0 {
					t.Errorf("body %s, want none", resp.Body)
				}
				return
			}
			if code := rpcError(t, resp); code != tt.wantCode {
				t.Errorf("JSON-RPC error code %d, want %d", code, tt.wantCode)
			}
		})
	}

	t.Run("GET /mcp", func(t *testing.T) {
		resp := rawRequest(t, "GET", srv.MCP(), "", map[string]string{"Accept": "text/event-stream"}, nil)
		if resp.Status != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405; body %s", resp.Status, resp.Body)
		}
	})
}

// TestHealthAndReady: liveness always answers; readiness waits for the
// issuer's signing keys, which load once the issuer is back.
func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	type ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	readyz := func(t *testing.T, srv *testServer) (int, ready) {
		t.Helper()
		resp := rawRequest(t, "GET", srv.URL+"/readyz", "", nil, nil)
		var r ready
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			t.Fatalf("/readyz body is not JSON: %v: %s", err, resp.Body)
		}
		return resp.Status, r
	}

	t.Run("up", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, nil)
		resp := rawRequest(t, "GET", srv.URL+"/healthz", "", nil, nil)
		if resp.Status != http.StatusOK || strings.TrimSpace(string(resp.Body)) != "ok" {
			t.Errorf("/healthz = %d %q, want 200 ok", resp.Status, resp.Body)
		}
		status, r := readyz(t, srv)
		if diff := cmp.Diff(ready{Ready: true, Checks: map[string]string{"database": "ok", "signing_keys": "ok", "disk": "ok"}}, r); status != http.StatusOK || diff != "" {
			t.Errorf("/readyz status %d (want 200), body (-want +got):\n%s", status, diff)
		}
	})

	t.Run("issuer down at start", func(t *testing.T) {
		t.Parallel()
		iss := testissuer.New(t, testissuer.Options{})
		iss.SetDown(true)
		srv := launchServer(t, iss, nil)
		tok := srv.token(t, "alice", "agent-1", "kanban.read")

		wantDown := ready{Ready: false, Checks: map[string]string{"database": "ok", "signing_keys": "not loaded yet", "disk": "ok"}}
		for range 3 {
			status, r := readyz(t, srv.testServer)
			if diff := cmp.Diff(wantDown, r); status != http.StatusServiceUnavailable || diff != "" {
				t.Fatalf("/readyz with the issuer down: status %d (want 503), body (-want +got):\n%s", status, diff)
			}
			time.Sleep(300 * time.Millisecond)
		}
		if resp := rawRequest(t, "GET", srv.URL+"/healthz", "", nil, nil); resp.Status != http.StatusOK {
			t.Errorf("/healthz while not ready: %d, want 200", resp.Status)
		}
		// A token cannot be checked yet; that is our problem, not the
		// token's, so it gets 503 with Retry-After rather than a 401 that
		// would make the client throw a good token away.
		if resp := srv.rpc(t, tok, "tools/list", nil); resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("token while the keys are not loaded: status %d Retry-After %q, want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
		}
		// Anonymous use does not need the keys.
		if res := srv.mustCall(t, "", "whoami", nil); res.Structured["authenticated"] != false {
			t.Errorf("anonymous whoami while not ready = %v", res.Structured)
		}

		iss.SetDown(false)
		deadline := time.Now().Add(60 * time.Second)
		for {
			status, r := readyz(t, srv.testServer)
			if status == http.StatusOK {
				if diff := cmp.Diff(ready{Ready: true, Checks: map[string]string{"database": "ok", "signing_keys": "ok", "disk": "ok"}}, r); diff != "" {
					t.Errorf("/readyz once ready (-want +got):\n%s", diff)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready 60s after the issuer came back: %d %+v", status, r)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if who := srv.mustCall(t, tok, "whoami", nil).Structured; str(who, "subject") != "alice" {
			t.Errorf("whoami after the keys loaded = %v", who)
		}
	})
}

// TestGracefulShutdown: cancelling serve's context (what SIGTERM does)
// stops the server cleanly, with its writes and queued audit rows on disk.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	first := launchServer(t, iss, nil)
	first.waitReady(t)
	tok := first.token(t, "alice", "agent-1", "kanban.write")
	b := first.mustCall(t, tok, "create_board", map[string]any{"title": "Survives restarts"})
	board := str(b.Structured, "id")
	col := str(list(b.Structured, "columns")[0].(map[string]any), "id")
	first.mustCall(t, tok, "add_card", map[string]any{"board_id": board, "column_id": col, "title": "Still here"})
	want := first.mustCall(t, tok, "get_board", map[string]any{"board_id": board}).Structured // a queued audit row

	first.cancel()
	select {
	case <-first.exited:
		if first.err != nil {
			t.Fatalf("serve returned %v, want nil", first.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return within 15s of the cancellation")
	}
	if !strings.Contains(first.Log.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown log line")
	}

	second := launchServer(t, iss, map[string]string{"DATABASE_URL": first.DBPath})
	second.waitReady(t)
	tok2 := second.token(t, "alice", "agent-1", "kanban.read")
	// Read the trail first: the get_board below queues a row of its own.
	var tools []string
	for _, r := range second.allActivity(t, tok2, board) {
		tools = append(tools, r.Tool+"/"+r.Outcome)
	}
	if diff := cmp.Diff([]string{"get_board/ok", "add_card/ok", "create_board/ok"}, tools); diff != "" {
		t.Errorf("activity after the restart, newest first (-want +got):\n%s", diff)
	}
	got := second.mustCall(t, tok2, "get_board", map[string]any{"board_id": board}).Structured
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("board after the restart (-before +after):\n%s", diff)
	}
}

// TestLogsHaveNoSecrets: the log holds no token and one access-log line per
// request with the fields operators need.
func TestLogsHaveNoSecrets(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	getenv := func(k string) string { return srv.Env[k] }

	valid := srv.token(t, "alice", "agent-1", "kanban.write")
	readOnly := srv.token(t, "alice", "agent-ro", "kanban.read")
	expired := srv.Issuer.Mint(t, func() testissuer.Claims {
		c := srv.Issuer.Standard(srv.MCP(), "alice", "agent-1", "kanban.write")
		c["exp"] = time.Now().Add(-time.Hour).Unix()
		return c
	}())
	wrongAud := srv.Issuer.Mint(t, srv.Issuer.Standard(srv.URL+"/other", "alice", "agent-1", "kanban.write"))
	revoked := srv.token(t, "carol", "agent-revoked", "kanban.write")
	var out, errOut bytes.Buffer
	if code := app.Run(context.Background(), "test", []string{"revoke", "client", "agent-revoked"}, getenv, nil, &out, &errOut); code != 0 {
		t.Fatalf("revoke: %d %s", code, errOut.String())
	}
	secrets := map[string]string{"valid": valid, "read-only": readOnly, "expired": expired, "wrong audience": wrongAud, "revoked": revoked, "garbage": "garbage-token-0123456789"}

	type line struct {
		Method    string
		Path      string
		Status    int
		RPCMethod string
		Tool      string
		ClientID  string
	}
	var want []line
	mcpCall := func(token, method string, params any, status int, tool, clientID string) {
		t.Helper()
		resp := srv.rpc(t, token, method, params)
		if resp.Status != status {
			t.Fatalf("%s %s: status %d, want %d; body %s", method, tool, resp.Status, status, resp.Body)
		}
		want = append(want, line{"POST", "/mcp", status, method, tool, clientID})
	}
	call := func(name string, args map[string]any) map[string]any {
		return map[string]any{"name": name, "arguments": args}
	}
	mcpCall(valid, "tools/list", nil, 200, "", "agent-1")
	mcpCall(valid, "tools/call", call("create_board", map[string]any{"title": "Logged"}), 200, "create_board", "agent-1")
	mcpCall(readOnly, "tools/call", call("create_board", map[string]any{"title": "Denied"}), 200, "create_board", "agent-ro")
	mcpCall("", "tools/call", call("whoami", nil), 200, "whoami", "")
	mcpCall(expired, "tools/call", call("list_boards", nil), 401, "list_boards", "")
	mcpCall(wrongAud, "tools/list", nil, 401, "", "")
	// A revoked token is verified before it is refused, so its client is known.
	mcpCall(revoked, "tools/call", call("whoami", nil), 401, "whoami", "agent-revoked")
	mcpCall("garbage-token-0123456789", "tools/call", call("whoami", nil), 401, "whoami", "")
	// A token in the query string is refused and must not be logged either.
	resp := rawRequest(t, "POST", srv.MCP()+"?access_token="+valid, "", mcpHeaders(nil), []byte(toolsListBody))
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("token in the URL: status %d, want 400", resp.Status)
	}
	want = append(want, line{"POST", "/mcp", 400, "tools/list", "", ""})
	if resp := rawRequest(t, "GET", srv.URL+"/healthz", "", nil, nil); resp.Status != 200 {
		t.Fatalf("/healthz: %d", resp.Status)
	}
	want = append(want, line{"GET", "/healthz", 200, "", "", ""})

	// Access-log lines are written as the handler returns, which may be
	// just after the client has its answer.
	var got []line
	var logText string
	deadline := time.Now().Add(10 * time.Second)
	for {
		logText = srv.Log.String()
		got = nil
		sc := bufio.NewScanner(strings.NewReader(logText))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
			}
			if m["msg"] != "request" || m["path"] == "/readyz" {
				continue
			}
			for _, k := range []string{"method", "path", "status", "duration", "client_ip"} {
				if _, ok := m[k]; !ok {
					t.Errorf("access-log line lacks %q: %s", k, sc.Text())
				}
			}
			status, _ := m["status"].(float64)
			l := line{Method: describe(m["method"]), Path: describe(m["path"]), Status: int(status)}
			l.RPCMethod, _ = m["rpc_method"].(string)
			l.Tool, _ = m["tool"].(string)
			l.ClientID, _ = m["client_id"].(string)
			got = append(got, l)
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access-log lines (-want +got):\n%s", diff)
	}

	for name, secret := range secrets {
		if strings.Contains(logText, secret) {
			t.Errorf("the log contains the %s token", name)
		}
		if parts := strings.Split(secret, "."); len(parts) == 3 && strings.Contains(logText, parts[2]) {
			t.Errorf("the log contains the signature of the %s token", name)
		}
	}
	if strings.Contains(logText, "Bearer ") {
		t.Errorf("the log contains a Bearer value:\n%s", logText)
	}
	if strings.Contains(logText, "access_token") {
		t.Errorf("the log contains the query string with the token")
	}
}

// TestRealMCPClient drives the server with mcp-go's own client: the
// handshake, the tool list, and calls with structured content.
func TestRealMCPClient(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	// mcp-go lists tools sorted by name.
	wantTools := declaredToolNames()

	tests := []struct {
		name        string
		opts        []client.ClientOption
		request     string // protocolVersion asked for in initialize
		wantVersion string
	}{
		{"default", nil, "", mcp.LATEST_PROTOCOL_VERSION},
		{"2025-11-25", []client.ClientOption{client.WithProtocolVersion("2025-11-25")}, "2025-11-25", "2025-11-25"},
		{"2025-06-18", []client.ClientOption{client.WithProtocolVersion("2025-06-18")}, "2025-06-18", "2025-06-18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok := srv.token(t, "alice", "mcp-go-client", "kanban.write")
			trans, err := transport.NewStreamableHTTP(srv.MCP(), transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + tok}))
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(trans, tt.opts...)
			defer c.Close()
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = tt.request
			init.Params.ClientInfo = mcp.Implementation{Name: "kanban-e2e", Version: "1.0"}
			res, err := c.Initialize(ctx, init)
			if err != nil {
				t.Fatalf("initialize: %v", err)
			}
			if res.ProtocolVersion != tt.wantVersion {
				t.Errorf("negotiated protocol version %q, want %q", res.ProtocolVersion, tt.wantVersion)
			}
			if res.ServerInfo.Name != product.Name || res.Capabilities.Tools == nil {
				t.Errorf("server info %+v, tools capability %v", res.ServerInfo, res.Capabilities.Tools)
			}

			listed, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil {
				t.Fatalf("tools/list: %v", err)
			}
			var names []string
			for _, tool := range listed.Tools {
				names = append(names, tool.Name)
			}
			if diff := cmp.Diff(wantTools, names); diff != "" {
				t.Errorf("tools (-want +got):\n%s", diff)
			}

			callTool := func(name string, args map[string]any) map[string]any {
				t.Helper()
				req := mcp.CallToolRequest{}
				req.Params.Name = name
				req.Params.Arguments = args
				r, err := c.CallTool(ctx, req)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if r.IsError {
					t.Fatalf("%s: isError: %+v", name, r.Content)
				}
				if len(r.Content) == 0 {
					t.Errorf("%s: no text content", name)
				}
				raw, err := json.Marshal(r.StructuredContent)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil || m == nil {
					t.Fatalf("%s: structuredContent %s is not an object", name, raw)
				}
				return m
			}
			created := callTool("create_board", map[string]any{"title": "Via mcp-go " + tt.name})
			got := callTool("get_board", map[string]any{"board_id": str(created, "id")})
			if str(got, "title") != "Via mcp-go "+tt.name || len(list(got, "columns")) != 3 || got["owned"] != true {
				t.Errorf("get_board = %v", got)
			}
			var colNames []string
			for _, col := range list(got, "columns") {
				colNames = append(colNames, str(col.(map[string]any), "name"))
			}
			if diff := cmp.Diff([]string{"To do", "Doing", "Done"}, colNames); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
		})
	}

	// Without a token the client gets the sign-in challenge in _meta.
	t.Run("anonymous", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.NewStreamableHttpClient(srv.MCP())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		init := mcp.InitializeRequest{}
		init.Params.ClientInfo = mcp.Implementation{Name: "kanban-e2e", Version: "1.0"}
		if _, err := c.Initialize(ctx, init); err != nil {
			t.Fatalf("initialize: %v", err)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "create_board"
		req.Params.Arguments = map[string]any{"title": "Nope"}
		r, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatalf("create_board: %v", err)
		}
		if !r.IsError || r.Meta == nil {
			t.Fatalf("anonymous create_board: isError %v, meta %v", r.IsError, r.Meta)
		}
		challenges, _ := r.Meta.AdditionalFields["mcp/www_authenticate"].([]any)
		if len(challenges) != 1 {
			t.Fatalf(`_meta["mcp/www_authenticate"] = %v`, r.Meta.AdditionalFields)
		}
		got := challengeParams(t, challenges[0].(string))
		delete(got, "error_description")
		want := map[string]string{"resource_metadata": srv.PRM(), "scope": "kanban.write", "error": "invalid_token"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("challenge (-want +got):\n%s", diff)
		}
	})
}

// TestPublicHostThroughWildcardListener: deployed behind a proxy, the
// server listens on all interfaces (LISTEN_ADDR=":8080", not loopback) and
// sees BASE_URL's public host in Host; that must pass, with mcp-go's
// loopback-only guard out of the way, while a foreign Host is still refused.
func TestPublicHostThroughWildcardListener(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(freePort(t))
	iss := testissuer.New(t, testissuer.Options{})
	launchServer(t, iss, map[string]string{"LISTEN_ADDR": ":" + port, "BASE_URL": "https://kanban.example.com"})
	addr := "http://127.0.0.1:" + port

	token := iss.Mint(t, iss.Standard("https://kanban.example.com/mcp", "alice", "agent-1", "kanban.read"))
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": "whoami", "arguments": map[string]any{}}})
	headers := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Authorization": "Bearer " + token}

	deadline := time.Now().Add(20 * time.Second)
	var resp rpcResponse
	for {
		// Poll until the issuer's keys are loaded (readiness).
		resp = rawRequest(t, "POST", addr+"/mcp", "kanban.example.com", headers, body)
		if resp.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), `"subject":"alice"`) {
		t.Fatalf("whoami with Host kanban.example.com: %d %s", resp.Status, resp.Body)
	}
	if r := rawRequest(t, "POST", addr+"/mcp", "evil.example", headers, body); r.Status != http.StatusForbidden {
		t.Errorf("foreign Host through the wildcard listener: %d, want 403", r.Status)
	}
}
