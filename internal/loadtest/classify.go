package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ErrorKind says how a request failed, for the report's count of errors
// by kind.
type ErrorKind string

const (
	// ErrTransport: no HTTP answer (connection refused or reset, timeout).
	ErrTransport ErrorKind = "transport"
	// ErrUnavailable: HTTP 503, what the server answers when it cannot
	// reach its database; counted apart from other statuses because a
	// replica on PostgreSQL must not answer it under load alone.
	ErrUnavailable ErrorKind = "http_503"
	// ErrStatus: any other status than 200 and 503.
	ErrStatus ErrorKind = "http_status"
	// ErrMalformed: 200 with a body that is not a JSON-RPC answer.
	ErrMalformed ErrorKind = "malformed"
	// ErrRPC: a JSON-RPC error (an internal error is -32603).
	ErrRPC ErrorKind = "jsonrpc"
	// ErrTool: a tool result with isError true.
	ErrTool ErrorKind = "tool"
)

// Outcome is the verdict on one answer.
type Outcome struct {
	// Err says the request failed: a transport error, a status other than
	// 200, a JSON-RPC error, or a tool result with isError true.
	Err bool
	// Kind says which of those it was; empty on success.
	Kind ErrorKind
	// Busy says the failure mentions that the database turned a
	// transaction away (see MentionsBusy), which the server must never let
	// reach a client.
	Busy bool
	// Message says what went wrong, for the report; empty on success.
	Message string
}

// rpcAnswer is the part of a JSON-RPC response that decides its outcome.
type rpcAnswer struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result *struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
}

// maxMessage bounds the text an Outcome keeps of a body.
const maxMessage = 300

// Classify judges one answer: the transport error of the round trip (nil
// if it completed), else the HTTP status and the whole body. A body sent as
// Server-Sent Events is judged by its last data line, the response.
func Classify(transportErr error, status int, body []byte) Outcome {
	if transportErr != nil {
		return failure(ErrTransport, transportErr.Error())
	}
	if status != http.StatusOK {
		kind := ErrStatus
		if status == http.StatusServiceUnavailable {
			kind = ErrUnavailable
		}
		o := failure(kind, fmt.Sprintf("HTTP %d: %s", status, clip(body)))
		o.Busy = MentionsBusy(string(body)) // also past the clipped part
		return o
	}
	payload := body
	if t := bytes.TrimSpace(body); bytes.HasPrefix(t, []byte("event:")) || bytes.HasPrefix(t, []byte("data:")) {
		payload = lastSSEData(t)
	}
	var a rpcAnswer
	if err := json.Unmarshal(payload, &a); err != nil {
		return failure(ErrMalformed, fmt.Sprintf("the answer is not JSON-RPC (%v): %s", err, clip(body)))
	}
	switch {
	case a.Error != nil:
		return failure(ErrRPC, fmt.Sprintf("JSON-RPC error %d: %s", a.Error.Code, a.Error.Message))
	case a.Result == nil:
		return failure(ErrMalformed, "JSON-RPC answer without result or error: "+clip(body))
	case a.Result.IsError:
		var texts []string
		for _, c := range a.Result.Content {
			texts = append(texts, c.Text)
		}
		return failure(ErrTool, "tool error: "+strings.Join(texts, " "))
	}
	return Outcome{}
}

// failure is a failed Outcome; Busy is judged on the whole message, before
// it is clipped for the report.
func failure(kind ErrorKind, msg string) Outcome {
	return Outcome{Err: true, Kind: kind, Busy: MentionsBusy(msg), Message: clipString(msg)}
}

// MentionsBusy reports whether text names an error in which a database
// turns a transaction away under contention: SQLite's busy error
// ("database is locked", SQLITE_BUSY), or PostgreSQL's serialization
// failure or deadlock (SQLSTATE 40001 and 40P01, in PostgreSQL's words or
// as pgx ends its errors), which the server retries and must never let
// through to a client or its log.
func MentionsBusy(text string) bool {
	t := strings.ToLower(text)
	for _, w := range []string{
		"sqlite_busy", "database is locked",
		"could not serialize access", "(sqlstate 40001)",
		"deadlock detected", "(sqlstate 40p01)",
	} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// lastSSEData returns the data of the last event of an SSE stream.
func lastSSEData(stream []byte) []byte {
	var last []byte
	for line := range bytes.Lines(stream) {
		if d, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data:")); ok {
			last = bytes.TrimSpace(d)
		}
	}
	return last
}

func clip(b []byte) string { return clipString(string(bytes.TrimSpace(b))) }

// clipString keeps the first maxMessage bytes of s, never half a rune.
func clipString(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return strings.ToValidUTF8(s[:maxMessage], "") + "…"
}
