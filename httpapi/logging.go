package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"go.opentelemetry.io/otel/trace"

	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/tracing"
)

// endRequestSpan names a request's span after its route and gives it
// what the access log says, minus the client's address and client_id:
// the method, the route, the status, the JSON-RPC method, the tool and
// the client family. Unlike the log, a span holds only names the server
// knows: a method or tool it does not know is "_OTHER" or left out, so
// that a client cannot write what it likes into a trace.
func endRequestSpan(span tracing.Span, method, route string, status int, info *requestInfo) {
	method = spanHTTPMethod(method)
	if route != "" {
		// A pattern may begin with its method already ("GET /healthz").
		if strings.HasPrefix(route, method+" ") {
			span.Rename(route)
		} else {
			span.Rename(spanName(method) + " " + route)
		}
		span.SetString("http.route", route)
	}
	span.SetString("http.request.method", method)
	span.SetInt("http.response.status_code", status)
	if info.rpcMethod != "" {
		span.SetString("rpc.method", spanRPCMethod(info.rpcMethod))
	}
	if info.toolDeclared {
		span.SetString("mcp.tool.name", info.tool)
	}
	if info.clientFamily != "" {
		span.SetString("mcp.client.family", info.clientFamily)
	}
	if status >= 500 {
		span.Fail(http.StatusText(status))
	}
}

// otherMethod stands for a method the server does not know, as
// OpenTelemetry's conventions name it.
const otherMethod = "_OTHER"

// spanHTTPMethod is an HTTP method as a span records it: net/http accepts
// any token as a method.
func spanHTTPMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return otherMethod
}

// spanName is the first word of a request span's name: its method, or
// HTTP for a method the server does not know (the conventions' choice).
func spanName(method string) string {
	if method == otherMethod {
		return "HTTP"
	}
	return method
}

// spanRPCMethod is a JSON-RPC method as a span records it: one that
// clients send to MCP servers, or _OTHER.
func spanRPCMethod(m string) string {
	switch mcp.MCPMethod(m) {
	case mcp.MethodInitialize, mcp.MethodPing, mcp.MethodToolsList, mcp.MethodToolsCall,
		mcp.MethodResourcesList, mcp.MethodResourcesTemplatesList, mcp.MethodResourcesRead,
		mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe,
		mcp.MethodPromptsList, mcp.MethodPromptsGet, mcp.MethodCompletionComplete, mcp.MethodSetLogLevel,
		mcp.MethodServerDiscover, mcp.MethodSubscriptionsListen,
		mcp.MethodTasksGet, mcp.MethodTasksList, mcp.MethodTasksResult, mcp.MethodTasksCancel,
		mcp.MethodNotificationInitialized, mcp.MethodNotificationCancelled, mcp.MethodNotificationProgress,
		mcp.MethodNotificationRootsListChanged:
		return m
	}
	return otherMethod
}

// requestInfo is what inner handlers learn about a request and the access
// log reports. It never holds tokens or arguments.
type requestInfo struct {
	rpcMethod    string // the client's, capped
	tool         string // the client's, capped
	toolDeclared bool   // tool is one the server declares
	clientID     string
	clientFamily string // hostclient.Family: one of a fixed few words
}

// Mux is where the server's routes are registered (http.ServeMux's two
// methods), so that every route, the mounted ones too, is counted by its
// pattern.
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// countedMux registers each handler behind the count of its route's
// requests in flight.
type countedMux struct {
	mux     *http.ServeMux
	metrics *metrics.HTTP
}

func (c countedMux) Handle(pattern string, h http.Handler) {
	c.mux.Handle(pattern, c.metrics.Route(pattern, h))
}

func (c countedMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	c.Handle(pattern, http.HandlerFunc(h))
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection underneath,
// for the write deadline of large answers: without it, setting the
// deadline fails and the answer is held for the whole WriteTimeout.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// maxLoggedPath is how much of a request's path the access log writes:
// every path this server serves is shorter, and a client's 60 KB path
// must not make a 120 KB log line.
const maxLoggedPath = 256

// accessLog writes one line per request, counts it in m by the route
// pattern the mux matched, and turns a panic into a 500 so one bad request
// cannot take the server down. It logs the path without the query string,
// and no header values: tokens must never reach a log.
//
// With a tracer it also gives each request a server span, continuing the
// caller's trace (traceparent), named after the route it matched.
func accessLog(log *slog.Logger, proxyHeader string, m *metrics.HTTP, tr *tracing.Tracer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		ip := clientip.From(r, proxyHeader)
		rec := &statusRecorder{ResponseWriter: w}
		// The address travels in the context too: the tools' audit limits
		// the rows of callers without a valid token per address.
		ctx, span := tr.Start(tr.Incoming(r), spanName(spanHTTPMethod(r.Method)), trace.SpanKindServer)
		inner := r.WithContext(clientip.NewContext(context.WithValue(ctx, requestInfoKey{}, info), ip))
		defer func() {
			if v := recover(); v != nil {
				log.ErrorContext(r.Context(), "panic serving request", "path", capLen(r.URL.Path, maxLoggedPath), "panic", v)
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			took := time.Since(start)
			status := rec.status
			if status == 0 {
				status = http.StatusOK // nothing written: net/http sends 200
			}
			// The mux wrote the pattern it matched into the request it
			// was given.
			m.Served(inner.Pattern, status, took)
			if span.Recording() {
				endRequestSpan(span, r.Method, inner.Pattern, status, info)
			}
			span.End()
			attrs := []slog.Attr{
				slog.String("method", capLen(r.Method, 16)), // any token is a method to net/http
				slog.String("path", capLen(r.URL.Path, maxLoggedPath)),
				slog.Int("status", rec.status),
				slog.Duration("duration", took),
				slog.String("client_ip", ip),
			}
			if info.rpcMethod != "" {
				attrs = append(attrs, slog.String("rpc_method", info.rpcMethod))
			}
			if info.tool != "" {
				attrs = append(attrs, slog.String("tool", info.tool))
			}
			if info.clientID != "" {
				attrs = append(attrs, slog.String("client_id", info.clientID))
			}
			if info.clientFamily != "" {
				attrs = append(attrs, slog.String("client", info.clientFamily))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(rec, inner)
	})
}
