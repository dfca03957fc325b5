package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestUnescapeHTML: the reply with <, > and & unescaped is exactly what
// encoding/json writes with HTML escaping off, and decodes to the same
// value, also around backslashes that only look like escapes.
func TestUnescapeHTML(t *testing.T) {
	values := []any{
		"a<b>c&d",
		`\u003c is how JSON may write <`,
		`a backslash \ then <`,
		`\\\<&>`,
		"<<<<<<<<",
		"no special characters",
		"\u2028 stays escaped, & does not",
		map[string]any{"title": "<script>", "labels": []string{"&amp;", `\u0026`}, "n": 3},
		"",
		`ends in a backslash \`,
	}
	for _, v := range values {
		escaped, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(plain.Bytes(), []byte("\n"))
		got := unescapeHTML(bytes.Clone(escaped))
		if !bytes.Equal(got, want) {
			t.Errorf("unescapeHTML(%s) = %s, want %s", escaped, got, want)
		}
		var back any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("unescapeHTML(%s) = %s is not JSON: %v", escaped, got, err)
		}
		if b1, _ := json.Marshal(back); !bytes.Equal(b1, escaped) {
			t.Errorf("%s decodes to another value after unescapeHTML: %s", escaped, b1)
		}
	}
}
