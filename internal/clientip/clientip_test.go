package clientip

import (
	"context"
	"net/http/httptest"
	"testing"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		name, remote, header, value, want string
	}{
		{"socket", "192.0.2.1:5555", "", "", "192.0.2.1"},
		{"socket IPv6", "[2001:db8::1]:5555", "", "", "2001:db8::1"},
		{"trusted header", "10.0.0.1:5555", "Fly-Client-IP", "203.0.113.9", "203.0.113.9"},
		{"header not configured is ignored", "10.0.0.1:5555", "", "203.0.113.9", "10.0.0.1"},
		{"garbage in the header is ignored", "10.0.0.1:5555", "Fly-Client-IP", "not-an-ip", "10.0.0.1"},
		{"header normalised", "10.0.0.1:5555", "Fly-Client-IP", " 2001:DB8::0001 ", "2001:db8::1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.value != "" {
			r.Header.Set("Fly-Client-IP", tt.value)
		}
		if got := From(r, tt.header); got != tt.want {
			t.Errorf("%s: From = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNetwork(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.7":              "192.0.2.7",
		"::ffff:192.0.2.7":       "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":   "2001:db8:1:2::/64",
		"2001:db8:1:3::1":        "2001:db8:1:3::/64",
		"not-an-ip":              "not-an-ip",
		"192.0.2.07":             "192.0.2.07", // not an address: a leading zero
		"ffff:ffff:ffff:ffff::1": "ffff:ffff:ffff:ffff::/64",
	} {
		if got := Network(ip); got != want {
			t.Errorf("Network(%q) = %q, want %q", ip, got, want)
		}
	}
}

// TestNetworkAllocations: every anonymous audit row asks for a network.
// An IPv4 address is its own, with no allocation; an IPv6 /64 is a new
// string, one allocation.
func TestNetworkAllocations(t *testing.T) {
	for ip, want := range map[string]float64{"192.0.2.7": 0, "2001:db8:1:2:3:4:5:6": 1, "ffff:ffff:ffff:ffff::1": 1} {
		if n := testing.AllocsPerRun(100, func() { _ = Network(ip) }); n != want {
			t.Errorf("Network(%q) allocates %v times, want %v", ip, n, want)
		}
	}
}

func TestContext(t *testing.T) {
	if got := FromContext(context.Background()); got != "" {
		t.Errorf("FromContext of a bare context = %q, want empty", got)
	}
	if got := FromContext(NewContext(context.Background(), "2001:db8::1")); got != "2001:db8::1" {
		t.Errorf("FromContext = %q, want 2001:db8::1", got)
	}
}
