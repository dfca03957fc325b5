package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"golang.org/x/sync/semaphore"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
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
// answer is built (read, encoded and buffered), and wait up to
// largeAnswerWait for one when all are taken: what building answers costs
// at once is bounded by the slots, not by the number of callers. A built
// answer then holds its bytes until its client has read it, so before
// leaving its slot it also takes its size from a byte budget
// (answerMemory), which it gives back once sent; and it must be read
// within largeAnswerWriteTimeout. One caller (a signed-in user, or one
// network of anonymous callers) has at most LargeAnswersPerCaller large
// calls in flight, so one that never reads holds a bounded number of
// answers, for a bounded time, and cannot keep everybody else's waiting.
//
// Request bodies are read whole before anything else. The first
// freeBodyBytes of each are not counted: nearly every request fits.
// Bytes beyond are taken from a budget of their own (bodyMemory) as they
// arrive, by client network, until the request ends; when it is spent the
// request is refused at once rather than made to wait, so clients that
// send part of a large body and stall hold about what they sent, and
// delay nobody.
type mcpEndpoint struct {
	mcp      *server.StreamableHTTPServer
	logger   *slog.Logger
	authn    *auth.Authenticator
	registry *tools.Registry
	clients  *hostclient.Classifier
	schemes  map[string]json.RawMessage // tool name → securitySchemes JSON
	maxBytes int64
	large    map[string]bool // tools declared LargeAnswer
	slots    chan struct{}   // one token per large answer being built

	callers      *callerLimit        // large calls in flight, by caller
	answerMemory *semaphore.Weighted // bytes of built large answers not yet sent
	answerBudget int64
	bodyMemory   *sharedBudget // bytes of request bodies past freeBodyBytes, by network

	listMu   sync.Mutex
	listMemo *listMemo // the last tools/list result and its rewrite
	// lists answers plain tools/list requests from bytes encoded at
	// start-up; nil sends them all to mcp-go.
	lists *listAnswers
}

// memoryLimits are the endpoint's bounds on what requests hold in memory
// (zero values take the defaults), and the one switch its tests need.
type memoryLimits struct {
	largeAnswers int   // large answers built at once
	answerBytes  int64 // built large answers waiting to be sent
	bodyBytes    int64 // request bodies being served

	everyListThroughMCPGo bool // see Options
}

// The defaults of memoryLimits' byte budgets: a full board's answer is
// about 2 MB of ASCII text, its cards once as structured content and once
// in the text (6.5 MB when every character takes four bytes of UTF-8, and
// at most about 7.4 MB for emoji mixed with line separators, which JSON
// escapes), and an ordinary request body a few hundred bytes. The answer
// budget holds one network's two unread full answers with room for
// everyone else's.
const (
	DefaultAnswerMemory = 32 << 20
	DefaultBodyMemory   = 16 << 20
)

// freeBodyBytes of a request body are read without taking from the body
// budget: nearly every request fits (a tools/call of a few hundred bytes),
// and larger ones (a card with a long description) are counted against
// their network's share, which they pass unless that network holds a
// quarter of the budget already. The allowance is small because nothing
// else bounds it: a network with 2,000 connections that each sent 128 KiB
// and stalled once held 400 MB this way.
const freeBodyBytes = 8 << 10

const (
	// largeAnswerWait is how long a large call waits for a slot and for
	// the answer budget together before it is refused with 503: long
	// enough for a burst to drain, short enough that the answer can
	// still be written within the server's WriteTimeout (60 s).
	largeAnswerWait = 15 * time.Second
	// largeAnswerWriteTimeout is how long a client has to read a large
	// answer: a full board's 2 MB at under 1 Mbit/s, its largest (about
	// 7.4 MB) at 3 Mbit/s.
	largeAnswerWriteTimeout = 20 * time.Second
	// busyRetryAfter is the Retry-After, in seconds, of a request refused
	// because a budget is spent: held bytes come back within a write
	// timeout, usually at once.
	busyRetryAfter = "5"
	// LargeAnswersPerCaller is how many large calls one caller may have
	// in flight: two keep a reader's next answer building while the last
	// is sent.
	LargeAnswersPerCaller = 2
)

func newMCPEndpoint(s *server.StreamableHTTPServer, logger *slog.Logger, authn *auth.Authenticator, registry *tools.Registry, clients *hostclient.Classifier, decls []tools.Tool, limits memoryLimits) (*mcpEndpoint, error) {
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
	if limits.largeAnswers <= 0 {
		limits.largeAnswers = DefaultLargeAnswers()
	}
	if limits.answerBytes <= 0 {
		limits.answerBytes = DefaultAnswerMemory
	}
	if limits.bodyBytes <= 0 {
		limits.bodyBytes = DefaultBodyMemory
	}
	e := &mcpEndpoint{mcp: s, logger: logger, authn: authn, registry: registry, clients: clients, schemes: schemes, maxBytes: MaxBodyBytes,
		large: large, slots: make(chan struct{}, limits.largeAnswers),
		callers:      newCallerLimit(LargeAnswersPerCaller),
		answerMemory: semaphore.NewWeighted(limits.answerBytes), answerBudget: limits.answerBytes,
		// A body of the largest size must fit in one network's share.
		bodyMemory: newSharedBudget(max(limits.bodyBytes, BudgetShares*MaxBodyBytes))}
	if !limits.everyListThroughMCPGo {
		lists, err := e.encodeListAnswers(s)
		if err != nil {
			return nil, err
		}
		e.lists = lists
	}
	return e, nil
}

// DefaultLargeAnswers is how many large answers are built at once unless
// Options say otherwise: building one is CPU work (reading a board is one
// statement; encoding it is most of the cost), so one per core keeps the
// cores busy, and each more would only add its garbage to the heap.
func DefaultLargeAnswers() int { return max(2, runtime.GOMAXPROCS(0)) }

// rpcEnvelope is the part of a JSON-RPC request the endpoint looks at: the
// method (for logging, metrics and tools/list), the tool name (for logging;
// enforcement happens on what mcp-go parsed), and what decides whether
// tools/list can be answered from its encoded bytes.
type rpcEnvelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Method  string          `json:"method"`
	Params  struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
		Cursor    *string         `json:"cursor"`
		Meta      json.RawMessage `json:"_meta"`
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
	network := "net:" + clientip.Network(clientip.FromContext(r.Context()))
	body, held, ok := e.readBody(w, r, network)
	defer e.bodyMemory.give(network, held)
	if !ok {
		return
	}
	var env rpcEnvelope
	envOK := json.Unmarshal(body, &env) == nil
	if envOK {
		// Both values are the client's; cap them before they reach a log.
		info.rpcMethod, info.tool = capLen(env.Method, 64), capLen(env.Params.Name, 64)
		_, info.toolDeclared = e.schemes[env.Params.Name]
	}

	// Who the client is decides how a refused call is answered
	// (AUTH_CHALLENGE=auto); the access log, the metrics and whoami show
	// its family.
	client := e.clients.Classify(r.Header)
	info.clientFamily = string(client.Family)
	ctx := hostclient.NewContext(r.Context(), client)

	refusal := &statusRecorder{ResponseWriter: w}
	p, ok := e.authn.Authenticate(refusal, r)
	if p != nil {
		info.clientID = p.ClientID
	}
	if !ok {
		if env.Method == string(mcp.MethodToolsCall) {
			outcome, summary := refusalOutcome(refusal.status, p)
			e.registry.RecordRefusedCall(ctx, env.Params.Name, env.Params.Arguments, p, outcome, summary)
		}
		return
	}
	if envOK && env.Method == string(mcp.MethodToolsList) {
		if ans, id, ok := e.lists.answer(r, &env); ok {
			ans.write(w, id)
			return
		}
	}
	if p != nil {
		ctx = auth.WithPrincipal(ctx, p)
	}
	ctx, deferred := auth.WithDeferredChallenge(ctx)
	ctx, outage := tools.WithOutage(ctx)

	buf := &bufferedResponse{header: make(http.Header)}
	req := &server.HTTPRequest{
		Method:  r.Method,
		URL:     r.URL,
		Header:  r.Header,
		Body:    body,
		Context: ctx,
	}
	if env.Method == string(mcp.MethodToolsCall) && e.large[env.Params.Name] {
		caller := network
		if p != nil && p.Subject != "" {
			caller = "user:" + p.Issuer + " " + p.Subject
		}
		sent, err := e.handleLarge(buf, req, caller)
		if err != nil {
			writeBusy(w, r, err, "large answers")
			return
		}
		defer sent()
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(largeAnswerWriteTimeout)); err != nil {
			// Only a writer that hides its connection fails here; the
			// answer then has the server's WriteTimeout.
			e.logger.WarnContext(r.Context(), "could not set the write deadline of a large answer", "err", err)
		}
	} else {
		e.mcp.Handle(buf, req)
	}

	// What a tool call deferred to this layer, in order: a challenge (the
	// call was refused before any store work, so it cannot also have met
	// an outage), then a database outage.
	if status, c, ok := deferred.Get(); ok {
		c.WriteHTTP(w, status)
		return
	}
	status := buf.status()
	if outage.Happened() && status == http.StatusOK {
		// The JSON-RPC error stays the body; the status and Retry-After
		// tell clients and proxies to come back rather than give up.
		status = http.StatusServiceUnavailable
		buf.header.Set("Retry-After", databaseRetryAfter)
	}
	out := buf.body.Bytes()
	switch {
	case info.rpcMethod == string(mcp.MethodToolsList) && status == http.StatusOK:
		out = e.addSecuritySchemes(out)
		buf.header.Del("Content-Length")
	case info.rpcMethod == string(mcp.MethodToolsCall):
		buf.unescapeHTML() // a large answer's was done before it was counted
		out = buf.body.Bytes()
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// databaseRetryAfter is the Retry-After of a call that found the database
// unavailable, in seconds: a restart or a failover takes about that long.
const databaseRetryAfter = auth.UnavailableRetryAfter

// handleLarge has mcp-go build a large answer in one of the slots, and
// then takes the answer's size from the answer budget; sent gives it back
// once the answer is written. A caller (a signed-in user, or a network of
// anonymous ones) has at most LargeAnswersPerCaller such calls in flight,
// from here until sent; its further calls wait for one of those to end
// before they wait for a slot, so that a caller who never reads holds no
// slot and keeps nobody else waiting. Waiting for all three, and building
// the answer, together last at most largeAnswerWait before the call is
// refused, and no longer than the client waits.
//
// The slot is kept while the answer waits for the budget, so the answers
// built but not yet counted are at most one per slot; it is given back
// before the answer is written, so a slow reader keeps nobody from having
// theirs built.
func (e *mcpEndpoint) handleLarge(buf *bufferedResponse, req *server.HTTPRequest, caller string) (sent func(), err error) {
	ctx, cancel := context.WithTimeout(req.Context, largeAnswerWait)
	defer cancel()
	if err := e.callers.enter(ctx, caller); err != nil {
		return nil, err
	}
	handedOff := false // to sent; until then, every way out (a panic too) leaves
	defer func() {
		if !handedOff {
			e.callers.leave(caller)
		}
	}()
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, errBudgetSpent
	}
	defer func() { <-e.slots }()
	e.mcp.Handle(buf, req)
	buf.unescapeHTML()
	// The buffer's capacity is what it holds; an answer larger than the
	// whole budget waits for all of it.
	size := min(int64(buf.body.Cap()), e.answerBudget)
	if e.answerMemory.Acquire(ctx, size) != nil {
		return nil, errBudgetSpent
	}
	handedOff = true
	return func() {
		e.answerMemory.Release(size)
		e.callers.leave(caller)
	}, nil
}

// readBody reads r's body whole, up to e.maxBytes, taking the bytes past
// freeBodyBytes from the body budget for network as the buffer grows to
// hold them: a buffer grows (to twice its size, or to the declared length)
// only when the bytes it has are full, so a stalled client holds at most
// about twice what it sent. held is what it took, for the
// caller to give back when the request ends, also when ok is false: then
// the request has been answered (413, 400, 429 or 503), or its client has
// gone.
func (e *mcpEndpoint) readBody(w http.ResponseWriter, r *http.Request, network string) (body []byte, held int64, ok bool) {
	src := http.MaxBytesReader(w, r.Body, e.maxBytes)
	// One byte past the end makes room to read io.EOF without growing.
	limit := int(e.maxBytes) + 1
	if r.ContentLength >= 0 {
		limit = int(r.ContentLength) + 1
	}
	body = make([]byte, 0, min(512, limit))
	for {
		if len(body) == cap(body) {
			grown := min(2*cap(body), limit, int(e.maxBytes)+1)
			if over := int64(grown) - freeBodyBytes - held; over > 0 {
				n, err := e.bodyMemory.take(network, over)
				held += n
				if err != nil {
					writeBusy(w, r, err, "large request bodies")
					return nil, held, false
				}
			}
			body = append(make([]byte, 0, grown), body...)
		}
		n, err := src.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		switch {
		case err == io.EOF:
			return body, held, true
		case err != nil:
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeTooLarge(w, e.maxBytes)
			} else {
				writeRPCError(w, http.StatusBadRequest, mcp.PARSE_ERROR, "could not read the request body")
			}
			return nil, held, false
		}
	}
}

// writeBusy answers a request that a budget refused: 429 when the client
// holds its share already, 503 when the server's whole budget is spent;
// both say when to retry. A client that left gets nothing.
func writeBusy(w http.ResponseWriter, r *http.Request, err error, what string) {
	if r.Context().Err() != nil {
		return
	}
	w.Header().Set("Retry-After", busyRetryAfter)
	if errors.Is(err, errClientShare) {
		writeRPCError(w, http.StatusTooManyRequests, mcp.INTERNAL_ERROR,
			fmt.Sprintf("too many of your %s are in flight; retry after the ones already sent are read", what))
		return
	}
	writeRPCError(w, http.StatusServiceUnavailable, mcp.INTERNAL_ERROR,
		fmt.Sprintf("the server is busy with other %s; retry in a few seconds", what))
}

// unescapeHTML turns the escapes that encoding/json writes for <, > and &
// (\u003c, \u003e, \u0026) back into the characters, in place. mcp-go
// encodes replies with HTML escaping on, which makes each of these
// characters six bytes: a board whose text is all "<" answered five times
// larger than one of letters. The reply is JSON sent as application/json
// with nosniff, never HTML, so the characters are safe as they are. An
// escaped backslash is copied with the character after it, so "\\u003c"
// (a backslash, then the text u003c) stays as it is.
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	w := 0
	for r := 0; r < len(b); r++ {
		c := b[r]
		if c == '\\' && r+1 < len(b) {
			if r+5 < len(b) && b[r+1] == 'u' && b[r+2] == '0' && b[r+3] == '0' {
				switch string(b[r+4 : r+6]) {
				case "3c":
					b[w], w, r = '<', w+1, r+5
					continue
				case "3e":
					b[w], w, r = '>', w+1, r+5
					continue
				case "26":
					b[w], w, r = '&', w+1, r+5
					continue
				}
			}
			b[w], b[w+1] = c, b[r+1]
			w, r = w+2, r+1
			continue
		}
		b[w] = c
		w++
	}
	return b[:w]
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

// capLen cuts s to at most n bytes, on a character's boundary, and
// makes it valid UTF-8 (each run of invalid bytes becomes U+FFFD): what a
// client sent goes on to logs and traces, whose encoders must not meet a
// character cut in half.
func capLen(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
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
func (b *bufferedResponse) Flush() {}

// unescapeHTML shortens the reply with unescapeHTML. A reply that shrank to
// less than half of its buffer moves to a buffer of its own size, so that
// what it holds while waiting to be sent is what will be sent.
func (b *bufferedResponse) unescapeHTML() {
	out := b.body.Bytes()
	short := unescapeHTML(out)
	if len(short) == len(out) {
		return
	}
	b.header.Del("Content-Length")
	if len(short) < b.body.Cap()/2 {
		b.body = *bytes.NewBuffer(bytes.Clone(short))
		return
	}
	b.body.Truncate(len(short))
}
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
