package tools

import (
	"slices"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// MarkdownTable renders the README's tool table from decls: each tool's
// arguments (optional ones marked ?), its securitySchemes as tools/list
// shows them, and its behaviour hints. go generate ./... writes it into
// README.md (see internal/cmd/readme).
func MarkdownTable(decls []Tool) string {
	var b strings.Builder
	b.WriteString("| tool | arguments | securitySchemes | hints |\n|---|---|---|---|\n")
	for _, d := range decls {
		desc := d.Descriptor()
		var args []string
		props := make([]string, 0, len(desc.InputSchema.Properties))
		for name := range desc.InputSchema.Properties {
			props = append(props, name)
		}
		slices.Sort(props)
		for _, p := range props {
			if slices.Contains(desc.InputSchema.Required, p) {
				args = append(args, "`"+p+"`")
			} else {
				args = append(args, "`"+p+"?`")
			}
		}
		var schemes []string
		for _, s := range d.Requires.SecuritySchemes() {
			if len(s.Scopes) > 0 {
				schemes = append(schemes, s.Type+" `"+strings.Join(s.Scopes, " ")+"`")
			} else {
				schemes = append(schemes, s.Type)
			}
		}
		a := d.Effect.Annotations()
		var hints []string
		if a.ReadOnly {
			hints = append(hints, "read-only")
		}
		if a.Destructive {
			hints = append(hints, "destructive")
		}
		if a.Idempotent {
			hints = append(hints, "idempotent")
		}
		if len(hints) == 0 {
			hints = append(hints, "—")
		}
		argText := strings.Join(args, ", ")
		if argText == "" {
			argText = "—"
		}
		b.WriteString("| `" + d.Name + "` | " + argText + " | " + strings.Join(schemes, " + ") + " | " + strings.Join(hints, ", ") + " |\n")
	}
	return b.String()
}

// ScopesMarkdownTable renders the README's scope table from the declared
// scopes and the tools that require each one.
func ScopesMarkdownTable(scopes *auth.ScopeSet, decls []Tool) string {
	var b strings.Builder
	b.WriteString("| scope | lets a client | includes | asked for | tools that need it |\n|---|---|---|---|---|\n")
	for _, s := range scopes.Decls() {
		includes := "—"
		if implied := slices.DeleteFunc(scopes.Grants(s.Name), func(g auth.Scope) bool { return g == s.Name }); len(implied) > 0 {
			includes = "`" + strings.Join(auth.Strings(implied), "`, `") + "`"
		}
		asked := "by step-up, when a tool needs it"
		if s.Default {
			asked = "on every connect (default)"
		}
		if s.Sensitive {
			asked += "; never pre-selected (sensitive)"
		}
		var users []string
		for _, d := range decls {
			if d.Requires.Scope == s.Name {
				users = append(users, "`"+d.Name+"`")
			}
		}
		if len(users) == 0 {
			users = append(users, "—")
		}
		b.WriteString("| `" + string(s.Name) + "` | " + s.Title + ": " + s.Consent + " | " + includes + " | " + asked + " | " + strings.Join(users, ", ") + " |\n")
	}
	return b.String()
}
