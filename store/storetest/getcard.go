package storetest

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// longDescription is a description at the limit, in words, with a marker
// near its end that no preview reaches.
func longDescription() string {
	const marker = " needle-at-the-end"
	words := strings.Repeat("ünïcode wörds ", store.MaxDescriptionLen/len([]rune("ünïcode wörds ")))
	return string([]rune(words)[:store.MaxDescriptionLen-len(marker)]) + marker
}

func testGetCard(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	long := longDescription()
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[1].ID, Title: "Write copy", Description: long, Labels: []string{"docs"}})

	got, err := e.s.GetCard(t.Context(), alice, card.ID)
	if err != nil {
		t.Fatal(err)
	}
	Diff(t, "GetCard", &store.CardView{Card: *card, BoardTitle: "Launch", Owned: true}, got)

	for _, tt := range []struct {
		id   string
		code store.Code
	}{
		{"", store.Invalid},
		{b.ID, store.Invalid}, // a board ID is not a card ID
		{"c_" + strings.Repeat("x", 80), store.Invalid},
		{missingCard, store.NotFound},
	} {
		_, err := e.s.GetCard(t.Context(), alice, tt.id)
		WantCode(t, err, tt.code)
	}
}

// testBoardReadsCarryPreviews: GetBoard and SearchCards return previews of
// long descriptions, marked as such, while GetCard and the search itself
// see the whole text. The board is read twice, since a backend may answer
// the second read from a cache.
func testBoardReadsCarryPreviews(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	long := longDescription()
	wantPreview, _ := store.PreviewDescription(long)
	cut := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Long", Description: long})
	whole := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Short", Description: "needle-at-the-end, short"})

	check := func(t *testing.T, what string, got store.Card) {
		t.Helper()
		switch got.ID {
		case cut.ID:
			if got.Description != wantPreview || !got.DescriptionTruncated {
				t.Errorf("%s: long card's description (%d characters, truncated %v) is not its preview", what, utf8.RuneCountInString(got.Description), got.DescriptionTruncated)
			}
		case whole.ID:
			if got.Description != whole.Description || got.DescriptionTruncated {
				t.Errorf("%s: short card's description %q (truncated %v), want it whole", what, got.Description, got.DescriptionTruncated)
			}
		default:
			t.Errorf("%s: unexpected card %s", what, got.ID)
		}
	}
	for _, read := range []string{"first read", "second read"} {
		got := MustGet(t, e.s, alice, b.ID)
		for _, c := range got.Columns[0].Cards {
			check(t, "GetBoard "+read, c)
		}
	}

	// The marker lies past every preview: the search matches whole texts.
	found, err := e.s.SearchCards(t.Context(), alice, store.CardQuery{Query: "NEEDLE-AT-THE-END"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Cards) != 2 {
		t.Fatalf("search found %d cards, want both", len(found.Cards))
	}
	for _, c := range found.Cards {
		check(t, "SearchCards", c)
	}

	view, err := e.s.GetCard(t.Context(), alice, cut.ID)
	if err != nil {
		t.Fatal(err)
	}
	if view.Card.Description != long || view.Card.DescriptionTruncated {
		t.Errorf("GetCard returned %d characters (truncated %v), want the whole %d", utf8.RuneCountInString(view.Card.Description), view.Card.DescriptionTruncated, store.MaxDescriptionLen)
	}
}

// testUpdateCardRefusesThePreview: writing back the preview a board shows
// would cut the description short; it is refused and nothing changes. A
// short description, which is its own preview, can be written as ever.
func testUpdateCardRefusesThePreview(t *testing.T, be backend) {
	e := be.newEnv(t, Options{})
	b := MustBoard(t, e.s, alice, "Launch")
	long := longDescription()
	card := MustCard(t, e.s, alice, store.NewCard{BoardID: b.ID, ColumnID: b.Columns[0].ID, Title: "Long", Description: long})
	shown := MustGet(t, e.s, alice, b.ID).Columns[0].Cards[0]

	_, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &shown.Description})
	WantCode(t, err, store.Invalid)
	if !strings.Contains(err.Error(), "get_card") {
		t.Errorf("refusal %q does not say to read the card with get_card", err)
	}
	view, err := e.s.GetCard(t.Context(), alice, card.ID)
	if err != nil {
		t.Fatal(err)
	}
	if view.Card.Description != long || view.Card.Version != card.Version {
		t.Errorf("after the refused update the card has version %d and %d characters; want it unchanged", view.Card.Version, utf8.RuneCountInString(view.Card.Description))
	}

	short := "A short description ends here…"
	for range 2 {
		got, err := e.s.UpdateCard(t.Context(), Call(alice, "update_card"), store.CardUpdate{CardID: card.ID, Description: &short})
		if err != nil || got.Description != short {
			t.Fatalf("UpdateCard with a short description: %v, %+v", err, got)
		}
	}
}
