package e2e

// The built-in authorization server's pages in a real browser: Debian's
// headless Chromium, driven by chromedp, signs in, chooses a lower level on
// the consent page and revokes the connection on /account, all by clicking,
// as a person would. .ci/run installs the browser; a machine without it
// skips the test, except in CI, where its absence is a failure.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// TestBrowserSignInConsentRevoke drives the sign-in, consent and account
// pages by clicking: sign in as the demo user, lower the requested admin
// level to read on the consent page, check that the token carries only
// read, then revoke the connection on /account and check that the token is
// refused at once. It asserts the CSRF fields, the anti-framing headers, a
// clean browser console and, through the page width, that the pages fit a
// 360 px screen; screenshots go to KANBAN_ARTIFACTS when it is set.
func TestBrowserSignInConsentRevoke(t *testing.T) {
	requireChromium(t)
	t.Parallel()

	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	pw, err := os.ReadFile(filepath.Join(filepath.Dir(srv.DBPath), "demo-password.txt"))
	if err != nil {
		t.Fatalf("demo password file: %v\nlog:\n%s", err, srv.Log.String())
	}
	password := strings.TrimSpace(string(pw))
	var meta struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
		Register  string `json:"registration_endpoint"`
	}
	getJSON(t, srv.URL+"/.well-known/oauth-authorization-server", &meta)
	if meta.Authorize == "" || meta.Token == "" || meta.Register == "" {
		t.Fatalf("authorization server metadata lacks endpoints: %+v", meta)
	}

	// The client's loopback redirect target: it records what the browser
	// brings back and answers "done".
	callbacks := make(chan url.Values, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/callback":
		case "/favicon.ico": // the browser asks by itself
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			http.NotFound(w, r)
			return
		}
		select {
		case callbacks <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "done")
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/callback"

	const clientName = "Browser test"
	reg := postJSON(t, meta.Register, map[string]any{
		"client_name": clientName, "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	})
	clientID, _ := reg["client_id"].(string)
	if clientID == "" {
		t.Fatalf("registration: %v", reg)
	}

	verifier := randomVerifier(t)
	challenge := sha256.Sum256([]byte(verifier))
	const state = "browser-state-1"
	authURL := meta.Authorize + "?" + url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"scope": {"kanban.admin"}, "state": {state}, "resource": {srv.MCP()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}.Encode()

	// The pages forbid framing, whoever asks.
	for _, target := range []string{authURL, srv.URL + "/account"} {
		resp, err := http.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", target, resp.StatusCode)
		}
		checkNoFraming(t, "GET "+target, resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Frame-Options"))
	}

	artifacts := artifactsDir(t)

	// The browser: Debian's chromium with the flags of SPEC-NOTES §11 and a
	// fresh profile. The deadline only guards against a hang.
	b := startBrowser(t, 60*time.Second, srv.Log.String)
	ctx := b.Ctx
	fail := func(step string, err error) {
		t.Helper()
		b.fail(t, step, err)
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		b.do(t, step, actions...)
	}
	// The console, from here to a mark that the test logs at the end.
	console := watchConsole(ctx)

	// navigate and clickLoad load a page and return the document's HTTP
	// status and headers as the browser got them.
	navigate := func(step, target string) (int64, map[string]any) {
		t.Helper()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(target))
		if err == nil && resp == nil {
			err = fmt.Errorf("no response for %s", target)
		}
		if err != nil {
			fail(step, err)
		}
		return resp.Status, resp.Headers
	}
	clickLoad := func(step string, sel chromedp.CSS) (int64, map[string]any) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
		if err == nil && resp == nil {
			err = fmt.Errorf("no page loaded after clicking %s", sel)
		}
		if err != nil {
			fail(step, err)
		}
		return resp.Status, resp.Headers
	}
	// page checks the page that just loaded, and keeps a screenshot of it.
	page := func(name string, status int64, headers map[string]any, wantURL string) {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("%s page: status %d, want 200", name, status)
		}
		loc := browserRun(t, ctx, "location", chromedp.Location())
		if !strings.HasPrefix(loc, wantURL) {
			t.Fatalf("%s page: browser is at %s, want %s", name, loc, wantURL)
		}
		checkNoFraming(t, name+" page (as the browser got it)", headerValue(headers, "Content-Security-Policy"), headerValue(headers, "X-Frame-Options"))
		// Tidy at 360 px: nothing wider than the screen, no sideways scrolling.
		if w := browserRun(t, ctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > browserWidth {
			t.Errorf("%s page is %d px wide at a %d px screen: it scrolls sideways", name, w, browserWidth)
		}
		png := browserRun(t, ctx, "screenshot", chromedp.FullScreenshot(100))
		file := filepath.Join(artifacts, "browser-"+name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the %s page: %s", name, file)
	}

	// Sign-in, on a phone-sized screen.
	do("set a 360 px viewport", chromedp.EmulateViewport(browserWidth, 800, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	status, headers := navigate("open the authorize URL", authURL)
	page("signin", status, headers, meta.Authorize)
	const signInForm = `form:has(#username)`
	checkCSRF(t, ctx, "sign-in", signInForm)
	do("type the user name and password",
		chromedp.SendKeys(chromedp.ID("username"), "demo"),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	status, headers = clickLoad("click Sign in", signInForm+` button[type="submit"]`)

	// Consent: the three levels up to the requested admin, write chosen:
	// admin is sensitive, never pre-selected. The person lowers it to read
	// and allows.
	page("consent", status, headers, meta.Authorize)
	const consentForm = `form:has(input[name="level"])`
	checkCSRF(t, ctx, "consent", consentForm)
	type radio struct {
		Value   string `json:"value"`
		Checked bool   `json:"checked"`
	}
	levelsJS := `Array.from(document.querySelectorAll('input[type="radio"][name="level"]'), e => ({value: e.value, checked: e.checked}))`
	offered := browserRun(t, ctx, "read the offered levels", chromedp.Evaluate[[]radio](levelsJS))
	want := []radio{{"kanban.read", false}, {"kanban.write", true}, {"kanban.admin", false}}
	if diff := cmp.Diff(want, offered); diff != "" {
		t.Fatalf("consent levels (-want +got):\n%s", diff)
	}
	do("choose read", chromedp.Click(chromedp.CSS(`input[name="level"][value="kanban.read"]`)))
	offered = browserRun(t, ctx, "read the chosen level", chromedp.Evaluate[[]radio](levelsJS))
	want = []radio{{"kanban.read", true}, {"kanban.write", false}, {"kanban.admin", false}}
	if diff := cmp.Diff(want, offered); diff != "" {
		t.Fatalf("after clicking read (-want +got):\n%s", diff)
	}
	status, _ = clickLoad("click Allow", consentForm+` button[name="decision"][value="allow"]`)
	if loc := browserRun(t, ctx, "location", chromedp.Location()); status != http.StatusOK || !strings.HasPrefix(loc, redirect) {
		t.Fatalf("after Allow the browser is at %s (status %d), want the callback %s", loc, status, redirect)
	}
	if body := browserRun(t, ctx, "read the callback page", chromedp.Evaluate[string](`document.body.innerText`)); strings.TrimSpace(body) != "done" {
		t.Errorf("callback page says %q, want done", body)
	}
	var back url.Values
	select {
	case back = <-callbacks:
	case <-ctx.Done():
		t.Fatal("the browser never reached the callback")
	}
	if back.Get("code") == "" || back.Get("state") != state || back.Get("iss") != srv.URL {
		t.Fatalf("callback query %v: want a code, state %q and iss %q", back, state, srv.URL)
	}

	// The client exchanges the code: the token holds read and nothing more.
	tok := postForm(t, meta.Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Get("code")}, "redirect_uri": {redirect},
		"client_id": {clientID}, "code_verifier": {verifier}, "resource": {srv.MCP()},
	})
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("token response: %v", tok)
	}
	if tok["scope"] != "kanban.read" {
		t.Errorf("token response scope = %q, want exactly %q", tok["scope"], "kanban.read")
	}
	who := srv.mustCall(t, access, "whoami", nil).Structured
	if got := describe(who["scopes"]); got != "[kanban.read]" || str(who, "client_id") != clientID {
		t.Errorf("whoami = %v, want client_id %s and scopes [kanban.read]", who, clientID)
	}
	srv.mustCall(t, access, "list_boards", nil)
	checkAccess(t, srv, srv.Env["AUTH_CHALLENGE"], "kanban.write", needScope,
		srv.call(t, access, "create_board", map[string]any{"title": "Not with read"}))

	// /account lists the connection; the person revokes it by clicking.
	status, headers = navigate("open /account", srv.URL+"/account")
	page("account", status, headers, srv.URL+"/account")
	type grantItem struct {
		Client string `json:"client"`
		Text   string `json:"text"`
		Revoke bool   `json:"revoke"`
	}
	grantsJS := `Array.from(document.querySelectorAll('ul.grants > li'), li => ({
		client: (li.querySelector('dd code') || {}).textContent || '',
		text: li.innerText,
		revoke: !!li.querySelector('form[action="/account/revoke"] button'),
	}))`
	grants := browserRun(t, ctx, "read the grants", chromedp.Evaluate[[]grantItem](grantsJS))
	if len(grants) != 1 || grants[0].Client != clientID || !grants[0].Revoke ||
		!strings.Contains(grants[0].Text, clientName) || !strings.Contains(grants[0].Text, "kanban.read") ||
		!strings.Contains(grants[0].Text, "Active") || strings.Contains(grants[0].Text, "kanban.write") {
		t.Fatalf("/account grants = %+v, want one active read grant of %s (%s) with a Revoke button", grants, clientName, clientID)
	}
	const revokeForm = `ul.grants > li form[action="/account/revoke"]`
	checkCSRF(t, ctx, "revoke", revokeForm)
	status, headers = clickLoad("click Revoke", revokeForm+` button`)
	page("account-revoked", status, headers, srv.URL+"/account")
	grants = browserRun(t, ctx, "read the grants after revoking", chromedp.Evaluate[[]grantItem](grantsJS))
	if len(grants) != 1 || grants[0].Client != clientID || grants[0].Revoke ||
		!strings.Contains(grants[0].Text, "Revoked") || strings.Contains(grants[0].Text, "Active") {
		t.Errorf("/account grants after revoking = %+v, want the grant shown revoked, with no Revoke button", grants)
	}
	if text := browserRun(t, ctx, "read the notice", chromedp.Evaluate[string](`document.body.innerText`)); !strings.Contains(text, "Access revoked") {
		t.Errorf("/account after revoking does not confirm it:\n%s", text)
	}
	checkInvalidToken(t, srv, srv.call(t, access, "whoami", nil))

	// Nothing went wrong in the browser: no console error, no exception, no
	// failed load.
	checkConsoleClean(t, console.end(t, b, ctx))
}

// checkCSRF asserts that the form has a hidden, non-empty csrf field. It
// asks the page directly, so that a missing field fails at once instead of
// waiting for it to appear.
func checkCSRF(t *testing.T, ctx context.Context, name, form string) {
	t.Helper()
	sel, _ := json.Marshal(form)
	type csrfField struct {
		Forms  int    `json:"forms"`
		Fields int    `json:"fields"`
		Type   string `json:"type"`
		Value  string `json:"value"`
	}
	field := browserRun(t, ctx, "read the "+name+" csrf field", chromedp.Evaluate[csrfField](fmt.Sprintf(`(() => {
		const forms = document.querySelectorAll(%s);
		const fields = forms.length ? forms[0].querySelectorAll('input[name="csrf"]') : [];
		const f = fields[0];
		return {forms: forms.length, fields: fields.length, type: f ? f.type : '', value: f ? f.value : ''};
	})()`, sel)))
	if field.Forms == 0 {
		t.Fatalf("%s page: no form matches %s", name, form)
	}
	if field.Fields != 1 || field.Type != "hidden" || field.Value == "" {
		t.Fatalf("%s form: csrf fields %d, type %q, value %q; want one hidden, non-empty csrf field", name, field.Fields, field.Type, field.Value)
	}
}

// checkNoFraming asserts the anti-framing headers of a page.
func checkNoFraming(t *testing.T, what, csp, xfo string) {
	t.Helper()
	if !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy %q lacks frame-ancestors 'none'", what, csp)
	}
	if !strings.EqualFold(xfo, "DENY") {
		t.Errorf("%s: X-Frame-Options %q, want DENY", what, xfo)
	}
}

// headerValue reads a response header as the browser reports it, whatever
// the case of its name.
func headerValue(h map[string]any, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
