package httpapi

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/config"
)

// hostPolicy decides which host names may appear in Host and Origin: the
// loopback names, BASE_URL's host and ALLOWED_HOSTS. It replaces mcp-go's
// own guard, which checks only Host, only on loopback sockets, and so
// rejects the public names that tunnels and PaaS proxies present.
type hostPolicy struct {
	allowed map[string]bool
}

func newHostPolicy(baseURL string, extra []string) hostPolicy {
	p := hostPolicy{allowed: make(map[string]bool)}
	if u, err := url.Parse(baseURL); err == nil && u.Hostname() != "" {
		p.allowed[strings.ToLower(u.Hostname())] = true
	}
	for _, h := range extra {
		p.allowed[strings.ToLower(h)] = true
	}
	return p
}

// allowHost reports whether a Host header value (host or host:port) names
// this server.
func (p hostPolicy) allowHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	return config.IsLoopbackHost(host) || p.allowed[host]
}

// allowOrigin reports whether an Origin header value is one of ours. The
// opaque origin "null" is never allowed.
func (p hostPolicy) allowOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return p.allowHost(u.Host)
}

// checkHost refuses requests whose Host header is not ours (the DNS
// rebinding defence), except on the health paths: platform health checkers
// call the machine by its private address.
func (p hostPolicy) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !p.allowHost(r.Host) {
			http.Error(w, "forbidden: unknown Host; add it to ALLOWED_HOSTS or BASE_URL", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mcpCORS guards /mcp against foreign origins and answers CORS for the
// allowed ones. A present Origin that is not ours gets 403 (Streamable
// HTTP transport, "Security Warning"); an allowed one is echoed, with
// WWW-Authenticate exposed so browser clients can read challenges.
func (p hostPolicy) mcpCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !p.allowOrigin(origin) {
			http.Error(w, "forbidden: unknown Origin", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After, Mcp-Session-Id, Mcp-Protocol-Version")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", allowedMethods)
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
