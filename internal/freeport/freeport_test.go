package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopback(t *testing.T) {
	low, high := ephemeralRange()
	if low > high || low < 1024 {
		t.Fatalf("ephemeralRange() = %d, %d: not a plausible range", low, high)
	}
	seen := map[int]bool{}
	for range 20 {
		port, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if port >= low && port <= high {
			t.Errorf("Loopback() = %d, inside the ephemeral range %d-%d", port, low, high)
		}
		seen[port] = true
		// The port is free: a listen on it succeeds.
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("Loopback() = %d, which cannot be listened on: %v", port, err)
		}
		ln.Close()
	}
	// Drawn at random, so that parallel callers rarely meet.
	if len(seen) < 10 {
		t.Errorf("20 calls gave %d distinct ports, want them spread", len(seen))
	}
}
