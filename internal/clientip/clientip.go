// Package clientip finds the address a request came from, for logs and
// per-IP limits.
package clientip

import (
	"context"
	"net"
	"net/http"
	"net/netip"
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

// Network returns the unit that per-address limits should count: an IPv4
// address as it is, an IPv6 address as its /64 prefix. One subscriber
// usually holds a whole IPv6 /64, so counting single IPv6 addresses would
// give one attacker billions of fresh buckets. Anything that is not an IP
// address is returned unchanged.
func Network(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if addr.Is4() {
		// ParseAddr takes IPv4 only in its one canonical form (no
		// leading zeros, no zone), so ip already is what String would
		// build: returning it saves an allocation per anonymous
		// audit row.
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	// Built on the stack, the string is the only allocation; String
	// would make two.
	var buf [len("ffff:ffff:ffff:ffff::/64")]byte
	return string(prefix.AppendTo(buf[:0]))
}

type contextKey struct{}

// NewContext returns ctx carrying the caller's address ip, so that layers
// below HTTP (the tools and their audit) can apply per-address limits
// without seeing the request.
func NewContext(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, contextKey{}, ip)
}

// FromContext returns the caller's address that NewContext stored, or ""
// when there is none.
func FromContext(ctx context.Context) string {
	ip, _ := ctx.Value(contextKey{}).(string)
	return ip
}
