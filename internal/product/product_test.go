package product

import (
	"regexp"
	"testing"
)

// TestNameIsAToken: Name goes where only a token fits, such as a
// User-Agent product token (RFC 9110, section 10.1.5) and a command name.
func TestNameIsAToken(t *testing.T) {
	if !regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`).MatchString(Name) {
		t.Errorf("product.Name = %q; want letters, digits, '.', '_' and '-' only, starting with a letter or digit", Name)
	}
}
