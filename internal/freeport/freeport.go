// Package freeport finds a loopback TCP port for a server that must know
// its port before it starts (its BASE_URL, and so its tokens' audience,
// names it).
//
// Asking the kernel for port 0 and closing the listener leaves a window in
// which the port is free for anyone: above all for the ephemeral ports
// that every outgoing connection on the machine takes from the same range.
// Under a busy parallel test run one of those took such a port before the
// server listened on it. Ports here are drawn below the ephemeral range,
// which outgoing connections never use, so only another explicit listen
// can take one, and that is what the caller's retry covers.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the first port considered: above the registered services that
// a developer's machine commonly runs.
const lowest = 20000

// Loopback returns a port on 127.0.0.1 that was free a moment ago and is
// outside the kernel's ephemeral range.
func Loopback() (int, error) {
	low, high := ephemeralRange()
	var lastErr error
	for range 50 {
		port := lowest + rand.IntN(65536-lowest)
		if port >= low && port <= high {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			lastErr = err
			continue
		}
		ln.Close()
		return port, nil
	}
	// Every draw was taken (or the range leaves nothing outside it): the
	// kernel's choice is still better than none.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on loopback: %w (last try outside the ephemeral range: %v)", err, lastErr)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralRange is the kernel's range for outgoing connections' ports:
// Linux's setting, or its default where the setting cannot be read.
func ephemeralRange() (low, high int) {
	low, high = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return low, high
	}
	l, errL := strconv.Atoi(fields[0])
	h, errH := strconv.Atoi(fields[1])
	if errL != nil || errH != nil || l > h {
		return low, high
	}
	return l, h
}
