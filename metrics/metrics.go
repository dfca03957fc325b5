// Package metrics is the server's Prometheus registry and the handler of
// its private listener (METRICS_ADDR): /metrics and, when asked for, Go's
// profiles. The listener is never the public one: metrics name the
// server's internals, and profiles can slow it down.
//
// The registry is the process's own, not client_golang's global one, so
// that tests and several servers in one process do not share counters.
package metrics

import (
	"math"
	"net/http"
	"net/http/pprof"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the metrics that /metrics exposes: the Go runtime's
// (go_*), the process's (process_*: CPU, memory, open files) and the
// server's own, one field per part of the server. The parts take their
// field; its methods do nothing on nil, so a part built without metrics
// (in a test, or a command that serves nothing) needs no check.
type Registry struct {
	reg      *prometheus.Registry
	families []Family // the server's own, as declared
	audit    *auditCollector

	HTTP       *HTTP
	Tools      *Tools
	Auth       *Auth
	Keys       *Keys
	DB         *DB
	AuthServer *AuthServer
}

// New returns a registry with every metric of the server.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	r.HTTP = newHTTP(r)
	r.Tools = newTools(r)
	r.Auth = newAuth(r)
	r.Keys = newKeys(r)
	r.DB = newDB(r)
	r.AuthServer = newAuthServer(r)
	r.audit = newAuditCollector()
	r.register(r.audit)
	return r
}

// register adds the server's own collectors and notes their names.
func (r *Registry) register(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.reg.MustRegister(c)
		descs := make(chan *prometheus.Desc, 8)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			r.families = append(r.families, describe(d))
		}
	}
}

// descPattern reads a Desc's name, help and labels from its String(), the
// one place client_golang shows them.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^}]*)\}\}$`)

func describe(d *prometheus.Desc) Family {
	m := descPattern.FindStringSubmatch(d.String())
	if m == nil {
		return Family{Name: d.String()}
	}
	name, _ := strconv.Unquote(m[1])
	help, _ := strconv.Unquote(m[2])
	f := Family{Name: name, Help: help}
	if m[3] != "" {
		f.Labels = strings.Split(m[3], ",")
	}
	return f
}

// nan is what a gauge reports when it has no value yet.
var nan = math.NaN()

// poolCollector reads connection pools at each scrape.
type poolCollector struct {
	mu    sync.Mutex
	pools []namedPool

	conns, max, waits, waitSeconds *prometheus.Desc
}

type namedPool struct {
	name  string
	stats func() PoolStats
}

func newPoolCollector() *poolCollector {
	name := func(n string) string { return prometheus.BuildFQName(Namespace, "db", n) }
	return &poolCollector{
		conns:       prometheus.NewDesc(name("pool_connections"), "Open database connections, by pool and state (in_use, idle).", []string{"pool", "state"}, nil),
		max:         prometheus.NewDesc(name("pool_max_connections"), "The most connections a pool opens.", []string{"pool"}, nil),
		waits:       prometheus.NewDesc(name("pool_waits_total"), "Times a caller waited for a pool's connection, all of them taken.", []string{"pool"}, nil),
		waitSeconds: prometheus.NewDesc(name("pool_wait_seconds_total"), "Time callers spent waiting for a pool's connection.", []string{"pool"}, nil),
	}
}

func (p *poolCollector) add(name string, stats func() PoolStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pools = append(p.pools, namedPool{name, stats})
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.conns
	ch <- p.max
	ch <- p.waits
	ch <- p.waitSeconds
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	pools := p.pools
	p.mu.Unlock()
	for _, pool := range pools {
		s := pool.stats()
		ch <- prometheus.MustNewConstMetric(p.conns, prometheus.GaugeValue, float64(s.InUse), pool.name, "in_use")
		ch <- prometheus.MustNewConstMetric(p.conns, prometheus.GaugeValue, float64(s.Idle), pool.name, "idle")
		ch <- prometheus.MustNewConstMetric(p.max, prometheus.GaugeValue, float64(s.Max), pool.name)
		ch <- prometheus.MustNewConstMetric(p.waits, prometheus.CounterValue, float64(s.Waits), pool.name)
		ch <- prometheus.MustNewConstMetric(p.waitSeconds, prometheus.CounterValue, s.WaitTime.Seconds(), pool.name)
	}
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
