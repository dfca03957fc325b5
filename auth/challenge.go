package auth

import (
	"encoding/json"
	"net/http"
	"strings"
)

// OAuth error codes used in challenges (RFC 6750 §3.1).
const (
	ErrInvalidRequest    = "invalid_request"
	ErrInvalidToken      = "invalid_token"
	ErrInsufficientScope = "insufficient_scope"
)

// Challenge is one RFC 6750 Bearer challenge, as sent in WWW-Authenticate
// and in ChatGPT's _meta["mcp/www_authenticate"].
type Challenge struct {
	ResourceMetadata string // URL of the protected-resource metadata
	Scope            Scopes // what the operation needs; empty to omit
	Error            string // an Err* code; empty for "no token was sent"
	Description      string // a human sentence; sent only together with Error
}

// String renders the challenge with every value double-quoted and escaped
// and the parameters comma-separated, e.g.
//
//	Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="kanban.write", error="insufficient_scope", error_description="…"
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString("Bearer ")
	first := true
	param := func(name, value string) {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(quoteValue(value))
		b.WriteByte('"')
	}
	if c.ResourceMetadata != "" {
		param("resource_metadata", c.ResourceMetadata)
	}
	if len(c.Scope) > 0 {
		param("scope", strings.Join(c.Scope, " "))
	}
	if c.Error != "" {
		param("error", c.Error)
		if c.Description != "" {
			param("error_description", c.Description)
		}
	}
	return b.String()
}

// quoteValue escapes a value for an RFC 7230 quoted-string. Characters that
// RFC 6750 does not allow in error_description (controls and non-ASCII) are
// replaced, so that no header can be split or garbled.
func quoteValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// WriteHTTP answers a request with status, the challenge in
// WWW-Authenticate and, when the challenge has an error code, an OAuth error
// JSON body (RFC 6750 §3, RFC 6749 §5.2).
func (c Challenge) WriteHTTP(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("WWW-Authenticate", c.String())
	h.Set("Cache-Control", "no-store")
	if c.Error == "" {
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{c.Error, c.Description})
}

// ChallengeMode says how a tool call without the needed token or scope is
// answered.
type ChallengeMode string

// The challenge modes.
const (
	// ChallengeToolResult answers HTTP 200 with an isError result carrying
	// _meta["mcp/www_authenticate"]: what ChatGPT needs to show its connect
	// and re-link UI.
	ChallengeToolResult ChallengeMode = "tool-result"
	// ChallengeHTTP answers HTTP 401 (no token) or 403 (missing scope) with
	// WWW-Authenticate: what spec clients (Claude, the MCP Inspector, the SDK
	// clients) react to.
	ChallengeHTTP ChallengeMode = "http"
	// ChallengeAuto picks one of the two for each request, by its client
	// (internal/hostclient): in-band for ChatGPT, HTTP for everyone else.
	ChallengeAuto ChallengeMode = "auto"
)
