package tools

import (
	"regexp"
	"testing"
)

// TestInstructionsNameEveryToolAndScope: the instructions name every
// declared tool, say which work without signing in, and which scope each
// of the others needs, so that a new tool or scope reaches the model
// without an edit to a sentence.
func TestInstructionsNameEveryToolAndScope(t *testing.T) {
	scopes := testScopeSet(t)
	text := Instructions(All(), scopes)
	for _, d := range All() {
		tool := `\b` + regexp.QuoteMeta(d.Name) + `\b`
		if d.Requires.Anonymous && !regexp.MustCompile(`Without signing in you may call [^.]*`+tool).MatchString(text) {
			t.Errorf("the instructions do not say that %s works without signing in:\n%s", d.Name, text)
		}
		if s := d.Requires.Scope; s != "" {
			if !regexp.MustCompile(`the ` + regexp.QuoteMeta(string(s)) + ` scope for [^;.]*` + tool).MatchString(text) {
				t.Errorf("the instructions do not say that %s needs %s:\n%s", d.Name, s, text)
			}
		}
		if !regexp.MustCompile(tool).MatchString(text) {
			t.Errorf("the instructions do not name %s:\n%s", d.Name, text)
		}
	}
	for _, d := range scopes.Decls() {
		for _, im := range d.Implies {
			if !regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(string(d.Name)) + ` includes [^;.]*\b` + regexp.QuoteMeta(string(im)) + `\b`).MatchString(text) {
				t.Errorf("the instructions do not say that %s includes %s:\n%s", d.Name, im, text)
			}
		}
	}
}

// TestListOf joins names the way the instructions read.
func TestListOf(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	}
	for _, tt := range tests {
		if got := listOf(tt.in); got != tt.want {
			t.Errorf("listOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
