package loadtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
		want   Outcome // Message is compared by substring
	}{
		{name: "tool result", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Board 'X'."}],"structuredContent":{"id":"b_1"}}}`,
			want: Outcome{}},
		{name: "tools/list result", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`,
			want: Outcome{}},
		{name: "result over SSE", status: 200,
			body: "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
			want: Outcome{}},
		{name: "error over SSE", status: 200,
			body: "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":\"boom\"}}\r\n\r\n",
			want: Outcome{Err: true, Kind: ErrRPC, Message: "JSON-RPC error -32603: boom"}},
		{name: "transport error", err: errors.New(`Post "http://127.0.0.1:1/mcp": connection refused`),
			want: Outcome{Err: true, Kind: ErrTransport, Message: "connection refused"}},
		{name: "HTTP 401", status: 401, body: `{"error":"invalid_token"}`,
			want: Outcome{Err: true, Kind: ErrStatus, Message: "HTTP 401: {\"error\":\"invalid_token\"}"}},
		{name: "HTTP 500 busy", status: 500, body: "database is locked (5) (SQLITE_BUSY)",
			want: Outcome{Err: true, Kind: ErrStatus, Busy: true, Message: "HTTP 500"}},
		{name: "JSON-RPC error", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error: try again later"}}`,
			want: Outcome{Err: true, Kind: ErrRPC, Message: "JSON-RPC error -32603: internal error"}},
		{name: "JSON-RPC error naming SQLITE_BUSY", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"add card: database is locked (5) (SQLITE_BUSY)"}}`,
			want: Outcome{Err: true, Kind: ErrRPC, Busy: true, Message: "database is locked"}},
		{name: "isError result", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"Sign in to use add_card."}]}}`,
			want: Outcome{Err: true, Kind: ErrTool, Message: "tool error: Sign in to use add_card."}},
		{name: "isError result mentioning a locked database", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"Database is locked."}]}}`,
			want: Outcome{Err: true, Kind: ErrTool, Busy: true, Message: "Database is locked"}},
		{name: "isError false", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"result":{"isError":false,"content":[]}}`,
			want: Outcome{}},
		{name: "neither result nor error", status: 200, body: `{"jsonrpc":"2.0","id":1}`,
			want: Outcome{Err: true, Kind: ErrMalformed, Message: "without result or error"}},
		{name: "not JSON", status: 200, body: `<html>proxy error</html>`,
			want: Outcome{Err: true, Kind: ErrMalformed, Message: "not JSON-RPC"}},
		{name: "empty body", status: 200, body: "",
			want: Outcome{Err: true, Kind: ErrMalformed, Message: "not JSON-RPC"}},
		{name: "HTTP 503", status: 503, body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"database unavailable"}}`,
			want: Outcome{Err: true, Kind: ErrUnavailable, Message: "HTTP 503"}},
		{name: "JSON-RPC error naming a serialization failure", status: 200,
			body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"add card: ERROR: could not serialize access due to concurrent update (SQLSTATE 40001)"}}`,
			want: Outcome{Err: true, Kind: ErrRPC, Busy: true, Message: "could not serialize"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err, tt.status, []byte(tt.body))
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Outcome{}, "Message")); diff != "" {
				t.Errorf("Classify (-want +got):\n%s", diff)
			}
			if !strings.Contains(got.Message, tt.want.Message) {
				t.Errorf("Message = %q, want it to contain %q", got.Message, tt.want.Message)
			}
			if !got.Err && got.Message != "" {
				t.Errorf("a success carries the message %q", got.Message)
			}
		})
	}
}

// A busy error far into a long body is still found, though the message
// keeps only the body's start.
func TestClassifyBusyBeyondTheClippedMessage(t *testing.T) {
	body := strings.Repeat("x", 2*maxMessage) + " SQLITE_BUSY"
	got := Classify(nil, 503, []byte(body))
	if !got.Err || !got.Busy || got.Kind != ErrUnavailable {
		t.Errorf("Classify = %+v, want a busy error answered with 503", got)
	}
	if len(got.Message) > maxMessage+len("HTTP 503: ")+len("…") {
		t.Errorf("message of %d bytes is not clipped", len(got.Message))
	}
}

func TestMentionsBusy(t *testing.T) {
	for text, want := range map[string]bool{
		"database is locked (5) (SQLITE_BUSY)":         true,
		"sqlite_busy":                                  true,
		`{"level":"ERROR","err":"Database is locked"}`: true,
		"database table is locked":                     false, // SQLITE_LOCKED, a different error
		`{"level":"ERROR","err":"ERROR: could not serialize access due to read/write dependencies among transactions (SQLSTATE 40001)"}`: true,
		"ERROR: deadlock detected (SQLSTATE 40P01)":   true,
		"tx failed (SQLSTATE 40001)":                  true,
		"ERROR: duplicate key value (SQLSTATE 23505)": false,
		"serializable": false,
		"busy":         false,
		"":             false,
	} {
		if got := MentionsBusy(text); got != want {
			t.Errorf("MentionsBusy(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestLogWatchCountsBusyLines(t *testing.T) {
	var l logWatch
	// Lines arrive in pieces, as a pipe delivers them.
	for _, chunk := range []string{
		`{"level":"ERROR","msg":"tool failed","err":"database is lo`,
		"cked (5) (SQLITE_BUSY)\"}\n{\"level\":\"WARN\",\"msg\":\"slow\"}\n",
		`{"level":"ERROR","msg":"audit batch failed","err":"SQLITE_BUSY"}` + "\n",
		`{"level":"ERROR","msg":"unfinished`,
	} {
		if _, err := l.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.busy.Load(); got != 2 {
		t.Errorf("busy lines = %d, want 2", got)
	}
	tail := l.tail()
	for _, want := range []string{"tool failed", "slow", "audit batch failed", "unfinished"} {
		if !strings.Contains(tail, want) {
			t.Errorf("tail lacks %q:\n%s", want, tail)
		}
	}
}
