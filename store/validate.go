package store

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Input limits. Tools advertise them in their input schemas and every store
// implementation enforces them, so no path can write past them.
const (
	MaxTitleLen       = 200    // characters in a board, column or card title
	MaxDescriptionLen = 10_000 // characters in a card description
	MaxLabels         = 10     // labels on one card
	MaxLabelLen       = 32     // characters in one label
	MaxColumns        = 20     // columns on a new board
	MaxQueryLen       = 200    // characters in a search query
	MaxPageSize       = 200    // items on one page
	DefaultPageSize   = 50     // items on a page when no limit is given
)

// Quotas are the configurable per-user and per-board limits.
type Quotas struct {
	BoardsPerUser int
	CardsPerBoard int
}

// DefaultQuotas returns the quotas used when none are configured.
func DefaultQuotas() Quotas { return Quotas{BoardsPerUser: 100, CardsPerBoard: 1000} }

// OrDefaults returns q with each field that is not positive taken from
// DefaultQuotas(), as every backend's options promise.
func (q Quotas) OrDefaults() Quotas {
	if q.BoardsPerUser <= 0 {
		q.BoardsPerUser = DefaultQuotas().BoardsPerUser
	}
	if q.CardsPerBoard <= 0 {
		q.CardsPerBoard = DefaultQuotas().CardsPerBoard
	}
	return q
}

// CheckBoards refuses one more board to an owner who already has owned,
// counted where no other write can add one meanwhile.
func (q Quotas) CheckBoards(owned int) error {
	if owned >= q.BoardsPerUser {
		return Errorf(Quota, "you already have %d boards, the most allowed; delete one with delete_board first", owned)
	}
	return nil
}

// CheckCards refuses one more card on board boardID, which already holds
// onBoard, counted where no other write can add one meanwhile.
func (q Quotas) CheckCards(boardID string, onBoard int) error {
	if onBoard >= q.CardsPerBoard {
		return Errorf(Quota, "board %s already has %d cards, the most allowed; delete some with delete_card first", boardID, onBoard)
	}
	return nil
}

// ID prefixes. IDs are random and never sequential, so they reveal nothing
// about how many boards or cards exist.
const (
	BoardPrefix  = "b_"
	ColumnPrefix = "col_"
	CardPrefix   = "c_"
)

// NewID returns prefix followed by 20 random base32 characters (100 bits).
func NewID(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return prefix + string(b[:])
}

// ValidateTitle checks a board, column or card title (after trimming, which
// every store applies before saving); what names the field in the message.
// Titles are one line: control characters are refused.
func ValidateTitle(what, title string) error {
	t := strings.TrimSpace(title)
	switch {
	case t == "":
		return Errorf(Invalid, "%s must not be empty", what)
	case !utf8.ValidString(t):
		return Errorf(Invalid, "%s must be valid UTF-8 text", what)
	case utf8.RuneCountInString(t) > MaxTitleLen:
		return Errorf(Invalid, "%s is %d characters long; the limit is %d", what, utf8.RuneCountInString(t), MaxTitleLen)
	case hasControl(t, ""):
		return Errorf(Invalid, "%s must be a single line without control characters", what)
	}
	return checkName(what, t)
}

// ValidateDescription checks a card description. Line breaks and tabs are
// fine; other control characters are refused.
func ValidateDescription(d string) error {
	switch {
	case !utf8.ValidString(d):
		return Errorf(Invalid, "description must be valid UTF-8 text")
	case utf8.RuneCountInString(d) > MaxDescriptionLen:
		return Errorf(Invalid, "description is %d characters long; the limit is %d", utf8.RuneCountInString(d), MaxDescriptionLen)
	case hasControl(d, "\n\r\t"):
		return Errorf(Invalid, "description must not contain control characters other than line breaks and tabs")
	}
	return nil
}

// hasControl reports whether s holds a control character not in allowed.
func hasControl(s, allowed string) bool {
	for _, r := range s {
		if unicode.IsControl(r) && !strings.ContainsRune(allowed, r) {
			return true
		}
	}
	return false
}

// checkName refuses what a name shown to people must not hold. Such names
// make one board, column or label look like another (or like nothing) in
// a list, or carry words a person cannot see but a model reads;
// descriptions are free text and keep them. Refused anywhere: characters
// that reorder the text around them (bidirectional controls), zero-width
// spaces and byte order marks, line and paragraph separators, the blank
// braille pattern (it shows as a blank but is no space), other invisible
// formatting and default-ignorable characters, private-use characters and
// noncharacters, and names that would render as nothing at all.
//
// Also refused anywhere: the object replacement character and the musical
// null notehead (they show as nothing or a box), code points this Go
// release does not know outside the emoji blocks (where newer emoji live),
// and variation selectors other than the emoji and text presentation
// selectors: ideographic and standardized variation sequences change a
// glyph too subtly to tell apart, and one after every character of a name
// spells a hidden byte each.
//
// What scripts and emoji need stays allowed, but only where it shows:
//   - ZWJ and ZWNJ only between two characters that join: emoji (symbols,
//     their modifiers and presentation selectors) or letters and marks of
//     a script that uses joiners (Arabic and Persian, Syriac, N'Ko,
//     Mongolian, the Indic scripts, Sinhala, Myanmar, Khmer, Tibetan).
//     Between any other characters (Latin, Cyrillic, Han, spaces, another
//     joiner) a joiner changes nothing visible and only makes a look-alike
//     ("ur\u200Dgent") or spells hidden bits. The character after must not
//     be a mark, except a virama (Bengali ra with ya-phala, Sinhala
//     touching letters);
//   - combining marks of the base character's own script, or of none
//     (accents): a mark of another script on a letter (a Khitan filler
//     after "t") draws nothing, or draws like a different letter;
//   - U+FE0F and U+FE0E right after a symbol or punctuation they can
//     present as emoji or text (❤️, ‼️, ℹ️), and in a keycap emoji
//     ([0-9#*] U+FE0F U+20E3, as in 1️⃣); not after a letter, a space,
//     another selector or at the start;
//   - tag characters only in the flags of England, Scotland and Wales (🏴
//     followed by the tags gbeng, gbsct or gbwls and the cancel tag), the
//     only tag sequences recommended for interchange; any other run of tags
//     spells text no one sees.
func checkName(what, name string) error {
	visible := false
	prev := rune(-1) // the character before r; -1 at the start
	base := rune(-1) // the last character before r that is not a combining mark or a joiner
	tagsEnd := 0     // the byte offset where the tags of an allowed flag end
	for i, r := range name {
		if r >= ' ' && r < utf8.RuneSelf { // printable ASCII: none of the rules below is about it
			visible = visible || r != ' '
			prev, base = r, r
			continue
		}
		_, size := utf8.DecodeRuneInString(name[i:]) // not RuneLen: an invalid byte is one wide
		rest := name[i+size:]
		next := firstRune(rest)
		switch {
		case unicode.Is(unicode.Bidi_Control, r):
			return Errorf(Invalid, "%s must not contain bidirectional control characters (U+%04X), which reorder the text shown around them", what, r)
		case r == '\u200B' || r == '\uFEFF':
			return Errorf(Invalid, "%s must not contain zero-width spaces (U+%04X)", what, r)
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return Errorf(Invalid, "%s must be a single line without line or paragraph separators (U+%04X)", what, r)
		case r == brailleBlank:
			return Errorf(Invalid, "%s must not contain the blank braille pattern (U+2800), which shows as a blank; use an ordinary space", what)
		case r == '\uFFFC' || r == '\U0001D159':
			return Errorf(Invalid, "%s must not contain U+%04X, which shows as nothing or as a box; remove it", what, r)
		case unassigned(r) && !inEmojiBlocks(r):
			return Errorf(Invalid, "%s must not contain U+%04X, a code point Unicode %s does not assign, which shows as nothing or as a box; remove it", what, r, unicode.Version)
		case unicode.In(r, unicode.Mn, unicode.Me) && !unicode.Is(unicode.Variation_Selector, r) && !markFits(r, base):
			return Errorf(Invalid, "%s has a combining mark (U+%04X) of another script than the letter it sits on, where it draws nothing or a look-alike; remove it", what, r)
		case r == flagBase:
			if isTag(next) {
				n := subdivisionFlagTags(rest)
				if n == 0 {
					return Errorf(Invalid, "%s has a flag emoji (U+1F3F4) followed by tag characters that spell no known flag: they are invisible text; only the flags of England, Scotland and Wales may carry them, so remove the tag characters", what)
				}
				tagsEnd = i + size + n
			}
			visible = true
		case isTag(r):
			if i >= tagsEnd {
				return Errorf(Invalid, "%s must not contain tag characters (U+%04X) outside the flag emoji of England, Scotland or Wales: they are invisible text; remove them", what, r)
			}
		case r == zwj || r == zwnj:
			if !joinsAfter(prev, base) || !joinsBefore(next) {
				return Errorf(Invalid, "%s has a %s (U+%04X) that joins nothing visible: it may only sit between two characters of emoji or of a script that uses it, such as Persian or Devanagari, not next to an ASCII character, a Latin letter, a space or another joiner, nor before a variation selector or a combining mark other than a virama; remove it", what, joinerName(r), r)
			}
		case unicode.Is(unicode.Variation_Selector, r):
			if err := checkVariationSelector(what, r, prev, base, next); err != nil {
				return err
			}
		case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point):
			return Errorf(Invalid, "%s must not contain invisible formatting characters (U+%04X)", what, r)
		case unicode.Is(unicode.Co, r) || isNoncharacter(r):
			return Errorf(Invalid, "%s must not contain private-use characters or noncharacters (U+%04X), which show as nothing or as a box", what, r)
		case !invisible(r):
			visible = true
		}
		prev = r
		if !unicode.In(r, unicode.M) && !isJoiner(r) { // variation selectors are marks too
			base = r
		}
	}
	if !visible {
		return Errorf(Invalid, "%s must contain at least one visible character", what)
	}
	return nil
}

// checkVariationSelector refuses variation selector r when it cannot vary
// the character before it (prev, whose base character is base; next is
// the character after r, -1 at the end). There it shows nothing, so it
// makes a look-alike of the name without it or hides text.
func checkVariationSelector(what string, r, prev, base, next rune) error {
	switch {
	case r != vs15 && r != vs16:
		return Errorf(Invalid, "%s must not contain variation selector U+%04X: only the emoji and text presentation selectors (U+FE0F, U+FE0E) are allowed in names, after a symbol they present; remove it", what, r)
	case prev < 0 || unicode.Is(unicode.Variation_Selector, prev) || isTag(prev):
		return Errorf(Invalid, "%s must not contain a variation selector (U+%04X) that varies nothing: it may only follow a symbol it presents, such as an emoji; remove it", what, r)
	case prev < utf8.RuneSelf:
		// ASCII has no presentation sequence that shows apart from the
		// plain character, except as part of a keycap emoji.
		if r != vs16 || next != keycap || !strings.ContainsRune("0123456789#*", prev) {
			return Errorf(Invalid, "%s must not contain a variation selector (U+%04X) after an ASCII character, where it shows nothing; only a keycap emoji (a digit, # or *, then U+FE0F and U+20E3) has one; remove it", what, r)
		}
	case !unicode.In(base, unicode.S, unicode.P) && base != informationSource:
		return Errorf(Invalid, "%s must not contain a variation selector (U+%04X) after a letter, a digit or a space, which it cannot present as emoji; remove it", what, r)
	}
	return nil
}

// markFits reports whether combining mark r may sit on base: a mark of no
// script of its own (an accent, U+0300…), or of base's script.
func markFits(r, base rune) bool {
	if unicode.In(r, unicode.Inherited, unicode.Common) {
		return true
	}
	for _, script := range unicode.Scripts {
		if unicode.Is(script, r) {
			return base >= 0 && unicode.Is(script, base)
		}
	}
	return false
}

// unassigned reports whether this Go release's Unicode tables give r no
// category.
func unassigned(r rune) bool {
	// Not unicode.C: Go's "other" table holds the unassigned code points.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// inEmojiBlocks reports whether r lies in the blocks where Unicode adds
// emoji (U+1F000–U+1FBFF): a name may hold an emoji newer than the tables.
func inEmojiBlocks(r rune) bool { return r >= 0x1F000 && r <= 0x1FBFF }

// joinsAfter reports whether a ZWJ or ZWNJ may follow prev, whose base
// character (past combining marks and variation selectors) is base.
// Emoji sequences join after an emoji, its modifier or its variation
// selector, Indic scripts after a virama; next to ASCII, Latin letters and
// spaces a joiner changes nothing visible, so it only makes a look-alike
// ("ur\u200Dgent") or, in a run, spells hidden bits.
func joinsAfter(prev, base rune) bool {
	return prev >= 0 && !isJoiner(prev) && !isJoiner(base) && joins(base)
}

// joinsBefore reports whether a ZWJ or ZWNJ may precede next (-1 at the
// end of the name): a character that can join, not a mark, a variation
// selector or another joiner, which would leave the joiner nothing to
// join. A virama is the one mark allowed: Bengali writes ra with
// ya-phala as ra, ZWJ, virama, ya, and Sinhala its touching letters as
// consonant, ZWJ, al-lakuna, consonant; a virama shows.
func joinsBefore(next rune) bool {
	return next >= 0 && !isJoiner(next) && joins(next) &&
		(!unicode.In(next, unicode.M, unicode.Variation_Selector) || isVirama(next))
}

// joiningScripts are the scripts whose text uses ZWJ and ZWNJ to choose
// between joined and separate forms of its letters.
var joiningScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian,
	unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati, unicode.Oriya,
	unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala,
	unicode.Myanmar, unicode.Khmer, unicode.Tibetan,
}

// joins reports whether a ZWJ or ZWNJ next to r can change what shows: r
// is part of an emoji (a symbol, an emoji modifier or a presentation
// selector) or a letter or mark of a joining script.
func joins(r rune) bool {
	// Not ASCII: ^ and ` are modifier symbols too, and join nothing.
	return r >= utf8.RuneSelf && (unicode.In(r, unicode.So, unicode.Sk) || r == vs16 || unicode.In(r, joiningScripts...))
}

// isVirama reports whether r is a virama (canonical combining class 9).
func isVirama(r rune) bool { return norm.NFD.PropertiesString(string(r)).CCC() == 9 }

func isJoiner(r rune) bool { return r == zwj || r == zwnj }

func joinerName(r rune) string {
	if r == zwnj {
		return "zero-width non-joiner"
	}
	return "zero-width joiner"
}

// firstRune returns the first character of s, or -1 if s is empty.
func firstRune(s string) rune {
	if s == "" {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r
}

// The characters that checkName treats specially.
const (
	zwj       = '\u200D'
	zwnj      = '\u200C'
	flagBase  = '\U0001F3F4' // WAVING BLACK FLAG, the base of subdivision flags
	cancelTag = '\U000E007F'
	vs15      = '\uFE0E' // VARIATION SELECTOR-15, text presentation
	vs16      = '\uFE0F' // VARIATION SELECTOR-16, emoji presentation
	// informationSource (ℹ) is a letter with an emoji presentation.
	informationSource = '\u2139'
	keycap            = '\u20E3' // COMBINING ENCLOSING KEYCAP
	// brailleBlank draws nothing yet is no space: trimming and blank
	// checks miss it, so it can pad a name to look like another.
	brailleBlank = '\u2800'
)

// isTag reports whether r is a tag character (U+E0020–U+E007F).
func isTag(r rune) bool { return r >= 0xE0020 && r <= 0xE007F }

// subdivisionFlags are the tag characters that follow 🏴 in the only
// flag emoji Unicode recommends for general interchange (RGI): England,
// Scotland and Wales. Any other tag run can spell text no one sees.
var subdivisionFlags = []string{flagTags("gbeng"), flagTags("gbsct"), flagTags("gbwls")}

// flagTags spells region (a–z) in tag characters and ends it with the
// cancel tag.
func flagTags(region string) string {
	var b strings.Builder
	for _, r := range region {
		b.WriteRune(r - 'a' + 0xE0061)
	}
	b.WriteRune(cancelTag)
	return b.String()
}

// subdivisionFlagTags returns the length in bytes of the tags of an RGI
// subdivision flag at the start of s, or 0 if s does not start with one.
func subdivisionFlagTags(s string) int {
	for _, tags := range subdivisionFlags {
		if strings.HasPrefix(s, tags) {
			return len(tags)
		}
	}
	return 0
}

// isNoncharacter reports whether r is one of Unicode's 66 noncharacters.
func isNoncharacter(r rune) bool { return r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE }

// invisible reports whether r draws nothing on its own: spaces, format
// characters (ZWJ, ZWNJ, …), combining marks without a base, variation
// selectors, the other default-ignorable code points, the object
// replacement character, the musical null notehead,
// and code points this Go release does not know (checkName lets those
// through only in the emoji blocks, where they may be emoji newer than the
// tables; a name of only those shows nothing recognisable).
func invisible(r rune) bool {
	return unicode.IsSpace(r) || r == '\uFFFC' || r == '\U0001D159' ||
		unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) ||
		unassigned(r)
}

// NormalizeLabels trims labels, drops duplicates (labels with the same
// NameKey, keeping the first spelling) and checks the limits. It returns
// a non-nil slice.
func NormalizeLabels(labels []string) ([]string, error) {
	out := make([]string, 0, len(labels))
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			return nil, Errorf(Invalid, "labels must not be empty strings")
		case !utf8.ValidString(l):
			return nil, Errorf(Invalid, "labels must be valid UTF-8 text")
		case utf8.RuneCountInString(l) > MaxLabelLen:
			return nil, Errorf(Invalid, "label %q is longer than %d characters", l, MaxLabelLen)
		case hasControl(l, ""):
			return nil, Errorf(Invalid, "labels must not contain control characters")
		}
		if err := checkName(fmt.Sprintf("label %+q", l), l); err != nil {
			return nil, err
		}
		key := NameKey(l)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, l)
	}
	if len(out) > MaxLabels {
		return nil, Errorf(Invalid, "a card can have at most %d labels; got %d", MaxLabels, len(out))
	}
	return out, nil
}

// NameKey returns what two names must share to count as the same name
// (two labels of a card, two columns of a board): their compatibility
// caseless form (Unicode's D146: NFKC folds width and
// compatibility forms, so "ｕｒｇｅｎｔ" is "urgent"; full case folding
// makes "Straße" "STRASSE"), with each run of white space as one ASCII
// space and without ZWJ, ZWNJ and variation selectors, which change how a
// name looks but not what it says. Names that differ only so would read
// as one name twice.
func NameKey(label string) string {
	if isFoldedASCII(label) {
		return label // the common case, as a label filter checks every card
	}
	// D146 folds both before and after the compatibility decomposition:
	// each step can make text that the other changes again.
	fold := cases.Fold() // a Caser may keep state: one per call
	s := fold.String(norm.NFD.String(label))
	s = norm.NFKC.String(fold.String(norm.NFKD.String(s)))
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case isJoiner(r) || unicode.Is(unicode.Variation_Selector, r):
		case unicode.IsSpace(r):
			space = true
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

// isFoldedASCII reports whether s is already its own NameKey because it
// is ASCII without upper-case letters, control characters or a run of
// spaces.
func isFoldedASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' || c < ' ' || c == 0x7F || c == ' ' && i > 0 && s[i-1] == ' ' {
			return false
		}
	}
	return true
}

// ValidateID checks that id looks like an ID with the given prefix, so that
// a column ID passed as a card ID gets a message that says so.
func ValidateID(what, prefix, id string) error {
	if id == "" {
		return Errorf(Invalid, "%s is required", what)
	}
	if !strings.HasPrefix(id, prefix) || len(id) > 64 {
		return Errorf(Invalid, "%s %q is not a valid ID: %s IDs start with %q", what, truncate(id, 64), what, prefix)
	}
	return nil
}

// PageLimit resolves a requested page size.
func PageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 0 || limit > MaxPageSize:
		return 0, Errorf(Invalid, "limit must be between 1 and %d; got %d", MaxPageSize, limit)
	}
	return limit, nil
}

// truncate shortens s to at most n characters for use in a message.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
