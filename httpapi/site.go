package httpapi

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// What an app directory asks of a server besides MCP: an icon, a privacy
// policy and terms of use (built-in placeholders that the operator replaces
// with PRIVACY_POLICY_URL and TERMS_URL, or by editing the templates in
// site/), and OpenAI's domain-verification file.

//go:embed site/*
var site embed.FS

// Paths of the site's pages.
const (
	PathPrivacy       = "/privacy"
	PathTerms         = "/terms"
	PathIcon          = "/icon.svg"
	PathAppsChallenge = "/.well-known/openai-apps-challenge"
)

// Title is the server's human title in the initialize result's serverInfo.
const Title = "Kanban boards"

// serverIcons is the server's icon in serverInfo: the SVG that GET
// PathIcon serves.
func serverIcons(baseURL string) []mcp.Icon {
	return []mcp.Icon{{Src: baseURL + PathIcon, MIMEType: "image/svg+xml", Sizes: []string{"any"}}}
}

// LegalURLs returns the privacy policy and terms URLs to link: the
// configured ones, else the built-in pages.
func LegalURLs(baseURL, privacy, terms string) (string, string) {
	if privacy == "" {
		privacy = baseURL + PathPrivacy
	}
	if terms == "" {
		terms = baseURL + PathTerms
	}
	return privacy, terms
}

// mountSite registers the icon, the built-in legal pages and, when set,
// the domain-verification token.
func mountSite(mux Mux, appsChallenge string) error {
	icon, err := site.ReadFile("site/icon.svg")
	if err != nil {
		return err
	}
	mux.HandleFunc("GET "+PathIcon, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(icon)
	})
	for path, file := range map[string]string{PathPrivacy: "site/privacy.html", PathTerms: "site/terms.html"} {
		tmpl, err := template.ParseFS(site, file)
		if err != nil {
			return err
		}
		var page bytes.Buffer
		if err := tmpl.Execute(&page, struct{ Product string }{product.Name}); err != nil {
			return err
		}
		body := page.Bytes()
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
			w.Write(body)
		})
	}
	if appsChallenge != "" {
		mux.HandleFunc("GET "+PathAppsChallenge, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte(appsChallenge))
		})
	}
	return nil
}
