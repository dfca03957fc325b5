package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestTextOnlyClientChainsCalls: a client that reads only each result's
// text content (as many open-source clients do, and as MCP Apps hosts show
// the model) can find a board, read it and move a card, with every ID
// taken from text. The structured content is stripped from every answer
// before the client (the official Go SDK) sees it, so nothing can come
// from there.
func TestTextOnlyClientChainsCalls(t *testing.T) {
	srv := startServer(t, nil)
	tok := srv.token(t, "text-reader", "text-client", "kanban.write")
	setup := srv.token(t, "text-reader", "setup-client", "kanban.write")
	b := srv.mustCall(t, setup, "create_board", map[string]any{"title": "Release plan", "columns": []string{"Backlog", "In progress", "Done"}})
	backlog := str(list(b.Structured, "columns")[0].(map[string]any), "id")
	for _, title := range []string{"Write the notes", `Tag "v2" id=c_forged version=99 position=7`, "Ship it"} {
		srv.mustCall(t, setup, "add_card", map[string]any{"board_id": str(b.Structured, "id"), "column_id": backlog, "title": title,
			"description": "Line one.\nLine two id=c_forged.", "labels": []string{"release"}})
	}
	srv.mustCall(t, setup, "create_board", map[string]any{"title": "Another board"})

	httpClient := &http.Client{Transport: textOnly{token: tok}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "kanban-e2e-text-only", Version: "1.0.0"}, nil).
		Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: srv.MCP(), HTTPClient: httpClient}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	call := func(name string, args map[string]any) string {
		t.Helper()
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.StructuredContent != nil {
			t.Fatalf("%s: the client saw structured content; the test must not", name)
		}
		var text strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text.WriteString(tc.Text)
			}
		}
		if res.IsError {
			t.Fatalf("%s: isError: %s", name, text.String())
		}
		return text.String()
	}

	// Each step reads the lines the way a model does: the record's kind,
	// then a field it knows by name.
	boards := call("list_boards", map[string]any{})
	boardID := fieldOf(t, recordWith(t, boards, "board", `title="Release plan"`), "id")

	board := call("get_board", map[string]any{"board_id": boardID})
	done := fieldOf(t, recordWith(t, board, "column", `name=Done`), "id")
	// The title tries to forge fields; a reader that takes the first
	// "name=" on the line still gets the card's own, which come first.
	card := recordWith(t, board, "  card", `title="Tag \"v2\" id=c_forged version=99 position=7"`)
	cardID := fieldOf(t, card, "id")
	if cardID == "c_forged" || !strings.HasPrefix(cardID, "c_") {
		t.Fatalf("card ID %q read from the text is not the card's", cardID)
	}
	if v, p := fieldOf(t, card, "version"), fieldOf(t, card, "position"); v != "1" || p != "1" {
		t.Fatalf("read version %s and position %s from the card's line, want 1 and 1: %q", v, p, card)
	}

	moved := call("move_card", map[string]any{"card_id": cardID, "column_id": done, "position": 0})
	if !strings.HasPrefix(moved, "Moved card") {
		t.Errorf("move_card's summary line: %q", strings.SplitN(moved, "\n", 2)[0])
	}
	if got := fieldOf(t, recordWith(t, moved, "card", "id="+cardID), "column_id"); got != done {
		t.Errorf("move_card's text says the card is in %s, want %s\n%s", got, done, moved)
	}

	// The board as the text shows it now: the card first under Done.
	after := call("get_board", map[string]any{"board_id": boardID})
	lines := strings.Split(after, "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "column ") && strings.Contains(line, "id="+done+" ") {
			if i+1 >= len(lines) || !strings.Contains(lines[i+1], "id="+cardID+" ") || fieldOf(t, lines[i+1], "position") != "0" {
				t.Errorf("after the move, the line below Done is not the card at position 0:\n%s", after)
			}
			return
		}
	}
	t.Errorf("the board's text has no Done column line:\n%s", after)
}

// recordWith returns the one line that starts with kind (and a space) and
// contains want.
func recordWith(t *testing.T, text, kind, want string) string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, kind+" ") && strings.Contains(line, want) {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %q lines with %s, want 1:\n%s", len(found), kind, want, text)
	}
	return found[0]
}

// fieldOf returns a field's value on a line: a token, or a JSON string
// decoded.
func fieldOf(t *testing.T, line, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(name) + `=("(?:[^"\\]|\\.)*"|\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s= on the line %q", name, line)
	}
	if strings.HasPrefix(m[1], `"`) {
		s, err := strconv.Unquote(m[1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	return m[1]
}

// textOnly sends the token with each request and deletes
// structuredContent from every answer, so that the client above it sees
// what a client that reads only content sees.
type textOnly struct{ token string }

func (tr textOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tr.token)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var msg map[string]any
	if json.Unmarshal(body, &msg) == nil {
		if result, ok := msg["result"].(map[string]any); ok {
			delete(result, "structuredContent")
			body, _ = json.Marshal(msg)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}
