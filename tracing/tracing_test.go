package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tracing"
	"github.com/kanban-mcp/kanban-mcp/tracing/tracingtest"
)

// TestOffCostsNothing: without a tracer nothing is started, built or
// allocated, and the wrappers hand back what they were given.
func TestOffCostsNothing(t *testing.T) {
	var tr *tracing.Tracer
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tr.Start(tr.Incoming(r), "x", trace.SpanKindServer)
		span.SetString("k", "v")
		span.SetInt("n", 1)
		span.Rename("y")
		span.Fail("z")
		span.End()
		if c != r.Context() || span.Recording() {
			t.Fatal("a span without a tracer")
		}
	})
	if allocs != 0 {
		t.Errorf("a request's hooks allocate %v times without a tracer, want 0", allocs)
	}
	if got := tracing.Store(nil, tr, "sqlite"); got != nil {
		t.Errorf("Store without a tracer wrapped the store: %T", got)
	}
	if got := tr.Transport("jwks", http.DefaultTransport); got != http.DefaultTransport {
		t.Errorf("Transport without a tracer wrapped the transport: %T", got)
	}
	if tracer, _, err := tracing.Start(tracing.Config{}); tracer != nil || err != nil {
		t.Errorf("Start without an endpoint = %v, %v; want no tracer", tracer, err)
	}
}

// recorder is a tracer whose spans are kept in memory (the SDK's own
// in-memory exporter).
func recorder(t *testing.T) (*tracing.Tracer, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	return tracing.New(provider), exp
}

// TestTransport: an outbound fetch gets a client span under the caller's
// span, and the span carries the host and status, not the path or the
// query. The trace context travels in traceparent, except to a foreign
// host (ForeignTransport).
func TestTransport(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport func(tr *tracing.Tracer) http.RoundTripper
		propagate bool
	}{
		{"trusted", func(tr *tracing.Tracer) http.RoundTripper { return tr.Transport("jwks", nil) }, true},
		{"foreign", func(tr *tracing.Tracer) http.RoundTripper { return tr.ForeignTransport("jwks", nil) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := recorder(t)
			var got http.Header
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			t.Cleanup(upstream.Close)
			client := &http.Client{Transport: tc.transport(tr)}

			ctx, parent := tr.Start(context.Background(), "parent", trace.SpanKindInternal)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL+"/keys?secret=1", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			parent.End()
			if req.Header.Get("traceparent") != "" {
				t.Error("the caller's request was changed")
			}

			spans := exp.GetSpans()
			if len(spans) != 2 {
				t.Fatalf("%d spans, want the fetch's and its parent's", len(spans))
			}
			fetch := spans[0]
			if fetch.Name != "fetch jwks" || fetch.SpanKind != trace.SpanKindClient || fetch.Parent.SpanID() != spans[1].SpanContext.SpanID() {
				t.Errorf("fetch span: %q kind %v parent %v", fetch.Name, fetch.SpanKind, fetch.Parent.SpanID())
			}
			want := ""
			if tc.propagate {
				want = "00-" + fetch.SpanContext.TraceID().String() + "-" + fetch.SpanContext.SpanID().String() + "-01"
			}
			if tp := got.Get("traceparent"); tp != want {
				t.Errorf("traceparent sent = %q, want %q", tp, want)
			}
			attrs := map[string]string{}
			for _, a := range fetch.Attributes {
				attrs[string(a.Key)] = a.Value.Emit()
			}
			if diff := cmp.Diff(map[string]string{
				"http.request.method": "GET", "server.address": "127.0.0.1", "fetch.purpose": "jwks", "http.response.status_code": "503",
			}, attrs); diff != "" {
				t.Errorf("fetch attributes (-want +got):\n%s", diff)
			}
			if fetch.Status.Code.String() != "Error" {
				t.Errorf("a 503 fetch has status %v, want Error", fetch.Status.Code)
			}
		})
	}
}

// failingStore answers every call with err; the decorator is tested for
// what it records, not for the store.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) GetBoard(context.Context, store.Actor, string) (*store.Board, error) {
	return nil, f.err
}

// TestStore: each operation gets a span with the database system and the
// operation, and a failure's outcome; only the server's own failures mark
// the span failed.
func TestStore(t *testing.T) {
	tr, exp := recorder(t)
	for _, tc := range []struct {
		err        error
		outcome    string
		failedSpan bool
	}{
		{nil, "", false},
		{store.Errorf(store.NotFound, "no board b1"), "not_found", false},
		{errors.New("disk I/O error"), "error", true},
	} {
		exp.Reset()
		st := tracing.Store(failingStore{err: tc.err}, tr, "sqlite")
		_, _ = st.GetBoard(context.Background(), store.Actor{}, "b1")
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%d spans, want 1", len(spans))
		}
		attrs := map[string]string{}
		for _, a := range spans[0].Attributes {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		want := map[string]string{"db.system.name": "sqlite", "db.operation.name": "GetBoard"}
		if tc.outcome != "" {
			want["store.outcome"] = tc.outcome
		}
		if diff := cmp.Diff(want, attrs); diff != "" || spans[0].Name != "store GetBoard" {
			t.Errorf("err %v: span %q attributes (-want +got):\n%s", tc.err, spans[0].Name, diff)
		}
		if failed := spans[0].Status.Code.String() == "Error"; failed != tc.failedSpan {
			t.Errorf("err %v: span failed = %v, want %v", tc.err, failed, tc.failedSpan)
		}
	}
}

// TestExporter: spans reach an OTLP/HTTP receiver as protobuf, with their
// parents, attributes, status and resource, the headers and gzip asked
// for; a busy collector is tried again, a refusing one is not.
func TestExporter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int // answered before 200
		gzip     bool
		requests int
		received bool
	}{
		{name: "plain", requests: 1, received: true},
		{name: "gzip", gzip: true, requests: 1, received: true},
		{name: "busy, then ready", statuses: []int{503, 429}, requests: 3, received: true},
		{name: "refused", statuses: []int{400}, requests: 1},
		{name: "busy every time", statuses: []int{503, 503, 503}, requests: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tracingtest.NewCollector(t, tc.statuses...)
			tr, flush, err := tracing.Start(tracing.Config{
				Exporter: tracing.ExporterConfig{URL: c.URL + "/v1/traces", Headers: map[string]string{"Api-Key": "k-123"}, Gzip: tc.gzip, Timeout: 20 * time.Second},
				Resource: map[string]string{"service.name": "boards", "deployment.environment.name": "test"},
				Sampler:  "always_on",
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, parent := tr.Start(context.Background(), "POST /mcp", trace.SpanKindServer)
			_, child := tr.Start(ctx, "tools/call get_board", trace.SpanKindInternal)
			child.SetString("mcp.tool.name", "get_board")
			child.SetInt("n", 7)
			child.Fail("the call failed")
			child.End()
			parent.End()
			if err := flush(context.Background()); err != nil {
				t.Fatal(err)
			}

			requests, spans, resource := c.Requests(), c.Spans(), c.Resource()
			if len(requests) != tc.requests {
				t.Errorf("%d requests, want %d", len(requests), tc.requests)
			}
			for _, r := range requests {
				if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("Api-Key") != "k-123" {
					t.Errorf("request %s %q, Api-Key %q", r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Api-Key"))
				}
			}
			if !tc.received {
				if len(spans) != 0 {
					t.Errorf("%d spans decoded from refused exports", len(spans))
				}
				return
			}
			if len(spans) != 2 {
				t.Fatalf("%d spans received, want 2", len(spans))
			}
			got := map[string]*tracepb.Span{}
			for _, s := range spans {
				got[s.GetName()] = s
			}
			p, ch := got["POST /mcp"], got["tools/call get_board"]
			if p == nil || ch == nil {
				t.Fatalf("spans received: %v", spans)
			}
			if !bytes.Equal(ch.GetParentSpanId(), p.GetSpanId()) || !bytes.Equal(ch.GetTraceId(), p.GetTraceId()) || len(p.GetParentSpanId()) != 0 {
				t.Error("the child span does not name its parent")
			}
			if p.GetKind() != tracepb.Span_SPAN_KIND_SERVER || ch.GetKind() != tracepb.Span_SPAN_KIND_INTERNAL {
				t.Errorf("kinds %v, %v", p.GetKind(), ch.GetKind())
			}
			if ch.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || ch.GetStatus().GetMessage() != "the call failed" {
				t.Errorf("child status %v", ch.GetStatus())
			}
			attrs := map[string]any{}
			for _, kv := range ch.GetAttributes() {
				if s, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
					attrs[kv.GetKey()] = s.StringValue
				} else {
					attrs[kv.GetKey()] = kv.GetValue().GetIntValue()
				}
			}
			if diff := cmp.Diff(map[string]any{"mcp.tool.name": "get_board", "n": int64(7)}, attrs); diff != "" {
				t.Errorf("child attributes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"service.name": "boards", "deployment.environment.name": "test"}, resource); diff != "" {
				t.Errorf("resource (-want +got):\n%s", diff)
			}
			if ch.GetEndTimeUnixNano() < ch.GetStartTimeUnixNano() || ch.GetStartTimeUnixNano() == 0 {
				t.Errorf("child times %d..%d", ch.GetStartTimeUnixNano(), ch.GetEndTimeUnixNano())
			}
		})
	}
}

// TestExporterKeepsEverySpan: a string that is not valid UTF-8, which
// protobuf refuses, is sent with U+FFFD in place of its bad bytes rather
// than failing the whole batch, and an attribute value longer than the
// limit is cut, so that what one request carries cannot cost the other
// spans or hold much memory while the collector is away.
func TestExporterKeepsEverySpan(t *testing.T) {
	c := tracingtest.NewCollector(t)
	tr, flush, err := tracing.Start(tracing.Config{
		Exporter: tracing.ExporterConfig{URL: c.URL + "/v1/traces", Timeout: 20 * time.Second},
		Sampler:  "always_on",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "bad \xc3", "last"} {
		_, s := tr.Start(context.Background(), name, trace.SpanKindInternal)
		s.SetString("value", name)
		s.SetString("long", strings.Repeat("é", 1000))
		s.Fail("failed: " + name)
		s.End()
	}
	if err := flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	type seen struct{ Name, Value, Status string }
	var got []seen
	for _, s := range c.Spans() {
		attrs := map[string]string{}
		for _, kv := range s.GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		if n := utf8.RuneCountInString(attrs["long"]); n != 256 {
			t.Errorf("span %q: the long attribute has %d characters, want it cut to 256", s.GetName(), n)
		}
		got = append(got, seen{s.GetName(), attrs["value"], s.GetStatus().GetMessage()})
	}
	want := []seen{
		{"first", "first", "failed: first"},
		{"bad \uFFFD", "bad \uFFFD", "failed: bad \uFFFD"},
		{"last", "last", "failed: last"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans received (-want +got):\n%s", diff)
	}
}

// TestExporterRetryAfter: a busy collector's Retry-After is the least
// pause before the next attempt, and one longer than the export may take
// drops the batch at once, saying why, rather than waiting the export's
// time out.
func TestExporterRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		requests   int
		minPause   time.Duration // between the first two requests
		logged     string
	}{
		{name: "a second", retryAfter: "1", requests: 2, minPause: time.Second},
		{name: "longer than the export may take", retryAfter: "3600", requests: 1, logged: "asked to wait longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tracingtest.NewCollector(t, http.StatusServiceUnavailable)
			c.RetryAfter(tc.retryAfter)
			var log bytes.Buffer
			tr, flush, err := tracing.Start(tracing.Config{
				Exporter: tracing.ExporterConfig{URL: c.URL + "/v1/traces", Timeout: 20 * time.Second, Logger: slog.New(slog.NewTextHandler(&log, nil))},
				Sampler:  "always_on",
			})
			if err != nil {
				t.Fatal(err)
			}
			_, s := tr.Start(context.Background(), "span", trace.SpanKindInternal)
			s.End()
			if err := flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			arrivals := c.Arrivals()
			if len(arrivals) != tc.requests {
				t.Fatalf("%d requests, want %d", len(arrivals), tc.requests)
			}
			if len(arrivals) > 1 {
				if pause := arrivals[1].Sub(arrivals[0]); pause < tc.minPause {
					t.Errorf("the second attempt came %v after the first, before the %v the collector asked for", pause, tc.minPause)
				}
				if n := len(c.Spans()); n != 1 {
					t.Errorf("%d spans received, want 1", n)
				}
			}
			if !strings.Contains(log.String(), tc.logged) {
				t.Errorf("log %q does not say %q", log.String(), tc.logged)
			}
		})
	}
}
