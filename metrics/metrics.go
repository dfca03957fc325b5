// Package metrics is the server's Prometheus registry and the handler of
// its private listener (METRICS_ADDR): /metrics and, when asked for, Go's
// profiles. The listener is never the public one: metrics name the
// server's internals, and profiles can slow it down.
//
// The registry is the process's own, not client_golang's global one, so
// that tests and several servers in one process do not share counters.
package metrics

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the metrics that /metrics exposes.
type Registry struct {
	reg *prometheus.Registry
}

// New returns a registry with the Go runtime's metrics (go_*) and the
// process's (process_*: CPU, memory, open files).
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Registry{reg: reg}
}

// Handler serves the private listener: /metrics in Prometheus's text
// format (or OpenMetrics, when the scraper asks for it) and, with pprof,
// Go's profiles under /debug/pprof/ for go tool pprof. Not the command
// line (/debug/pprof/cmdline): a flag may hold a secret. Anything else is
// 404.
func (r *Registry) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		// A collector's error leaves its metrics out rather than
		// failing the whole scrape.
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}))
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}
