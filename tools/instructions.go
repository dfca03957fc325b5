package tools

import (
	"strings"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// Instructions is the server's instructions to the model (the initialize
// result), worked out from decls so that a new tool or scope reaches them
// without anyone editing a sentence: which tools work without signing in,
// which need only a signed-in caller, and which tools each scope is needed
// for, in the order the tools and their scopes are declared, and what each
// scope includes.
func Instructions(decls []Tool, scopes *auth.ScopeSet) string {
	var anonymous, anyToken []string
	var needed []auth.Scope
	byScope := map[auth.Scope][]string{}
	for _, d := range decls {
		if d.Requires.Anonymous {
			anonymous = append(anonymous, d.Name)
		}
		switch s := d.Requires.Scope; {
		case s == "" && !d.Requires.Anonymous:
			anyToken = append(anyToken, d.Name)
		case s != "":
			if byScope[s] == nil {
				needed = append(needed, s)
			}
			byScope[s] = append(byScope[s], d.Name)
		}
	}
	var b strings.Builder
	b.WriteString("Kanban boards, columns and cards.")
	if len(anonymous) > 0 {
		b.WriteString(" Without signing in you may call " + listOf(anonymous) + ", and see public boards only.")
	}
	if len(anyToken) > 0 {
		b.WriteString(" Any signed-in caller may call " + listOf(anyToken) + ".")
	}
	var clauses []string
	for _, s := range needed {
		clauses = append(clauses, "the "+string(s)+" scope for "+listOf(byScope[s]))
	}
	if len(clauses) > 0 {
		b.WriteString(" Signed in, you need " + strings.Join(clauses, "; ") + ".")
	}
	var includes []string
	for _, d := range scopes.Decls() {
		if len(d.Implies) > 0 {
			includes = append(includes, string(d.Name)+" includes "+listOf(auth.Strings(d.Implies)))
		}
	}
	if len(includes) > 0 {
		b.WriteString(" A scope includes others: " + strings.Join(includes, "; ") + ".")
	}
	b.WriteString(" " + TextFormat)
	return b.String()
}

// listOf joins names as "a, b and c".
func listOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
