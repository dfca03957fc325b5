package tools

import (
	"slices"
	"strings"
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
		var hints []string
		if d.Annotations.ReadOnly {
			hints = append(hints, "read-only")
		}
		if d.Annotations.Destructive {
			hints = append(hints, "destructive")
		}
		if d.Annotations.Idempotent {
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
