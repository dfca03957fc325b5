package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// listAnswers are the tools/list answers, encoded once per protocol
// version: the list is the same for every caller and changes only with a
// new build, so encoding it per request (mcp-go's dispatch, twelve
// descriptors with their schemas, and the securitySchemes rewrite) was
// work thrown away. The bytes are mcp-go's own answer, rewritten once:
// they are made at start-up by sending mcp-go a tools/list for each
// version, so that whatever mcp-go puts in them, the fast answer holds
// too. Only the request's id differs between answers.
type listAnswers struct {
	byVersion map[string]listAnswer // Mcp-Protocol-Version ("" when absent) → answer
}

// listAnswer is one version's answer around the request's id.
type listAnswer struct {
	header         http.Header
	status         int
	prefix, suffix []byte // the answer is prefix + id + suffix
}

// encodeListAnswers asks s for tools/list under every protocol version
// that goes mcp-go's way for such a request (no header, or a version
// before 2026-07-28, whose requests mcp-go checks further and answers on
// its path) and keeps the answers that have the expected shape.
func (e *mcpEndpoint) encodeListAnswers(s *server.StreamableHTTPServer) (*listAnswers, error) {
	a := &listAnswers{byVersion: map[string]listAnswer{}}
	versions := []string{""}
	for _, v := range mcp.ValidProtocolVersions {
		if !mcp.IsModernProtocol(v) {
			versions = append(versions, v)
		}
	}
	// A probe id that the answer cannot hold anywhere else.
	const probeID = 987654321
	for _, v := range versions {
		header := http.Header{"Content-Type": {"application/json"}}
		if v != "" {
			header.Set(mcp.HeaderProtocolVersion, v)
		}
		buf := &bufferedResponse{header: make(http.Header)}
		s.Handle(buf, &server.HTTPRequest{
			Method: http.MethodPost, URL: &url.URL{Path: "/mcp"}, Header: header,
			Body: []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, probeID)),
		})
		if buf.status() != http.StatusOK {
			return nil, fmt.Errorf("httpapi: tools/list under protocol version %q answered %d: %s", v, buf.status(), buf.body.Bytes())
		}
		out := e.addSecuritySchemes(buf.body.Bytes())
		prefix := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,`, probeID))
		if !bytes.HasPrefix(out, prefix) || bytes.Count(out, []byte(fmt.Sprint(probeID))) != 1 {
			return nil, fmt.Errorf("httpapi: tools/list under protocol version %q has an unexpected shape: %.200s", v, out)
		}
		buf.header.Del("Content-Length")
		idAt := len(`{"jsonrpc":"2.0","id":`)
		a.byVersion[v] = listAnswer{
			header: buf.header,
			status: buf.status(),
			prefix: bytes.Clone(out[:idAt]),
			suffix: bytes.Clone(out[idAt+len(fmt.Sprint(probeID)):]),
		}
	}
	return a, nil
}

// answer is the answer to a tools/list request whose envelope is env
// (parsed without error), or ok false when the request must go mcp-go's
// way: anything but a plain request (a cursor, a _meta, a batch, no id),
// a content type mcp-go refuses, a protocol version it checks further or
// refuses. What mcp-go does for those is not repeated here.
//
// The answer is ans's prefix, then id, then ans's suffix, written as they
// are: the list's bytes are never copied per request.
func (a *listAnswers) answer(r *http.Request, env *rpcEnvelope) (ans listAnswer, id []byte, ok bool) {
	if a == nil || env.JSONRPC != mcp.JSONRPC_VERSION || len(env.ID) == 0 || bytes.Equal(env.ID, []byte("null")) ||
		env.Params.Cursor != nil || env.Params.Meta != nil ||
		// mcp-go takes a message with a result for an answer, and answers
		// it with nothing.
		(len(env.Result) != 0 && !bytes.Equal(env.Result, []byte("null"))) {
		return listAnswer{}, nil, false
	}
	ans, found := a.byVersion[r.Header.Get(mcp.HeaderProtocolVersion)]
	if !found {
		return listAnswer{}, nil, false
	}
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		return listAnswer{}, nil, false
	}
	// The id as mcp-go writes it back: decoded into an any, as mcp-go
	// does, and encoded again (so 1.0 becomes 1, -0 stays -0, and a
	// string's escapes are Go's). Ids of other types are mcp-go's to judge.
	var requestID any
	if json.Unmarshal(env.ID, &requestID) != nil {
		return listAnswer{}, nil, false
	}
	switch requestID.(type) {
	case string, float64:
	default:
		return listAnswer{}, nil, false
	}
	id, err := json.Marshal(requestID)
	if err != nil {
		return listAnswer{}, nil, false
	}
	return ans, id, true
}

// write sends the answer with id.
func (ans listAnswer) write(w http.ResponseWriter, id []byte) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	for k, v := range ans.header {
		// Shared by every answer: capped so that nothing appends into it.
		w.Header()[k] = v[:len(v):len(v)]
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.prefix)
	_, _ = w.Write(id)
	_, _ = w.Write(ans.suffix)
}
