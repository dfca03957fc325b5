package e2e

// Clients that start requests and never finish them, or ask for answers
// and never read them, must not keep other clients waiting: the bytes
// they hold are bounded per client network (or signed-in user), and what
// is over is refused at once with a status that says when to retry.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/httpapi"
)

// dialFrom opens a TCP connection to baseURL's host from the loopback
// address from: every 127.x.y.z is this machine, so each one is a client
// network of its own to the server. With rcvbuf > 0, the connection's
// receive buffer is set to it before connecting, so that the window it
// offers stays that small: a client that does not read then holds the
// server's writes after that many bytes, instead of letting the kernel
// take megabytes of them.
func dialFrom(t *testing.T, from, baseURL string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = receiveBufferControl(rcvbuf)
	}
	c, err := d.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loopbackAddress is the i-th of up to 254 loopback addresses of group
// (127.0.group.1, …): one client network each.
func loopbackAddress(group, i int) string { return fmt.Sprintf("127.0.%d.%d", group, i%254+1) }

// loopbackClient is clientFrom(loopbackAddress(group, i), timeout).
func loopbackClient(group, i int, timeout time.Duration) *http.Client {
	return clientFrom(loopbackAddress(group, i), timeout)
}

// clientFrom is an HTTP client whose connections come from the loopback
// address from.
func clientFrom(from string, timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext}}
}

// mcpPost sends an anonymous JSON-RPC body to /mcp with c and returns the
// status, the Retry-After header and the body.
func mcpPost(ctx context.Context, c *http.Client, mcpURL, body string) (status int, retryAfter, answer string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	for k, v := range mcpHeaders(nil) {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(raw), err
}

// startStalledBody sends the headers of a POST to /mcp that announce a
// body of httpapi.MaxBodyBytes (or a chunked one) from the address from,
// then sent bytes of that body, and then nothing: the request stays open
// until the server gives up on it or answers it early.
func startStalledBody(t *testing.T, from, baseURL string, chunked bool, sent int) net.Conn {
	t.Helper()
	c := dialFrom(t, from, baseURL, 0)
	length := fmt.Sprintf("Content-Length: %d", httpapi.MaxBodyBytes)
	if chunked {
		length = "Transfer-Encoding: chunked"
	}
	head := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n%s\r\n\r\n",
		strings.TrimPrefix(baseURL, "http://"), length)
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if sent > 0 {
		// The server may answer and stop reading before all of it is
		// sent; the write's error is then expected.
		go func() {
			_, _ = io.WriteString(c, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"pad":"`+strings.Repeat("p", sent))
		}()
	}
	return c
}

// rawAnswer is the status line and Retry-After of what the server answered
// on a connection, or why there was nothing to read.
type rawAnswer struct {
	status int
	retry  string
	err    error
}

// rawAnswers reads the status and headers of what the server answered on
// each of conns, waiting at most wait for all of them together.
func rawAnswers(conns []net.Conn, wait time.Duration) []rawAnswer {
	deadline := time.Now().Add(wait)
	out := make([]rawAnswer, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			// The body is left unread: closing it would read it all.
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				out[i].err = err
				return
			}
			out[i] = rawAnswer{status: resp.StatusCode, retry: resp.Header.Get("Retry-After")}
		})
	}
	wg.Wait()
	return out
}

// TestSecStalledBodiesDelayNobody: one network opens 64 requests that
// announce bodies of the largest allowed size and stall, some after
// sending nothing, some after 300 KiB. Every other client's requests are
// still answered at once, a large body included; the stalled requests
// past the network's share of the body budget are refused with 429 and
// Retry-After, and so are most of 200 connections of another network that
// each stall after 100 KiB. Then more networks together spend the whole
// budget: large bodies are refused with 503 and Retry-After, and ordinary
// requests still pass. Before the bytes were counted as they arrived and shared
// per network, 16 requests that only announced their size stalled every
// /mcp request until the server's 30 s read timeout.
func TestSecStalledBodiesDelayNobody(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("holds many connections open; skipped with -short")
	}
	srv := startServer(t, nil)
	f := srv.newFixture(t, "stall-owner", "Public board")
	srv.mustCall(t, f.AdminTok, "share_board", map[string]any{"board_id": f.BoardID, "visibility": "public"})

	const attacker = "127.0.0.2"
	var sent []net.Conn
	for range 32 {
		startStalledBody(t, attacker, srv.URL, false, 0)
	}
	for range 8 {
		startStalledBody(t, attacker, srv.URL, true, 0)
	}
	for range 24 {
		sent = append(sent, startStalledBody(t, attacker, srv.URL, false, 300<<10))
	}

	// Past the share, the server answers the stalled requests early.
	refused := 0
	for _, a := range rawAnswers(sent, 2*time.Second) {
		if a.err != nil {
			continue // still being read: within the share
		}
		refused++
		if a.status != http.StatusTooManyRequests || a.retry == "" {
			t.Errorf("a stalled 300 KiB body was answered %d with Retry-After %q; want 429 with Retry-After", a.status, a.retry)
		}
	}
	if refused == 0 {
		t.Errorf("none of %d stalled 300 KiB bodies from one network was refused: the network's share does not hold", len(sent))
	}

	// The server's read timeout is 30 s: a victim that waits for the
	// stalled requests fails here first.
	victim := clientFrom("127.0.0.1", 20*time.Second)
	getBoard := fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":%q}}}`, f.BoardID)
	padded := fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":%q},"_meta":{"pad":%q}}}`,
		f.BoardID, strings.Repeat("p", 600<<10))
	requests := []struct{ name, body string }{
		{"tools/list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
		{"get_board", getBoard},
		{"get_board with a 600 KiB body", padded},
	}
	for _, r := range requests {
		status, _, answer, err := mcpPost(t.Context(), victim, srv.MCP(), r.body)
		if err != nil || status != http.StatusOK || !strings.Contains(answer, `"result"`) {
			t.Errorf("%s from another network while one network stalls 64 bodies: status %d, err %v, answer %.200s; want 200 with a result",
				r.name, status, err, answer)
		}
	}

	// Many connections from one more network, each with a body of 100 KiB
	// that stalls: past the first few KiB each is counted, so past the
	// network's share they are refused, instead of each holding its
	// 100 KiB for the read timeout (2,000 of them once held 400 MB).
	var many []net.Conn
	for range 200 {
		many = append(many, startStalledBody(t, loopbackAddress(6, 0), srv.URL, false, 100<<10))
	}
	refusedMany := 0
	for _, a := range rawAnswers(many, 3*time.Second) {
		if a.err == nil && a.status == http.StatusTooManyRequests {
			refusedMany++
		}
	}
	if refusedMany < len(many)/2 {
		t.Errorf("%d of %d stalled 100 KiB bodies from one network were refused with 429; want most of them", refusedMany, len(many))
	}

	// More networks of stalled 300 KiB bodies spend the whole budget: a
	// batch from a new network each time the victim still gets through
	// (refused bodies give their bytes back as they go).
	var status int
	var retry, answer string
	networks := 1
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if status, retry, answer, err = mcpPost(t.Context(), victim, srv.MCP(), padded); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusOK {
			break
		}
		for range 12 {
			startStalledBody(t, loopbackAddress(5, networks), srv.URL, false, 300<<10)
		}
		networks++
	}
	if status != http.StatusServiceUnavailable || retry == "" || !strings.Contains(answer, "retry") {
		t.Errorf("a 600 KiB body while %d networks hold the budget: status %d, Retry-After %q, answer %.200s; want 503 with Retry-After and a message saying to retry",
			networks, status, retry, answer)
	}
	for _, r := range requests[:2] {
		status, _, answer, err := mcpPost(t.Context(), victim, srv.MCP(), r.body)
		if err != nil || status != http.StatusOK || !strings.Contains(answer, `"result"`) {
			t.Errorf("%s while the body budget is spent: status %d, err %v, answer %.200s; want 200: ordinary bodies are not counted",
				r.name, status, err, answer)
		}
	}
}

// TestSecUnreadAnswersDelayNobody: one network asks for a full public
// board's answer on 32 connections and never reads. The board's text is
// emoji, four bytes each, for the largest answer (about 3.3 MB), and the
// connections offer a small receive window, so that the kernel's send
// buffers cannot take the answers whole and the server must hold them. Another
// network's get_board calls of the same board are all answered, four at
// once; of the unread ones, the network has at most
// httpapi.LargeAnswersPerCaller in flight, and the rest wait for those,
// in vain, and are refused with 429 and Retry-After. Before the share,
// about 24 such connections kept every get_board waiting until the
// answers' 20 s write timeout, and again for as long as they asked.
func TestSecUnreadAnswersDelayNobody(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fills a board to the quota; skipped with -short")
	}
	srv := startServer(t, map[string]string{"LOG_LEVEL": "warn", "VALIDATE_OUTPUT": "false"})
	fb := fillFullBoard(t, srv, wideText)

	// The victims' network has its own two calls in flight, so its calls
	// take turns too: four of them keep the run short under -race.
	const unread, victims = 32, 4
	conns := stallGetBoard(t, srv.URL, fb.ID, unread, func(int) string { return "127.0.0.2" })
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":%q}}}`, fb.ID)

	victim := clientFrom("127.0.0.1", 15*time.Second)
	var answerSize atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, victims)
	for range victims {
		wg.Go(func() {
			status, _, answer, err := mcpPost(t.Context(), victim, srv.MCP(), body)
			if err != nil || status != http.StatusOK || !strings.Contains(answer, `"structuredContent"`) {
				errs <- fmt.Sprintf("status %d, err %v, answer %.200s", status, err, answer)
				return
			}
			answerSize.Store(int64(len(answer)))
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("get_board from another network while %d connections leave their answers unread: %s; want 200 with the board", unread, e)
	}
	if t.Failed() {
		return
	}

	// What the unread connections got: an answer, which the server holds
	// until the write times out, or, after waiting for those in vain, a
	// refusal.
	answered, refused := 0, 0
	for _, a := range rawAnswers(conns, 30*time.Second) {
		status, retry, err := a.status, a.retry, a.err
		switch {
		case err != nil:
			t.Errorf("an unread connection got no answer: %v", err)
		case status == http.StatusOK:
			answered++
		case status == http.StatusTooManyRequests && retry != "":
			refused++
		default:
			t.Errorf("an unread connection was answered %d with Retry-After %q; want 200, or 429 with Retry-After", status, retry)
		}
	}
	if strings.Contains(srv.Log.String(), "could not set the write deadline") {
		t.Error("the write deadline of a large answer could not be set: unread answers are held for the whole WriteTimeout")
	}
	if answered > httpapi.LargeAnswersPerCaller {
		t.Errorf("%d answers were held for one network that reads none; it may have %d in flight", answered, httpapi.LargeAnswersPerCaller)
	}
	if refused == 0 {
		t.Errorf("none of %d unread answers of one network was refused", unread)
	}
	t.Logf("answers of %d bytes: %d held for the network that does not read them, %d refused", answerSize.Load(), answered, refused)
}
