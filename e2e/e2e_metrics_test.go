package e2e

import (
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

	get := func(url string) rpcResponse {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}
	got := get("http://" + metricsAddr + "/metrics")
	if got.Status != http.StatusOK || !strings.Contains(string(got.Body), "\ngo_goroutines ") {
		t.Errorf("GET /metrics on METRICS_ADDR: %d, go_goroutines in it: %v", got.Status, strings.Contains(string(got.Body), "\ngo_goroutines "))
	}
	if got := get(srv.URL + "/metrics"); got.Status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: %d, want 404", got.Status)
	}
	if got := get("http://" + metricsAddr + "/debug/pprof/"); got.Status != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without METRICS_PPROF: %d, want 404", got.Status)
	}
}
