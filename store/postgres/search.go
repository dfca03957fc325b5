package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// Search semantics are store.CardSearch's exactly: a card matches when
// strings.ToLower of its title, its whole description or one of its
// labels contains strings.ToLower of the query, byte for byte. That is
// Go's simple per-character lower-casing, the same on every machine: not
// PostgreSQL's lower() or ILIKE, which follow the database's locale (only
// ASCII under C, Turkish dotless i under tr_TR, full case mapping under
// ICU), and not LIKE, whose % and _ would need escaping.
//
// For a query of ASCII characters (almost every query) PostgreSQL does the
// matching, exactly: translate() with foldFrom and foldTo turns every
// character whose Go lower case is ASCII into that lower case, and strpos
// looks for the lowered query. Every other character stays what it is, or
// becomes in Go a lower case that is not ASCII either; an ASCII query can
// only match ASCII characters, which both sides lower-case alike, so both
// find the same cards (TestFoldTable checks the table against Go's).
// Other queries are matched in Go, over the cards read in keyset batches.
const (
	foldFrom = "ABCDEFGHIJKLMNOPQRSTUVWXYZ\u0130\u212A" // … İ (dotted capital I), K (Kelvin sign)
	foldTo   = "abcdefghijklmnopqrstuvwxyzik"
)

// foldSQL is the SQL that lower-cases the text expression e as described
// above; foldFrom holds no quote.
func foldSQL(e string) string { return "translate(" + e + ", '" + foldFrom + "', '" + foldTo + "')" }

// searchBatch is how many cards a search reads per query when it filters
// in Go: enough to fill most pages in one query, few enough that a search
// which finds its page early does not read a whole board's descriptions.
const searchBatch = 256

// SearchCards finds cards whose title, description or labels contain
// in.Query, case-insensitively, oldest first by (created_at, id), each
// with a preview of its description. The label filter compares
// store.NameKey forms, in Go (store.CardSearch.MatchesLabel).
func (s *Store) SearchCards(ctx context.Context, viewer store.Actor, in store.CardQuery) (store.CardList, error) {
	q, err := store.CheckCardQuery(in)
	if err != nil {
		return store.CardList{}, err
	}

	list := store.CardList{Cards: []store.Card{}}
	if q.BoardID == "" && viewer.Anonymous() {
		return list, nil // an anonymous viewer has no boards of its own
	}

	// inSQL: PostgreSQL matches the text; inGo: Go does, and needs the
	// whole description.
	inSQL := q.Lowered != "" && isASCIIText(q.Lowered)
	inGo := q.Lowered != "" && !inSQL
	batch := q.Limit + 1
	if inGo || q.LabelKey != "" {
		batch = max(batch, searchBatch)
	}

	err = s.read(ctx, "search cards", func(tx pgx.Tx) error {
		list.Cards = list.Cards[:0] // a retried transaction starts over
		sq := searchSQL{}
		if q.BoardID != "" {
			if _, err := visibleBoard(ctx, tx, viewer, q.BoardID); err != nil {
				return err
			}
			sq.where("k.board_id = " + sq.arg(clean(q.BoardID)))
		} else {
			iss, sub := identity(viewer.Issuer, viewer.Subject)
			sq.where("k.board_id IN (SELECT id FROM boards WHERE owner_iss = " + sq.arg(iss) + " AND owner_sub = " + sq.arg(sub) + ")")
		}
		if q.ColumnID != "" {
			if err := searchableColumn(ctx, tx, viewer, q.ColumnID, q.BoardID); err != nil {
				return err
			}
			sq.where("k.column_id = " + sq.arg(clean(q.ColumnID)))
		}
		if inSQL {
			p := sq.arg(q.Lowered)
			sq.where("(strpos(" + foldSQL("k.title") + ", " + p + ") > 0" +
				" OR strpos(" + foldSQL("k.description") + ", " + p + ") > 0" +
				" OR EXISTS (SELECT 1 FROM unnest(k.labels) AS l (label) WHERE strpos(" + foldSQL("l.label") + ", " + p + ") > 0))")
		}
		description := "left(k.description, " + strconv.Itoa(store.DescriptionPreviewLen+1) + ")"
		if inGo {
			description = "k.description"
		}
		// The keyset arguments, from the caller's cursor (its ID as it
		// came), which each batch moves on to its last card.
		after := len(sq.args)
		key, id := sq.arg(q.After.Key), sq.arg(clean(q.After.ID))
		sq.where("(k.created_at, k.id) > (" + key + ", " + id + ")")
		sqlQuery := `SELECT k.id, k.board_id, k.column_id, c.name, k.title, ` + description + `, k.labels,
				k.position, k.version, k.created_at, k.updated_at
			FROM cards k JOIN columns c ON c.id = k.column_id
			WHERE ` + strings.Join(sq.conds, " AND ") + `
			ORDER BY k.created_at, k.id
			LIMIT ` + sq.arg(batch)

		for {
			scanned, full := 0, false
			rows, err := tx.Query(ctx, sqlQuery, sq.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				card, err := scanCard(rows)
				if err != nil {
					rows.Close()
					return err
				}
				scanned++
				sq.args[after], sq.args[after+1] = store.UnixNanos(card.CreatedAt), card.ID
				// When the query is matched in SQL, every card read
				// matches it, and only a preview's worth of its
				// description was read.
				if !q.MatchesLabel(card) || inGo && !q.MatchesText(card) {
					continue
				}
				// Matched on the whole text; a page of results keeps only
				// previews, as a board does.
				card.Description, card.DescriptionTruncated = store.PreviewDescription(card.Description)
				list.Cards = append(list.Cards, card)
				if len(list.Cards) > q.Limit {
					full = true
					break
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if full || scanned < batch {
				return nil
			}
		}
	})
	if err != nil {
		return store.CardList{}, err
	}
	return store.CardPage(list.Cards, q.Limit), nil
}

// searchSQL collects the conditions and arguments of a search query.
type searchSQL struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *searchSQL) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *searchSQL) where(cond string) { q.conds = append(q.conds, cond) }

// isASCIIText reports whether s is ASCII without NUL, which PostgreSQL
// text cannot hold (no card holds it either: descriptions refuse control
// characters other than line breaks and tabs).
func isASCIIText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// searchableColumn checks that column columnID is on board boardID, or on
// one of the viewer's own boards when boardID is empty. The caller has
// already checked that boardID is visible.
func searchableColumn(ctx context.Context, tx pgx.Tx, viewer store.Actor, columnID, boardID string) error {
	if boardID != "" {
		_, err := columnOnBoard(ctx, tx, columnID, boardID)
		return err
	}
	const query = `SELECT count(*) FROM columns c JOIN boards b ON b.id = c.board_id
		WHERE c.id = $1 AND b.owner_iss = $2 AND b.owner_sub = $3`
	iss, sub := identity(viewer.Issuer, viewer.Subject)
	var n int
	if err := tx.QueryRow(ctx, query, clean(columnID), iss, sub).Scan(&n); err != nil {
		return fmt.Errorf("load column: %w", err)
	}
	if n == 0 {
		return store.ColumnNotOwned(columnID)
	}
	return nil
}
