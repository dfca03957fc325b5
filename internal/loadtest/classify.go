package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Outcome is the verdict on one answer.
type Outcome struct {
	// Err says the request failed: a transport error, a status other than
	// 200, a JSON-RPC error, or a tool result with isError true.
	Err bool
	// Busy says the failure mentions SQLITE_BUSY or "database is locked":
	// SQLite turned a writer away, which the server must never let happen.
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
		return failure(transportErr.Error())
	}
	if status != http.StatusOK {
		o := failure(fmt.Sprintf("HTTP %d: %s", status, clip(body)))
		o.Busy = MentionsBusy(string(body)) // also past the clipped part
		return o
	}
	payload := body
	if t := bytes.TrimSpace(body); bytes.HasPrefix(t, []byte("event:")) || bytes.HasPrefix(t, []byte("data:")) {
		payload = lastSSEData(t)
	}
	var a rpcAnswer
	if err := json.Unmarshal(payload, &a); err != nil {
		return failure(fmt.Sprintf("the answer is not JSON-RPC (%v): %s", err, clip(body)))
	}
	switch {
	case a.Error != nil:
		return failure(fmt.Sprintf("JSON-RPC error %d: %s", a.Error.Code, a.Error.Message))
	case a.Result == nil:
		return failure("JSON-RPC answer without result or error: " + clip(body))
	case a.Result.IsError:
		var texts []string
		for _, c := range a.Result.Content {
			texts = append(texts, c.Text)
		}
		return failure("tool error: " + strings.Join(texts, " "))
	}
	return Outcome{}
}

// failure is a failed Outcome; Busy is judged on the whole message, before
// it is clipped for the report.
func failure(msg string) Outcome {
	return Outcome{Err: true, Busy: MentionsBusy(msg), Message: clipString(msg)}
}

// MentionsBusy reports whether text names SQLite's busy error, in the
// words of SQLite ("database is locked") or of its result code.
func MentionsBusy(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "sqlite_busy") || strings.Contains(t, "database is locked")
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
