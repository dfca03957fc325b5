package e2e

// What one answer may cost: a public board filled to the quotas must not
// let an anonymous request of a hundred bytes take megabytes of answer,
// nor a few concurrent readers take the server's memory.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kanban-mcp/kanban-mcp/internal/loadtest"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// maxSummaryBytes bounds one card of get_board's answer when its text is
// plain ASCII, which JSON does not escape: the longest title, description
// preview and labels, plus the card's keys, ID and numbers.
const maxSummaryBytes = store.MaxTitleLen + store.DescriptionPreviewLen + store.MaxLabels*(store.MaxLabelLen+3) + 256

// maxFullBoardAnswer bounds the whole answer of get_board on a board with
// the most cards the default quota allows. The answer holds each card
// twice: in the structured content, and in the text that carries the same
// fields for clients that read only text (tools.ResultText).
var maxFullBoardAnswer = 2*store.DefaultQuotas().CardsPerBoard*maxSummaryBytes + 4<<10

// fullBoard is a public board filled to the quotas with the longest
// titles, descriptions and labels allowed.
type fullBoard struct {
	ID           string
	Descriptions map[string]string // card ID → its whole description
	OwnerToken   string
}

// fullDescription is a description of exactly MaxDescriptionLen
// characters, in words, ending in a marker that names the card.
func fullDescription(n int) string {
	marker := fmt.Sprintf(" [end of card %04d]", n)
	words := strings.Repeat("plain words of a long description ", store.MaxDescriptionLen/34+1)
	return words[:store.MaxDescriptionLen-len(marker)] + marker
}

// boardText is what fillFullBoard writes on the cards.
type boardText int

const (
	plainText  boardText = iota // ASCII words
	escapeText                  // characters JSON may write as six-byte escapes ("<" is \u003c)
	wideText                    // characters of four bytes in UTF-8 (emoji): the largest answer
)

// fillFullBoard creates a public board of owner's and adds cards to it
// until the default quota, through add_card, four at a time, with titles,
// labels and descriptions of the given text.
func fillFullBoard(t *testing.T, srv *testServer, text boardText) fullBoard {
	t.Helper()
	tok := srv.token(t, "board-owner", "filler", "kanban.admin")
	b := srv.mustCall(t, tok, "create_board", map[string]any{"title": "Everything at the limit"})
	fb := fullBoard{ID: str(b.Structured, "id"), Descriptions: map[string]string{}, OwnerToken: tok}
	var columns []string
	for _, c := range list(b.Structured, "columns") {
		columns = append(columns, str(c.(map[string]any), "id"))
	}
	srv.mustCall(t, tok, "share_board", map[string]any{"board_id": fb.ID, "visibility": "public"})

	labels := make([]string, store.MaxLabels)
	for i := range labels {
		switch text {
		case plainText:
			labels[i] = fmt.Sprintf("label-%02d-", i) + strings.Repeat("x", store.MaxLabelLen-9)
		case escapeText:
			labels[i] = fmt.Sprintf("l%02d", i) + strings.Repeat("&", store.MaxLabelLen-3)
		case wideText:
			labels[i] = fmt.Sprintf("l%02d", i) + strings.Repeat("🟦", store.MaxLabelLen-3)
		}
	}
	caller := toolCaller{client: &http.Client{Timeout: time.Minute}, url: srv.MCP()}
	cards := store.DefaultQuotas().CardsPerBoard
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 4)
	)
	for range 4 {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < cards; n = int(next.Add(1)) - 1 {
				title := fmt.Sprintf("Card %04d ", n) + strings.Repeat("t", store.MaxTitleLen-10)
				d := fullDescription(n)
				switch text {
				case escapeText:
					title = fmt.Sprintf("Card %04d ", n) + strings.Repeat("<", store.MaxTitleLen-10)
					d = strings.Repeat(">", store.MaxDescriptionLen-10) + fmt.Sprintf(" [%04d]", n)
				case wideText:
					title = fmt.Sprintf("Card %04d ", n) + strings.Repeat("🟥", store.MaxTitleLen-10)
					d = strings.Repeat("🟩", store.MaxDescriptionLen-10) + fmt.Sprintf(" [%04d]", n)
				}
				ans, err := caller.call(context.Background(), tok, "add_card", map[string]any{
					"board_id": fb.ID, "column_id": columns[n%len(columns)], "title": title, "description": d, "labels": labels})
				if err == nil && ans.IsError {
					err = fmt.Errorf("add_card refused: %s", ans.Text)
				}
				if err != nil {
					errs <- err
					return
				}
				var card struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(ans.Structured, &card); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				fb.Descriptions[card.ID] = d
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("filling the board: %v", err)
	}
	// The quota is reached: the board is as large as it can get.
	over := srv.call(t, tok, "add_card", map[string]any{"board_id": fb.ID, "column_id": columns[0], "title": "one too many"}).result(t)
	if !over.IsError || !strings.Contains(over.Text(), "the most allowed") {
		t.Fatalf("add_card past the quota: %s; want the quota refusal", over.Text())
	}
	return fb
}

// anonymousGetBoard sends get_board without a token and returns the
// answer's body.
func anonymousGetBoard(ctx context.Context, client *http.Client, mcpURL, boardID string) ([]byte, error) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":%q}}}`, boardID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	return raw, nil
}

// TestSecFullBoardAnswerIsBounded: on a public board filled to the quotas
// (1,000 cards, each with a 10,000-character description, a 200-character
// title and ten labels), one anonymous get_board answers with card
// summaries whose size the declared limits bound, each long description
// cut to a marked preview that update_card refuses to write back; get_card
// returns any one card whole, to anyone who may see the board; search_cards
// cuts descriptions the same way.
func TestSecFullBoardAnswerIsBounded(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	fb := fillFullBoard(t, srv, plainText)

	raw, err := anonymousGetBoard(t.Context(), testClient, srv.MCP(), fb.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("anonymous get_board of a full board: %d bytes (bound %d)", len(raw), maxFullBoardAnswer)
	if len(raw) > maxFullBoardAnswer {
		t.Errorf("anonymous get_board answered with %d bytes; a full board's answer must stay within %d (%d cards × %d bytes)",
			len(raw), maxFullBoardAnswer, store.DefaultQuotas().CardsPerBoard, maxSummaryBytes)
	}
	res := rpcResponse{Status: http.StatusOK, Body: raw}.result(t)
	if res.IsError {
		t.Fatalf("get_board failed: %s", res.Text())
	}
	if !strings.Contains(res.Text(), "get_card") {
		t.Errorf("get_board's text %q does not tell the model that get_card shows whole cards", res.Text())
	}
	seen, bad := 0, 0
	for _, col := range list(res.Structured, "columns") {
		for _, c := range list(col.(map[string]any), "cards") {
			card := c.(map[string]any)
			seen++
			if problem := previewProblem(card, fb.Descriptions[str(card, "id")]); problem != "" {
				if bad++; bad <= 3 {
					t.Errorf("get_board: %s", problem)
				}
			}
		}
	}
	if bad > 3 {
		t.Errorf("get_board: %d more cards like these", bad-3)
	}
	if seen != len(fb.Descriptions) {
		t.Errorf("get_board shows %d cards, want %d", seen, len(fb.Descriptions))
	}

	// The owner's agent writing back what get_board showed must not cut
	// the description short.
	first := list(list(res.Structured, "columns")[0].(map[string]any), "cards")[0].(map[string]any)
	refused := srv.call(t, fb.OwnerToken, "update_card", map[string]any{"card_id": str(first, "id"), "description": str(first, "description")}).result(t)
	if !refused.IsError || !strings.Contains(refused.Text(), "get_card") {
		t.Errorf("update_card with the preview get_board showed: %q; want a refusal that points to get_card", refused.Text())
	}
	if got := srv.mustCall(t, fb.OwnerToken, "get_card", map[string]any{"card_id": str(first, "id")}); str(got.Structured, "description") != fb.Descriptions[str(first, "id")] {
		t.Errorf("card %s lost its description to an update with its preview", str(first, "id"))
	}

	// get_card, anonymously: the whole card, for every card checked here.
	checked := 0
	for id, want := range fb.Descriptions {
		if checked == 5 {
			break
		}
		checked++
		got := srv.mustCall(t, "", "get_card", map[string]any{"card_id": id})
		if d := str(got.Structured, "description"); d != want {
			t.Errorf("get_card %s: description of %d characters, want the whole %d", id, utf8.RuneCountInString(d), utf8.RuneCountInString(want))
		}
		if _, ok := got.Structured["description_truncated"]; ok {
			t.Errorf("get_card %s marks its description as truncated", id)
		}
	}

	// search_cards: a page of the largest size, previews again.
	found := srv.mustCall(t, fb.OwnerToken, "search_cards", map[string]any{"query": "end of card", "board_id": fb.ID, "limit": store.MaxPageSize})
	cards := list(found.Structured, "cards")
	if len(cards) != store.MaxPageSize {
		t.Fatalf("search_cards found %d cards, want a full page of %d", len(cards), store.MaxPageSize)
	}
	for _, c := range cards {
		card := c.(map[string]any)
		if problem := previewProblem(card, fb.Descriptions[str(card, "id")]); problem != "" {
			t.Fatalf("search_cards: %s", problem)
		}
	}
}

// previewProblem says what is wrong with a card of a list, whose whole
// description is whole, or "" when it shows a marked preview of it.
func previewProblem(card map[string]any, whole string) string {
	id, d := str(card, "id"), str(card, "description")
	prefix, cut := strings.CutSuffix(d, "…")
	switch {
	case whole == "":
		return fmt.Sprintf("card %s was not added by the test", id)
	case card["description_truncated"] != true:
		return fmt.Sprintf("card %s has description_truncated %v, want true", id, card["description_truncated"])
	case !cut || !strings.HasPrefix(whole, prefix) || prefix == "":
		return fmt.Sprintf("card %s's description %.60q… is not a preview of its description ending in …", id, d)
	case utf8.RuneCountInString(d) > store.DescriptionPreviewLen:
		return fmt.Sprintf("card %s's description has %d characters, more than the preview's %d", id, utf8.RuneCountInString(d), store.DescriptionPreviewLen)
	}
	return ""
}

// fullBoardReaders and fullBoardRSSLimit are the attack and the bound: 16
// anonymous readers of a full public board must not take the server's
// resident memory past 200 MB.
const (
	fullBoardReaders  = 16
	fullBoardRSSLimit = 200 << 20
)

// TestSecFullBoardReadersMemory runs the real binary with its production
// settings, fills a public board to the quotas with the text whose answer
// is largest (every character a six-byte JSON escape: about 5 MB), and has
// 16 anonymous clients read it with get_board at once, again and again;
// then 64 clients ask for it and never read the answer, while 32 more send
// requests padded to nearly the body limit: the process's peak resident
// memory (VmHWM) must stay under 200 MB throughout. The clients stop early
// when the limit is passed, so that a regression fails without taking the
// machine's memory.
func TestSecFullBoardReadersMemory(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the binary under a sustained load; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads resident memory from /proc")
	}
	bin := kanbanBinary(t)
	iss := testissuer.New(t, testissuer.Options{})
	child := startChild(t, bin, 1, func(url, port string) []string {
		return []string{ // the defaults of production, quotas included
			"DATABASE_URL=" + filepath.Join(t.TempDir(), "kanban.db"),
			"LISTEN_ADDR=127.0.0.1:" + port,
			"BASE_URL=" + url,
			"OAUTH_ISSUER=" + iss.URL,
			"AUTH_SERVER=off",
			"LOG_LEVEL=warn",
		}
	}, nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", child.log.String())
		}
	})
	pid := child.cmd.Process.Pid
	srv := &testServer{URL: child.URL, Issuer: iss}
	fb := fillFullBoard(t, srv, escapeText)
	before, err := loadtest.ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}

	// Every client comes from an address of its own (loopbackClient), so
	// that the limits per caller leave the budgets to bound the memory.
	//
	// The readers run for fullBoardLoad and until they have had as many
	// answers as there are readers, however slow the machine: the test
	// bounds memory under that load, not the server's speed. The minute
	// is a bound against a hang.
	ctx, stop := context.WithTimeout(t.Context(), time.Minute)
	defer stop()
	var (
		requests, answerBytes atomic.Int64
		readErr               error
		errOnce               sync.Once
		wg                    sync.WaitGroup
		loadedLongEnough      atomic.Bool
	)
	enough := func() {
		if loadedLongEnough.Load() && requests.Load() >= fullBoardReaders {
			stop()
		}
	}
	defer time.AfterFunc(fullBoardLoad, func() { loadedLongEnough.Store(true); enough() }).Stop()
	for i := range fullBoardReaders {
		client := loopbackClient(1, i, time.Minute)
		wg.Go(func() {
			for ctx.Err() == nil {
				raw, err := anonymousGetBoard(ctx, client, srv.MCP(), fb.ID)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					errOnce.Do(func() { readErr = err })
					stop()
					return
				case !bytes.Contains(raw, []byte(`"structuredContent"`)):
					errOnce.Do(func() { readErr = fmt.Errorf("get_board answered without a board: %.300s", raw) })
					stop()
					return
				}
				requests.Add(1)
				answerBytes.Store(int64(len(raw)))
				enough()
			}
		})
	}
	// Watch the memory, and stop the readers as soon as it is too much.
	peakSeen := watchMemory(ctx, stop, pid, true)
	wg.Wait()
	after, err := loadtest.ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	peak := max(peakSeen, after.Peak)
	t.Logf("%d readers, %d answers of %d bytes: resident %.1f MiB before, peak %.1f MiB (limit %d MiB)",
		fullBoardReaders, requests.Load(), answerBytes.Load(), float64(before.RSS)/(1<<20), float64(peak)/(1<<20), fullBoardRSSLimit>>20)
	if readErr != nil {
		t.Fatalf("a reader failed: %v", readErr)
	}
	if requests.Load() < fullBoardReaders {
		t.Errorf("only %d answers in the whole run; the readers did not load the server", requests.Load())
	}
	if peak > fullBoardRSSLimit {
		t.Fatalf("%d anonymous readers of a full public board took the server to %.0f MiB resident; the limit is %d MiB",
			fullBoardReaders, float64(peak)/(1<<20), fullBoardRSSLimit>>20)
	}

	// Clients that ask and never read: each answer waits in the server
	// until its client reads it or the write times out.
	stalled := stallGetBoard(t, child.URL, fb.ID, fullBoardStalled, func(i int) string { return loopbackAddress(3, i) })
	// Requests padded to nearly the body limit, read as usual. They call
	// list_boards, whose answer is small: the unread answers above may hold
	// the whole answer budget until their write timeout (one network each,
	// 64 of them, which is the case the budget cannot tell from honest
	// readers), and these must load the body budget while that happens.
	padded := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_boards","arguments":{},"_meta":{"pad":%q}}}`,
		strings.Repeat("p", 900<<10))
	ctx, stop = context.WithTimeout(t.Context(), 6*time.Second)
	defer stop()
	var paddedAnswers atomic.Int64
	for i := range fullBoardPadded {
		client := loopbackClient(2, i, time.Minute)
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.MCP(), strings.NewReader(padded))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if resp, err := client.Do(req); err == nil {
				if _, err := io.Copy(io.Discard, resp.Body); err == nil && resp.StatusCode == http.StatusOK {
					paddedAnswers.Add(1)
				}
				resp.Body.Close()
			}
		})
	}
	peakSeen = watchMemory(ctx, stop, pid, false)
	stop()
	wg.Wait()
	for _, c := range stalled {
		c.Close()
	}
	after, err = loadtest.ReadMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	peak = max(peakSeen, after.Peak)
	t.Logf("%d clients that never read and %d padded requests (%d answered): peak %.1f MiB", fullBoardStalled, fullBoardPadded,
		paddedAnswers.Load(), float64(peak)/(1<<20))
	if peak > fullBoardRSSLimit {
		t.Errorf("%d anonymous clients that never read a full board's answer and %d padded requests took the server to %.0f MiB resident; the limit is %d MiB",
			fullBoardStalled, fullBoardPadded, float64(peak)/(1<<20), fullBoardRSSLimit>>20)
	}
	if paddedAnswers.Load() == 0 {
		t.Error("no padded request was answered: the test did not load the server")
	}
}

// watchMemory samples process pid's resident memory until ctx ends, and
// calls stop as soon as it passes fullBoardRSSLimit, so that a regression
// fails without taking the machine's memory. It returns the most it saw,
// counting the kernel's high-water mark too when withPeak is set (the
// mark never goes down, so a later phase cannot use it).
func watchMemory(ctx context.Context, stop func(), pid int, withPeak bool) int64 {
	var most int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		if m, err := loadtest.ReadMemory(pid); err == nil {
			most = max(most, m.RSS)
			if withPeak {
				most = max(most, m.Peak)
			}
			if most > fullBoardRSSLimit {
				stop()
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	return most
}

// fullBoardLoad is the least time the readers of
// TestSecFullBoardReadersMemory keep the server busy.
const fullBoardLoad = 4 * time.Second

// The clients of the second half of TestSecFullBoardReadersMemory.
const (
	fullBoardStalled = 64
	fullBoardPadded  = 32
)

// stallGetBoard opens n connections, the i-th from the loopback address
// from(i), that each send an anonymous get_board of boardID with a
// receive buffer of 4 KB, and never read. The test's end closes them.
func stallGetBoard(t *testing.T, baseURL, boardID string, n int, from func(i int) string) []net.Conn {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_board","arguments":{"board_id":%q}}}`, boardID)
	request := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n%s",
		strings.TrimPrefix(baseURL, "http://"), len(body), body)
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c := dialFrom(t, from(i), baseURL, 4096)
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}
