package authserver

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestTemplatesParse(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]bool{}
	for _, n := range names {
		pages[strings.TrimPrefix(n, "templates/")] = true
	}
	for _, name := range []string{tmplSignIn, tmplConsent, tmplAccount, tmplError} {
		if !pages[name] {
			t.Errorf("template %s is not embedded", name)
		}
		tmpl, err := loadTemplate(name)
		if err != nil {
			t.Errorf("loadTemplate(%s): %v", name, err)
			continue
		}
		// Every field set, so that every branch runs.
		p := page{
			Title: "T", Error: "E", Notice: "N", CSRF: "C", Action: "/a",
			Hidden:   []hiddenField{{"state", "s"}},
			UserName: "u", ClientName: "c", NameUnverified: true, ClientIDLabel: "Client ID", ClientID: "id",
			RedirectHost: "h", RedirectLoopback: true,
			Kept: []scopeOption{{Value: "kanban.read", Title: "Read", Detail: "See."}},
			ScopeGroups: []scopeGroupView{
				{Chain: true, Field: "level", Options: []scopeOption{{ID: "scope-1", Value: "kanban.write", Title: "Write", Checked: true}}},
				{Field: checkboxField, Options: []scopeOption{{ID: "scope-2", Value: "kanban.archive", Title: "Archive", Sensitive: true}}},
			},
			Grants:     []grantRow{{ID: "g_1", ClientName: "c", NameUnverified: true}, {ID: "g_2", Revoked: true}},
			Detail:     "D",
			SetupHint:  "H",
			PrivacyURL: "https://example.com/privacy", TermsURL: "https://example.com/terms",
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, "layout", p); err != nil {
			t.Errorf("execute %s: %v", name, err)
		}
		if err := tmpl.ExecuteTemplate(&buf, "layout", page{}); err != nil {
			t.Errorf("execute %s with an empty page: %v", name, err)
		}
	}
}

// ptExternalRe finds anything that would make a browser load or send
// something elsewhere: a URL with a scheme or a scheme-relative one in an
// attribute that references a resource or a target, or a CSS url() or
// @import.
var ptExternalRe = regexp.MustCompile(`(?i)(\b(src|href|action|srcset|poster|formaction)\s*=\s*["']?\s*([a-z][a-z0-9+.-]*:|//))|url\(|@import|<script|<link|<iframe|<img`)

// TestPagesAreSelfContained renders each page in a real flow and checks
// what a browser would need: the security headers, the viewport for
// small screens, CSRF on every form, labelled inputs, and no reference to
// anything outside this server.
func TestPagesAreSelfContained(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	b := e.browser()
	pages := map[string]ptResponse{}
	pages["sign-in"] = b.authorize(e.params(map[string]string{"scope": "kanban.admin"}))
	pages["consent"] = b.signIn(pages["sign-in"], "alice")
	ptRedirectQueryOf(t, b.allow(pages["consent"], scopeRead), ptRedirect)
	pages["account"] = b.get(PathAccount)
	pages["account sign-in"] = e.browser().get(PathAccount)
	pages["error"] = b.authorize(e.params(map[string]string{"client_id": "nope"}))
	pages["csrf error"] = b.post(pathAccountRevoke, url.Values{})
	pages["not found"] = b.get(PathAccount + "/nope")

	for name, p := range pages {
		t.Run(name, func(t *testing.T) {
			h := p.header
			for header, want := range map[string]string{
				"Content-Security-Policy": "frame-ancestors 'none'",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-store",
				"Referrer-Policy":         "no-referrer",
				"Content-Type":            "text/html; charset=utf-8",
			} {
				if !strings.Contains(h.Get(header), want) {
					t.Errorf("%s: %q, want it to contain %q", header, h.Get(header), want)
				}
			}
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "style-src 'unsafe-inline'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			// The authorization endpoint's forms end in a redirect to the
			// client, which form-action would make Chrome refuse.
			authorizeForm := name == "sign-in" || name == "consent"
			if got := strings.Contains(csp, "form-action"); got == authorizeForm {
				t.Errorf("Content-Security-Policy %q: form-action present = %v, want %v", csp, got, !authorizeForm)
			}
			if h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("a page answers CORS")
			}
			if !strings.Contains(p.body, `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
				t.Errorf("no viewport meta tag")
			}
			if !strings.Contains(p.body, `<html lang="en">`) {
				t.Errorf("no document language")
			}
			// The one link allowed is the empty inline icon, which stops
			// the browser from asking for /favicon.ico.
			selfContained := strings.Replace(p.body, `<link rel="icon" href="data:,">`, "", 1)
			if m := ptExternalRe.FindString(selfContained); m != "" {
				t.Errorf("the page references something external or loads a resource: %q", m)
			}
			forms := strings.Count(p.body, "<form")
			if csrf := strings.Count(p.body, `<input type="hidden" name="csrf" value="`); csrf != forms {
				t.Errorf("%d forms but %d CSRF fields", forms, csrf)
			}
			if strings.Contains(p.body, `name="csrf" value=""`) {
				t.Errorf("an empty CSRF field")
			}
			for _, m := range regexp.MustCompile(`<input type="(?:text|password)" id="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
				if !strings.Contains(p.body, `<label for="`+m[1]+`">`) {
					t.Errorf("input %s has no label", m[1])
				}
			}
			if strings.Contains(p.body, goodPassword) {
				t.Errorf("the page contains the password")
			}
		})
	}
	if pages["error"].status != http.StatusBadRequest || pages["not found"].status != http.StatusNotFound || pages["csrf error"].status != http.StatusForbidden {
		t.Errorf("error pages: statuses %d, %d, %d; want 400, 404, 403",
			pages["error"].status, pages["not found"].status, pages["csrf error"].status)
	}
}

// TestPagesEscapeClientChosenText shows that what a client registers (its
// name) and what a request carries (state) are escaped, never markup.
func TestPagesEscapeClientChosenText(t *testing.T) {
	e := newPageEnv(t, pageEnvOptions{})
	evil := `<script>alert(1)</script>"><img src=x>`
	e.client = e.registerClient(evil, ptRedirect)
	b := e.browser()
	p := b.authorize(e.params(map[string]string{"state": evil}))
	p2 := b.signIn(p, "alice")
	for _, body := range []string{p.body, p2.body} {
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
			t.Errorf("client-chosen text is not escaped:\n%s", body)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("the client name is not shown escaped")
		}
	}
	// The state survives the round trip through the hidden fields intact.
	q := ptRedirectQueryOf(t, b.allow(p2, scopeRead), ptRedirect)
	if q.Get("state") != evil {
		t.Errorf("state %q, want %q", q.Get("state"), evil)
	}
}
