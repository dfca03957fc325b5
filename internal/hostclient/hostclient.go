// Package hostclient tells MCP clients apart by the headers of each
// request, because hosts react to a missing token differently: ChatGPT
// offers to connect only when the challenge rides in the tool result
// (_meta["mcp/www_authenticate"]), while Claude, the MCP Inspector and the
// SDK clients react only to HTTP 401 and 403 with WWW-Authenticate. The
// server is stateless, so the answer is decided per request, from its
// headers alone; Classify is the one place that does it.
package hostclient

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Family is the kind of client a request comes from. The set is small and
// fixed, so that the access log and whoami never repeat what a client
// wrote.
//
// The MCP Inspector has no family of its own, because no header of its
// requests names it reliably (recorded on loopback, 2026-12-03): the
// Inspector npm serves as latest, 2.12.0, sends the TypeScript SDK's
// "node" and no Origin from its CLI and from its web UI alike (the UI's
// own server on :6274 makes the requests, the browser never does), as the
// CLI 1.0.3 and 0.15.0 did; the deprecated 1.x web UI sends "node-fetch"
// through its proxy (:6277), a library's default that many programs share,
// and only in its opt-in direct mode a browser's agent with Origin
// http://localhost:6274, which moves with CLIENT_PORT. Its name is in the
// initialize body alone (clientInfo "inspector-cli"), and classification
// reads each request's headers. The Inspector reacts to HTTP challenges
// like the SDK, which is what "node" and every unknown client get.
type Family string

// The families.
const (
	ChatGPT Family = "chatgpt"
	Claude  Family = "claude"
	SDK     Family = "sdk"
	Other   Family = "other"
)

// Families lists every family, for metrics that show each from the start.
func Families() []Family { return []Family{ChatGPT, Claude, SDK, Other} }

// Client is what one request's headers say about its client.
type Client struct {
	Family Family
	// InBand: the client acts on a challenge in the tool result and not on
	// HTTP 401/403, so a refused call is answered in-band.
	InBand bool
}

// DefaultInBandUserAgents are the user agents answered in-band: ChatGPT's
// connector, which sends exactly "openai-mcp/<version>". Other OpenAI
// clients add a suffix ("openai-mcp/1.0.0 (Codex)"). Codex is a spec client:
// its MCP client starts its OAuth flow on HTTP 401 ("Auth required",
// `codex mcp login`; openai/codex#4707, #5193), and some versions send no
// user agent at all (openai/codex#12859), so it gets HTTP challenges like
// the others.
func DefaultInBandUserAgents() []string { return []string{`openai-mcp/[0-9]+(\.[0-9]+)*`} }

// Classifier classifies requests; it is safe for concurrent use.
type Classifier struct {
	inBand []*regexp.Regexp
}

// NewClassifier returns a classifier that answers in-band the user agents
// that match one of inBandUserAgents entirely (regular expressions, as
// INBAND_CHALLENGE_USER_AGENTS lists them).
func NewClassifier(inBandUserAgents []string) (*Classifier, error) {
	c := &Classifier{}
	for _, p := range inBandUserAgents {
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%q is not a regular expression: %w", p, err)
		}
		c.inBand = append(c.inBand, re)
	}
	return c, nil
}

// Classify reads the client from a request's headers. The family comes
// from the user agent's known shapes; what is not recognised is Other, and
// gets the HTTP challenges of the specification.
func (c *Classifier) Classify(h http.Header) Client {
	ua := h.Get("User-Agent")
	cl := Client{Family: familyOf(ua)}
	for _, re := range c.inBand {
		if re.MatchString(ua) {
			cl.InBand = true
			break
		}
	}
	return cl
}

// chatGPTUserAgent is ChatGPT's connector exactly, without another OpenAI
// client's suffix.
var chatGPTUserAgent = regexp.MustCompile(`^openai-mcp/[0-9]+(\.[0-9]+)*$`)

// familyOf names the family of a user agent.
func familyOf(ua string) Family {
	lower := strings.ToLower(ua)
	switch {
	case chatGPTUserAgent.MatchString(ua):
		return ChatGPT
	case strings.HasPrefix(ua, "Claude-User"):
		return Claude
	case ua == "node" || // the TypeScript SDK on Node's fetch, and the Inspector (see Family)
		strings.HasPrefix(ua, "Go-http-client/") || // the Go SDK, mcp-go
		strings.HasPrefix(lower, "python-httpx/") || // the Python SDK
		strings.HasPrefix(lower, "mcp-go/"):
		return SDK
	}
	return Other
}

type contextKey struct{}

// NewContext returns ctx carrying the request's client.
func NewContext(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// FromContext returns the client that NewContext stored; ok is false when
// the call did not come through the HTTP layer.
func FromContext(ctx context.Context) (c Client, ok bool) {
	c, ok = ctx.Value(contextKey{}).(Client)
	return c, ok
}
