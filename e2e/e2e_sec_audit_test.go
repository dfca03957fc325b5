package e2e

// The audit trail cannot be used to fill the disk, each through app.Serve
// on loopback:
//
//   - a refused call's row keeps only the tool's declared ID arguments of
//     the right form, however many ID-like arguments the caller sends;
//   - rows of callers without a valid token are kept within a budget,
//     server-wide and per client network (an IPv6 /64 is one), and the
//     rest are counted in summary rows and the log;
//   - below the free-disk margin those rows stop, /readyz says why, and
//     signed-in callers' writes and rows go on.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/audit"
	"github.com/kanban-mcp/kanban-mcp/internal/diskspace"
	"github.com/kanban-mcp/kanban-mcp/internal/testissuer"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// The audit's own words, which these tests look for.
const (
	secAuditDropped     = "dropped" // audit.OutcomeDropped
	secAuditDroppedLog  = "audit: activity rows of callers without a valid token were not kept"
	secAuditSummaryForm = "dropped %d activity rows of callers without a valid token (%d over budget, %d while disk space was low; client networks: %d)"
)

// secStop stops a launched server and waits for serve to return cleanly,
// so that the audit queue has been flushed and the database closed.
func secStop(t *testing.T, s *launchedServer) {
	t.Helper()
	s.cancel()
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not stop within 15s\nlog:\n%s", s.Log.String())
	}
	if s.err != nil {
		t.Fatalf("serve returned %v", s.err)
	}
}

// secDBSize is the database's logical size, page_count × page_size, read
// through a fresh connection (so that pages still in the WAL count).
func secDBSize(t *testing.T, path string) int64 {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	var pages, pageSize int64
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	return pages * pageSize
}

// secFileSize is the size of the database file and its WAL.
func secFileSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err == nil {
			n += fi.Size()
		}
	}
	return n
}

// secCount runs a count query.
func secCount(t *testing.T, path, query string, args ...any) int {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// secAnonymousRows counts the kept rows of callers without a valid token
// (the summary rows aside).
const secAnonymousRows = `SELECT count(*) FROM activity WHERE actor_sub = '' AND outcome <> '` + secAuditDropped + `'`

// secSummaries adds up the summary rows: rows not kept over budget and
// while disk space was low.
func secSummaries(t *testing.T, path string) (rows, overBudget, lowDisk int) {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	res, err := db.Query(`SELECT tool, actor_sub, ids, summary FROM activity WHERE outcome = ?`, secAuditDropped)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for res.Next() {
		var tool, sub, ids, summary string
		if err := res.Scan(&tool, &sub, &ids, &summary); err != nil {
			t.Fatal(err)
		}
		var n, over, low, networks int
		if _, err := fmt.Sscanf(summary, secAuditSummaryForm, &n, &over, &low, &networks); err != nil {
			t.Fatalf("summary row %q does not read %q: %v", summary, secAuditSummaryForm, err)
		}
		if n != over+low || n == 0 || networks == 0 || tool != "" || sub != "" || ids != "[]" {
			t.Errorf("summary row: tool %q, caller %q, ids %s, %q", tool, sub, ids, summary)
		}
		rows, overBudget, lowDisk = rows+1, overBudget+over, lowDisk+low
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, overBudget, lowDisk
}

// secForged is tok with its signature replaced: a token the server must
// refuse at the HTTP layer.
func secForged(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	return tok[:i+1] + strings.Repeat("A", len(tok)-i-1)
}

// secJunkCall is a tools/call of tool with args plus n made-up ID-like
// arguments "k00000_id": "b_…", each with a 40-character value.
func secJunkCall(t *testing.T, tool string, args map[string]string, n int) []byte {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{`, tool)
	for k, v := range args {
		fmt.Fprintf(&b, "%q:%q,", k, v)
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%05d_id":"b_%038d"`, i, i)
	}
	b.WriteString("}}}")
	return []byte(b.String())
}

// TestSecAuditJunkIDsDoNotGrowTheDatabase: 100 refused anonymous calls,
// half refused by the tool (no token) and half at the HTTP layer (a forged
// token), each with 10,000 made-up "*_id" arguments, grow the database by
// less than 1 MB. Every call still leaves its row, which keeps exactly the
// declared ID argument of the right form. The budget is set out of the
// way, so that this is about what a row keeps, not about how many rows
// are kept.
func TestSecAuditJunkIDsDoNotGrowTheDatabase(t *testing.T) {
	t.Parallel()
	iss := testissuer.New(t, testissuer.Options{})
	srv := launchServer(t, iss, map[string]string{"AUDIT_ANON_ROWS_PER_HOUR": "1000000", "AUDIT_ANON_ROWS_PER_IP_PER_HOUR": "1000000"})
	srv.waitReady(t)
	forged := secForged(srv.token(t, "mallory", "agent-1", "kanban.read"))
	board := store.NewID(store.BoardPrefix)
	// A card ID in column_id: the wrong kind, so it is not kept either.
	declared := map[string]string{"board_id": board, "column_id": store.NewID(store.CardPrefix), "title": "x"}

	sizeBefore, filesBefore := secDBSize(t, srv.DBPath), secFileSize(t, srv.DBPath)
	const calls, junk = 100, 10_000
	for i := range calls {
		if i%2 == 0 {
			body := secJunkCall(t, "add_card", declared, junk)
			if len(body) >= 1<<20 {
				t.Fatalf("a call of %d bytes would be refused for its size", len(body))
			}
			res := srv.post(t, body, nil).result(t)
			if !res.IsError || !strings.Contains(res.Text(), "Sign in") {
				t.Fatalf("anonymous add_card = %v %q, want a sign-in refusal", res.IsError, res.Text())
			}
		} else {
			checkInvalidToken(t, srv.testServer, srv.post(t, secJunkCall(t, "get_board", map[string]string{"board_id": board}, junk),
				map[string]string{"Authorization": "Bearer " + forged}))
		}
	}
	secStop(t, srv)

	grew, filesGrew := secDBSize(t, srv.DBPath)-sizeBefore, secFileSize(t, srv.DBPath)-filesBefore
	t.Logf("the database grew by %d bytes (files: %+d bytes) for %d calls", grew, filesGrew, calls)
	if grew >= 1_000_000 || filesGrew >= 1_000_000 {
		t.Errorf("the database grew by %d bytes (files by %d) for %d refused calls, want < 1 MB", grew, filesGrew, calls)
	}
	ids := `["` + board + `"]`
	for tool, summary := range map[string]string{"add_card": "refused: no access token", "get_board": "refused: invalid or expired token"} {
		if n := secCount(t, srv.DBPath, `SELECT count(*) FROM activity WHERE tool = ? AND outcome = 'unauthenticated' AND ids = ? AND board_id = ? AND summary = ?`,
			tool, ids, board, summary); n != calls/2 {
			t.Errorf("%d %s rows with ids %s and %q, want %d", n, tool, ids, summary, calls/2)
		}
	}
	if n := secCount(t, srv.DBPath, `SELECT count(*) FROM activity`); n != calls {
		t.Errorf("%d activity rows, want %d", n, calls)
	}
}

// TestSecAuditAnonymousBudget: a sustained stream of calls without a valid
// token — anonymous reads that succeed or find nothing, refusals by the
// tool, forged tokens refused at the HTTP layer — from a thousand rotating
// addresses keeps no more rows than the configured budget allows: its
// burst plus its hourly rate for the time the server ran. One IPv6 /64
// counts as one address. Every row not kept is counted in a summary row,
// and the log says so. A signed-in caller's rows are never budgeted.
func TestSecAuditAnonymousBudget(t *testing.T) {
	t.Parallel()
	const perHour, perIP = 100, 5
	start := time.Now()
	iss := testissuer.New(t, testissuer.Options{})
	srv := launchServer(t, iss, map[string]string{
		"TRUSTED_PROXY_HEADER":            hardProxyHeader,
		"AUDIT_ANON_ROWS_PER_HOUR":        strconv.Itoa(perHour),
		"AUDIT_ANON_ROWS_PER_IP_PER_HOUR": strconv.Itoa(perIP),
	})
	srv.waitReady(t)
	f := srv.newFixture(t, "alice", "Public board")
	srv.mustCall(t, f.AdminTok, "share_board", map[string]any{"board_id": f.BoardID, "visibility": "public"})
	valid := srv.token(t, "alice", "agent-ok", "kanban.read")
	forged := secForged(srv.token(t, "mallory", "agent-1", "kanban.read"))
	anonymous := 0 // calls without a valid token sent

	send := func(ip, token string, params map[string]any) (rpcResponse, error) {
		return hardPost(hardFrom(ip), srv.MCP(), hardRPCBody(t, "tools/call", params), hardMCPHeaders(token))
	}
	whoami := map[string]any{"name": "whoami", "arguments": map[string]any{}}

	// Phase 1: one /64, thirty addresses in it. It keeps perIP rows; a
	// row from elsewhere, written after them, shows they are all in.
	for i := range 30 {
		if r, err := send(fmt.Sprintf("2001:db8:aa:bb::%x", i+1), "", whoami); err != nil || r.Status != http.StatusOK {
			t.Fatalf("anonymous whoami from the /64: %v %d %s", err, r.Status, r.Body)
		}
		anonymous++
	}
	if r, err := send("192.0.2.77", "", whoami); err != nil || r.Status != http.StatusOK {
		t.Fatalf("anonymous whoami: %v %d %s", err, r.Status, r.Body)
	}
	anonymous++
	deadline := time.Now().Add(10 * time.Second)
	for secCount(t, srv.DBPath, secAnonymousRows) < perIP+1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := secCount(t, srv.DBPath, secAnonymousRows); n != perIP+1 {
		t.Fatalf("%d anonymous rows after 30 calls from one /64 and one from elsewhere, want %d", n, perIP+1)
	}

	// Phase 2: the stream, three calls per address, and now and then a
	// signed-in caller.
	type kind struct {
		token  string
		params map[string]any
		status int
		want   string // in the body
	}
	kinds := []kind{
		{"", whoami, http.StatusOK, `"authenticated":false`},
		{"", map[string]any{"name": "get_board", "arguments": map[string]any{"board_id": f.BoardID}}, http.StatusOK, `"Public board"`},
		{"", map[string]any{"name": "get_board", "arguments": map[string]any{"board_id": store.NewID(store.BoardPrefix)}}, http.StatusOK, `"isError":true`},
		{"", map[string]any{"name": "add_card", "arguments": map[string]any{"board_id": f.BoardID, "column_id": f.Columns[0], "title": "x"}}, http.StatusOK, `"isError":true`},
		{forged, whoami, http.StatusUnauthorized, "invalid_token"},
		{"", map[string]any{"name": "list_boards", "arguments": map[string]any{}}, http.StatusOK, `"Public board"`},
	}
	const streamCalls, signedInEvery = 3000, 30
	var mu sync.Mutex
	var failures []string
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				ip := fmt.Sprintf("100.64.%d.%d", (i/3)/250, (i/3)%250+1)
				k := kinds[i%len(kinds)]
				if i%signedInEvery == 0 {
					k = kind{valid, whoami, http.StatusOK, `"subject":"alice"`}
				}
				r, err := send(ip, k.token, k.params)
				if err == nil && (r.Status != k.status || !strings.Contains(string(r.Body), k.want)) {
					err = fmt.Errorf("status %d, body %.300s; want %d with %s", r.Status, r.Body, k.status, k.want)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("call %d: %v", i, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range streamCalls {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d calls failed; the first: %s", len(failures), failures[0])
	}
	signedIn := streamCalls / signedInEvery
	anonymous += streamCalls - signedIn
	secStop(t, srv)
	elapsed := time.Since(start)

	kept := secCount(t, srv.DBPath, secAnonymousRows)
	allowed := perHour + int(math.Ceil(perHour*elapsed.Hours()))
	summaries, overBudget, lowDisk := secSummaries(t, srv.DBPath)
	t.Logf("%d calls without a valid token in %s: %d rows kept (budget %d), %d counted in %d summary rows",
		anonymous, elapsed.Round(time.Millisecond), kept, allowed, overBudget+lowDisk, summaries)
	if kept > allowed || kept < perHour {
		t.Errorf("%d rows kept of callers without a valid token, want between the burst %d and the budget %d", kept, perHour, allowed)
	}
	if kept+overBudget != anonymous || lowDisk != 0 {
		t.Errorf("%d rows kept + %d over budget (+ %d for low disk) = %d calls, want the %d calls made", kept, overBudget, lowDisk, kept+overBudget+lowDisk, anonymous)
	}
	if n := secCount(t, srv.DBPath, `SELECT count(*) FROM activity WHERE tool = 'whoami' AND actor_sub = 'alice' AND client_id = 'agent-ok' AND outcome = 'ok'`); n != signedIn {
		t.Errorf("%d rows of the signed-in caller, want all %d", n, signedIn)
	}
	found := false
	for _, m := range hardLogLines(t, srv.testServer) {
		if m["msg"] == secAuditDroppedLog && m["level"] == "WARN" {
			found = true
		}
	}
	if !found {
		t.Errorf("no %q warning in the log", secAuditDroppedLog)
	}
}

// TestSecAuditDiskGuard: with less free space than MIN_FREE_DISK on the
// database's filesystem, /readyz says why (and stays 200: the server still
// serves, so it must not be taken out of rotation), the log warns,
// no row of a caller without a valid token is kept (they are counted),
// and a signed-in caller's write commits with its row, as do its reads.
func TestSecAuditDiskGuard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	free, err := diskspace.Available(dir)
	if err != nil {
		t.Skipf("free disk space cannot be measured here: %v", err)
	}
	iss := testissuer.New(t, testissuer.Options{})
	srv := launchServer(t, iss, map[string]string{
		"DATABASE_URL":  filepath.Join(dir, "kanban.db"),
		"MIN_FREE_DISK": strconv.FormatUint(free+1<<30, 10), // always more than there is
	})

	status, r, _ := readyzOnceKeysLoad(t, srv.testServer)
	disk := r.Checks["disk"]
	if status != http.StatusOK || !r.Ready || r.Checks["database"] != "ok" ||
		!strings.HasPrefix(disk, "low disk space: ") || !strings.Contains(disk, "MIN_FREE_DISK") {
		t.Errorf("/readyz = %d %+v; want 200, ready, and the disk check saying low disk space and naming MIN_FREE_DISK", status, r)
	}
	warned := false
	for _, m := range hardLogLines(t, srv.testServer) {
		if msg, _ := m["msg"].(string); m["level"] == "WARN" && strings.HasPrefix(msg, "low disk space: ") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no low disk space warning in the log:\n%s", srv.Log.String())
	}

	tok := srv.token(t, "alice", "agent-1", "kanban.write")
	board := str(srv.mustCall(t, tok, "create_board", map[string]any{"title": "Still writable"}).Structured, "id")
	srv.mustCall(t, tok, "get_board", map[string]any{"board_id": board})
	forged := secForged(tok)
	const anonymous = 25
	for i := range anonymous {
		switch i % 3 {
		case 0:
			if res := srv.mustCall(t, "", "whoami", nil); res.Structured["authenticated"] != false {
				t.Fatalf("anonymous whoami = %v", res.Structured)
			}
		case 1:
			if res := srv.call(t, "", "add_card", map[string]any{"board_id": board, "column_id": "col_x", "title": "x"}).result(t); !res.IsError {
				t.Fatalf("anonymous add_card succeeded: %v", res.Structured)
			}
		case 2:
			checkInvalidToken(t, srv.testServer, srv.call(t, forged, "get_board", map[string]any{"board_id": board}))
		}
	}
	secStop(t, srv)

	if n := secCount(t, srv.DBPath, secAnonymousRows); n != 0 {
		t.Errorf("%d rows of callers without a valid token kept while disk space was low, want 0", n)
	}
	_, overBudget, lowDisk := secSummaries(t, srv.DBPath)
	if overBudget != 0 || lowDisk != anonymous {
		t.Errorf("summaries count %d over budget and %d for low disk, want 0 and %d", overBudget, lowDisk, anonymous)
	}
	type row struct{ Tool, Outcome, BoardID string }
	db := openDB(t, srv.DBPath)
	rows, err := db.Query(`SELECT tool, outcome, board_id FROM activity WHERE actor_sub = 'alice' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Tool, &r.Outcome, &r.BoardID); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if diff := cmp.Diff([]row{{"create_board", "ok", board}, {"get_board", "ok", board}}, got); diff != "" {
		t.Errorf("the signed-in caller's rows (-want +got):\n%s", diff)
	}
}

// TestSecAuditAnonymousRowsAreSmall: what a row of a caller without a valid
// token stores is bounded too, not only how many such rows are kept. With
// 60 public boards whose titles are 200 four-byte characters, anonymous
// list_boards (which shows every one) and get_board (whose summary quotes
// the title) from rotating addresses keep rows of at most five IDs and a
// 120-character summary, charged to the budget by size, so the database
// grows by no more than the budget's units allow.
func TestSecAuditAnonymousRowsAreSmall(t *testing.T) {
	t.Parallel()
	const perHour, perIP, boards = 100, 20, 60
	iss := testissuer.New(t, testissuer.Options{})
	srv := launchServer(t, iss, map[string]string{
		"TRUSTED_PROXY_HEADER":            hardProxyHeader,
		"AUDIT_ANON_ROWS_PER_HOUR":        strconv.Itoa(perHour),
		"AUDIT_ANON_ROWS_PER_IP_PER_HOUR": strconv.Itoa(perIP),
	})
	srv.waitReady(t)
	owner := srv.token(t, "owner", "setup", "kanban.admin")
	var ids []string
	for i := range boards {
		title := fmt.Sprintf("%02d ", i) + strings.Repeat("\U0001F4CB", store.MaxTitleLen-3)
		b := srv.mustCall(t, owner, "create_board", map[string]any{"title": title})
		ids = append(ids, str(b.Structured, "id"))
		srv.mustCall(t, owner, "share_board", map[string]any{"board_id": ids[i], "visibility": "public"})
	}
	// Let the queue write the setup's rows before measuring.
	time.Sleep(500 * time.Millisecond)
	before := secDBSize(t, srv.DBPath)
	start := time.Now()

	const calls = 600
	for i := range calls {
		params := map[string]any{"name": "list_boards", "arguments": map[string]any{"limit": store.MaxPageSize}}
		if i%2 == 1 {
			params = map[string]any{"name": "get_board", "arguments": map[string]any{"board_id": ids[i%boards]}}
		}
		r, err := hardPost(hardFrom(fmt.Sprintf("100.65.%d.%d", i/250, i%250+1)), srv.MCP(), hardRPCBody(t, "tools/call", params), hardMCPHeaders(""))
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("anonymous call %d: %v %d %.200s", i, err, r.Status, r.Body)
		}
	}
	secStop(t, srv)
	elapsed := time.Since(start)

	db := openDB(t, srv.DBPath)
	defer db.Close()
	rows, err := db.Query(`SELECT tool, outcome, board_id, ids, summary FROM activity WHERE actor_sub = '' AND outcome <> ?`, secAuditDropped)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	kept, units := 0, 0
	for rows.Next() {
		var tool, outcome, boardID, idsJSON, summary string
		if err := rows.Scan(&tool, &outcome, &boardID, &idsJSON, &summary); err != nil {
			t.Fatal(err)
		}
		var rowIDs []string
		if err := json.Unmarshal([]byte(idsJSON), &rowIDs); err != nil {
			t.Fatal(err)
		}
		if len(rowIDs) > 5 || utf8.RuneCountInString(summary) > 120 {
			t.Errorf("an anonymous row keeps %d IDs and a %d-character summary; want at most 5 and 120", len(rowIDs), utf8.RuneCountInString(summary))
		}
		kept++
		units += audit.RowUnits(store.Activity{Tool: tool, Outcome: store.Outcome(outcome), BoardID: boardID, IDs: rowIDs, Summary: summary})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	allowed := perHour + int(math.Ceil(perHour*elapsed.Hours()))
	grown := secDBSize(t, srv.DBPath) - before
	t.Logf("%d anonymous calls: %d rows kept (%d units, budget %d), the database grew by %d bytes", calls, kept, units, allowed, grown)
	if kept == 0 || units > allowed {
		t.Errorf("%d anonymous rows kept, costing about %d units; want some, and at most the budget of %d", kept, units, allowed)
	}
	// A unit is audit.RowUnitBytes of text; a row's other columns and its
	// index entries add about as much again.
	if limit := int64(allowed) * 2 * audit.RowUnitBytes; grown > limit {
		t.Errorf("the database grew by %d bytes for %d anonymous calls; the budget allows at most %d", grown, calls, limit)
	}
}
