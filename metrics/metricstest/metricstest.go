// Package metricstest reads what a /metrics page says, for tests that
// check what a server counted.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

// Samples are the values of one scrape: counters, gauges, and each
// histogram's _count and _sum, by metric name.
type Samples map[string][]Sample

// Sample is one series' value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Parse reads a page in Prometheus's text format.
func Parse(r io.Reader) (Samples, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	s := Samples{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s[name] = append(s[name], Sample{labels, m.GetCounter().GetValue()})
			case dto.MetricType_GAUGE:
				s[name] = append(s[name], Sample{labels, m.GetGauge().GetValue()})
			case dto.MetricType_UNTYPED:
				s[name] = append(s[name], Sample{labels, m.GetUntyped().GetValue()})
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				s[name+"_count"] = append(s[name+"_count"], Sample{labels, float64(h.GetSampleCount())})
				s[name+"_sum"] = append(s[name+"_sum"], Sample{labels, h.GetSampleSum()})
			}
		}
	}
	return s, nil
}

// Scrape gets url (a /metrics page) and parses it.
func Scrape(t testing.TB, url string) Samples {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Read takes the samples of reg through its /metrics handler, without a
// listener.
func Read(t testing.TB, reg *metrics.Registry) Samples {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.Handler(false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: status %d", rec.Code)
	}
	s, err := Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Sum adds the values of name's series whose labels include every pair
// of match (name, value, name, value, …).
func (s Samples) Sum(name string, match ...string) float64 {
	var sum float64
	for _, sample := range s[name] {
		if sample.matches(match) {
			sum += sample.Value
		}
	}
	return sum
}

// Has reports whether name has a series whose labels include match.
func (s Samples) Has(name string, match ...string) bool {
	return slices.ContainsFunc(s[name], func(sample Sample) bool { return sample.matches(match) })
}

func (sample Sample) matches(match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if sample.Labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// Diff is what moved between two scrapes: for each of names (with the
// label pairs after a '|' in the name, as in
// "mcp_auth_results_total|result|ok"), after's sum minus before's.
func Diff(before, after Samples, names ...string) map[string]float64 {
	d := make(map[string]float64, len(names))
	for _, key := range names {
		parts := strings.Split(key, "|")
		d[key] = after.Sum(parts[0], parts[1:]...) - before.Sum(parts[0], parts[1:]...)
	}
	return d
}
