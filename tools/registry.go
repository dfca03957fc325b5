package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/trace"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/internal/hostclient"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tracing"
)

// Recorder takes the activity rows that are not written together with a
// change: reads, denials and failures. Neither method may block.
type Recorder interface {
	// Record takes the row of a caller with a valid token. It may keep
	// a.IDs until the row is written: the caller must not change the
	// slice's elements afterwards.
	Record(a store.Activity)
	// RecordAnonymous takes the row of a caller without a valid token
	// (none, or one refused), from the address clientIP, and its IDs as
	// Record does. Such rows cost nothing to cause, so the recorder may
	// keep only some of them.
	RecordAnonymous(clientIP string, a store.Activity)
}

// Options are what the registered tools share.
type Options struct {
	Store store.Store
	Audit Recorder
	// Scopes are the declared scopes (ScopeSet): what each one implies
	// decides every call, and a tool may require only a declared scope.
	Scopes *auth.ScopeSet
	// Challenge says how a call without the needed token or scope is
	// answered; auth.ChallengeAuto decides per call from the client the
	// HTTP layer put in the context (internal/hostclient).
	Challenge auth.ChallengeMode
	// ResourceMetadata is the protected-resource metadata URL named in
	// every challenge.
	ResourceMetadata string
	// Icons are shown beside every tool (the app's icon), as hosts list
	// tools with their icons.
	Icons  []mcp.Icon
	Logger *slog.Logger
	Now    func() time.Time
	// Metrics counts every call by tool, outcome and client family, and
	// AuthMetrics the calls refused for a scope their token lacks; nil
	// counts nothing.
	Metrics     *metrics.Tools
	AuthMetrics *metrics.Auth
	// Tracer gives each call a span; nil gives none.
	Tracer *tracing.Tracer
}

// Registry is the set of registered tools.
type Registry struct {
	opts Options
	ids  map[string][]idArgument // tool name → its declared ID arguments
}

// Register validates every declaration and adds it to s behind the
// enforcement derived from it. It refuses duplicate names.
func Register(s *server.MCPServer, opts Options, tools ...Tool) (*Registry, error) {
	if opts.Store == nil || opts.Audit == nil || opts.Scopes == nil {
		return nil, errors.New("tools: Register needs a Store, an Audit recorder and the Scopes")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ids := make(map[string][]idArgument)
	var entries []server.ServerTool
	for _, t := range tools {
		if err := t.validate(opts.Scopes); err != nil {
			return nil, err
		}
		if _, dup := ids[t.Name]; dup {
			return nil, fmt.Errorf("tool %q is declared twice", t.Name)
		}
		ids[t.Name] = t.idArguments()
		d := t.Descriptor()
		d.Icons = opts.Icons
		entries = append(entries, server.ServerTool{Tool: d, Handler: opts.enforce(t, ids[t.Name])})
	}
	s.AddTools(entries...)
	return &Registry{opts: opts, ids: ids}, nil
}

// RecordRefusedCall audits a tools/call that the HTTP layer refused before
// it could reach the tool (a bad, expired or revoked token, a malformed
// Authorization header), so that every call of a registered tool leaves a
// row. p is the caller when the token was valid but revoked, else nil.
// Calls of names that are not registered tools are not recorded. None of
// these callers has a valid token, so their rows are anonymous ones (see
// Recorder).
func (r *Registry) RecordRefusedCall(ctx context.Context, tool string, args json.RawMessage, p *auth.Principal, outcome store.Outcome, summary string) {
	ids, ok := r.ids[tool]
	if !ok {
		return
	}
	act := refusal(store.Activity{At: r.opts.Now(), Tool: tool, Actor: actorOf(p)}, ids, args, outcome, summary)
	r.opts.Audit.RecordAnonymous(clientip.FromContext(ctx), act)
	r.opts.Metrics.Refused(tool, string(outcome), clientFamily(ctx))
}

// clientFamily is the family of the request's client (hostclient), the
// label that says which agents call: "other" when the HTTP layer did not
// classify it.
func clientFamily(ctx context.Context) string {
	if c, ok := hostclient.FromContext(ctx); ok {
		return string(c.Family)
	}
	return string(hostclient.Other)
}

// enforce wraps a tool's handler with the check of its Requirement, the
// challenges, the audit and the metrics. Authorisation runs before the
// arguments are read, so a caller without the needed token gets the
// challenge, not an argument error, and the refusal is audited.
func (o Options) enforce(t Tool, ids []idArgument) server.ToolHandlerFunc {
	spanName := "tools/call " + t.Name
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		ctx, span := o.Tracer.Start(ctx, spanName, trace.SpanKindInternal)
		res, outcome, err := o.call(ctx, t, ids, req)
		span.SetString("mcp.tool.name", t.Name)
		span.SetString("mcp.tool.outcome", string(outcome))
		if outcome == store.OutcomeError {
			span.Fail("the call failed")
		}
		span.End()
		o.Metrics.Call(t.Name, string(outcome), clientFamily(ctx), time.Since(start))
		if outcome == store.OutcomeInsufficientScope {
			o.AuthMetrics.Result(auth.ResultInsufficientScope)
		}
		return res, err
	}
}

// call is one call of t, and how it ended, as its activity row says.
func (o Options) call(ctx context.Context, t Tool, ids []idArgument, req mcp.CallToolRequest) (*mcp.CallToolResult, store.Outcome, error) {
	p := auth.PrincipalFrom(ctx)
	call := t.newCall(p, rawArguments(req), ids, o.Scopes)
	act := store.Activity{At: o.Now(), Tool: t.Name, Actor: actorOf(p)}

	switch t.Requires.Check(p, o.Scopes) {
	case auth.DenyNoToken:
		o.recordRefusal(ctx, act, call, store.OutcomeUnauthenticated, "refused: no access token")
		desc := fmt.Sprintf("Sign in to use %s: it needs the %s scope.", t.Name, t.Requires.Scope)
		return o.challenge(ctx, t, http.StatusUnauthorized, auth.ErrInvalidToken, desc), store.OutcomeUnauthenticated, nil
	case auth.DenyScope:
		o.recordRefusal(ctx, act, call, store.OutcomeInsufficientScope, fmt.Sprintf("refused: token lacks %s", t.Requires.Scope))
		desc := fmt.Sprintf("%s needs the %s scope, which this connection was not granted; reconnect and grant it.", t.Name, t.Requires.Scope)
		return o.challenge(ctx, t, http.StatusForbidden, auth.ErrInsufficientScope, desc), store.OutcomeInsufficientScope, nil
	case auth.Allow:
		call.Viewer = actorOf(p)
	case auth.AllowAnonymous:
		call.Viewer = store.Actor{}
	}

	res, err := t.Handle.run(ctx, o.Store, call)
	if err != nil {
		return o.failed(ctx, t, call, act, err)
	}
	// A write recorded its row with its change, in the same transaction;
	// a read's row is recorded here. The declaration decides which.
	if t.Effect == Reads {
		act.Outcome = store.OutcomeOK
		act.BoardID = res.Activity.BoardID
		act.IDs = res.Activity.IDs
		act.Summary = res.Activity.Summary
		act.BoardOwner = res.Activity.BoardOwner
		o.record(ctx, p, act)
	}
	out := mcp.NewToolResultStructured(res.Structured, ResultText(res.Summary, res.Structured))
	if res.Meta != nil {
		out.Meta = mcp.NewMetaFromMap(res.Meta)
	}
	return out, store.OutcomeOK, nil
}

// failed answers a handler error. A store-coded error is the caller's
// mistake and becomes an isError result; anything else is an
// infrastructure failure, logged here and reported as a JSON-RPC internal
// error without its details.
func (o Options) failed(ctx context.Context, t Tool, call *Call, act store.Activity, err error) (*mcp.CallToolResult, store.Outcome, error) {
	outcome := store.OutcomeOf(err)
	if outcome == store.OutcomeError {
		o.recordRefusal(ctx, act, call, outcome, failureSummary(outcome))
		if errors.Is(err, store.ErrUnavailable) {
			o.Logger.WarnContext(ctx, "tool failed: the database is unavailable", "tool", t.Name, "err", err)
			noteOutage(ctx)
			return nil, outcome, errors.New("the database is unavailable; try again in a few seconds")
		}
		o.Logger.ErrorContext(ctx, "tool failed", "tool", t.Name, "err", err)
		return nil, outcome, errors.New("internal error: the server could not complete this call and has logged why; try again later")
	}
	msg := sentence(err.Error())
	// A tool open to anonymous callers that finds nothing for one may be
	// looking at a private board: offer sign-in (or, for a token without
	// the scope, a step-up). Missing and invisible boards answer alike, so
	// existence never leaks.
	if outcome == store.OutcomeNotFound && t.Requires.Anonymous && t.Requires.Scope != "" && call.Viewer.Anonymous() {
		if call.Principal != nil {
			// What the caller gets is a step-up challenge; audit it as such.
			o.recordRefusal(ctx, act, call, store.OutcomeInsufficientScope, fmt.Sprintf("not found without %s", t.Requires.Scope))
			desc := fmt.Sprintf("%s If it is yours, reconnect and grant the %s scope.", msg, t.Requires.Scope)
			return o.challenge(ctx, t, http.StatusForbidden, auth.ErrInsufficientScope, desc), store.OutcomeInsufficientScope, nil
		}
		if o.mode(ctx) == auth.ChallengeToolResult {
			o.recordRefusal(ctx, act, call, outcome, failureSummary(outcome))
			desc := fmt.Sprintf("%s If it is a private board of yours, sign in to see it.", msg)
			return o.toolResultChallenge(t, auth.ErrInvalidToken, desc), outcome, nil
		}
	}
	o.recordRefusal(ctx, act, call, outcome, failureSummary(outcome))
	return mcp.NewToolResultError(msg), outcome, nil
}

// sentence ends a message with a full stop, so that a hint can follow it.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// challenge answers a call that needs a token or a scope it lacks. In
// tool-result mode the challenge rides in the result's
// _meta["mcp/www_authenticate"]; in http mode it is handed to the HTTP layer,
// which answers with status instead (401 without a token, 403 without the
// scope). A missing token in http mode carries no error code (RFC 6750
// §3.1).
func (o Options) challenge(ctx context.Context, t Tool, status int, code, desc string) *mcp.CallToolResult {
	if o.mode(ctx) == auth.ChallengeHTTP {
		if d := auth.DeferredChallengeFrom(ctx); d != nil {
			c := auth.Challenge{ResourceMetadata: o.ResourceMetadata, Scope: neededScopes(t), Error: code, Description: desc}
			if status == http.StatusUnauthorized {
				c.Error, c.Description = "", ""
			}
			d.Set(status, c)
		}
	}
	return o.toolResultChallenge(t, code, desc)
}

func (o Options) toolResultChallenge(t Tool, code, desc string) *mcp.CallToolResult {
	c := auth.Challenge{ResourceMetadata: o.ResourceMetadata, Scope: neededScopes(t), Error: code, Description: desc}
	res := mcp.NewToolResultError(desc)
	res.Meta = mcp.NewMetaFromMap(map[string]any{"mcp/www_authenticate": []string{c.String()}})
	return res
}

// mode is how this call's refusal is answered: the configured mode, or for
// auto, in-band when the request's client acts on that (ChatGPT) and HTTP
// for every other client, the specification's way.
func (o Options) mode(ctx context.Context) auth.ChallengeMode {
	if o.Challenge != auth.ChallengeAuto {
		return o.Challenge
	}
	if c, ok := hostclient.FromContext(ctx); ok && c.InBand {
		return auth.ChallengeToolResult
	}
	return auth.ChallengeHTTP
}

// neededScopes is what a challenge asks for: everything the operation
// needs, in one challenge (MCP 2026-07-28).
func neededScopes(t Tool) auth.Scopes {
	if t.Requires.Scope == "" {
		return nil
	}
	return auth.Scopes{string(t.Requires.Scope)}
}

// recordRefusal audits a call that did not succeed.
func (o Options) recordRefusal(ctx context.Context, act store.Activity, call *Call, outcome store.Outcome, summary string) {
	o.record(ctx, call.Principal, refusal(act, call.ids, call.args, outcome, summary))
}

// record hands a row that is not part of a write to the recorder: as an
// anonymous one when the caller sent no valid token.
func (o Options) record(ctx context.Context, p *auth.Principal, act store.Activity) {
	if p == nil {
		o.Audit.RecordAnonymous(clientip.FromContext(ctx), act)
		return
	}
	o.Audit.Record(act)
}

// refusal completes the row of a call that did not succeed. It keeps only
// the IDs the caller supplied in the tool's declared ID arguments, and only
// those of the right form: never names looked up from data the caller may
// not see, and nothing else the caller sent, whose size the caller
// chooses.
func refusal(act store.Activity, ids []idArgument, args json.RawMessage, outcome store.Outcome, summary string) store.Activity {
	act.Outcome = outcome
	act.IDs = suppliedIDs(ids, args)
	act.BoardID = suppliedBoardID(act.IDs)
	act.Summary = summary
	return act
}

func failureSummary(o store.Outcome) string {
	switch o {
	case store.OutcomeInvalidInput:
		return "refused: invalid arguments"
	case store.OutcomeNotFound:
		return "not found"
	case store.OutcomeConflict:
		return "refused: changed since last read"
	case store.OutcomeQuota:
		return "refused: quota reached"
	}
	return "failed: server error"
}

// suppliedIDs returns the values of the declared ID arguments (in the
// order of ids, which is by name) that are valid IDs of their kind.
func suppliedIDs(ids []idArgument, args json.RawMessage) []string {
	if len(ids) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil {
		return nil
	}
	var out []string
	for _, a := range ids {
		var v string
		if raw, ok := m[a.name]; !ok || json.Unmarshal(raw, &v) != nil {
			continue
		}
		if store.ValidateID(a.name, a.prefix, v) == nil {
			out = append(out, v)
		}
	}
	return out
}

func suppliedBoardID(ids []string) string {
	for _, id := range ids {
		if strings.HasPrefix(id, store.BoardPrefix) {
			return id
		}
	}
	return ""
}

func rawArguments(req mcp.CallToolRequest) json.RawMessage {
	if len(req.Params.RawArguments) > 0 {
		return req.Params.RawArguments
	}
	if req.Params.Arguments == nil {
		return nil
	}
	b, err := json.Marshal(req.Params.Arguments)
	if err != nil {
		return nil
	}
	return b
}

func actorOf(p *auth.Principal) store.Actor {
	if p == nil {
		return store.Actor{}
	}
	return store.Actor{Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID}
}
