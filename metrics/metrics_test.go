package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/metrics"
)

func get(t *testing.T, url string, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// TestHandler: /metrics serves the runtime's and the process's metrics in
// Prometheus's text format, or OpenMetrics when asked; the profiles are
// there only when asked for; nothing else is served.
func TestHandler(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		srv := httptest.NewServer(metrics.New().Handler(pprof))
		t.Cleanup(srv.Close)

		status, ctype, body := get(t, srv.URL+"/metrics", nil)
		if status != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
			t.Fatalf("GET /metrics: %d %q", status, ctype)
		}
		for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
			if !strings.Contains(body, "\n"+name+" ") {
				t.Errorf("/metrics has no %s", name)
			}
		}
		status, ctype, body = get(t, srv.URL+"/metrics", map[string]string{"Accept": "application/openmetrics-text; version=1.0.0"})
		if status != http.StatusOK || !strings.HasPrefix(ctype, "application/openmetrics-text") || !strings.HasSuffix(body, "# EOF\n") {
			t.Errorf("GET /metrics as OpenMetrics: %d %q, ends %q", status, ctype, body[max(0, len(body)-20):])
		}

		want := http.StatusNotFound
		if pprof {
			want = http.StatusOK
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/symbol"} {
			if status, _, _ := get(t, srv.URL+path, nil); status != want {
				t.Errorf("pprof %v: GET %s: %d, want %d", pprof, path, status, want)
			}
		}
		// The command line may hold a secret (-database-url): never served.
		if status, _, body := get(t, srv.URL+"/debug/pprof/cmdline", nil); status != http.StatusNotFound {
			t.Errorf("pprof %v: GET /debug/pprof/cmdline: %d %q, want 404", pprof, status, body)
		}
		if status, _, _ := get(t, srv.URL+"/mcp", nil); status != http.StatusNotFound {
			t.Errorf("GET /mcp on the private listener: %d, want 404", status)
		}
	}
}
