package e2e

// Hardening tests (issue 5 §4), each through app.Serve on loopback with real
// HTTP, as the binary runs:
//
//   - an issuer outage with a key rotation during it, for an issuer that
//     answers 503 and for one that accepts connections and never answers;
//   - slow clients (headers and bodies trickled a byte at a time) cut off
//     by the http.Server's timeouts, oversized bodies and headers of the
//     authorization server's endpoints refused with 413 / 431;
//   - thousands of tiny requests that must not grow the heap or leave
//     goroutines behind;
//   - the audit queue under overload: the database write-locked from
//     outside while thousands of audited calls arrive;
//   - the abuse limits of the built-in authorization server (registration,
//     token endpoint, sign-in), each with its 429 and Retry-After;
//   - one whole OAuth flow whose log must hold none of its secrets.
//
// Nothing here asserts speed: every wait is bounded so that a hang becomes
// a failure, and the assertions are statuses, headers, bodies and counts.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// hardBound is the longest any single request of these tests may take
// before the test calls it a hang. It bounds waits; it asserts no speed.
const hardBound = 20 * time.Second

// hardClient never waits longer than hardBound for an answer.
var hardClient = &http.Client{Timeout: hardBound}

// descUnknownKey is the error_description of a token whose kid the server
// does not know (auth/verifier.go).
const descUnknownKey = "The access token was signed with a key this server does not know."

// hardPost sends body to target with headers and reads the whole answer.
// It returns an error instead of failing, so that goroutines may use it.
func hardPost(c *http.Client, target string, body []byte, headers map[string]string) (rpcResponse, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return rpcResponse{}, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return hardDo(c, req)
}

// hardDo sends req with c and reads the whole answer.
func hardDo(c *http.Client, req *http.Request) (rpcResponse, error) {
	resp, err := c.Do(req)
	if err != nil {
		return rpcResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return rpcResponse{}, fmt.Errorf("read the answer: %w", err)
	}
	return rpcResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// hardRPC is s.rpc with a bounded wait: a server that does not answer
// within hardBound fails the test instead of hanging it.
func (s *testServer) hardRPC(t *testing.T, token, method string, params any) rpcResponse {
	t.Helper()
	resp, err := hardPost(hardClient, s.MCP(), hardRPCBody(t, method, params), hardMCPHeaders(token))
	if err != nil {
		t.Fatalf("%s: no answer within %s: %v\nlog:\n%s", method, hardBound, err, s.Log.String())
	}
	return resp
}

func hardRPCBody(t testing.TB, method string, params any) []byte {
	t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		msg["params"] = params
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hardMCPHeaders are the headers of a Streamable HTTP POST, with a bearer
// token when token is not empty.
func hardMCPHeaders(token string) map[string]string {
	h := mcpHeaders(nil)
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return h
}

var hardWhoami = map[string]any{"name": "whoami", "arguments": map[string]any{}}

// hardMustCall is s.mustCall with a bounded wait.
func (s *testServer) hardMustCall(t *testing.T, token, tool string, args map[string]any) toolResult {
	t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	res := s.hardRPC(t, token, "tools/call", map[string]any{"name": tool, "arguments": args}).result(t)
	if res.IsError {
		t.Fatalf("%s(%v) failed: %s", tool, args, res.Text())
	}
	return res
}

// hardCheckWhoami asserts that resp is a successful whoami of subject.
func hardCheckWhoami(t *testing.T, srv *testServer, resp rpcResponse, subject string) {
	t.Helper()
	if resp.Status != http.StatusOK {
		t.Fatalf("whoami as %s: status %d, want 200; body %s\nlog:\n%s", subject, resp.Status, resp.Body, srv.Log.String())
	}
	res := resp.result(t)
	if res.IsError || str(res.Structured, "subject") != subject || res.Structured["authenticated"] != true {
		t.Fatalf("whoami as %s = isError %v %v %q, want authenticated as %s", subject, res.IsError, res.Structured, res.Text(), subject)
	}
}

// hardCheckUnknownKey asserts the exact refusal of a token whose kid the
// server does not know: 401, invalid_token, the resource metadata and the
// description naming the key.
func hardCheckUnknownKey(t *testing.T, srv *testServer, resp rpcResponse) {
	t.Helper()
	checkInvalidToken(t, srv, resp)
	if got := challengeParams(t, resp.Header.Get("WWW-Authenticate"))["error_description"]; got != descUnknownKey {
		t.Errorf("error_description = %q, want %q", got, descUnknownKey)
	}
}

// hardLogLines decodes the server's JSON log, one map per line.
func hardLogLines(t *testing.T, srv *testServer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(srv.Log.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue // the start-up banner is plain text
		}
		lines = append(lines, m)
	}
	return lines
}

// hardNoServerErrors fails if the access log shows a 5xx answer or the log
// a panic. /readyz's 503 before the keys load (startServer polls it) is
// its job, not an error.
func hardNoServerErrors(t *testing.T, srv *testServer) {
	t.Helper()
	for _, m := range hardLogLines(t, srv) {
		status, _ := m["status"].(float64)
		if m["msg"] == "request" && status >= 500 && !(m["path"] == "/readyz" && status == http.StatusServiceUnavailable) {
			t.Errorf("the server answered %v %v with %v", m["method"], m["path"], status)
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, "panic") {
			t.Errorf("the server logged a panic: %v", m)
		}
	}
}

// hardRetryAfter asserts that h carries a Retry-After of whole seconds
// between 1 and most, and returns it.
func hardRetryAfter(t *testing.T, h http.Header, most int) int {
	t.Helper()
	raw := h.Get("Retry-After")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > most {
		t.Fatalf("Retry-After = %q, want whole seconds between 1 and %d", raw, most)
	}
	return n
}

// hardCheckSlowDown asserts the authorization server's 429: Retry-After of
// at most most seconds, exposed to browsers, and an RFC 6749 error body
// slow_down that is never cached.
func hardCheckSlowDown(t *testing.T, resp rpcResponse, most int) int {
	t.Helper()
	if resp.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429; body %s", resp.Status, resp.Body)
	}
	n := hardRetryAfter(t, resp.Header, most)
	var body map[string]string
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("429 body is not an OAuth error JSON: %v: %s", err, resp.Body)
	}
	if body["error"] != "slow_down" || body["error_description"] == "" {
		t.Errorf("429 body = %s, want error slow_down with a description", resp.Body)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("429 %s = %q, want %q", k, got, want)
		}
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") {
		t.Errorf("Access-Control-Expose-Headers = %q: browsers cannot read Retry-After", got)
	}
	return n
}

// TestHardeningIssuerOutage: the issuer's key set goes away after the keys
// loaded, and the issuer rotates its key while it is away. Tokens of the
// cached key keep working, tokens of the new key are refused at once with
// 401 invalid_token (never a 500, never a hang, never the 503 meant for
// "no keys yet"), and once the issuer is back the new key is accepted
// without a restart. The server runs with its real key timing, so the
// recovery waits for the next unknown-kid fetch (at most 30 s after the
// one the outage spoiled).
func TestHardeningIssuerOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the unknown-kid refresh interval (30 s); skipped with -short")
	}
	tests := []struct {
		name string
		// outage prepares the outage: the server's extra settings and the
		// switch that starts (true) and ends (false) it.
		outage func(t *testing.T, iss *testissuer.Issuer) (map[string]string, func(down bool))
	}{
		{"issuer answers 503", func(t *testing.T, iss *testissuer.Issuer) (map[string]string, func(bool)) {
			return nil, iss.SetDown
		}},
		{"key set URL accepts connections and never answers", func(t *testing.T, iss *testissuer.Issuer) (map[string]string, func(bool)) {
			var hang atomic.Bool
			stop := make(chan struct{})
			jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hang.Load() {
					// Not even when the fetcher gives up: an empty answer
					// would be an outage of a different kind.
					<-stop
					return
				}
				body, err := iss.JWKS()
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body)
			}))
			t.Cleanup(jwks.Close)
			t.Cleanup(func() { close(stop) }) // before jwks.Close, which waits for the held requests
			return map[string]string{"OAUTH_JWKS_URL": jwks.URL + "/jwks.json"}, hang.Store
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := testissuer.New(t, testissuer.Options{})
			env, setDown := tt.outage(t, iss)
			srv := startServerWithIssuer(t, iss, env)
			oldKey := iss.SigningKey()
			// Each token is minted fresh (its own jti), so that it is never
			// answered from the cache of verified tokens: only the cached
			// keys can verify it.
			withOld := func(sub string) string {
				return testissuer.MintWith(t, oldKey, iss.Standard(srv.MCP(), sub, "agent-1", "kanban.read"), map[string]any{"typ": "at+jwt"})
			}
			hardCheckWhoami(t, srv, srv.hardRPC(t, withOld("alice"), "tools/call", hardWhoami), "alice")

			setDown(true)
			newKey := iss.Rotate(t)
			withNew := func(sub string) string {
				return testissuer.MintWith(t, newKey, iss.Standard(srv.MCP(), sub, "agent-1", "kanban.read"), map[string]any{"typ": "at+jwt"})
			}

			// The cached key keeps verifying.
			hardCheckWhoami(t, srv, srv.hardRPC(t, withOld("bob"), "tools/call", hardWhoami), "bob")

			// The new key, unknown to the server, from several clients at
			// once: the first may wait for the (failing) fetch, the rest
			// are refused at once; each gets its answer.
			const clients = 8
			answers := make([]rpcResponse, clients)
			errs := make([]error, clients)
			var wg sync.WaitGroup
			for i := range clients {
				tok := withNew(fmt.Sprintf("new-%d", i))
				method, params := "tools/list", any(nil)
				if i%2 == 1 {
					method, params = "tools/call", hardWhoami
				}
				body := hardRPCBody(t, method, params)
				wg.Go(func() { answers[i], errs[i] = hardPost(hardClient, srv.MCP(), body, hardMCPHeaders(tok)) })
			}
			wg.Wait()
			for i := range clients {
				if errs[i] != nil {
					t.Fatalf("new-key token %d during the outage: no answer within %s: %v\nlog:\n%s", i, hardBound, errs[i], srv.Log.String())
				}
				hardCheckUnknownKey(t, srv, answers[i])
			}

			// The failed fetch kept the cached keys, and readiness stays:
			// the server can verify the tokens it knows the keys of.
			hardCheckWhoami(t, srv, srv.hardRPC(t, withOld("carol"), "tools/call", hardWhoami), "carol")
			ready, err := hardDo(hardClient, mustRequest(t, http.MethodGet, srv.URL+"/readyz"))
			if err != nil || ready.Status != http.StatusOK {
				t.Errorf("/readyz during the outage with cached keys: %d %s (%v), want 200", ready.Status, ready.Body, err)
			}

			// The issuer comes back: the new key is accepted by the same
			// process.
			setDown(false)
			tok := withNew("dave")
			deadline := time.Now().Add(90 * time.Second)
			for {
				resp := srv.hardRPC(t, tok, "tools/call", hardWhoami)
				if resp.Status == http.StatusOK {
					hardCheckWhoami(t, srv, resp, "dave")
					break
				}
				hardCheckUnknownKey(t, srv, resp)
				if time.Now().After(deadline) {
					t.Fatalf("a token of the rotated key was still refused 90s after the issuer came back\nlog:\n%s", srv.Log.String())
				}
				time.Sleep(500 * time.Millisecond)
			}
			// The old key stays published and accepted; a made-up kid is
			// still refused.
			hardCheckWhoami(t, srv, srv.hardRPC(t, withOld("erin"), "tools/call", hardWhoami), "erin")
			stranger := testissuer.MintWith(t, testissuer.NewKey(t, "RS256"), iss.Standard(srv.MCP(), "mallory", "x", "kanban.read"), nil)
			hardCheckUnknownKey(t, srv, srv.hardRPC(t, stranger, "tools/list", nil))
			hardNoServerErrors(t, srv)
		})
	}
}

func mustRequest(t *testing.T, method, target string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// hardTrickle opens a raw connection to addr, sends head, then one byte of
// filler every 500 ms until the server ends the connection, and returns
// what the server sent. It gives up after bound (the error is then a
// deadline error).
func hardTrickle(addr, head string, bound time.Duration) ([]byte, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(bound)); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte{'a'}); err != nil {
					return
				}
			}
		}
	})
	got, err := io.ReadAll(conn) // until the server closes (nil at EOF)
	close(done)
	wg.Wait()
	return got, err
}

// hardClosedByServer reports whether err (from hardTrickle) means that the
// server closed the connection, rather than the test giving up.
func hardClosedByServer(err error) bool {
	return err == nil || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestHardeningSlowClients: slowloris clients are cut off by app.Serve's
// http.Server timeouts, and the server keeps answering everyone else
// meanwhile. Slow headers end at ReadHeaderTimeout (5 s) without an
// answer; a slow body ends at ReadTimeout (30 s) with a JSON-RPC parse
// error. The bounds (15 s, 60 s) only keep a missing timeout from hanging
// the test.
func TestHardeningSlowClients(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	addr := srv.Env["LISTEN_ADDR"]
	host := strings.TrimPrefix(srv.URL, "http://")

	type trickled struct {
		got []byte
		err error
	}
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		const conns = 20
		results := make(chan trickled, conns)
		for i := range conns {
			go func() {
				got, err := hardTrickle(addr, fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Slow-%d: ", host, i), 15*time.Second)
				results <- trickled{got, err}
			}()
		}
		// While they trickle, other clients are served.
		for range 5 {
			resp, err := hardDo(hardClient, mustRequest(t, http.MethodGet, srv.URL+"/healthz"))
			if err != nil || resp.Status != http.StatusOK {
				t.Fatalf("/healthz during the slowloris: %d (%v), want 200", resp.Status, err)
			}
			if n, want := len(list(srv.hardRPC(t, "", "tools/list", nil).JSON(t), "result", "tools")), len(tools.All()); n != want {
				t.Fatalf("tools/list during the slowloris: %d tools, want %d", n, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for range conns {
			r := <-results
			if !hardClosedByServer(r.err) {
				t.Fatalf("slow headers: the server did not close the connection within 15s: %v\nlog:\n%s", r.err, srv.Log.String())
			}
			// net/http hangs up on a header timeout without an answer.
			if len(r.got) != 0 {
				t.Errorf("slow headers: the server answered %q, want a silent close", r.got)
			}
		}
	})

	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		if testing.Short() {
			t.Skip("waits for ReadTimeout (30 s); skipped with -short")
		}
		head := "POST /mcp HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n" +
			"Accept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n" + `{"jsonrpc":"2.0",`
		got, err := hardTrickle(addr, head, 60*time.Second)
		if !hardClosedByServer(err) {
			t.Fatalf("slow body: the server did not end the request within 60s: %v (got %q)\nlog:\n%s", err, got, srv.Log.String())
		}
		resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
		if rerr != nil {
			t.Fatalf("slow body: the server's answer %q is not an HTTP response: %v", got, rerr)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("slow body: status %d, want 400; body %s", resp.StatusCode, body)
		}
		var msg struct {
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || msg.Error.Code != -32700 {
			t.Errorf("slow body: body %s, want a JSON-RPC parse error (-32700)", body)
		}
		if resp.Header.Get("Connection") != "close" && !resp.Close {
			t.Errorf("slow body: the answer does not close the connection: %v", resp.Header)
		}
	})
}

// TestHardeningOversizedBodies: the authorization server's endpoints read
// at most 64 KiB of body, through app.Serve: exactly the cap is read and
// answered on its merits, one byte more is refused with 413 and an OAuth
// error (with or without Content-Length). Headers over MaxHeaderBytes get
// 431. (/mcp's 1 MiB cap is TestBodyLimitsAndMalformedJSON's.)
func TestHardeningOversizedBodies(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	const limit = 64 << 10
	padForm := func(prefix string) func(n int) []byte {
		return func(n int) []byte {
			return append([]byte(prefix+"&pad="), bytes.Repeat([]byte("p"), n-len(prefix)-5)...)
		}
	}
	// Registrations: padded inside the object (an unknown member, which
	// RFC 7591 lets the server ignore), or after it with whitespace.
	const registration = `{"redirect_uris":["http://127.0.0.1:9/callback"],"token_endpoint_auth_method":"none","client_name":"Big"`
	padMember := func(n int) []byte {
		head := registration + `,"x_pad":"`
		return append(append([]byte(head), bytes.Repeat([]byte("p"), n-len(head)-2)...), `"}`...)
	}
	padAfter := func(n int) []byte {
		return append([]byte(registration+"}"), bytes.Repeat([]byte(" "), n-len(registration)-1)...)
	}

	tests := []struct {
		name        string
		path        string
		contentType string
		body        func(n int) []byte
		atLimit     int    // the status of a body of exactly the cap
		atLimitErr  string // and its OAuth error code, "" for none
		overErr     string // the OAuth error code of the 413
	}{
		{"token", "/oauth/token", "application/x-www-form-urlencoded",
			padForm("grant_type=authorization_code&client_id=nobody"), http.StatusUnauthorized, "invalid_client", "invalid_request"},
		{"revoke", "/oauth/revoke", "application/x-www-form-urlencoded",
			padForm("token=abc&client_id=nobody"), http.StatusUnauthorized, "invalid_client", "invalid_request"},
		{"register", "/oauth/register", "application/json",
			padMember, http.StatusCreated, "", "invalid_client_metadata"},
		{"register with whitespace after the object", "/oauth/register", "application/json",
			padAfter, http.StatusCreated, "", "invalid_client_metadata"},
	}
	send := func(t *testing.T, path, contentType string, body []byte, chunked bool) rpcResponse {
		t.Helper()
		r, done := requestBody(body, chunked)
		defer done()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, r)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := hardDo(hardClient, req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return resp
	}
	// answer is what the tests compare: the status and the OAuth error
	// code ("" when the body has none), plus whether an error carries a
	// description.
	type answer struct {
		Status      int
		Error       string
		Description bool
	}
	answerOf := func(resp rpcResponse) answer {
		var body map[string]any
		_ = json.Unmarshal(resp.Body, &body)
		code, _ := body["error"].(string)
		desc, _ := body["error_description"].(string)
		return answer{Status: resp.Status, Error: code, Description: desc != ""}
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			mode := "with Content-Length"
			if chunked {
				mode = "chunked"
			}
			t.Run(tt.name+"/"+mode+"/exactly 64 KiB", func(t *testing.T) {
				resp := send(t, tt.path, tt.contentType, tt.body(limit), chunked)
				want := answer{Status: tt.atLimit, Error: tt.atLimitErr, Description: tt.atLimitErr != ""}
				if diff := cmp.Diff(want, answerOf(resp)); diff != "" {
					t.Errorf("answer (-want +got):\n%s\nbody %.300s", diff, resp.Body)
				}
			})
			t.Run(tt.name+"/"+mode+"/64 KiB + 1 byte", func(t *testing.T) {
				resp := send(t, tt.path, tt.contentType, tt.body(limit+1), chunked)
				want := answer{Status: http.StatusRequestEntityTooLarge, Error: tt.overErr, Description: true}
				if diff := cmp.Diff(want, answerOf(resp)); diff != "" {
					t.Errorf("answer (-want +got):\n%s\nbody %.300s", diff, resp.Body)
				}
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
			})
		}
	}

	// The pages' forms (sign-in and consent, the account page's sign-in,
	// revoke and sign-out) have the same cap: 413 like every other
	// endpoint.
	t.Run("page forms/64 KiB + 1 byte", func(t *testing.T) {
		for _, path := range []string{"/oauth/authorize", "/account/signin", "/account/revoke", "/account/signout"} {
			resp := send(t, path, "application/x-www-form-urlencoded", padForm("csrf=x&username=demo")(limit+1), false)
			if resp.Status != http.StatusRequestEntityTooLarge {
				title := ""
				if m := regexp.MustCompile(`<title>([^<]*)</title>`).FindSubmatch(resp.Body); m != nil {
					title = html.UnescapeString(string(m[1]))
				}
				t.Errorf("POST %s: status %d, want 413 (page %q)", path, resp.Status, title)
			}
		}
	})

	// Headers: MaxHeaderBytes is 64 KiB (net/http allows 4 KiB of slack).
	t.Run("80 KiB of headers", func(t *testing.T) {
		req := mustRequest(t, http.MethodGet, srv.URL+"/healthz")
		req.Header.Set("X-Pad", strings.Repeat("h", 80<<10))
		resp, err := hardDo(hardClient, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431; body %.300s", resp.Status, resp.Body)
		}
	})
	resp, err := hardDo(hardClient, mustRequest(t, http.MethodGet, srv.URL+"/healthz"))
	if err != nil || resp.Status != http.StatusOK {
		t.Errorf("/healthz after the oversized requests: %d (%v), want 200", resp.Status, err)
	}
	hardNoServerErrors(t, srv)
}

// hardRandomKidToken is a JWT-shaped token with a made-up kid, valid
// claims and a random signature: it reaches the unknown-kid path (and its
// rate-limited fetch) without the cost of signing.
func hardRandomKidToken(payload string) string {
	var kid [8]byte
	sig := make([]byte, 256)
	_, _ = rand.Read(kid[:])
	_, _ = rand.Read(sig)
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "at+jwt", "kid": "hk-" + hex.EncodeToString(kid[:])})
	return base64.RawURLEncoding.EncodeToString(header) + "." + payload + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// heapInuse returns the heap in use after two collections.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestHardeningManyTinyRequests: 5,000 small requests of every kind
// (tools/list, malformed JSON, an unknown tool, tokens with made-up kids,
// a valid token), over kept-alive and fresh connections, do not grow the
// heap between the 1,000th and the 5,000th request by more than 16 MiB,
// and leave no goroutines behind. The server is in this process, so the
// test measures the process: it is not parallel, so that no other test
// runs meanwhile, and the server logs only errors, so that the captured
// log does not grow with every request.
func TestHardeningManyTinyRequests(t *testing.T) {
	srv := startServer(t, map[string]string{"LOG_LEVEL": "error"})
	valid := srv.token(t, "alice", "agent-1", "kanban.read")
	claims, err := json.Marshal(srv.Issuer.Standard(srv.MCP(), "mallory", "x", "kanban.read"))
	if err != nil {
		t.Fatal(err)
	}
	payload := base64.RawURLEncoding.EncodeToString(claims)

	type kind struct {
		name   string
		body   string
		token  func() string
		status int
		check  func(rpcResponse) error // nil: the status is enough
	}
	rpcErrorCode := func(want int) func(rpcResponse) error {
		return func(r rpcResponse) error {
			var msg struct {
				Error *struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &msg); err != nil || msg.Error == nil || msg.Error.Code != want {
				return fmt.Errorf("body %.200s, want JSON-RPC error %d", r.Body, want)
			}
			return nil
		}
	}
	none := func() string { return "" }
	kinds := []kind{
		{"tools/list", toolsListBody, none, http.StatusOK, nil},
		{"malformed JSON", `{"jsonrpc":`, none, http.StatusBadRequest, rpcErrorCode(-32700)},
		{"unknown tool", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, none, http.StatusOK, rpcErrorCode(-32602)},
		{"made-up kid", toolsListBody, func() string { return hardRandomKidToken(payload) }, http.StatusUnauthorized, nil},
		{"valid token", string(hardRPCBody(t, "tools/call", hardWhoami)), func() string { return valid }, http.StatusOK, func(r rpcResponse) error {
			if !strings.Contains(string(r.Body), `"subject":"alice"`) {
				return fmt.Errorf("body %.200s, want whoami of alice", r.Body)
			}
			return nil
		}},
	}
	keepAlive := &http.Transport{MaxIdleConnsPerHost: 16}
	fresh := &http.Transport{DisableKeepAlives: true}
	clients := []*http.Client{{Timeout: hardBound, Transport: keepAlive}, {Timeout: hardBound, Transport: fresh}}
	defer keepAlive.CloseIdleConnections()

	var failures atomic.Int64
	var firstFailure sync.Once
	send := func(from, to int) {
		next := make(chan int)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range next {
					k := kinds[i%len(kinds)]
					c := clients[(i/len(kinds))%len(clients)]
					resp, err := hardPost(c, srv.MCP(), []byte(k.body), hardMCPHeaders(k.token()))
					if err == nil && resp.Status != k.status {
						err = fmt.Errorf("status %d, want %d; body %.200s", resp.Status, k.status, resp.Body)
					}
					if err == nil && k.check != nil {
						err = k.check(resp)
					}
					if err != nil {
						failures.Add(1)
						firstFailure.Do(func() { t.Errorf("request %d (%s): %v", i, k.name, err) })
					}
				}
			})
		}
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
	}

	// A warm-up opens what stays open (the verifier's connection to the
	// issuer after a made-up kid's fetch, pools); the goroutine baseline
	// is taken after it, with the test's own kept-alive connections closed.
	send(0, 100)
	keepAlive.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	goroutinesBefore := runtime.NumGoroutine()
	send(100, 1000)
	heapAt1000 := heapInuse()
	send(1000, 5000)
	heapAt5000 := heapInuse()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of 5000 requests got a wrong answer (the first is above)", n)
	}
	growth := int64(heapAt5000) - int64(heapAt1000)
	t.Logf("heap in use: %.1f MiB after 1,000 requests, %.1f MiB after 5,000 (growth %+.1f MiB)",
		float64(heapAt1000)/(1<<20), float64(heapAt5000)/(1<<20), float64(growth)/(1<<20))
	if growth >= 16<<20 {
		t.Errorf("the heap grew by %.1f MiB between the 1,000th and the 5,000th request, want < 16 MiB", float64(growth)/(1<<20))
	}

	// Connection and request goroutines end once the clients hang up.
	keepAlive.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= goroutinesBefore+5 {
			t.Logf("goroutines: %d before, %d after", goroutinesBefore, n)
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 15s after the requests, %d before them\n%s", n, goroutinesBefore, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
	hardNoServerErrors(t, srv)
}

// TestHardeningAuditQueueOverload: with the database write-locked from
// another connection (the audit writer stuck behind it), thousands of
// audited calls keep being answered; the queue drops its oldest rows, and
// counts and reports them, instead of making requests wait. Once the lock
// is gone, every call is either written or counted as dropped.
//
// There is no setting for the queue's size, so this overloads the real one
// (4,096 rows, batches of 256): of N calls at most 4,096 + 256 can be kept
// while the writer is stuck. The calls are anonymous, so the budget for
// such rows is set out of the way: this is about the queue.
func TestHardeningAuditQueueOverload(t *testing.T) {
	t.Parallel()
	const (
		capacity  = 4096 // audit.DefaultCapacity
		batchSize = 256  // audit.DefaultBatchSize
		calls     = 5000
		warning   = "audit: activity rows were dropped (the queue was full or the database failed)"
	)
	srv := startServer(t, map[string]string{"AUDIT_ANON_ROWS_PER_HOUR": "1000000", "AUDIT_ANON_ROWS_PER_IP_PER_HOUR": "1000000"})
	db := openDB(t, srv.DBPath)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("write-lock the database: %v", err)
	}
	var unlockOnce sync.Once
	unlock := func() {
		unlockOnce.Do(func() {
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Errorf("release the write lock: %v", err)
			}
			conn.Close()
		})
	}
	t.Cleanup(unlock)

	body := hardRPCBody(t, "tools/call", hardWhoami)
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: hardBound, Transport: transport}
	var failures atomic.Int64
	var firstFailure sync.Once
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				resp, err := hardPost(client, srv.MCP(), body, hardMCPHeaders(""))
				if err == nil && (resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), `"authenticated":false`)) {
					err = fmt.Errorf("status %d; body %.200s", resp.Status, resp.Body)
				}
				if err != nil {
					failures.Add(1)
					firstFailure.Do(func() { t.Errorf("call %d while the audit writer is stuck: %v", i, err) })
				}
			}
		})
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed or waited past %s while the audit writer was stuck\nlog:\n%s", n, calls, hardBound, srv.Log.String())
	}
	unlock()

	// Every call is accounted for: written, or counted in the drop
	// warning. The warning comes at most every 10 s; a call now and then
	// gives the queue a write after which it may report again.
	sent := calls
	var written, dropped int
	deadline := time.Now().Add(60 * time.Second)
	lastNudge := time.Now()
	for {
		dropped = -1
		for _, m := range hardLogLines(t, srv) {
			if m["msg"] == warning {
				total, _ := m["dropped_total"].(float64)
				dropped = int(total)
			}
		}
		if err := db.QueryRow(`SELECT count(*) FROM activity WHERE tool = 'whoami'`).Scan(&written); err != nil {
			t.Fatal(err)
		}
		if dropped >= 0 && written+dropped == sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d rows written, %d reported dropped (-1: no warning), %d calls made\nlog:\n%s", written, dropped, sent, srv.Log.String())
		}
		if time.Since(lastNudge) > 2*time.Second {
			hardCheckWhoamiAnonymous(t, srv)
			sent++
			lastNudge = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d calls: %d audit rows written, %d dropped", sent, written, dropped)
	if least := calls - capacity - batchSize; dropped < least {
		t.Errorf("%d rows dropped, want at least %d: the queue kept more than its capacity", dropped, least)
	}
	if written == 0 {
		t.Errorf("no audit row was written after the lock was released")
	}
	hardNoServerErrors(t, srv)
}

func hardCheckWhoamiAnonymous(t *testing.T, srv *testServer) {
	t.Helper()
	resp := srv.hardRPC(t, "", "tools/call", hardWhoami)
	if resp.Status != http.StatusOK || resp.result(t).Structured["authenticated"] != false {
		t.Fatalf("anonymous whoami: %d %s", resp.Status, resp.Body)
	}
}

// hardIPTransport sends every request as if from ip, through the trusted
// proxy header the server is configured with.
type hardIPTransport struct{ ip string }

func (h hardIPTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.ip != "" {
		r = r.Clone(r.Context())
		r.Header.Set(hardProxyHeader, h.ip)
	}
	return http.DefaultTransport.RoundTrip(r)
}

const hardProxyHeader = "Fly-Client-IP"

// hardFrom returns a client that comes from ip ("": from the socket's
// address only), keeps cookies and does not follow redirects.
func hardFrom(ip string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     hardIPTransport{ip},
		Jar:           jar,
		Timeout:       hardBound,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hardForm posts form to target with c, with HTTP Basic client
// authentication when user is not empty.
func hardForm(t *testing.T, c *http.Client, target string, form url.Values, user, pass string) rpcResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.Header.Set("Authorization", "Basic "+hardBasic(user, pass))
	}
	resp, err := hardDo(c, req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	return resp
}

// hardBasic is the RFC 6749 §2.3.1 Basic credentials of a client.
func hardBasic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// hardRegister registers a client by DCR with c and returns its id and
// secret ("" for a public client).
func hardRegister(t *testing.T, c *http.Client, srv *testServer, authMethod string) (string, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"client_name": "Hardening " + authMethod, "redirect_uris": []string{sdkRedirectURI},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": authMethod,
	})
	resp, err := hardPost(c, srv.URL+"/oauth/register", body, map[string]string{"Content-Type": "application/json"})
	if err != nil || resp.Status != http.StatusCreated {
		t.Fatalf("register: %d %s (%v)", resp.Status, resp.Body, err)
	}
	m := resp.JSON(t)
	id, _ := m["client_id"].(string)
	secret, _ := m["client_secret"].(string)
	if id == "" || (authMethod != "none" && secret == "") {
		t.Fatalf("registration answer lacks the client id or secret: %s", resp.Body)
	}
	return id, secret
}

// hardAuthorizeURL is an authorization request for clientID with PKCE.
func hardAuthorizeURL(srv *testServer, clientID, scope, verifier string) string {
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {sdkRedirectURI},
		"scope": {scope}, "state": {"hardening-state"}, "resource": {srv.MCP()}, "nonce": {"hardening-nonce"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	return srv.URL + "/oauth/authorize?" + q.Encode()
}

// hardDemoPassword reads the demo user's password that app.Serve wrote
// beside the database.
func hardDemoPassword(t *testing.T, srv *testServer) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatalf("demo password file: %v\nlog:\n%s", err, srv.Log.String())
	}
	return strings.TrimSpace(string(b))
}

// TestHardeningAbuseLimits: each abuse limit of the built-in authorization
// server, through app.Serve, answers 429 with a Retry-After of whole seconds
// (and, on the machine endpoints, an RFC 6749 slow_down body), and limits
// only its own key: another address is served at once. The client address
// comes from the trusted proxy header, as on fly.io.
func TestHardeningAbuseLimits(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OAUTH_ISSUER": "", "TRUSTED_PROXY_HEADER": hardProxyHeader}

	t.Run("client registration per address", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, env)
		register := func(c *http.Client) rpcResponse {
			t.Helper()
			resp, err := hardPost(c, srv.URL+"/oauth/register",
				[]byte(`{"redirect_uris":["http://127.0.0.1:9/callback"],"token_endpoint_auth_method":"none"}`),
				map[string]string{"Content-Type": "application/json"})
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		flood := hardFrom("203.0.113.1")
		// A burst of 10, then 20 an hour.
		for i := range 10 {
			if r := register(flood); r.Status != http.StatusCreated {
				t.Fatalf("registration %d: status %d, want 201; body %s", i+1, r.Status, r.Body)
			}
		}
		hardCheckSlowDown(t, register(flood), 180)
		if r := register(hardFrom("203.0.113.2")); r.Status != http.StatusCreated {
			t.Errorf("registration from another address: status %d, want 201; body %s", r.Status, r.Body)
		}
		hardNoServerErrors(t, srv)
	})

	t.Run("token endpoint: failed client authentication per client and address", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, env)
		id, secret := hardRegister(t, hardFrom("198.51.100.1"), srv, "client_secret_basic")
		publicID, _ := hardRegister(t, hardFrom("198.51.100.1"), srv, "none")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {"made-up"}, "redirect_uri": {sdkRedirectURI},
			"code_verifier": {strings.Repeat("v", 43)}}
		guesser := hardFrom("203.0.113.10")
		// 20 failures are free; then each one doubles the wait. The
		// failures are sent until the first 429: on a slow machine the
		// first wait (1 s) may pass before the next attempt arrives.
		var throttled rpcResponse
		for attempt := 1; throttled.Status == 0; attempt++ {
			if attempt > 40 {
				t.Fatalf("40 wrong client secrets, never a 429\nlog:\n%s", srv.Log.String())
			}
			r := hardForm(t, guesser, srv.URL+"/oauth/token", form, id, secret+"-wrong")
			switch {
			case r.Status == http.StatusUnauthorized:
				if got := r.JSON(t)["error"]; got != "invalid_client" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Fatalf("wrong secret %d: error %v, WWW-Authenticate %q; want invalid_client and a Basic challenge", attempt, got, r.Header.Get("WWW-Authenticate"))
				}
			case r.Status == http.StatusTooManyRequests && attempt > 20:
				throttled = r
			default:
				t.Fatalf("wrong secret %d: status %d; body %s", attempt, r.Status, r.Body)
			}
		}
		hardCheckSlowDown(t, throttled, 30)
		// The right secret from another address, and another client from
		// this one, are not slowed down (the made-up code is then refused
		// on its own merits).
		for name, r := range map[string]rpcResponse{
			"the client from another address": hardForm(t, hardFrom("203.0.113.11"), srv.URL+"/oauth/token", form, id, secret),
			"another client from the address": hardForm(t, guesser, srv.URL+"/oauth/token", func() url.Values {
				f := url.Values{"client_id": {publicID}}
				for k, v := range form {
					f[k] = v
				}
				return f
			}(), "", ""),
		} {
			if r.Status != http.StatusBadRequest || r.JSON(t)["error"] != "invalid_grant" {
				t.Errorf("%s: status %d, body %s; want 400 invalid_grant", name, r.Status, r.Body)
			}
		}
		hardNoServerErrors(t, srv)
	})

	t.Run("token endpoint: request ceiling per client and address", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, env)
		id, _ := hardRegister(t, hardFrom("198.51.100.1"), srv, "none")
		// Authenticated requests without a code: refused, and counted
		// against the ceiling of 120 a minute.
		form := url.Values{"grant_type": {"authorization_code"}, "client_id": {id}}
		busy := hardFrom("203.0.113.30")
		var throttled rpcResponse
		for attempt := 1; throttled.Status == 0; attempt++ {
			if attempt > 400 {
				t.Fatalf("400 token requests, never a 429")
			}
			r := hardForm(t, busy, srv.URL+"/oauth/token", form, "", "")
			switch {
			case r.Status == http.StatusBadRequest:
				if got := r.JSON(t)["error"]; got != "invalid_request" {
					t.Fatalf("request %d: error %v, want invalid_request", attempt, got)
				}
			case r.Status == http.StatusTooManyRequests && attempt > 120:
				throttled = r
			default:
				t.Fatalf("request %d: status %d; body %s", attempt, r.Status, r.Body)
			}
		}
		hardCheckSlowDown(t, throttled, 60)
		if r := hardForm(t, hardFrom("203.0.113.31"), srv.URL+"/oauth/token", form, "", ""); r.Status != http.StatusBadRequest {
			t.Errorf("another address: status %d, want 400; body %s", r.Status, r.Body)
		}
		hardNoServerErrors(t, srv)
	})

	t.Run("sign-in: wrong passwords", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, env)
		password := hardDemoPassword(t, srv)
		id, _ := hardRegister(t, hardFrom("198.51.100.1"), srv, "none")
		authorize := hardAuthorizeURL(srv, id, "kanban.read", randomVerifier(t))
		signIn := func(c *http.Client, page, pw string) rpcResponse {
			t.Helper()
			form := hiddenFields(page)
			form.Set("username", "demo")
			form.Set("password", pw)
			return browse(t, c, http.MethodPost, srv.URL+"/oauth/authorize", form)
		}

		guesser := hardFrom("203.0.113.40")
		page := fetchPage(t, guesser, http.MethodGet, authorize, nil)
		var throttled rpcResponse
		for attempt := 1; throttled.Status == 0; attempt++ {
			if attempt > 20 {
				t.Fatalf("20 wrong passwords, never a 429\nlog:\n%s", srv.Log.String())
			}
			r := signIn(guesser, page, "wrong-password-"+strconv.Itoa(attempt))
			switch {
			case r.Status == http.StatusBadRequest && strings.Contains(string(r.Body), "Wrong user name or password."):
				page = string(r.Body)
			case r.Status == http.StatusTooManyRequests && attempt > 3: // 3 failures are free for the pair
				throttled = r
			default:
				t.Fatalf("wrong password %d: status %d\n%s", attempt, r.Status, r.Body)
			}
		}
		wait := hardRetryAfter(t, throttled.Header, 300)
		unit := "seconds"
		if wait == 1 {
			unit = "second"
		}
		if want := fmt.Sprintf("Too many attempts; try again in %d %s.", wait, unit); !strings.Contains(string(throttled.Body), want) {
			t.Errorf("429 page does not say %q:\n%s", want, throttled.Body)
		}
		if !strings.Contains(string(throttled.Body), `name="password"`) || !strings.HasPrefix(throttled.Header.Get("Content-Type"), "text/html") {
			t.Errorf("429 is not the sign-in page again (Content-Type %q)", throttled.Header.Get("Content-Type"))
		}

		// The right password from another address signs in at once.
		other := hardFrom("203.0.113.41")
		if r := signIn(other, fetchPage(t, other, http.MethodGet, authorize, nil), password); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `name="level"`) {
			t.Errorf("right password from another address: status %d, want 200 and the consent page\n%s", r.Status, r.Body)
		}

		// Never locked: after waiting as told, the right password works
		// from the throttled address too.
		if wait > 60 {
			t.Fatalf("Retry-After %d at the first 429: far above the few seconds a handful of failures earn", wait)
		}
		page = string(throttled.Body)
		for tries := 1; ; tries++ {
			time.Sleep(time.Duration(wait)*time.Second + 100*time.Millisecond)
			r := signIn(guesser, page, password)
			if r.Status == http.StatusOK && strings.Contains(string(r.Body), `name="level"`) {
				break
			}
			if r.Status != http.StatusTooManyRequests || tries == 3 {
				t.Fatalf("right password after waiting as told (try %d): status %d, want 200 and the consent page\n%s", tries, r.Status, r.Body)
			}
			wait = hardRetryAfter(t, r.Header, 60)
			page = string(r.Body)
		}
		hardNoServerErrors(t, srv)
	})
}

// TestHardeningNoSecretsInLogs captures everything app.Serve logs at debug
// level (the JSON log, the access log, net/http's error log, the start-up
// banner) during one whole life of a connection with the built-in
// authorization server: a confidential client registers, the person signs
// in (after two failures, one with the password typed into the name box)
// and consents, the client exchanges the code (after a wrong secret),
// calls tools, refreshes, revokes by RFC 7009; a second authorization is
// revoked on /account; refused and hostile requests along the way. None of
// the passwords, the client secret, codes, PKCE verifiers, access, refresh
// and ID tokens (whole, or their payload or signature alone), CSRF tokens
// and cookie values may appear in the log.
func TestHardeningNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	secrets := map[string]string{}
	add := func(name, v string) {
		t.Helper()
		if v == "" {
			t.Fatalf("the secret %q is empty: the flow did not run as planned\nlog:\n%s", name, srv.Log.String())
		}
		secrets[name] = v
	}
	password := hardDemoPassword(t, srv)
	add("password", password)
	const wrongPassword = "hardening-wrong-password-1"
	add("wrong password", wrongPassword)

	// A confidential client.
	c := hardFrom("")
	id, clientSecret := hardRegister(t, c, srv, "client_secret_basic")
	add("client secret", clientSecret)
	add("Basic credentials", hardBasic(id, clientSecret))

	// The browser; every CSRF token and cookie it sees is a secret.
	b := hardFrom("")
	srvURL, _ := url.Parse(srv.URL)
	csrfs := 0
	collect := func(page string) {
		t.Helper()
		if v := hiddenFields(page).Get("csrf"); v != "" {
			csrfs++
			add(fmt.Sprintf("CSRF token %d", csrfs), v)
		}
		for _, ck := range b.Jar.Cookies(srvURL) {
			add("cookie "+ck.Name, ck.Value)
		}
	}
	submit := func(page string, fields map[string]string) rpcResponse {
		t.Helper()
		form := hiddenFields(page)
		for k, v := range fields {
			form.Set(k, v)
		}
		return browse(t, b, http.MethodPost, srv.URL+"/oauth/authorize", form)
	}
	codeOf := func(resp rpcResponse) string {
		t.Helper()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.Status/100 != 3 || loc.Query().Get("code") == "" {
			t.Fatalf("consent answered %d Location %q, want a redirect with a code\n%s", resp.Status, resp.Header.Get("Location"), resp.Body)
		}
		return loc.Query().Get("code")
	}
	type tokenSet struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
		ID      string `json:"id_token"`
	}
	tokens := func(name string, form url.Values) tokenSet {
		t.Helper()
		r := hardForm(t, c, srv.URL+"/oauth/token", form, id, clientSecret)
		var ts tokenSet
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &ts) != nil || ts.Access == "" || ts.Refresh == "" {
			t.Fatalf("%s: status %d, body %s", name, r.Status, r.Body)
		}
		add(name+" access token", ts.Access)
		add(name+" refresh token", ts.Refresh)
		if ts.ID != "" {
			add(name+" ID token", ts.ID)
		}
		return ts
	}
	codeForm := func(code, verifier string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {sdkRedirectURI},
			"code_verifier": {verifier}, "resource": {srv.MCP()}}
	}

	// Sign-in: the password typed into the name box, a wrong password,
	// then the right one; consent.
	verifier1 := randomVerifier(t)
	add("PKCE verifier 1", verifier1)
	page := fetchPage(t, b, http.MethodGet, hardAuthorizeURL(srv, id, "kanban.write openid", verifier1), nil)
	collect(page)
	for _, wrong := range []map[string]string{
		{"username": password, "password": wrongPassword},
		{"username": "demo", "password": wrongPassword},
	} {
		r := submit(page, wrong)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("failed sign-in: status %d, want 400\n%s", r.Status, r.Body)
		}
		page = string(r.Body)
		collect(page)
	}
	r := submit(page, map[string]string{"username": "demo", "password": password})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `name="level"`) {
		t.Fatalf("sign-in: status %d, want the consent page\n%s", r.Status, r.Body)
	}
	page = string(r.Body)
	collect(page)
	code1 := codeOf(submit(page, map[string]string{"level": "kanban.write", "decision": "allow"}))
	add("code 1", code1)

	// The client: a wrong secret, a code in the URL, then the exchange.
	if r := hardForm(t, c, srv.URL+"/oauth/token", codeForm(code1, verifier1), id, clientSecret+"-wrong"); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong client secret: status %d, want 401; body %s", r.Status, r.Body)
	}
	if r := hardForm(t, c, srv.URL+"/oauth/token?code="+url.QueryEscape(code1)+"&code_verifier="+verifier1, url.Values{"grant_type": {"authorization_code"}}, id, clientSecret); r.Status != http.StatusBadRequest {
		t.Fatalf("code in the URL: status %d, want 400; body %s", r.Status, r.Body)
	}
	first := tokens("first", codeForm(code1, verifier1))
	if first.ID == "" {
		t.Fatalf("no ID token although openid was granted")
	}

	// Tool calls with the access token, userinfo, a hostile token in the
	// URL of /mcp.
	if who := srv.hardMustCall(t, first.Access, "whoami", nil).Structured; str(who, "client_id") != id || who["authenticated"] != true {
		t.Fatalf("whoami with the access token = %v", who)
	}
	srv.hardMustCall(t, first.Access, "create_board", map[string]any{"title": "Logged flow"})
	if resp := srv.hardRPC(t, first.Access, "tools/list", nil); resp.Status != http.StatusOK {
		t.Fatalf("tools/list with the token: %d", resp.Status)
	}
	ui := mustRequest(t, http.MethodGet, srv.URL+"/oauth/userinfo")
	ui.Header.Set("Authorization", "Bearer "+first.Access)
	if resp, err := hardDo(hardClient, ui); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("userinfo: %d %s (%v)", resp.Status, resp.Body, err)
	}
	if resp, err := hardPost(hardClient, srv.MCP()+"?access_token="+first.Access, []byte(toolsListBody), mcpHeaders(nil)); err != nil || resp.Status != http.StatusBadRequest {
		t.Fatalf("token in the /mcp URL: status %d (%v), want 400", resp.Status, err)
	}

	// Refresh, a call with the new token, then RFC 7009: the refresh token
	// and the access token. The revoked access token is refused.
	second := tokens("refreshed", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Refresh}})
	srv.hardMustCall(t, second.Access, "list_boards", nil)
	for _, tok := range []string{second.Refresh, second.Access} {
		if r := hardForm(t, c, srv.URL+"/oauth/revoke", url.Values{"token": {tok}}, id, clientSecret); r.Status != http.StatusOK {
			t.Fatalf("RFC 7009 revocation: status %d, body %s", r.Status, r.Body)
		}
	}
	checkInvalidToken(t, srv, srv.hardRPC(t, second.Access, "tools/call", hardWhoami))
	if r := hardForm(t, c, srv.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.Refresh}}, id, clientSecret); r.Status != http.StatusBadRequest {
		t.Fatalf("refresh with a revoked token: status %d, want 400; body %s", r.Status, r.Body)
	}

	// A second authorization (loopback redirect: consent is asked
	// again), its tokens, a call; revoked on /account; a replay of its
	// code.
	verifier2 := randomVerifier(t)
	add("PKCE verifier 2", verifier2)
	page = fetchPage(t, b, http.MethodGet, hardAuthorizeURL(srv, id, "kanban.write", verifier2), nil)
	collect(page)
	code2 := codeOf(submit(page, map[string]string{"level": "kanban.write", "decision": "allow"}))
	add("code 2", code2)
	third := tokens("second grant", codeForm(code2, verifier2))
	srv.hardMustCall(t, third.Access, "list_boards", nil)
	page = fetchPage(t, b, http.MethodGet, srv.URL+"/account", nil)
	collect(page)
	revoke := regexp.MustCompile(`(?s)<form[^>]*action="([^"]*revoke[^"]*)"[^>]*>(.*?)</form>`).FindStringSubmatch(page)
	if revoke == nil {
		t.Fatalf("no revoke form on /account:\n%s", page)
	}
	target, _ := url.Parse(html.UnescapeString(revoke[1]))
	if r := browse(t, b, http.MethodPost, srv.URL+target.Path, hiddenFields(revoke[2])); r.Status >= 400 {
		t.Fatalf("revoke on /account: %d %s", r.Status, r.Body)
	}
	checkInvalidToken(t, srv, srv.hardRPC(t, third.Access, "tools/call", hardWhoami))
	if r := hardForm(t, c, srv.URL+"/oauth/token", codeForm(code2, verifier2), id, clientSecret); r.Status != http.StatusBadRequest {
		t.Fatalf("code replay: status %d, want 400; body %s", r.Status, r.Body)
	}

	// Control: the flow ran, and the log recorded it at every layer.
	var logText string
	events := []string{"client registered", "sign-in failed", "signed in", "authorization approved", "token request refused",
		"tokens issued", "refresh token revocation handled", "grant revoked by its client", "grant revoked by the user"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		logText = srv.Log.String()
		var missing []string
		for _, e := range events {
			if !strings.Contains(logText, `"msg":"`+e+`"`) {
				missing = append(missing, e)
			}
		}
		var mcpLines int
		for _, m := range hardLogLines(t, srv) {
			if m["msg"] == "request" && m["path"] == "/mcp" {
				mcpLines++
			}
		}
		if len(missing) == 0 && mcpLines >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log lacks %v or the /mcp access lines (%d), so the flow did not run as planned; log:\n%s", missing, mcpLines, logText)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for name, s := range secrets {
		forms := map[string]string{"": s, " (URL-encoded)": url.QueryEscape(s)}
		if parts := strings.Split(s, "."); len(parts) == 3 {
			forms[" (payload)"], forms[" (signature)"] = parts[1], parts[2]
		}
		for how, f := range forms {
			if strings.Contains(logText, f) {
				t.Errorf("the log contains the %s%s", name, how)
			}
		}
	}
	for _, marker := range []string{"Bearer ", "Basic "} {
		if strings.Contains(logText, marker) {
			t.Errorf("the log contains an Authorization value (%q)", marker)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logText)
	}
	hardNoServerErrors(t, srv)
}
