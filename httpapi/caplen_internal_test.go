package httpapi

import "testing"

// TestCapLen: what a client sent is cut on a character's boundary and made
// valid UTF-8 before it reaches a log or a trace.
func TestCapLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"tools/call", 64, "tools/call"},
		{"abcdef", 3, "abc"},
		{"abé", 3, "ab"},           // é is two bytes: not cut in half
		{"ab€", 4, "ab"},           // nor a three-byte character after its first two
		{"a\xffb", 64, "a\uFFFDb"}, // an invalid byte
		{"a\xff\xfeb", 64, "a\uFFFDb"},
		{"", 4, ""},
	} {
		if got := capLen(tc.in, tc.n); got != tc.want {
			t.Errorf("capLen(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
