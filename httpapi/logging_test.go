package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAccessLogKeepsTheConnectionReachable: a handler behind the access
// log can still set its connection's write deadline through
// http.ResponseController, as large answers do; when the log's writer hid
// the connection, the 20 s deadline of a large answer silently became the
// server's 60 s WriteTimeout.
func TestAccessLogKeepsTheConnectionReachable(t *testing.T) {
	got := make(chan error, 1)
	h := accessLog(slog.New(slog.DiscardHandler), "", nil, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-got; err != nil {
		t.Fatalf("setting the write deadline behind the access log: %v", err)
	}
}
