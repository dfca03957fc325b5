package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/httpapi"
)

// TestAppDirectoryReadiness: what an app directory (ChatGPT's) asks of a
// server, from configuration: the widget's dedicated origin in both hosts'
// keys, OpenAI's domain-verification file, the privacy policy and terms
// linked from the sign-in page and the home page, and a title, a website
// and an icon in serverInfo. Without the settings, the built-in legal pages
// are served and linked instead, and there is no verification file.
func TestAppDirectoryReadiness(t *testing.T) {
	t.Parallel()
	const (
		domain    = "https://kanban-widget.example.com"
		challenge = "oai-verification-5f2c1a"
		privacy   = "https://example.com/legal/privacy"
		terms     = "https://example.com/legal/terms"
	)
	configured := startServer(t, map[string]string{"OAUTH_ISSUER": "", "WIDGET_DOMAIN": domain,
		"OPENAI_APPS_CHALLENGE": challenge, "PRIVACY_POLICY_URL": privacy, "TERMS_URL": terms})
	plain := startServer(t, map[string]string{"OAUTH_ISSUER": ""})

	for _, tt := range []struct {
		name                 string
		srv                  *testServer
		domain, challenge    string
		privacyURL, termsURL string
	}{
		{"configured", configured, domain, challenge, privacy, terms},
		{"defaults", plain, "", "", plain.URL + httpapi.PathPrivacy, plain.URL + httpapi.PathTerms},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.srv
			// serverInfo: title, website, icon; the icon is served.
			res := rpcResult(t, srv.rpc(t, "", "initialize", map[string]any{
				"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
				"clientInfo": map[string]any{"name": "e2e-directory", "version": "1"},
			}), "initialize")
			info, _ := res["serverInfo"].(map[string]any)
			icons, _ := info["icons"].([]any)
			got := map[string]any{"title": info["title"], "websiteUrl": info["websiteUrl"], "icons": icons}
			want := map[string]any{"title": httpapi.Title, "websiteUrl": srv.URL + "/",
				"icons": []any{map[string]any{"src": srv.URL + httpapi.PathIcon, "mimeType": "image/svg+xml", "sizes": []any{"any"}}}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("serverInfo (-want +got):\n%s", diff)
			}
			// Every tool shows the same icon.
			_, descriptors := listTools(t, srv)
			for name, raw := range descriptors {
				var d struct {
					Icons []any `json:"icons"`
				}
				if err := json.Unmarshal(raw, &d); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want["icons"], d.Icons); diff != "" {
					t.Errorf("%s's icons (-want +got):\n%s", name, diff)
				}
			}
			icon := rawRequest(t, http.MethodGet, srv.URL+httpapi.PathIcon, "", nil, nil)
			if icon.Status != http.StatusOK || icon.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(string(icon.Body), "<svg") {
				t.Errorf("GET %s: %d %q", httpapi.PathIcon, icon.Status, icon.Header.Get("Content-Type"))
			}

			// The widget's dedicated origin, in both keys, or neither.
			r := srv.rpc(t, "", "resources/read", map[string]any{"uri": widgetURI})
			var msg struct {
				Result struct {
					Contents []struct {
						Meta map[string]any `json:"_meta"`
					} `json:"contents"`
				} `json:"result"`
			}
			if err := json.Unmarshal(r.Body, &msg); err != nil || len(msg.Result.Contents) != 1 {
				t.Fatalf("resources/read: %v: %s", err, r.Body)
			}
			meta := msg.Result.Contents[0].Meta
			ui, _ := meta["ui"].(map[string]any)
			gotDomain := map[string]any{"ui.domain": ui["domain"], "openai/widgetDomain": meta["openai/widgetDomain"]}
			wantDomain := map[string]any{"ui.domain": nil, "openai/widgetDomain": nil}
			if tt.domain != "" {
				wantDomain = map[string]any{"ui.domain": tt.domain, "openai/widgetDomain": tt.domain}
			}
			if diff := cmp.Diff(wantDomain, gotDomain); diff != "" {
				t.Errorf("widget domain (-want +got):\n%s", diff)
			}

			// OpenAI's domain verification.
			v := rawRequest(t, http.MethodGet, srv.URL+httpapi.PathAppsChallenge, "", nil, nil)
			switch {
			case tt.challenge != "" && (v.Status != http.StatusOK || string(v.Body) != tt.challenge):
				t.Errorf("GET %s: %d %q, want 200 and the token", httpapi.PathAppsChallenge, v.Status, v.Body)
			case tt.challenge == "" && v.Status != http.StatusNotFound:
				t.Errorf("GET %s without a token: %d, want 404", httpapi.PathAppsChallenge, v.Status)
			}

			// The sign-in page and the home page link the policy and terms.
			signIn := rawRequest(t, http.MethodGet, srv.URL+"/oauth/authorize?client_id=x", "", nil, nil)
			home := rawRequest(t, http.MethodGet, srv.URL+"/", "", nil, nil)
			for _, link := range []string{tt.privacyURL, tt.termsURL} {
				if !strings.Contains(string(signIn.Body), `href="`+link+`"`) {
					t.Errorf("the authorization page does not link %s:\n%s", link, signIn.Body)
				}
				if !strings.Contains(string(home.Body), link) {
					t.Errorf("the home page does not name %s:\n%s", link, home.Body)
				}
			}
			// The built-in pages are there, and say they are placeholders.
			for path, heading := range map[string]string{httpapi.PathPrivacy: "<h1>Privacy</h1>", httpapi.PathTerms: "<h1>Terms of use</h1>"} {
				p := rawRequest(t, http.MethodGet, srv.URL+path, "", nil, nil)
				if p.Status != http.StatusOK || !strings.Contains(string(p.Body), heading) || !strings.Contains(string(p.Body), "placeholder") {
					t.Errorf("GET %s: %d, want the built-in page:\n%s", path, p.Status, p.Body)
				}
			}
		})
	}
}
