package loadtest

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// runAgainst loads handler over real HTTP on loopback for a moment.
func runAgainst(t *testing.T, handler http.Handler, next func(w, n int) Request) Result {
	t.Helper()
	srv := httptest.NewServer(handler)
	defer srv.Close()
	transport := NewTransport(3)
	defer transport.CloseIdleConnections()
	res, err := Run(context.Background(), &http.Client{Transport: transport}, Scenario{Name: "t", URLs: []string{srv.URL + "/mcp"}, Next: next},
		Options{Concurrency: 3, Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRunCountsEveryMeasuredRequest(t *testing.T) {
	var served atomic.Int64
	bare := BareHandler()
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		bare.ServeHTTP(w, r)
	})
	res := runAgainst(t, counted, func(int, int) Request {
		return Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)}
	})
	if res.Requests == 0 || res.Errors != 0 || res.Busy != 0 || res.ErrorKinds != nil {
		t.Fatalf("Run = %+v; want requests and no errors", res)
	}
	// The warm-up's requests reached the server but are not counted.
	if int64(res.Requests) >= served.Load() {
		t.Errorf("counted %d of %d served requests; the warm-up's must not count", res.Requests, served.Load())
	}
	if res.Latency.Count != res.Requests || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 {
		t.Errorf("latency %+v does not describe %d requests", res.Latency, res.Requests)
	}
	if res.Elapsed < 150*time.Millisecond || res.PerSecond() <= 0 {
		t.Errorf("elapsed %s, %.0f req/s; want at least the duration and a throughput", res.Elapsed, res.PerSecond())
	}
	if err := CheckAlive(res); err != nil {
		t.Error(err)
	}
}

func TestRunCountsFailures(t *testing.T) {
	// Every third request calls a tool that does not exist and fails.
	res := runAgainst(t, MCPGoHandler(), func(_, n int) Request {
		if n%3 == 2 {
			return Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no_such_tool"}}`)}
		}
		return Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":"b_x"}}}`)}
	})
	if res.Errors == 0 || res.Errors == res.Requests {
		t.Fatalf("Run = %+v; want some errors and some successes", res)
	}
	if res.Busy != 0 {
		t.Errorf("busy = %d for errors that do not mention SQLite", res.Busy)
	}
	// mcp-go answers an unknown tool with a JSON-RPC error.
	if want := map[ErrorKind]int{ErrRPC: res.Errors}; !maps.Equal(res.ErrorKinds, want) {
		t.Errorf("errors by kind %v, want %v", res.ErrorKinds, want)
	}
	if len(res.ErrorSamples) != 1 || !strings.Contains(res.ErrorSamples[0], "no_such_tool") {
		t.Errorf("error samples %q; want the one distinct message, naming the tool", res.ErrorSamples)
	}
}

func TestCheckAlive(t *testing.T) {
	if err := CheckAlive(Result{Name: "x", Requests: 10, Errors: 10, ErrorSamples: []string{"HTTP 500: boom"}}); err == nil || !strings.Contains(err.Error(), "HTTP 500: boom") {
		t.Errorf("CheckAlive of all-failed = %v; want an error with the first failure", err)
	}
	if err := CheckAlive(Result{Name: "x"}); err == nil {
		t.Error("CheckAlive of no requests = nil; want an error")
	}
	if err := CheckAlive(Result{Name: "x", Requests: 10, Errors: 9}); err != nil {
		t.Errorf("CheckAlive with one success = %v; want nil", err)
	}
}

func TestRunStopsWhenInterrupted(t *testing.T) {
	srv := httptest.NewServer(BareHandler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, srv.Client(), Scenario{Name: "t", URLs: []string{srv.URL + "/mcp"}, Next: func(int, int) Request {
		return Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)}
	}}, Options{Concurrency: 2, Duration: time.Minute})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("Run = %v after %s; want an error soon after the context ends", err, time.Since(start))
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	t.Run("answers within", func(t *testing.T) {
		win := &window{from: at(100), until: at(400)}
		for _, c := range []struct {
			end  int
			want bool
		}{{50, false}, {100, true}, {250, true}, {400, true}, {401, false}, {900, false}} {
			if got := win.counts(at(c.end)); got != c.want {
				t.Errorf("counts(%d ms) = %v, want %v", c.end, got, c.want)
			}
		}
		if win.open(at(400)) || !win.open(at(399)) {
			t.Error("the window is not open exactly until its end")
		}
		if got := win.length(); got != 300*time.Millisecond {
			t.Errorf("length = %s, want 300ms", got)
		}
	})
	t.Run("nothing answered within", func(t *testing.T) {
		win := &window{from: at(100), until: at(400)}
		if win.counts(at(90)) || !win.open(at(1000)) {
			t.Fatal("a warm-up answer closed the window")
		}
		if !win.counts(at(700)) {
			t.Fatal("the first answer after an empty window does not count")
		}
		if win.counts(at(650)) || win.counts(at(800)) || win.open(at(700)) {
			t.Error("answers after the extended window's first count too")
		}
		if got := win.length(); got != 600*time.Millisecond {
			t.Errorf("length = %s, want 600ms (extended to the first answer)", got)
		}
	})
}

// Requests slower than the whole window still give a result.
func TestRunMeasuresRequestsSlowerThanTheWindow(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		BareHandler().ServeHTTP(w, r)
	})
	srv := httptest.NewServer(slow)
	defer srv.Close()
	res, err := Run(context.Background(), srv.Client(), Scenario{Name: "slow", URLs: []string{srv.URL + "/mcp"}, Next: func(int, int) Request {
		return Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)}
	}}, Options{Concurrency: 2, Warmup: 10 * time.Millisecond, Duration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 1 || res.Errors != 0 || res.Elapsed < 100*time.Millisecond {
		t.Errorf("Run = %+v; want at least one request in a window extended to its answer", res)
	}
	if err := CheckAlive(res); err != nil {
		t.Error(err)
	}
}

// With several URLs, each worker keeps to one of them and the workers
// alternate between them: the load split across replicas.
func TestRunSplitsWorkersAcrossURLs(t *testing.T) {
	var served [2]atomic.Int64
	var urls []string
	for i := range served {
		bare := BareHandler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served[i].Add(1)
			bare.ServeHTTP(w, r)
		}))
		defer srv.Close()
		urls = append(urls, srv.URL+"/mcp")
	}
	transport := NewTransport(4)
	defer transport.CloseIdleConnections()
	res, err := Run(context.Background(), &http.Client{Transport: transport}, Scenario{Name: "split", URLs: urls, Next: func(int, int) Request {
		return Request{Body: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)}
	}}, Options{Concurrency: 4, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || served[0].Load() == 0 || served[1].Load() == 0 {
		t.Errorf("served %d and %d requests with %d errors; want both servers loaded, without errors", served[0].Load(), served[1].Load(), res.Errors)
	}
	if _, err := Run(context.Background(), &http.Client{Transport: transport}, Scenario{Name: "nowhere"}, Options{Concurrency: 1, Duration: time.Millisecond}); err == nil {
		t.Error("Run of a scenario without URLs = nil error; want one")
	}
}
