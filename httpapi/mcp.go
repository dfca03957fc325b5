package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// MaxBodyBytes caps an MCP request body. mcp-go reads whole bodies itself
// and reports a failed read as a parse error, so the cap is enforced here,
// in front of it, where an oversized body can get its proper 413.
const MaxBodyBytes = 1 << 20

// mcpEndpoint serves /mcp: it caps the body, authenticates the bearer
// token, hands the request to mcp-go through its transport-agnostic Handle
// entry point with a buffering writer, and then post-processes the reply:
// a challenge deferred by a tool (AUTH_CHALLENGE=http) replaces it with a
// 401 or 403, and a tools/list reply gains top-level securitySchemes.
//
// The writer is buffering and reports CanStream false, so mcp-go never
// upgrades a reply to text/event-stream: every reply
// is one JSON document that can be inspected and rewritten safely.
//
// Calls of tools declared LargeAnswer take one of a few slots while their
// answer is built (read, encoded and buffered), and wait for one when all
// are taken, for as long as their client waits: what building answers
// costs at once is bounded by the slots, not by the number of callers.
type mcpEndpoint struct {
	mcp      *server.StreamableHTTPServer
	authn    *auth.Authenticator
	registry *tools.Registry
	schemes  map[string]json.RawMessage // tool name → securitySchemes JSON
	maxBytes int64
	large    map[string]bool // tools declared LargeAnswer
	slots    chan struct{}   // one token per large answer being built

	listMu   sync.Mutex
	listMemo *listMemo // the last tools/list result and its rewrite
}

func newMCPEndpoint(s *server.StreamableHTTPServer, authn *auth.Authenticator, registry *tools.Registry, decls []tools.Tool, largeAnswers int) (*mcpEndpoint, error) {
	schemes := make(map[string]json.RawMessage, len(decls))
	large := make(map[string]bool)
	for _, t := range decls {
		b, err := json.Marshal(t.Requires.SecuritySchemes())
		if err != nil {
			return nil, fmt.Errorf("marshal securitySchemes of %s: %w", t.Name, err)
		}
		schemes[t.Name] = b
		if t.LargeAnswer {
			large[t.Name] = true
		}
	}
	if largeAnswers <= 0 {
		largeAnswers = DefaultLargeAnswers()
	}
	return &mcpEndpoint{mcp: s, authn: authn, registry: registry, schemes: schemes, maxBytes: MaxBodyBytes,
		large: large, slots: make(chan struct{}, largeAnswers)}, nil
}

// DefaultLargeAnswers is how many large answers are built at once unless
// Options say otherwise: building one is CPU work, so twice the cores keep
// them busy while others wait for a database read.
func DefaultLargeAnswers() int { return max(2, 2*runtime.GOMAXPROCS(0)) }

// rpcEnvelope is the part of a JSON-RPC request the endpoint looks at: the
// method (for logging and the tools/list rewrite) and the tool name (for
// logging only; enforcement happens on what mcp-go parsed).
type rpcEnvelope struct {
	Method string `json:"method"`
	Params struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"params"`
}

// allowedMethods is what /mcp serves. The server is stateless and never
// streams, so there is no GET stream to open and no session for a DELETE to
// end: both get 405 with Allow, as the Streamable HTTP transport allows,
// and so does every other method. OPTIONS answers CORS preflights (mcpCORS)
// and plain capability probes.
const allowedMethods = "POST, OPTIONS"

func (e *mcpEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		w.Header().Set("Allow", allowedMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", allowedMethods)
		writeRPCError(w, http.StatusMethodNotAllowed, mcp.INVALID_REQUEST,
			fmt.Sprintf("%s is not supported: this server is stateless and does not stream; send JSON-RPC requests with POST", capLen(r.Method, 16)))
		return
	}
	info := requestInfoFrom(r.Context())

	if r.ContentLength > e.maxBytes {
		writeTooLarge(w, e.maxBytes)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.maxBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeTooLarge(w, e.maxBytes)
			return
		}
		writeRPCError(w, http.StatusBadRequest, mcp.PARSE_ERROR, "could not read the request body")
		return
	}
	var env rpcEnvelope
	if json.Unmarshal(body, &env) == nil {
		// Both values are the client's; cap them before they reach a log.
		info.rpcMethod, info.tool = capLen(env.Method, 64), capLen(env.Params.Name, 64)
	}

	refusal := &statusRecorder{ResponseWriter: w}
	p, ok := e.authn.Authenticate(refusal, r)
	if p != nil {
		info.clientID = p.ClientID
	}
	if !ok {
		if env.Method == string(mcp.MethodToolsCall) {
			outcome, summary := refusalOutcome(refusal.status, p)
			e.registry.RecordRefusedCall(r.Context(), env.Params.Name, env.Params.Arguments, p, outcome, summary)
		}
		return
	}
	ctx := r.Context()
	if p != nil {
		ctx = auth.WithPrincipal(ctx, p)
	}
	ctx, deferred := auth.WithDeferredChallenge(ctx)

	buf := &bufferedResponse{header: make(http.Header)}
	req := &server.HTTPRequest{
		Method:  r.Method,
		URL:     r.URL,
		Header:  r.Header,
		Body:    body,
		Context: ctx,
	}
	if env.Method == string(mcp.MethodToolsCall) && e.large[env.Params.Name] {
		if !e.handleLarge(buf, req) {
			return // the client left while waiting: nobody to answer
		}
	} else {
		e.mcp.Handle(buf, req)
	}

	if status, c, ok := deferred.Get(); ok {
		c.WriteHTTP(w, status)
		return
	}
	out := buf.body.Bytes()
	if info.rpcMethod == string(mcp.MethodToolsList) && buf.status() == http.StatusOK {
		out = e.addSecuritySchemes(out)
		buf.header.Del("Content-Length")
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.WriteHeader(buf.status())
	_, _ = w.Write(out)
}

// handleLarge has mcp-go build a large answer in one of the slots, waiting
// for a free one for as long as the client waits; false when it left
// first.
func (e *mcpEndpoint) handleLarge(buf *bufferedResponse, req *server.HTTPRequest) bool {
	select {
	case e.slots <- struct{}{}:
	case <-req.Context.Done():
		return false
	}
	// Released once built: what remains is one buffer to send, and a slow
	// client must not keep others waiting while it reads.
	defer func() { <-e.slots }()
	e.mcp.Handle(buf, req)
	return true
}

// refusalOutcome classifies a request that authentication turned away, for
// the audit trail.
func refusalOutcome(status int, p *auth.Principal) (store.Outcome, string) {
	switch {
	case status == http.StatusUnauthorized && p != nil:
		return store.OutcomeUnauthenticated, "refused: access revoked by the operator"
	case status == http.StatusUnauthorized:
		return store.OutcomeUnauthenticated, "refused: invalid or expired token"
	case status == http.StatusBadRequest:
		return store.OutcomeInvalidInput, "refused: malformed Authorization"
	}
	return store.OutcomeError, "refused: token could not be checked"
}

// addSecuritySchemes copies each tool's securitySchemes to the top level of
// its descriptor in a tools/list reply.
//
// mcp-go's Tool.MarshalJSON writes a fixed set of keys, so it cannot emit
// the top-level field that ChatGPT reads (it mirrors it in _meta, which
// mcp-go can emit). Of the three ways out (rewrite the reply, fork mcp-go,
// or serve tools/list ourselves), rewriting keeps mcp-go in charge of the
// protocol, versions and pagination, and touches only a finished JSON
// document. The values come from the same declarations as the _meta copy,
// so the two are identical. A reply that is not a JSON-RPC result with a
// tools array is passed through untouched.
//
// The list rarely changes while replies differ only in their id, so the
// rewritten result is remembered for the last result mcp-go produced:
// a repeat costs a comparison instead of a decode and re-encode.
func (e *mcpEndpoint) addSecuritySchemes(reply []byte) []byte {
	// mcp-go writes {"jsonrpc":…,"id":…,"result":…}: the first
	// unescaped ,"result": is the result's (a string id escapes its quotes).
	const key = `,"result":`
	i := bytes.Index(reply, []byte(key))
	trimmed := bytes.TrimRight(reply, "\n")
	if i < 0 || !bytes.HasSuffix(trimmed, []byte("}")) {
		return reply
	}
	result := trimmed[i+len(key) : len(trimmed)-1]

	e.listMu.Lock()
	memo := e.listMemo
	e.listMu.Unlock()
	if memo == nil || !bytes.Equal(memo.in, result) {
		out, ok := e.rewriteToolsResult(result)
		if !ok {
			return reply
		}
		memo = &listMemo{in: bytes.Clone(result), out: out}
		e.listMu.Lock()
		e.listMemo = memo
		e.listMu.Unlock()
	}
	out := make([]byte, 0, i+len(key)+len(memo.out)+1)
	out = append(out, reply[:i+len(key)]...)
	out = append(out, memo.out...)
	return append(out, '}')
}

// listMemo is a tools/list result and its rewritten form.
type listMemo struct{ in, out []byte }

// rewriteToolsResult adds the top-level securitySchemes to every tool of a
// tools/list result.
func (e *mcpEndpoint) rewriteToolsResult(raw []byte) ([]byte, bool) {
	var result map[string]json.RawMessage
	if json.Unmarshal(raw, &result) != nil || result["tools"] == nil {
		return nil, false
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(result["tools"], &list) != nil {
		return nil, false
	}
	for _, t := range list {
		var name string
		if json.Unmarshal(t["name"], &name) != nil {
			continue
		}
		if s, ok := e.schemes[name]; ok {
			t[tools.SecuritySchemesKey] = s
		}
	}
	var err error
	if result["tools"], err = json.Marshal(list); err != nil {
		return nil, false
	}
	out, err := json.Marshal(result)
	if err != nil {
		return nil, false
	}
	return out, true
}

func capLen(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// bufferedResponse collects mcp-go's reply. It cannot stream.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedResponse) Flush()          {}
func (b *bufferedResponse) CanStream() bool { return false }
func (b *bufferedResponse) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func writeTooLarge(w http.ResponseWriter, limit int64) {
	writeRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST,
		fmt.Sprintf("request body is larger than %d bytes", limit))
}

// writeRPCError answers with a JSON-RPC error object (id null: the request
// could not be read).
func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": code, "message": msg},
	})
}
