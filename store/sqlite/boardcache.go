package sqlite

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// boardCache keeps recently read boards in memory, because get_board is
// the call agents make most and a 50-card board costs SQLite about a
// quarter of a millisecond to assemble.
//
// Only this process writes boards (the CLI changes revocations and users,
// never boards), and every write goes through Store.write, which
// invalidates the board it changed after its commit. A read that raced a
// write must not store what it read from before that write: each board
// maps to a generation counter that invalidation bumps, a reader notes the
// generation before it queries and stores only if it is unchanged, and
// storing and invalidating hold the same lock, so a stale board is either
// never stored or removed by the invalidation that follows.
type boardCache struct {
	seed maphash.Seed

	mu          sync.Mutex
	boards      map[string]cachedBoard
	generations [256]uint64 // by a hash of the board ID: bounded memory
}

// cachedBoard is a board as stored, with what visibility decisions need.
type cachedBoard struct {
	board              store.Board // Owned is set per viewer on the way out
	ownerIss, ownerSub string
}

// maxCachedBoards bounds the cache (a 50-card board is about 20 KB).
const maxCachedBoards = 256

func newBoardCache() *boardCache {
	return &boardCache{seed: maphash.MakeSeed(), boards: make(map[string]cachedBoard)}
}

func (c *boardCache) slot(id string) *uint64 {
	return &c.generations[maphash.String(c.seed, id)%uint64(len(c.generations))]
}

// generation is the board's generation, to pass to put after reading it.
func (c *boardCache) generation(id string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.slot(id)
}

// get returns a copy of the cached board as viewer sees it: ok is false
// when it is not cached, visible false when viewer may not see it.
func (c *boardCache) get(id string, viewer store.Actor) (b *store.Board, ok, visible bool) {
	c.mu.Lock()
	e, ok := c.boards[id]
	c.mu.Unlock()
	if !ok {
		return nil, false, false
	}
	owned := owns(viewer, e.ownerIss, e.ownerSub)
	if e.board.Visibility != store.Public && !owned {
		return nil, true, false
	}
	out := copyBoard(&e.board)
	out.Owned = owned
	return out, true, true
}

// put stores a board read at generation gen, unless the board was
// invalidated since.
func (c *boardCache) put(b *store.Board, ownerIss, ownerSub string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.slot(b.ID) != gen {
		return
	}
	if len(c.boards) >= maxCachedBoards {
		clear(c.boards) // rare; simpler than tracking use
	}
	e := cachedBoard{board: *copyBoard(b), ownerIss: ownerIss, ownerSub: ownerSub}
	e.board.Owned = false
	c.boards[b.ID] = e
}

// invalidate forgets board id; "" forgets every board.
func (c *boardCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		for i := range c.generations {
			c.generations[i]++
		}
		clear(c.boards)
		return
	}
	*c.slot(id)++
	delete(c.boards, id)
}

// copyBoard copies a board deeply, so that neither the cache nor a caller
// can change what the other holds.
func copyBoard(b *store.Board) *store.Board {
	out := *b
	out.Columns = make([]store.Column, len(b.Columns))
	for i, col := range b.Columns {
		out.Columns[i] = col
		out.Columns[i].Cards = make([]store.Card, len(col.Cards))
		for j, card := range col.Cards {
			card.Labels = slices.Clone(card.Labels)
			if card.Labels == nil {
				card.Labels = []string{}
			}
			out.Columns[i].Cards[j] = card
		}
	}
	return &out
}
