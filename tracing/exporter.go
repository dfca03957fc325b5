package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// ExporterConfig says where spans go.
type ExporterConfig struct {
	// URL receives the spans: the traces endpoint itself
	// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT
	// with /v1/traces).
	URL string
	// Headers go with every export (OTEL_EXPORTER_OTLP_HEADERS): often
	// the collector's API key, so they are never logged.
	Headers map[string]string
	Timeout time.Duration // per export, retries included; 0: 10 s
	Gzip    bool
	Logger  *slog.Logger
	// Client sends the exports; nil: a client of its own.
	Client *http.Client
}

// Exporter sends spans to an OTLP/HTTP endpoint as protobuf
// (application/x-protobuf), the OTLP specification's default encoding.
type Exporter struct {
	cfg    ExporterConfig
	client *http.Client
}

// NewExporter returns an exporter to cfg.URL.
func NewExporter(cfg ExporterConfig) *Exporter {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{}
	}
	return &Exporter{cfg: cfg, client: client}
}

// exportAttempts is how many times one batch is sent when the collector
// answers that it is busy or unavailable (429, 502, 503, 504, as the
// OTLP specification asks) or cannot be reached.
const exportAttempts = 3

// ExportSpans sends spans in one request. A failure is logged here and
// not returned: the SDK's only use of the error is the process-wide
// error handler, which would print it a second time outside the JSON log.
// The batch is dropped then; traces are a sample, never a record.
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	body, err := encodeRequest(spans)
	if err != nil {
		e.cfg.Logger.Warn("traces: could not encode spans", "err", err, "spans", len(spans))
		return nil
	}
	if e.cfg.Gzip {
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = zipped.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	pause := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, retryAfter, err := e.send(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt == exportAttempts {
			e.cfg.Logger.Warn("traces: export failed; these spans are dropped", "err", err, "spans", len(spans), "attempts", attempt)
			return nil
		}
		// The collector's Retry-After, when it gives one, is the least
		// pause; one that the export's time cannot wait out ends it now.
		pause = max(pause, retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(pause).After(deadline) {
			e.cfg.Logger.Warn("traces: the collector asked to wait longer than the export may take; these spans are dropped",
				"err", err, "retry_after", retryAfter, "spans", len(spans))
			return nil
		}
		select {
		case <-ctx.Done():
			e.cfg.Logger.Warn("traces: export timed out; these spans are dropped", "err", err, "spans", len(spans))
			return nil
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// send makes one request; retry says whether another may succeed, and
// retryAfter how long the collector asked to wait first (0: it did not).
func (e *Exporter) send(ctx context.Context, body []byte) (retry bool, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("build the request: %w", err)
	}
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", product.Name)
	if e.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		// The URL is the operator's and holds no secret; the error names it.
		return ctx.Err() == nil, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		return true, retryAfterOf(resp.Header), errors.New("the collector answered " + strconv.Itoa(resp.StatusCode))
	}
	return false, 0, errors.New("the collector answered " + strconv.Itoa(resp.StatusCode))
}

// retryAfterOf reads a Retry-After header in seconds or as an HTTP date
// (RFC 9110, 10.2.3); anything else, or a time past, is 0.
func retryAfterOf(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(min(max(s, 0), 24*60*60)) * time.Second // a day is past any export's time
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// Shutdown has nothing to release: requests end with their export.
func (e *Exporter) Shutdown(context.Context) error { return nil }

// encodeRequest encodes an ExportTraceServiceRequest, whose one field is
// repeated ResourceSpans resource_spans = 1. The message type itself lives
// beside the collector's gRPC service (see the package comment), so the
// field is written here with protowire.
func encodeRequest(spans []sdktrace.ReadOnlySpan) ([]byte, error) {
	var out []byte
	for _, rs := range resourceSpans(spans) {
		b, err := proto.Marshal(rs)
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, b)
	}
	return out, nil
}

// resourceSpans groups spans by resource, then by instrumentation scope.
func resourceSpans(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	type scopeKey struct {
		res   *resource.Resource
		scope instrumentation.Scope
	}
	var out []*tracepb.ResourceSpans
	byResource := map[*resource.Resource]*tracepb.ResourceSpans{}
	byScope := map[scopeKey]*tracepb.ScopeSpans{}
	for _, s := range spans {
		res := s.Resource()
		rs, ok := byResource[res]
		if !ok {
			rs = &tracepb.ResourceSpans{Resource: &resourcepb.Resource{Attributes: keyValues(res.Attributes())}, SchemaUrl: res.SchemaURL()}
			byResource[res] = rs
			out = append(out, rs)
		}
		scope := s.InstrumentationScope()
		key := scopeKey{res, scope}
		ss, ok := byScope[key]
		if !ok {
			ss = &tracepb.ScopeSpans{
				Scope:     &commonpb.InstrumentationScope{Name: scope.Name, Version: scope.Version},
				SchemaUrl: scope.SchemaURL,
			}
			byScope[key] = ss
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		ss.Spans = append(ss.Spans, span(s))
	}
	return out
}

func span(s sdktrace.ReadOnlySpan) *tracepb.Span {
	sc, parent := s.SpanContext(), s.Parent()
	traceID, spanID := sc.TraceID(), sc.SpanID()
	p := &tracepb.Span{
		TraceId:                traceID[:],
		SpanId:                 spanID[:],
		TraceState:             sc.TraceState().String(),
		Flags:                  uint32(sc.TraceFlags()),
		Name:                   validUTF8(s.Name()),
		Kind:                   tracepb.Span_SpanKind(s.SpanKind()), // the same numbers
		StartTimeUnixNano:      uint64(s.StartTime().UnixNano()),
		EndTimeUnixNano:        uint64(s.EndTime().UnixNano()),
		Attributes:             keyValues(s.Attributes()),
		DroppedAttributesCount: uint32(s.DroppedAttributes()),
		DroppedEventsCount:     uint32(s.DroppedEvents()),
		DroppedLinksCount:      uint32(s.DroppedLinks()),
		Status:                 status(s.Status()),
	}
	if parent.IsValid() {
		id := parent.SpanID()
		p.ParentSpanId = id[:]
	}
	for _, ev := range s.Events() {
		p.Events = append(p.Events, &tracepb.Span_Event{
			TimeUnixNano: uint64(ev.Time.UnixNano()), Name: validUTF8(ev.Name),
			Attributes: keyValues(ev.Attributes), DroppedAttributesCount: uint32(ev.DroppedAttributeCount),
		})
	}
	for _, l := range s.Links() {
		tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		p.Links = append(p.Links, &tracepb.Span_Link{
			TraceId: tid[:], SpanId: sid[:], TraceState: l.SpanContext.TraceState().String(),
			Attributes: keyValues(l.Attributes), DroppedAttributesCount: uint32(l.DroppedAttributeCount),
		})
	}
	return p
}

// status maps the API's codes (Unset, Error, Ok) onto OTLP's, whose
// numbers differ (UNSET, OK, ERROR).
func status(s sdktrace.Status) *tracepb.Status {
	switch s.Code {
	case codes.Error:
		return &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: validUTF8(s.Description)}
	case codes.Ok:
		return &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}
	}
	return nil
}

func keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, &commonpb.KeyValue{Key: validUTF8(string(a.Key)), Value: anyValue(a.Value)})
	}
	return out
}

func anyValue(v attribute.Value) *commonpb.AnyValue {
	switch v.Type() {
	case attribute.BOOL:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}}
	case attribute.INT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}}
	case attribute.FLOAT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}}
	case attribute.BOOLSLICE:
		return array(v.AsBoolSlice(), func(b bool) attribute.Value { return attribute.BoolValue(b) })
	case attribute.INT64SLICE:
		return array(v.AsInt64Slice(), func(i int64) attribute.Value { return attribute.Int64Value(i) })
	case attribute.FLOAT64SLICE:
		return array(v.AsFloat64Slice(), func(f float64) attribute.Value { return attribute.Float64Value(f) })
	case attribute.STRINGSLICE:
		return array(v.AsStringSlice(), func(s string) attribute.Value { return attribute.StringValue(s) })
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8(v.Emit())}}
}

// validUTF8 makes s valid UTF-8, as protobuf's string fields must be:
// proto.Marshal refuses the whole request for one invalid string, which
// would drop every span of the batch with it.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func array[T any](items []T, value func(T) attribute.Value) *commonpb.AnyValue {
	values := make([]*commonpb.AnyValue, 0, len(items))
	for _, item := range items {
		values = append(values, anyValue(value(item)))
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: values}}}
}
