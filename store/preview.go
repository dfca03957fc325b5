package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// DescriptionPreviewLen is the most characters, the "…" included, of the
// description that a card shows where many cards are shown at once (a
// board, a search). It bounds what one answer can cost: a whole board holds
// at most CardsPerBoard previews instead of CardsPerBoard full
// descriptions (MaxDescriptionLen each).
const DescriptionPreviewLen = 280

// previewWordSlack is how far back a preview may end early to end at a
// word boundary instead of inside a word.
const previewWordSlack = 40

// PreviewDescription returns d when it has at most DescriptionPreviewLen
// characters; otherwise its beginning, cut at a word boundary when one is
// near, followed by "…", DescriptionPreviewLen characters at most, and
// truncated true.
//
// It counts and cuts characters (runes), never bytes, so a preview is
// valid UTF-8 whenever d is. The result depends only on the first
// DescriptionPreviewLen+1 characters of d, so a store may read just those.
func PreviewDescription(d string) (preview string, truncated bool) {
	// Keep DescriptionPreviewLen-1 characters and note whether a word
	// continues past them.
	end, n := 0, 0
	for n < DescriptionPreviewLen-1 && end < len(d) {
		_, size := utf8.DecodeRuneInString(d[end:])
		end += size
		n++
	}
	rest := d[end:]
	next, size := utf8.DecodeRuneInString(rest)
	if size == len(rest) {
		// Nothing or one character left: d fits whole.
		return d, false
	}
	cut := d[:end]
	if !unicode.IsSpace(next) {
		// Cutting inside a word: end at the last space instead, unless the
		// word is so long that the preview would lose much.
		if i := strings.LastIndexFunc(cut, unicode.IsSpace); i >= 0 && utf8.RuneCountInString(cut[i:]) <= previewWordSlack {
			cut = cut[:i]
		}
	}
	return strings.TrimRightFunc(cut, unicode.IsSpace) + "…", true
}
