package authserver

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
	"github.com/kanban-mcp/kanban-mcp/internal/ratelimit"
)

// templateFS holds the pages: layout.html wraps each of the others (which
// define "content"). They use no script, no external asset and no font or
// image from the network, so they work under pageHeaders' CSP
// (default-src 'none'; style-src 'unsafe-inline') and without JavaScript.
//
//go:embed templates/*.html
var templateFS embed.FS

// The pages, by template file name.
const (
	tmplSignIn  = "signin.html"
	tmplConsent = "consent.html"
	tmplAccount = "account.html"
	tmplError   = "error.html"
)

// hiddenField is one authorization request parameter carried through a form.
type hiddenField struct{ Name, Value string }

// scopeOption is one scope on the consent page: a level of a chain (a
// radio button), a scope that stands alone (a checkbox), or one the client
// keeps from its live grant.
type scopeOption struct {
	ID, Value, Title, Detail string
	Checked, Sensitive       bool
}

// scopeGroupView is one set of choices on the consent page: radio buttons
// or checkboxes, named Field.
type scopeGroupView struct {
	Chain   bool
	Field   string
	Options []scopeOption
}

// grantRow is one grant on the account page.
type grantRow struct {
	ID, ClientName, ClientID string
	NameUnverified           bool // the client chose its name itself
	Access, Scope            string
	Created, LastUsed        string
	Revoked                  bool
	RevokedAt, RevokeReason  string
}

// page is what the templates render. Each page uses the fields it needs.
// Nothing secret goes in here except CSRF, the token of the page's forms:
// never a password, code, token or session id.
type page struct {
	Title  string
	Error  string // shown as an alert
	Notice string // shown as a status message
	CSRF   string
	Action string        // the form's target, a path on this server
	Hidden []hiddenField // the authorization request, carried through the form

	UserName string // sign-in: the name typed before (never the password); else who is signed in
	// Sign-in through the upstream provider: its name on the button
	// ("" shows none), and whether the password form is hidden.
	Upstream     string
	UpstreamOnly bool

	// Consent.
	ClientName       string
	NameUnverified   bool
	ClientIDLabel    string
	ClientID         string
	RedirectHost     string
	RedirectLoopback bool
	// Resource names the service the access is for, when it is another
	// than this server's own (ServerOptions.ExtraResources).
	Resource    string
	Kept        []scopeOption    // a step-up: what the client holds and keeps
	ScopeGroups []scopeGroupView // what the person chooses among

	// Account.
	Grants []grantRow

	// Error page.
	Detail    string
	SetupHint string

	// Every page: the privacy policy and the terms of use, when set.
	PrivacyURL, TermsURL string
}

// loadTemplate parses the layout with one page. Parsing on each render
// costs tens of microseconds, which human-paced pages can afford, and keeps
// the Server free of template state; TestTemplatesParse catches mistakes
// at test time rather than in front of a person. The templates write the
// product's name as {{product}}, never as a literal, so that a rename of
// product.Name reaches the pages too.
func loadTemplate(name string) (*template.Template, error) {
	t, err := template.New("layout").
		Funcs(template.FuncMap{"product": func() string { return product.Name }}).
		ParseFS(templateFS, "templates/layout.html", "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("authserver: page %s: %w", name, err)
	}
	return t, nil
}

// render writes a page with status. It renders into a buffer first, so a
// template failure becomes a clean 500 rather than half a page.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.PrivacyURL, p.TermsURL = s.opts.PrivacyURL, s.opts.TermsURL
	t, err := loadTemplate(name)
	var buf bytes.Buffer
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "rendering a page failed", "page", name, "err", err)
		http.Error(w, "Internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error that is not redirected to the client: the
// request cannot be trusted to name a place to send the person back to.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message, detail string) {
	s.renderPage(w, r, status, tmplError, page{Title: title, Error: message, Detail: detail})
}

// serverErrorPage logs err and shows a page that says nothing about it:
// 503 with a Retry-After while the database cannot be reached, 500
// otherwise.
func (s *Server) serverErrorPage(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "err", err)
	if s.opts.Store.Unavailable(err) {
		s.unavailablePage(w, r, "The server cannot reach its database right now, and nothing was changed.")
		return
	}
	s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong",
		"Something went wrong on our side, and nothing was changed.", "Try again in a moment.")
}

// unavailablePage is unavailable's HTML twin: a 503 page, saying message,
// with the same Retry-After.
func (s *Server) unavailablePage(w http.ResponseWriter, r *http.Request, message string) {
	w.Header().Set("Retry-After", ratelimit.RetryAfterSeconds(unavailableRetryAfter))
	s.errorPage(w, r, http.StatusServiceUnavailable, "Try again in a moment", message, "Try again in a moment.")
}

// notSetUp answers 503 while no user exists on a deployment that creates
// none itself: nobody could sign in. It is unavailable's HTML twin, with the
// same Retry-After and text.
func (s *Server) notSetUp(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.SetupHint == "" || s.HasUsers(r.Context()) {
		return false
	}
	w.Header().Set("Retry-After", "60")
	s.renderPage(w, r, http.StatusServiceUnavailable, tmplError, page{
		Title:     "Sign-in is not set up yet",
		Error:     "Sign-in is not set up yet: no user exists.",
		SetupHint: s.opts.SetupHint,
	})
	return true
}

// csrfFailed answers a form whose CSRF token is missing or wrong. Nothing
// was done; the person only needs to reload.
func (s *Server) csrfFailed(w http.ResponseWriter, r *http.Request) {
	s.log.InfoContext(r.Context(), "form refused: missing or wrong CSRF token", "path", r.URL.Path, "ip", s.clientIP(r))
	s.errorPage(w, r, http.StatusForbidden, "This form has expired",
		"This form has expired, or it was sent from another site. Nothing was done.",
		"Go back, reload the page and try again.")
}

// pageTime formats a time for the pages: UTC, to the minute, the same for
// every reader.
func pageTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}
