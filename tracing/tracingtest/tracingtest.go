// Package tracingtest is an OTLP/HTTP receiver for tests: it decodes each
// export with the OpenTelemetry project's message types, as a collector
// would.
package tracingtest

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Collector receives exports at any path. It answers the statuses it was
// given, one per request (with RetryAfter's header when set), and then
// 200 to every request, decoding those.
type Collector struct {
	*httptest.Server
	mu         sync.Mutex
	statuses   []int
	retryAfter string
	requests   []*http.Request
	arrivals   []time.Time
	spans      []*tracepb.Span
	resource   map[string]string
}

// NewCollector starts a collector, closed when the test ends.
func NewCollector(t testing.TB, statuses ...int) *Collector {
	c := &Collector{statuses: statuses, resource: map[string]string{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.requests = append(c.requests, r)
		c.arrivals = append(c.arrivals, time.Now())
		if len(c.statuses) > 0 {
			status := c.statuses[0]
			c.statuses = c.statuses[1:]
			if c.retryAfter != "" {
				w.Header().Set("Retry-After", c.retryAfter)
			}
			w.WriteHeader(status)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("collector: gzip: %v", err)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Errorf("collector: read: %v", err)
			return
		}
		// ExportTraceServiceRequest: repeated ResourceSpans = 1.
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 || num != 1 || typ != protowire.BytesType {
				t.Errorf("collector: not an ExportTraceServiceRequest: field %d type %d", num, typ)
				return
			}
			b = b[n:]
			msg, n := protowire.ConsumeBytes(b)
			if n < 0 {
				t.Error("collector: truncated ResourceSpans")
				return
			}
			b = b[n:]
			var rs tracepb.ResourceSpans
			if err := proto.Unmarshal(msg, &rs); err != nil {
				t.Errorf("collector: ResourceSpans: %v", err)
				return
			}
			for _, kv := range rs.GetResource().GetAttributes() {
				c.resource[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
	}))
	t.Cleanup(c.Close)
	return c
}

// RetryAfter makes the statuses before the first 200 carry a Retry-After
// header of v.
func (c *Collector) RetryAfter(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retryAfter = v
}

// Arrivals are when each request arrived, in order.
func (c *Collector) Arrivals() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.arrivals)
}

// Requests are the requests received, in order.
func (c *Collector) Requests() []*http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// Spans are the spans decoded, in the order they arrived.
func (c *Collector) Spans() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

// Resource is the string attributes of the spans' resource.
func (c *Collector) Resource() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.resource))
	for k, v := range c.resource {
		out[k] = v
	}
	return out
}
