package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestMetricsListener: with METRICS_ADDR the server serves /metrics on
// that private address, and never on the public one; without
// METRICS_PPROF it serves no profiles.
func TestMetricsListener(t *testing.T) {
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv := startServer(t, map[string]string{"METRICS_ADDR": metricsAddr})

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	status, body := get("http://" + metricsAddr + "/metrics")
	if status != http.StatusOK || !strings.Contains(body, "\ngo_goroutines ") {
		t.Errorf("GET /metrics on METRICS_ADDR: %d, go_goroutines in it: %v", status, strings.Contains(body, "\ngo_goroutines "))
	}
	if status, _ := get(srv.URL + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: %d, want 404", status)
	}
	if status, _ := get("http://" + metricsAddr + "/debug/pprof/"); status != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without METRICS_PPROF: %d, want 404", status)
	}
}
