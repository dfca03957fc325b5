package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
)

// requestInfo is what inner handlers learn about a request and the access
// log reports. It never holds tokens or arguments.
type requestInfo struct {
	rpcMethod    string
	tool         string
	clientID     string
	clientFamily string // hostclient.Family: one of a fixed few words
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection underneath,
// for the write deadline of large answers: without it, setting the
// deadline fails and the answer is held for the whole WriteTimeout.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// maxLoggedPath is how much of a request's path the access log writes:
// every path this server serves is shorter, and a client's 60 KB path
// must not make a 120 KB log line.
const maxLoggedPath = 256

// accessLog writes one line per request, and turns a panic into a 500 so
// one bad request cannot take the server down. It logs the path without the
// query string, and no header values: tokens must never reach a log.
func accessLog(log *slog.Logger, proxyHeader string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		ip := clientip.From(r, proxyHeader)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				log.ErrorContext(r.Context(), "panic serving request", "path", capLen(r.URL.Path, maxLoggedPath), "panic", v)
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			attrs := []slog.Attr{
				slog.String("method", capLen(r.Method, 16)), // any token is a method to net/http
				slog.String("path", capLen(r.URL.Path, maxLoggedPath)),
				slog.Int("status", rec.status),
				slog.Duration("duration", time.Since(start)),
				slog.String("client_ip", ip),
			}
			if info.rpcMethod != "" {
				attrs = append(attrs, slog.String("rpc_method", info.rpcMethod))
			}
			if info.tool != "" {
				attrs = append(attrs, slog.String("tool", info.tool))
			}
			if info.clientID != "" {
				attrs = append(attrs, slog.String("client_id", info.clientID))
			}
			if info.clientFamily != "" {
				attrs = append(attrs, slog.String("client", info.clientFamily))
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		// The address travels in the context too: the tools' audit limits
		// the rows of callers without a valid token per address.
		ctx := clientip.NewContext(context.WithValue(r.Context(), requestInfoKey{}, info), ip)
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}
