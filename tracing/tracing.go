// Package tracing gives the server's parts OpenTelemetry spans when the
// standard OTEL_EXPORTER_OTLP_* variables ask for traces (see config), and
// costs them nothing when they do not: a nil *Tracer starts no span,
// allocates nothing and leaves the context as it is, so each part keeps
// one field and no branch of its own.
//
// Spans: one per HTTP request (continuing the caller's trace from its
// traceparent header), per tool call, per store operation and per
// outbound fetch (the issuer's keys, client metadata, introspection,
// upstream sign-in). No attribute holds a token, a code, a secret, an
// argument or a query string: only names the server knows (routes,
// methods, tools, operations; a client's others are "_OTHER" or left
// out), outcomes and statuses, and the host of a fetch (for client
// metadata, the host of a client's URL). Attribute values are cut at
// maxAttributeLength.
//
// Spans leave over OTLP/HTTP in protobuf (exporter.go), encoded with the
// OpenTelemetry project's own message types. Not through otlptracehttp:
// its configuration package and the collector's service definitions
// import google.golang.org/grpc, which would link about 70 gRPC packages
// into a server that speaks no gRPC.
package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// Tracer starts the server's spans; nil starts none.
type Tracer struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// New returns a Tracer whose spans go to provider: the SDK's with the
// OTLP exporter (Start), or with an in-memory one in tests.
func New(provider trace.TracerProvider) *Tracer {
	return &Tracer{
		tracer:     provider.Tracer(product.Name),
		propagator: propagation.TraceContext{},
	}
}

// Span is a started span, or nothing (the zero Span) when tracing is off.
type Span struct{ s trace.Span }

// Start begins a span named name under ctx's span, of kind. Its
// attributes follow with SetString and SetInt, which build nothing when
// tracing is off (a variadic list would be built at every call).
func (t *Tracer) Start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, Span) {
	if t == nil {
		return ctx, Span{}
	}
	ctx, s := t.tracer.Start(ctx, name, trace.WithSpanKind(kind))
	return ctx, Span{s}
}

// Set adds attributes. Its arguments are built by the caller even when
// tracing is off, so the hot path uses SetString and SetInt instead.
func (s Span) Set(attrs ...attribute.KeyValue) {
	if s.s != nil {
		s.s.SetAttributes(attrs...)
	}
}

// SetString adds one string attribute; nothing is built when tracing is
// off.
func (s Span) SetString(key, value string) {
	if s.s != nil {
		s.s.SetAttributes(attribute.String(key, value))
	}
}

// SetInt adds one integer attribute.
func (s Span) SetInt(key string, value int) {
	if s.s != nil {
		s.s.SetAttributes(attribute.Int(key, value))
	}
}

// Rename gives the span the name known only once it ran (an HTTP
// request's route).
func (s Span) Rename(name string) {
	if s.s != nil {
		s.s.SetName(name)
	}
}

// Fail marks the span failed with a description that names no secret.
func (s Span) Fail(description string) {
	if s.s != nil {
		s.s.SetStatus(codes.Error, description)
	}
}

// End ends the span.
func (s Span) End() {
	if s.s != nil {
		s.s.End()
	}
}

// Recording reports whether the span is sampled and kept: attributes
// that cost something to compute are worth it only then.
func (s Span) Recording() bool { return s.s != nil && s.s.IsRecording() }

// Incoming continues the trace that r's traceparent (and tracestate)
// header carries, if any: the context of a request that another traced
// service sent.
func (t *Tracer) Incoming(r *http.Request) context.Context {
	if t == nil {
		return r.Context()
	}
	return t.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
}

// Transport wraps next with a client span per outbound request, named
// after what the fetch is for ("jwks", "introspection", "upstream"),
// carrying the method, the host and the status, and with the trace
// context in the request's traceparent header. Without a tracer it
// returns next itself.
func (t *Tracer) Transport(purpose string, next http.RoundTripper) http.RoundTripper {
	return t.transport(purpose, next, true)
}

// ForeignTransport is Transport without the traceparent header: for hosts
// that anyone may name, such as a client's metadata document, which have
// no business with the server's trace and span IDs.
func (t *Tracer) ForeignTransport(purpose string, next http.RoundTripper) http.RoundTripper {
	return t.transport(purpose, next, false)
}

func (t *Tracer) transport(purpose string, next http.RoundTripper, propagate bool) http.RoundTripper {
	if t == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{t: t, purpose: purpose, next: next, propagate: propagate}
}

type transport struct {
	t         *Tracer
	purpose   string
	next      http.RoundTripper
	propagate bool
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, span := tr.t.Start(r.Context(), "fetch "+tr.purpose, trace.SpanKindClient)
	defer span.End()
	span.Set(attribute.String("http.request.method", r.Method),
		attribute.String("server.address", r.URL.Hostname()),
		attribute.String("fetch.purpose", tr.purpose))
	// A RoundTripper must not change the request it was given.
	r = r.Clone(ctx)
	if tr.propagate {
		tr.t.propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	}
	resp, err := tr.next.RoundTrip(r)
	if err != nil {
		span.Fail("the request failed")
		return nil, err
	}
	span.Set(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.Fail(http.StatusText(resp.StatusCode))
	}
	return resp, nil
}
