package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestKeyUnambiguous(t *testing.T) {
	pairs := [][2][]string{
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"ab", "c"}, {"a", "bc"}},
		{{"1:a"}, {"a"}},
		{{"1:a", ""}, {"1:a"}},
		{{""}, {}},
		{{"", ""}, {""}},
		{{"https://client.example/x", "2001:db8::1"}, {"https://client.example/x2001:db8::1"}},
		{{"3:abc"}, {"abc"}},
		{{"11:a", "b"}, {"1", "1:a", "b"}},
	}
	for _, p := range pairs {
		a, b := Key(p[0]...), Key(p[1]...)
		if a == b {
			t.Errorf("Key(%q) == Key(%q) == %q", p[0], p[1], a)
		}
	}
	if Key("a", "b") != Key("a", "b") {
		t.Error("Key is not deterministic")
	}
}

// TestKeyBounded: a key made of client-chosen parts never outgrows
// maxKeyLen (plus the digest's prefix), and long keys stay distinct.
func TestKeyBounded(t *testing.T) {
	long := strings.Repeat("x", 64<<10)
	a, b := Key("https://"+long, "2001:db8::/64"), Key("https://"+long+"y", "2001:db8::/64")
	for _, k := range []string{a, b} {
		if len(k) > maxKeyLen+len("sha256:") {
			t.Errorf("a key of a 64 KiB part is %d bytes long; want at most %d", len(k), maxKeyLen+len("sha256:"))
		}
	}
	if a == b {
		t.Error("two different long keys share a digest")
	}
	short := Key("alice", "203.0.113.1")
	if short != "5:alice11:203.0.113.1" {
		t.Errorf("a short key is %q; want it kept readable", short)
	}
	if edge := Key(strings.Repeat("y", maxKeyLen-4)); len(edge) != maxKeyLen || strings.HasPrefix(edge, "sha256:") {
		t.Errorf("a key of exactly maxKeyLen bytes became %q", edge)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0"},
		{0, "0"},
		{time.Nanosecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{1100 * time.Millisecond, "2"},
		{2 * time.Second, "2"},
		{5 * time.Minute, "300"},
		{1<<63 - 1, "9223372037"}, // no overflow at the top
	}
	for _, tc := range tests {
		if got := RetryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
