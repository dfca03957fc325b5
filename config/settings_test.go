package config

import (
	"strings"
	"testing"
)

// TestSettingsDocs: every setting has the texts the README table and -h
// need, each fitting in one table cell.
func TestSettingsDocs(t *testing.T) {
	for _, s := range settings() {
		if s.help == "" || s.doc == "" {
			t.Errorf("%s: needs both help (for -h) and doc (for the README)", s.env)
		}
		for _, text := range []string{s.doc, s.shownDefault, s.def} {
			if strings.ContainsAny(text, "|\n") {
				t.Errorf("%s: %q would break the README's table: no | or newline", s.env, text)
			}
		}
	}
}
