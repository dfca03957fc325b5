package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// The baselines are what the server's numbers are divided by: two servers
// doing less than kanban-mcp, run the same way (a child process on
// loopback) and measured by the same load.

// BareHandler is the first baseline, the practical limit of Go's HTTP
// stack for this traffic: it reads and parses the JSON-RPC request and
// writes a fixed response (echoing the request's id, as JSON-RPC requires).
// It does no MCP, no auth, no database.
func BareHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mcp", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		var req struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Method == "" || len(req.ID) == 0 {
			http.Error(w, "not a JSON-RPC request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		out := make([]byte, 0, 64)
		out = append(out, `{"jsonrpc":"2.0","id":`...)
		out = append(out, req.ID...)
		out = append(out, `,"result":{"tools":[]}}`...)
		_, _ = w.Write(out)
	})
	addReadyz(mux)
	return mux
}

// MCPGoHandler is the second baseline, mcp-go's own floor: a stateless
// Streamable HTTP server configured as kanban-mcp's is, whose get_board
// returns a fixed board as the server's get_board does for the board's
// owner: the board as structured content, the same text (tools.BoardSummary
// and tools.ResultText, on each call as the server calls them) and the
// same _meta (tools.WidgetResultMeta: signed in, may write), so that its
// answer is byte for byte the size of the server's and the ratio compares
// like with like. It answers the short-card board (ShortFixtureBoard) when
// board_id is ShortBoardSentinel, the 50-card board (FixtureBoard) for any
// other ID. No auth, no database, no audit, no output-schema validation:
// what remains is the library's parsing, dispatch and encoding of the same
// answer.
func MCPGoHandler() http.Handler {
	s := server.NewMCPServer("kanban-bench-baseline", "1", server.WithToolCapabilities(false))
	now := time.Now()
	long, short := FixtureBoard(now), ShortFixtureBoard(now)
	s.AddTool(mcp.NewTool("get_board",
		mcp.WithDescription("Show one board with its columns and their cards in order."),
		mcp.WithString("board_id", mcp.Required(), mcp.Description("board (b_…)")),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		board := long
		if req.GetString("board_id", "") == ShortBoardSentinel {
			board = short
		}
		res := mcp.NewToolResultStructured(board, tools.ResultText(tools.BoardSummary(board), board))
		res.Meta = mcp.NewMetaFromMap(tools.WidgetResultMeta(true, true))
		return res, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s, server.WithStateLess(true), server.WithDisableStreaming(true)))
	addReadyz(mux)
	return mux
}

// ShortBoardSentinel is the board_id for which the mcp-go floor answers
// the short-card board: the floor has no boards, so the ID chooses. It has
// the form and length of a real board ID (store.NewID), so that the
// floor's request is the server's with only the ID's value changed.
const ShortBoardSentinel = "b_shortshortshortshort"

// addReadyz answers /readyz as the server does, so that every child's
// start-to-ready is measured alike.
func addReadyz(mux *http.ServeMux) {
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ready":true}`)
	})
}

// BoardColumns are the columns of the benchmark board: create_board's
// defaults.
func BoardColumns() []string { return []string{"To do", "Doing", "Done"} }

// BoardCardCount is how many cards the get_board scenarios read.
const BoardCardCount = 50

// CardSpec is one card of the benchmark board.
type CardSpec struct {
	Column      int // index into BoardColumns
	Title       string
	Description string
	Labels      []string
}

// FixtureCards are the benchmark board's cards, spread over its columns in
// turn, with titles, descriptions and labels of a realistic size. The
// server's board is filled with them and the mcpgo baseline returns them,
// so both answers are as long.
func FixtureCards() []CardSpec {
	labelSets := [][]string{{"bug"}, {"feature", "ui"}, {}, {"ops", "backend", "p1"}}
	cards := make([]CardSpec, BoardCardCount)
	for i := range cards {
		cards[i] = CardSpec{
			Column:      i % len(BoardColumns()),
			Title:       fmt.Sprintf("Card %02d: make the benchmark board look like a real one", i+1),
			Description: fmt.Sprintf("Task %d. Steps: reproduce, write a failing test, fix it, and note what changed for the people who review it.", i+1),
			Labels:      labelSets[i%len(labelSets)],
		}
	}
	return cards
}

// FullBoardCardCount is how many cards the full_board scenario's board
// holds: the default quota, the most a board has unless the operator
// raises it.
var FullBoardCardCount = store.DefaultQuotas().CardsPerBoard

// FullBoardDescription is card n's description on the full board: the
// longest allowed, in words.
func FullBoardDescription(n int) string {
	head := fmt.Sprintf("Card %d of the full board. ", n)
	words := strings.Repeat("A long description, as long as a description may be. ", store.MaxDescriptionLen/53+1)
	return head + words[:store.MaxDescriptionLen-len(head)]
}

// FullBoardCards are the full board's cards: FullBoardCardCount of them,
// each with the longest description allowed.
func FullBoardCards() []CardSpec {
	cards := make([]CardSpec, FullBoardCardCount)
	for i := range cards {
		cards[i] = CardSpec{
			Column:      i % len(BoardColumns()),
			Title:       fmt.Sprintf("Full board card %04d", i+1),
			Description: FullBoardDescription(i + 1),
			Labels:      []string{"full"},
		}
	}
	return cards
}

// The titles of the boards get_board and get_board_short read, on the
// server and in the mcp-go floor alike, since the text names them.
const (
	BoardTitle      = "Benchmark board"
	ShortBoardTitle = "Short-card benchmark board"
)

// ShortFixtureCards are the short-card board's cards: as many as
// FixtureCards, in the same columns, titled "Card 01"… with no
// description and no labels (an empty list, as the server shows one), so
// that get_board_short measures what a board costs when its answer is
// small, and the floor's encoding matters less.
func ShortFixtureCards() []CardSpec {
	cards := make([]CardSpec, BoardCardCount)
	for i := range cards {
		cards[i] = CardSpec{Column: i % len(BoardColumns()), Title: fmt.Sprintf("Card %02d", i+1), Labels: []string{}}
	}
	return cards
}

// FixtureBoard is the benchmark board with FixtureCards, as get_board
// shows it (its structured content type), with IDs of the server's form.
func FixtureBoard(updated time.Time) tools.BoardOutput {
	return fixtureBoard(BoardTitle, FixtureCards(), updated)
}

// ShortFixtureBoard is the short-card board with ShortFixtureCards, as
// FixtureBoard is the benchmark board.
func ShortFixtureBoard(updated time.Time) tools.BoardOutput {
	return fixtureBoard(ShortBoardTitle, ShortFixtureCards(), updated)
}

// fixtureBoard is a private board of its owner, made by create_board with
// BoardColumns and filled with cards by add_card: each card at version 1,
// and the board too, since a card's changes bump the card's version, not
// the board's.
func fixtureBoard(title string, cards []CardSpec, updated time.Time) tools.BoardOutput {
	b := tools.BoardOutput{
		ID:         store.NewID(store.BoardPrefix),
		Title:      title,
		Visibility: "private",
		Owned:      true,
		Version:    1,
		CardCount:  len(cards),
		UpdatedAt:  updated.UTC().Format(time.RFC3339),
	}
	for _, name := range BoardColumns() {
		b.Columns = append(b.Columns, tools.ColumnOutput{ID: store.NewID(store.ColumnPrefix), Name: name, Cards: []tools.CardSummaryOutput{}})
	}
	for _, spec := range cards {
		col := &b.Columns[spec.Column]
		col.Cards = append(col.Cards, tools.CardSummaryOutput{
			ID:          store.NewID(store.CardPrefix),
			Title:       spec.Title,
			Description: spec.Description,
			Labels:      spec.Labels,
			Position:    len(col.Cards),
			Version:     1,
		})
		col.CardCount++
	}
	return b
}
