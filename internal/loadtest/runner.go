package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ProtocolVersion is the MCP protocol version every request announces.
const ProtocolVersion = "2025-11-25"

// Request is one JSON-RPC request to POST.
type Request struct {
	Body  []byte
	Token string // bearer token; empty sends none
}

// Scenario is one load: where the requests go and what they are.
type Scenario struct {
	Name string
	// URLs are where the requests go: worker w sends all of its requests
	// to URLs[w%len(URLs)], over its one keep-alive connection. With the
	// endpoints of several replicas, the connections alternate between
	// them, as a load balancer that spreads connections would.
	URLs []string
	// Next returns the n-th request (from 0) of worker w. It is called
	// concurrently, but never twice at once for the same worker.
	Next func(w, n int) Request
}

// Options shape a run.
type Options struct {
	// Concurrency is the number of workers, each with its own keep-alive
	// connection, each sending its next request as soon as the last one is
	// answered (a closed loop, so the offered load follows the server).
	Concurrency int
	// Warmup runs before the measurement, with the same workers and
	// connections; its requests are not counted.
	Warmup time.Duration
	// Duration is how long requests are measured. When no request is
	// answered within it (each took longer), it is extended to the first
	// answer, so that a slow machine yields a slow result, never none.
	Duration time.Duration
}

// Result is what one scenario measured.
type Result struct {
	Name string
	// Requests counts the measured requests, failed ones included: those
	// answered within the measured window.
	Requests int
	// Elapsed is the length of the measured window: Options.Duration,
	// unless it had to be extended.
	Elapsed time.Duration
	// Latency summarizes every measured request, failed ones included,
	// from handing it to the HTTP client to reading the last byte of its
	// answer.
	Latency Summary
	// Errors counts the failed requests (see Outcome), and Busy those of
	// them that mention a busy or serialization error (MentionsBusy).
	Errors, Busy int
	// ErrorKinds counts the failed requests by kind; nil without errors.
	ErrorKinds map[ErrorKind]int
	// ErrorSamples are the first distinct failure messages, at most
	// maxSamples.
	ErrorSamples []string
}

// PerSecond is the throughput: measured requests per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

const maxSamples = 5

// NewTransport returns the client side of a run: HTTP/1.1 keep-alive
// connections, one per worker, reused across requests.
func NewTransport(concurrency int) *http.Transport {
	return &http.Transport{
		MaxConnsPerHost:     concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxIdleConns:        0, // no limit across hosts: the per-host limits decide
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // the servers do not compress; don't ask them to
		ForceAttemptHTTP2:   false,
	}
}

// worker is one worker's tally, merged once the run ends so that the hot
// loop shares nothing.
type worker struct {
	latencies    []time.Duration
	errors, busy int
	kinds        map[ErrorKind]int // made at the first error
	samples      []string
}

// Run sends sc's requests through client with opts.Concurrency workers:
// for opts.Warmup uncounted, then for opts.Duration measured. Slowness is
// never an error: Run fails only when ctx ends or the options are wrong.
func Run(ctx context.Context, client *http.Client, sc Scenario, opts Options) (Result, error) {
	if opts.Concurrency < 1 || opts.Duration <= 0 || opts.Warmup < 0 {
		return Result{}, fmt.Errorf("loadtest: need concurrency ≥ 1, duration > 0 and warm-up ≥ 0; got %d, %s, %s", opts.Concurrency, opts.Duration, opts.Warmup)
	}
	if len(sc.URLs) == 0 {
		return Result{}, fmt.Errorf("loadtest: scenario %s has no URL to send to", sc.Name)
	}
	win := &window{from: time.Now().Add(opts.Warmup)}
	win.until = win.from.Add(opts.Duration)
	workers := make([]worker, opts.Concurrency)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { workers[w].loop(ctx, client, sc, w, win) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("scenario %s interrupted: %w", sc.Name, err)
	}

	res := Result{Name: sc.Name, Elapsed: win.length()}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.latencies...)
		res.Errors += w.errors
		res.Busy += w.busy
		for k, n := range w.kinds {
			if res.ErrorKinds == nil {
				res.ErrorKinds = map[ErrorKind]int{}
			}
			res.ErrorKinds[k] += n
		}
		for _, s := range w.samples {
			if len(res.ErrorSamples) < maxSamples && !slices.Contains(res.ErrorSamples, s) {
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
	}
	res.Requests = len(all)
	res.Latency = Summarize(all)
	return res, nil
}

// window is the measured span of a run, shared by its workers. Requests
// are counted when answered within it, not when sent: a request sent
// during the warm-up and answered in the window counts, one answered after
// it does not, so that the count is right however long single requests
// take.
type window struct {
	from, until time.Time
	answered    atomic.Bool  // a request was answered within the window
	extended    atomic.Int64 // the window's length once extended; 0 unless it was
}

// open reports whether a worker should send another request: until the
// window ends, and after that until something has been answered.
func (win *window) open(now time.Time) bool {
	return now.Before(win.until) || !win.answered.Load()
}

// counts reports whether an answer received at end is measured. After the
// planned end, only the first answer of a window without any counts, and
// ends the window.
func (win *window) counts(end time.Time) bool {
	switch {
	case end.Before(win.from):
		return false
	case !end.After(win.until):
		if !win.answered.Load() { // a load first: no write contention on the hot path
			win.answered.Store(true)
		}
		return true
	case win.answered.CompareAndSwap(false, true):
		win.extended.Store(int64(end.Sub(win.from))) // monotonic, unlike Unix times
		return true
	}
	return false
}

func (win *window) length() time.Duration {
	if d := win.extended.Load(); d != 0 {
		return time.Duration(d)
	}
	return win.until.Sub(win.from)
}

// loop sends requests while the window is open and records those it
// counts.
func (wk *worker) loop(ctx context.Context, client *http.Client, sc Scenario, w int, win *window) {
	var buf bytes.Buffer // reused for every answer
	url := sc.URLs[w%len(sc.URLs)]
	for n := 0; win.open(time.Now()) && ctx.Err() == nil; n++ {
		r := sc.Next(w, n)
		start := time.Now()
		o := send(ctx, client, url, r, &buf)
		end := time.Now()
		if !win.counts(end) {
			continue
		}
		wk.latencies = append(wk.latencies, end.Sub(start))
		if o.Err {
			wk.errors++
			if wk.kinds == nil {
				wk.kinds = map[ErrorKind]int{}
			}
			wk.kinds[o.Kind]++
			if o.Busy {
				wk.busy++
			}
			if len(wk.samples) < maxSamples && !slices.Contains(wk.samples, o.Message) {
				wk.samples = append(wk.samples, o.Message)
			}
		}
	}
}

// send makes one request and judges its answer; buf receives the body.
func send(ctx context.Context, client *http.Client, url string, r Request, buf *bytes.Buffer) Outcome {
	buf.Reset()
	status, err := Post(ctx, client, url, r, buf)
	if err != nil && ctx.Err() != nil {
		return Outcome{} // the run was interrupted; Run reports that
	}
	return Classify(err, status, buf.Bytes())
}

// Post sends r to url with the headers of an MCP client over Streamable
// HTTP and reads the whole answer into body. It returns the HTTP status.
func Post(ctx context.Context, client *http.Client, url string, r Request, body *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Body))
	if err != nil {
		return 0, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", ProtocolVersion)
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err // already says the method and URL
	}
	defer resp.Body.Close()
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, nil
}

// CheckAlive returns an error when a result has no successful request:
// the one case where the benchmark measured nothing but breakage.
func CheckAlive(r Result) error {
	if r.Requests == 0 {
		return fmt.Errorf("scenario %s: no request was answered within the %s measured", r.Name, r.Elapsed)
	}
	if r.Errors == r.Requests {
		first := ""
		if len(r.ErrorSamples) > 0 {
			first = ": " + r.ErrorSamples[0]
		}
		return fmt.Errorf("scenario %s: every request failed (%d of %d)%s", r.Name, r.Errors, r.Requests, first)
	}
	return nil
}
