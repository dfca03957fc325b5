// Package clientip finds the address a request came from, for logs and
// per-IP limits.
package clientip

import (
	"net"
	"net/http"
	"strings"
)

// From returns the caller's IP address: from the trusted proxy header when
// one is configured (e.g. Fly-Client-IP, which the platform's proxy sets
// and clients cannot forge past it), else from the socket. A header value
// that is not an IP address is ignored.
func From(r *http.Request, trustedHeader string) string {
	if trustedHeader != "" {
		if v := strings.TrimSpace(r.Header.Get(trustedHeader)); v != "" {
			if ip := net.ParseIP(v); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
