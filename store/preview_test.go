package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPreviewDescription(t *testing.T) {
	const n = DescriptionPreviewLen
	words := strings.Repeat("lorem ipsum dolor sit amet ", 20) // 540 characters
	tests := []struct {
		name          string
		in            string
		want          string
		wantTruncated bool
	}{
		{"empty", "", "", false},
		{"short", "Fix the login page.", "Fix the login page.", false},
		{"exactly the limit", strings.Repeat("é", n), strings.Repeat("é", n), false},
		{"exactly the limit, ending in a space", strings.Repeat("x", n-1) + " ", strings.Repeat("x", n-1) + " ", false},
		{"one over the limit, one long word", strings.Repeat("é", n+1), strings.Repeat("é", n-1) + "…", true},
		{"words: ends at the last space before the cut", words, strings.TrimSpace(words[:strings.LastIndex(words[:n-1], " ")]) + "…", true},
		{"a space right after the cut", strings.Repeat("x", n-1) + " tail", strings.Repeat("x", n-1) + "…", true},
		{"four-byte characters are never split", strings.Repeat("😀", 2*n), strings.Repeat("😀", n-1) + "…", true},
		{"a space too far back is not used", "a " + strings.Repeat("x", 2*n), "a " + strings.Repeat("x", n-3) + "…", true},
		{"line breaks count as spaces", strings.Repeat("word\n", 100), strings.TrimSpace(strings.Repeat("word\n", 56)) + "…", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := PreviewDescription(tt.in)
			if got != tt.want || truncated != tt.wantTruncated {
				t.Errorf("PreviewDescription = %q, %v; want %q, %v", got, truncated, tt.want, tt.wantTruncated)
			}
			if c := utf8.RuneCountInString(got); c > n {
				t.Errorf("preview has %d characters, more than %d", c, n)
			}
			if !utf8.ValidString(got) {
				t.Errorf("preview is not valid UTF-8: %q", got)
			}
			// A store may read only the first n+1 characters: the preview
			// of that prefix must be the same.
			prefix := tt.in
			if r := []rune(tt.in); len(r) > n+1 {
				prefix = string(r[:n+1])
			}
			if p, tr := PreviewDescription(prefix); p != got || tr != truncated {
				t.Errorf("preview of the first %d characters = %q, %v; want the preview of the whole, %q, %v", n+1, p, tr, got, truncated)
			}
		})
	}
}
