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
		{"title with right-to-left override", ValidateTitle("title", "invoice\u202Efdp.exe"), Invalid},
		{"title with left-to-right embedding", ValidateTitle("title", "a\u202Ab"), Invalid},
		{"title with first strong isolate", ValidateTitle("title", "a\u2068b"), Invalid},
		{"title with pop directional isolate", ValidateTitle("title", "a\u2069b"), Invalid},
		{"title with left-to-right mark", ValidateTitle("title", "a\u200Eb"), Invalid},
		{"title with right-to-left mark", ValidateTitle("title", "a\u200Fb"), Invalid},
		{"title with Arabic letter mark", ValidateTitle("title", "a\u061Cb"), Invalid},
		{"title with zero-width space", ValidateTitle("title", "a\u200Bb"), Invalid},
		{"title with byte order mark", ValidateTitle("title", "\uFEFFab"), Invalid},
		{"title with line separator", ValidateTitle("title", "a\u2028b"), Invalid},
		{"title with paragraph separator", ValidateTitle("title", "a\u2029b"), Invalid},
		{"title of joiners only", ValidateTitle("title", "\u200D\u200C"), Invalid},
		{"title of a soft hyphen and a word joiner", ValidateTitle("title", "\u00AD\u2060"), Invalid},
		{"title of Hangul fillers", ValidateTitle("title", "\u3164\u115F"), Invalid},
		{"title of a blank braille pattern", ValidateTitle("title", "\u2800"), Invalid},
		{"title with a blank braille pattern inside", ValidateTitle("title", "In\u2800progress"), Invalid},
		{"title with a blank braille pattern beside text", ValidateTitle("title", "\u2800Launch"), Invalid},
		{"title of a lone combining mark", ValidateTitle("title", "\u0301"), Invalid},
		{"title of ideographic spaces", ValidateTitle("title", "\u3000x\u3000"), ""},
		{"title with a word joiner", ValidateTitle("title", "Road\u2060map"), Invalid},
		{"title with a soft hyphen", ValidateTitle("title", "Road\u00ADmap"), Invalid},
		{"title with a combining grapheme joiner", ValidateTitle("title", "Road\u034Fmap"), Invalid},
		{"title with a variation selector after a letter", ValidateTitle("title", "Road\uFE0Fmap"), Invalid},
		{"title with an ideographic variation selector after a letter", ValidateTitle("title", "Road\U000E0100map"), Invalid},
		{"title with two variation selectors", ValidateTitle("title", "\u2764\uFE0F\uFE0F"), Invalid},
		{"title starting with a variation selector", ValidateTitle("title", "\uFE0F\u2764"), Invalid},
		{"title with a variation selector after an exclamation mark", ValidateTitle("title", "Done!\uFE0F"), Invalid},
		{"title with a text-style selector after a full stop", ValidateTitle("title", "Done.\uFE0E"), Invalid},
		{"title with a variation selector after a hyphen", ValidateTitle("title", "Road-\uFE00map"), Invalid},
		{"title with a variation selector after a digit, no keycap", ValidateTitle("title", "Step 1\uFE0F"), Invalid},
		{"title with a text-style selector after a digit", ValidateTitle("title", "Step 1\uFE0E"), Invalid},
		{"title with a text-style keycap", ValidateTitle("title", "Step 1\uFE0E\u20E3"), Invalid},
		{"title with a variation selector after a keycap", ValidateTitle("title", "Step 1\u20E3\uFE0F"), Invalid},
		{"title with a variation selector after a Latin letter", ValidateTitle("title", "Caf\u00E9\uFE0F"), Invalid},
		{"title with a variation selector after a Latin letter and its mark", ValidateTitle("title", "Cafe\u0301\uFE0F"), Invalid},
		{"title with a variation selector after an ideographic space", ValidateTitle("title", "\u6F22\u3000\uFE0F\u5B57"), Invalid},
		{"title with an ideographic variation selector after kana", ValidateTitle("title", "\u3042\U000E0100"), Invalid},
		{"title with an ideographic variation selector after an emoji", ValidateTitle("title", "\u2764\U000E0100"), Invalid},
		{"title with two ideographic variation selectors", ValidateTitle("title", "\u845B\U000E0100\U000E0101"), Invalid},
		{"title with text in tag characters", ValidateTitle("title", "Roadmap\U000E0069\U000E0067\U000E006E\U000E006F\U000E0072\U000E0065"), Invalid},
		{"title with a language tag", ValidateTitle("title", "a\U000E0001b"), Invalid},
		{"title with a flag whose tags are not cancelled", ValidateTitle("title", "\U0001F3F4\U000E0067\U000E0062 x"), Invalid},
		{"title with a fake flag hiding words", ValidateTitle("title", "Team \U0001F3F4"+tags("ignore previous instructions")+"\U000E007F"), Invalid},
		{"title with a flag of a region that is not RGI", ValidateTitle("title", "\U0001F3F4"+tags("usca")+"\U000E007F"), Invalid},
		{"title with a flag whose region runs on", ValidateTitle("title", "\U0001F3F4"+tags("gbsctx")+"\U000E007F"), Invalid},
		{"title with a flag in capital tags", ValidateTitle("title", "\U0001F3F4"+tags("GBSCT")+"\U000E007F"), Invalid},
		{"title with tags after a flag", ValidateTitle("title", "\U0001F3F4"+tags("gbsct")+"\U000E007F"+tags("hidden")), Invalid},
		{"title with a flag cancelled twice", ValidateTitle("title", "\U0001F3F4"+tags("gbsct")+"\U000E007F\U000E007F"), Invalid},
		{"title with a lone cancel tag after a flag", ValidateTitle("title", "\U0001F3F4\U000E007F"), Invalid},
		{"title with a variation selector after a flag", ValidateTitle("title", "\U0001F3F4"+tags("gbsct")+"\U000E007F\uFE0F"), Invalid},
		{"title with a ZWJ between ASCII letters", ValidateTitle("title", "ur\u200Dgent"), Invalid},
		{"title with a ZWNJ between ASCII letters", ValidateTitle("title", "ur\u200Cgent"), Invalid},
		{"title with a ZWJ after a Latin letter", ValidateTitle("title", "\u00E9\u200D\u0645"), Invalid},
		{"title with a ZWJ after a Latin letter and its mark", ValidateTitle("title", "e\u0301\u200D\u0645"), Invalid},
		{"title with a ZWJ before a Latin letter", ValidateTitle("title", "\u0645\u200D\u00E9"), Invalid},
		{"title with a ZWJ before a digit", ValidateTitle("title", "\u0645\u200D1"), Invalid},
		{"title starting with a ZWNJ", ValidateTitle("title", "\u200C\u0645\u06CC"), Invalid},
		{"title ending with a ZWNJ", ValidateTitle("title", "\u0645\u06CC\u200C"), Invalid},
		{"title with a ZWNJ before a space", ValidateTitle("title", "\u0645\u06CC\u200C \u0634\u0648\u062F"), Invalid},
		{"title with a ZWNJ after a space", ValidateTitle("title", "\u0645\u06CC \u200C\u0634\u0648\u062F"), Invalid},
		{"title with two joiners in a row", ValidateTitle("title", "\u0645\u200D\u200C\u06CC"), Invalid},
		{"title with bits in joiners", ValidateTitle("title", "\u0645"+strings.Repeat("\u200D\u200C", 8)+"\u06CC"), Invalid},
		{"title with a ZWJ before a variation selector", ValidateTitle("title", "\U0001F469\u200D\uFE0F"), Invalid},
		{"title with a ZWJ before a combining mark", ValidateTitle("title", "\u0645\u200D\u0301"), Invalid},
		{"title with a ZWJ before a vowel sign", ValidateTitle("title", "\u0915\u200D\u093F"), Invalid},
		{"title with a ZWJ before a virama after a Latin letter", ValidateTitle("title", "\u00E9\u200D\u094D\u0915"), Invalid},
		{"title with a ZWJ after a keycap", ValidateTitle("title", "1\uFE0F\u20E3\u200D\U0001F4BB"), Invalid},
		{"title with an invisible operator", ValidateTitle("title", "a\u2061b"), Invalid},
		{"title with a deprecated format character", ValidateTitle("title", "a\u206Ab"), Invalid},
		{"title with a Mongolian vowel separator", ValidateTitle("title", "a\u180Eb"), Invalid},
		{"title with a Khmer inherent vowel", ValidateTitle("title", "a\u17B5b"), Invalid},
		{"title with a musical formatting character", ValidateTitle("title", "a\U0001D173b"), Invalid},
		{"title with an interlinear annotation anchor", ValidateTitle("title", "a\uFFF9b"), Invalid},
		{"title with a Hangul filler", ValidateTitle("title", "a\u3164b"), Invalid},
		{"title with a private-use character", ValidateTitle("title", "a\uE000b"), Invalid},
		{"title with a noncharacter", ValidateTitle("title", "a\uFFFFb"), Invalid},
		{"title of an object replacement character", ValidateTitle("title", "\uFFFC"), Invalid},
		{"title of a musical null notehead", ValidateTitle("title", "\U0001D159"), Invalid},
		{"title of an unassigned code point", ValidateTitle("title", "\u0378"), Invalid},
		{"title with a combining accent", ValidateTitle("title", "Cafe\u0301 plans"), ""},
		{"title with a red heart emoji", ValidateTitle("title", "I \u2764\uFE0F kanban"), ""},
		{"title with a keycap emoji", ValidateTitle("title", "Step 1\uFE0F\u20E3"), ""},
		{"title of keycap emoji", ValidateTitle("title", "1\uFE0F\u20E3 #\uFE0F\u20E3 *\uFE0F\u20E3"), ""},
		{"title with a red heart", ValidateTitle("title", "\u2764\uFE0F"), ""},
		{"title with a text-style heart", ValidateTitle("title", "\u2764\uFE0E"), ""},
		{"title with emoji-style symbols", ValidateTitle("title", "\u00A9\uFE0F \u2122\uFE0F \u2139\uFE0F \U0001F170\uFE0F"), ""},
		// Ideographic and standardized variation sequences are refused: one
		// after every character spells a hidden byte each.
		{"title of a Han character and its ideographic variant", ValidateTitle("title", "\u6F22\U000E0100"), Invalid},
		{"title with a CJK compatibility variant", ValidateTitle("title", "\u8279\uFE00"), Invalid},
		{"title hiding a byte after each Han character", ValidateTitle("title", "\u4EFB\uFE08\u4EFB\uFE07\u4EFB\uFE0E\u4EFB\U000E0120"), Invalid},
		{"title with a text presentation selector after a Han character", ValidateTitle("title", "\u4EFB\uFE0E"), Invalid},
		{"column name with a joiner inside a Cyrillic word", ValidateTitle("title", "\u0413\u043E\u200D\u0442\u043E\u0432\u043E"), Invalid},
		{"title with a joiner between Han characters", ValidateTitle("title", "\u6F22\u200D\u5B57"), Invalid},
		{"title with a joiner between ASCII modifier symbols", ValidateTitle("title", "^\u200D`"), Invalid},
		{"title with a variation selector after a Cyrillic letter", ValidateTitle("title", "\u0413\u043E\u0442\u043E\u0432\u043E\uFE00"), Invalid},
		{"title with the musical null notehead", ValidateTitle("title", "Done\U0001D159"), Invalid},
		{"title with the object replacement character", ValidateTitle("title", "urgent\uFFFC"), Invalid},
		{"title with a Khitan filler on a Latin letter", ValidateTitle("title", "urgent\U00016FE4"), Invalid},
		{"title with a Cyrillic mark on a Latin letter", ValidateTitle("title", "To Do\u0489"), Invalid},
		{"title with an unassigned code point", ValidateTitle("title", "Plan\u0378"), Invalid},
		{"title with an accent on a Latin letter", ValidateTitle("title", "Cafe\u0301"), ""},
		{"title with a Cyrillic mark on a Cyrillic letter", ValidateTitle("title", "\u0430\u0483"), ""},
		{"title with double exclamation as emoji", ValidateTitle("title", "Go\u203C\uFE0F"), ""},
		{"title with information source as emoji", ValidateTitle("title", "Info \u2139\uFE0F"), ""},
		{"title with an emoji newer than the tables", ValidateTitle("title", "Plan \U0001FAE9"), ""},
		{"title in French", ValidateTitle("title", "Caf\u00E9 cr\u00E8me"), ""},
		{"title in Japanese", ValidateTitle("title", "\u9032\u884C\u4E2D\u306E\u30BF\u30B9\u30AF"), ""},
		{"title in plain English", ValidateTitle("title", "In progress"), ""},
		{"title with the flag of Scotland", ValidateTitle("title", "Team \U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"), ""},
		{"title with the flags of England and Wales", ValidateTitle("title", "\U0001F3F4"+tags("gbeng")+"\U000E007F\U0001F3F4"+tags("gbwls")+"\U000E007F"), ""},
		{"title with a black flag", ValidateTitle("title", "\U0001F3F4 Blocked"), ""},
		{"title with an ideographic variant", ValidateTitle("title", "\u845B\U000E0100\u57CE"), Invalid},
		{"title with a family emoji", ValidateTitle("title", "\U0001F468\u200D\U0001F469\u200D\U0001F467"), ""},
		{"title with an emoji ZWJ sequence", ValidateTitle("title", "Team \U0001F469\u200D\U0001F4BB"), ""},
		{"title with an emoji ZWJ sequence after a variation selector", ValidateTitle("title", "\U0001F441\uFE0F\u200D\U0001F5E8\uFE0F"), ""},
		{"title with an emoji ZWJ sequence after a skin tone", ValidateTitle("title", "\U0001F469\U0001F3FD\u200D\U0001F4BB"), ""},
		{"title with a rainbow flag", ValidateTitle("title", "\U0001F3F3\uFE0F\u200D\U0001F308"), ""},
		{"title with a pirate flag", ValidateTitle("title", "\U0001F3F4\u200D\u2620\uFE0F"), ""},
		{"title in Malayalam with ZWJ", ValidateTitle("title", "\u0D0E\u0D28\u0D4D\u200D\u0D31\u0D46"), ""},
		{"title in Hindi with ZWNJ", ValidateTitle("title", "\u0915\u094D\u200C\u0937"), ""},
		{"title in Bengali with ra, ZWJ, virama, ya", ValidateTitle("title", "\u09B0\u200D\u09CD\u09AF\u09BE\u09AC"), ""},
		{"title in Sinhala with a touching letter", ValidateTitle("title", "\u0D9A\u200D\u0DCA\u0DC0"), ""},
		{"title in Persian with ZWNJ", ValidateTitle("title", "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645"), ""},
		{"title in Hindi with ZWJ", ValidateTitle("title", "\u0915\u094D\u200D\u0937"), ""},
		{"title in Hebrew", ValidateTitle("title", "\u05E9\u05DC\u05D5\u05DD"), ""},
		{"description with line breaks and tabs", ValidateDescription("a\n\tb\r\n"), ""},
		{"description with a bell", ValidateDescription("a\ab"), Invalid},
		{"description invalid UTF-8", ValidateDescription("a\xffb"), Invalid},
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

func TestNormalizeLabelsRefusesHiddenText(t *testing.T) {
	for _, label := range []string{"urgent\u202E", "\u200Bbug", "a\u2028b", "\u200D", "\uFEFF",
		"bug\u2060", "b\u00ADug", "ur\u200Dgent", "ur\u200Cgent", "bug\u200D", "bug\uFE0F", "bug\U000E0020", "b\u2800ug", "bug!\uFE0F", "v1\uFE0E", "\U0001F3F4" + tags("ignore") + "\U000E007F"} {
		if _, err := NormalizeLabels([]string{"ok", label}); ErrorCode(err) != Invalid {
			t.Errorf("NormalizeLabels(%q): err %v, want code %q", label, err, Invalid)
		} else if strings.ContainsAny(err.Error(), "\u202E\u200B\u2028\u200D\u200C\uFEFF\u2060\u00AD\uFE0F\U000E0020\u2800") {
			t.Errorf("NormalizeLabels(%q): the message %q repeats the hidden character instead of escaping it", label, err)
		}
	}
	got, err := NormalizeLabels([]string{"\U0001F468\u200D\U0001F373", "\u0645\u06CC\u200C\u0634\u0648\u062F", "\U0001F441\uFE0F\u200D\U0001F5E8\uFE0F"})
	if err != nil {
		t.Fatalf("labels with ZWJ and ZWNJ refused: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("labels with ZWJ and ZWNJ: got %q, want all kept", got)
	}
}

// tags spells s in tag characters (U+E0020–U+E007E), which show nothing.
func tags(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(0xE0000 + r)
	}
	return b.String()
}

func TestNormalizeLabels(t *testing.T) {
	tests := []struct {
		name     string
		in, want []string
	}{
		{"trimmed, first spelling kept", []string{" bug ", "Bug", "urgent"}, []string{"bug", "urgent"}},
		{"full width is the same label", []string{"urgent", "\uFF55\uFF52\uFF47\uFF45\uFF4E\uFF54"}, []string{"urgent"}},
		{"first spelling kept when it is full width", []string{"\uFF35\uFF32\uFF27\uFF25\uFF2E\uFF34", "urgent"}, []string{"\uFF35\uFF32\uFF27\uFF25\uFF2E\uFF34"}},
		{"a ligature is its letters", []string{"\uFB01x", "fix"}, []string{"\uFB01x"}},
		{"a circled digit is the digit", []string{"v1", "v\u2460"}, []string{"v1"}},
		{"sharp s folds to ss", []string{"Stra\u00DFe", "STRASSE", "strasse"}, []string{"Stra\u00DFe"}},
		{"final sigma folds to sigma", []string{"\u03A3\u039F\u03A6\u039F\u03A3", "\u03C3\u03BF\u03C6\u03BF\u03C2"}, []string{"\u03A3\u039F\u03A6\u039F\u03A3"}},
		{"composed and decomposed accents", []string{"caf\u00E9", "cafe\u0301", "CAF\u00C9"}, []string{"caf\u00E9"}},
		{"runs of spaces are one space", []string{"in progress", "In  Progress", "in\u3000progress", "in\u00A0 progress"}, []string{"in progress"}},
		{"a variation selector is not a new label", []string{"\u2764\uFE0F", "\u2764", "\u2764\uFE0E"}, []string{"\u2764\uFE0F"}},
		{"a joiner is not a new label", []string{"\U0001F469\u200D\U0001F4BB", "\U0001F469\U0001F4BB"}, []string{"\U0001F469\u200D\U0001F4BB"}},
		{"a ZWNJ is not a new label", []string{"\u0645\u06CC\u200C\u0634\u0648\u062F", "\u0645\u06CC\u0634\u0648\u062F"}, []string{"\u0645\u06CC\u200C\u0634\u0648\u062F"}},
		{"a text presentation is not a new label", []string{"\u2764\uFE0E", "\u2764"}, []string{"\u2764\uFE0E"}},
		{"different labels stay", []string{"bug", "bugs", "bug fix", "caf\u00E9", "cafe", "\u6F22", "\u5B57"}, []string{"bug", "bugs", "bug fix", "caf\u00E9", "cafe", "\u6F22", "\u5B57"}},
	}
	for _, tt := range tests {
		got, err := NormalizeLabels(tt.in)
		if err != nil {
			t.Errorf("%s: NormalizeLabels(%+q): %v", tt.name, tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: labels (-want +got):\n%s", tt.name, diff)
		}
	}
	for _, bad := range [][]string{{""}, {strings.Repeat("x", MaxLabelLen+1)}, {"a\tb"}, {"a\xffb"}, strings.Split("a b c d e f g h i j k", " ")} {
		if _, err := NormalizeLabels(bad); ErrorCode(err) != Invalid {
			t.Errorf("NormalizeLabels(%q) = %v, want an Invalid error", bad, err)
		}
	}
}

func TestNameKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bug", "bug"},
		{"Bug Fix", "bug fix"},
		{"a  b", "a b"},
		{"a\t\n b", "a b"},
		{"\uFF35\uFF32\uFF27\uFF25\uFF2E\uFF34", "urgent"},
		{"Stra\u00DFe", "strasse"},
		{"CAF\u00C9", "caf\u00E9"},
		{"\u2764\uFE0F", "\u2764"},
		{"\U0001F469\u200D\U0001F4BB", "\U0001F469\U0001F4BB"},
		{"a \u200D b", "a b"},
		{"CAF\u00C9\u3000", "caf\u00E9 "}, // white space at the end folds to one space too
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, NameKey(tt.in)); diff != "" {
			t.Errorf("NameKey(%+q) (-want +got):\n%s", tt.in, diff)
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
