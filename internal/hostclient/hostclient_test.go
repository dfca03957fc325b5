package hostclient

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestClassify: real user agents, as each client sent them (captured on a
// loopback listener where this machine can run the client; quoted from
// the hosts' traffic otherwise), and what each is answered. The MCP
// Inspector's rows were recorded on 2026-12-03 with the npm packages named,
// under Node 22.23.5; its web UI in 1.0.3's direct mode ran in Debian's
// headless Chromium 156, whose Origin is the UI's own, on its default port.
func TestClassify(t *testing.T) {
	c, err := NewClassifier(DefaultInBandUserAgents())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, userAgent string
		origin          string // the Origin header, when the client sent one
		want            Client
	}{
		{"ChatGPT's connector", "openai-mcp/1.0.0", "", Client{Family: ChatGPT, InBand: true}},
		{"Codex, an OpenAI spec client", "openai-mcp/1.0.0 (Codex)", "", Client{Family: Other}},
		{"Claude", "Claude-User", "", Client{Family: Claude}},
		{"Claude with a comment", "Claude-User (claude.ai; +https://support.anthropic.com/)", "", Client{Family: Claude}},
		{"TypeScript SDK 1.32.2 on Node's fetch", "node", "", Client{Family: SDK}},
		{"MCP Inspector CLI 0.15.0", "node", "", Client{Family: SDK}},
		{"MCP Inspector CLI 2.12.0", "node", "", Client{Family: SDK}},
		{"MCP Inspector 2.12.0 web UI (its server on :6274 connects)", "node", "", Client{Family: SDK}},
		{"MCP Inspector CLI 1.0.3", "node", "", Client{Family: SDK}},
		{"MCP Inspector 1.0.3 web UI through its proxy (:6277, node-fetch)", "node-fetch", "", Client{Family: Other}},
		{"MCP Inspector 1.0.3 web UI, direct, in Chromium", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
			"http://localhost:6274", Client{Family: Other}},
		{"Go SDK and mcp-go (net/http's default)", "Go-http-client/1.1", "", Client{Family: SDK}},
		{"Python SDK (httpx)", "python-httpx/0.28.1", "", Client{Family: SDK}},
		{"curl", "curl/8.5.0", "", Client{Family: Other}},
		{"a browser", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36", "", Client{Family: Other}},
		{"no user agent", "", "", Client{Family: Other}},
		{"ChatGPT's prefix inside another", "x-openai-mcp/1.0.0", "", Client{Family: Other}},
		{"a version that is not one", "openai-mcp/latest", "", Client{Family: Other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.userAgent != "" {
				h.Set("User-Agent", tt.userAgent)
			}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if diff := cmp.Diff(tt.want, c.Classify(h)); diff != "" {
				t.Errorf("Classify(User-Agent %q, Origin %q) (-want +got):\n%s", tt.userAgent, tt.origin, diff)
			}
		})
	}
}

// TestClassifierOverride: INBAND_CHALLENGE_USER_AGENTS replaces the list;
// an entry must match the whole user agent, and an invalid one is refused.
func TestClassifierOverride(t *testing.T) {
	c, err := NewClassifier([]string{`openai-mcp/.*`, `acme-agent/2`})
	if err != nil {
		t.Fatal(err)
	}
	for ua, want := range map[string]bool{
		"openai-mcp/1.0.0 (Codex)": true,
		"acme-agent/2":             true,
		"acme-agent/2.1":           false,
		"Claude-User":              false,
	} {
		h := http.Header{"User-Agent": {ua}}
		if got := c.Classify(h).InBand; got != want {
			t.Errorf("InBand(%q) = %v, want %v", ua, got, want)
		}
	}
	if none, _ := NewClassifier(nil); none.Classify(http.Header{"User-Agent": {"openai-mcp/1.0.0"}}).InBand {
		t.Errorf("an empty list answers ChatGPT in-band")
	}
	if _, err := NewClassifier([]string{"openai-mcp/("}); err == nil {
		t.Errorf("an invalid expression was accepted")
	}
}
