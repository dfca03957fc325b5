package store

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidators(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code // "" means valid
	}{
		{"title ok", ValidateTitle("title", "  Launch  "), ""},
		{"title empty after trim", ValidateTitle("title", "   "), Invalid},
		{"title 200 characters", ValidateTitle("title", strings.Repeat("é", MaxTitleLen)), ""},
		{"title 201 characters", ValidateTitle("title", strings.Repeat("é", MaxTitleLen+1)), Invalid},
		{"title with a newline", ValidateTitle("title", "a\nb"), Invalid},
		{"title with NUL", ValidateTitle("title", "a\x00b"), Invalid},
		{"title invalid UTF-8", ValidateTitle("title", "a\xffb"), Invalid},
		{"description with line breaks and tabs", ValidateDescription("a\n\tb\r\n"), ""},
		{"description with a bell", ValidateDescription("a\ab"), Invalid},
		{"description too long", ValidateDescription(strings.Repeat("x", MaxDescriptionLen+1)), Invalid},
		{"id ok", ValidateID("card_id", CardPrefix, "c_abc"), ""},
		{"id missing", ValidateID("card_id", CardPrefix, ""), Invalid},
		{"id with the wrong prefix", ValidateID("card_id", CardPrefix, "b_abc"), Invalid},
		{"id too long", ValidateID("card_id", CardPrefix, "c_"+strings.Repeat("a", 70)), Invalid},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("%s: code %q, want %q (err %v)", tt.name, got, tt.want, tt.err)
		}
	}
}

func TestNormalizeLabels(t *testing.T) {
	got, err := NormalizeLabels([]string{" bug ", "Bug", "urgent"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bug", "urgent"}, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	for _, bad := range [][]string{{""}, {strings.Repeat("x", MaxLabelLen+1)}, {"a\tb"}, strings.Split("a b c d e f g h i j k", " ")} {
		if _, err := NormalizeLabels(bad); ErrorCode(err) != Invalid {
			t.Errorf("NormalizeLabels(%q) = %v, want an Invalid error", bad, err)
		}
	}
}

func TestNewIDIsRandomAndPrefixed(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID(BoardPrefix)
		if !strings.HasPrefix(id, BoardPrefix) || len(id) != len(BoardPrefix)+20 {
			t.Fatalf("NewID = %q", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestOutcomeOf(t *testing.T) {
	for code, want := range map[Code]Outcome{Invalid: OutcomeInvalidInput, NotFound: OutcomeNotFound, Conflict: OutcomeConflict, Quota: OutcomeQuota} {
		if got := OutcomeOf(Errorf(code, "x")); got != want {
			t.Errorf("OutcomeOf(%s) = %s, want %s", code, got, want)
		}
	}
	if got := OutcomeOf(nil); got != OutcomeOK {
		t.Errorf("OutcomeOf(nil) = %s", got)
	}
	if got := OutcomeOf(strings.NewReader("").UnreadByte()); got != OutcomeError {
		t.Errorf("an infrastructure error maps to %s, want error", got)
	}
}
