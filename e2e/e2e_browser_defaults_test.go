package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/tools"
)

// TestBrowserPlainConnectOffersTheDefaults: a client that asks for no scope
// the server declares (none at all, or only ones it does not know) is
// offered exactly the default scopes in Chromium, with the most powerful
// non-sensitive one chosen, and no sensitive scope anywhere on the page.
// What is expected comes from the declarations (tools.Scopes).
func TestBrowserPlainConnectOffersTheDefaults(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	pw, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Authorize string `json:"authorization_endpoint"`
		Register  string `json:"registration_endpoint"`
	}
	getJSON(t, srv.URL+"/.well-known/oauth-authorization-server", &meta)
	const redirect = "http://127.0.0.1:9/callback" // never reached: the test stops at the consent page
	reg := postJSON(t, meta.Register, map[string]any{
		"client_name": "Plain connect", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	})
	clientID, _ := reg["client_id"].(string)

	type input struct {
		Value   string `json:"value"`
		Checked bool   `json:"checked"`
	}
	var want []input
	for _, s := range defaultScopes() {
		want = append(want, input{Value: s})
	}
	var sensitive []string
	for _, d := range tools.Scopes() {
		if d.Sensitive {
			sensitive = append(sensitive, string(d.Name))
		}
	}
	for i := len(want) - 1; i >= 0; i-- {
		if !slices.Contains(sensitive, want[i].Value) {
			want[i].Checked = true
			break
		}
	}

	b := startBrowser(t, 60*time.Second, srv.Log.String)
	signedIn := false
	for _, scope := range []string{"", "email offline_access"} {
		t.Run("scope="+scope, func(t *testing.T) {
			challenge := sha256.Sum256([]byte(randomVerifier(t)))
			q := url.Values{
				"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"plain"},
				"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
			}
			if scope != "" {
				q.Set("scope", scope)
			}
			b.do(t, "open the authorize URL", chromedp.Navigate(meta.Authorize+"?"+q.Encode()))
			if !signedIn {
				b.do(t, "sign in",
					chromedp.SendKeys(chromedp.ID("username"), "demo"),
					chromedp.SendKeys(chromedp.ID("password"), strings.TrimSpace(string(pw))),
					chromedp.Click(chromedp.CSS(`form:has(#username) button[type="submit"]`)),
				)
				signedIn = true
			}
			b.do(t, "wait for the consent page", chromedp.WaitVisible(chromedp.CSS(`button[name="decision"][value="allow"]`)))
			got := browserRun(t, b.Ctx, "read the choices", chromedp.Evaluate[[]input](
				`Array.from(document.querySelectorAll('input[type="radio"], input[type="checkbox"]'), e => ({value: e.value, checked: e.checked}))`))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("choices on the consent page (-want +got):\n%s", diff)
			}
			text := browserRun(t, b.Ctx, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
			for _, s := range sensitive {
				if strings.Contains(text, s) {
					t.Errorf("the page names the sensitive scope %s, which was not asked for", s)
				}
			}
		})
	}
}
