package sqlite

import (
	"container/list"
	"hash/maphash"
	"slices"
	"sync"
	"unsafe"

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
//
// It is bounded by bytes, not by boards: boards differ in size by a factor
// of a thousand, so a count would bound nothing. Boards hold description
// previews (GetBoard reads no more), which keeps even a full board small.
type boardCache struct {
	seed     maphash.Seed
	maxBytes int64

	mu          sync.Mutex
	boards      map[string]*list.Element // of *cachedBoard, in lru
	lru         list.List                // most recently used first
	bytes       int64                    // the sum of the cached boards' sizes
	generations [256]uint64              // by a hash of the board ID: bounded memory
}

// cachedBoard is a board as stored, with what visibility decisions need.
// It is never changed once cached, so it may be read without the lock.
type cachedBoard struct {
	board              store.Board // Owned is set per viewer on the way out
	ownerIss, ownerSub string
	size               int64 // boardSize's estimate
}

// DefaultBoardCacheBytes bounds the board cache when Options does not. A
// full board (1,000 cards, descriptions cut to previews) takes about 1 MB
// of it, a 50-card board about 30 KB.
const DefaultBoardCacheBytes = 32 << 20

// newBoardCache makes a cache that holds at most maxBytes of boards, as
// boardSize counts them; a board larger than that is not cached.
func newBoardCache(maxBytes int64) *boardCache {
	return &boardCache{seed: maphash.MakeSeed(), maxBytes: maxBytes, boards: make(map[string]*list.Element)}
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
	el, ok := c.boards[id]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, false, false
	}
	e := el.Value.(*cachedBoard)
	owned := viewer.Is(e.ownerIss, e.ownerSub)
	if e.board.Visibility != store.Public && !owned {
		return nil, true, false
	}
	out := copyBoard(&e.board)
	out.Owned = owned
	return out, true, true
}

// put stores a board read at generation gen, unless the board was
// invalidated since, making room by forgetting the boards used longest
// ago.
func (c *boardCache) put(b *store.Board, ownerIss, ownerSub string, gen uint64) {
	e := &cachedBoard{board: *copyBoard(b), ownerIss: ownerIss, ownerSub: ownerSub}
	e.board.Owned = false
	e.size = boardSize(&e.board, ownerIss, ownerSub)
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.slot(b.ID) != gen || e.size > c.maxBytes {
		return
	}
	c.remove(b.ID)
	for c.bytes+e.size > c.maxBytes {
		c.remove(c.lru.Back().Value.(*cachedBoard).board.ID)
	}
	c.boards[b.ID] = c.lru.PushFront(e)
	c.bytes += e.size
}

// remove forgets board id, if cached; the caller holds the lock.
func (c *boardCache) remove(id string) {
	el, ok := c.boards[id]
	if !ok {
		return
	}
	c.bytes -= el.Value.(*cachedBoard).size
	c.lru.Remove(el)
	delete(c.boards, id)
}

// usage reports how many boards are cached and their total size.
func (c *boardCache) usage() (boards int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.boards), c.bytes
}

// boardSize estimates the memory a cached board holds: its strings and
// the structs around them. Strings that may share memory (a card's board
// and column IDs) are counted each time, so the estimate errs high.
func boardSize(b *store.Board, ownerIss, ownerSub string) int64 {
	n := int(unsafe.Sizeof(list.Element{})+unsafe.Sizeof(cachedBoard{})) +
		len(b.ID) + len(b.Title) + len(b.Visibility) + len(ownerIss) + len(ownerSub)
	for _, col := range b.Columns {
		n += int(unsafe.Sizeof(col)) + len(col.ID) + len(col.Name)
		for _, card := range col.Cards {
			n += int(unsafe.Sizeof(card)) + len(card.ID) + len(card.BoardID) + len(card.ColumnID) +
				len(card.ColumnName) + len(card.Title) + len(card.Description)
			for _, l := range card.Labels {
				n += int(unsafe.Sizeof(l)) + len(l)
			}
		}
	}
	return int64(n)
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
		c.lru.Init()
		c.bytes = 0
		return
	}
	*c.slot(id)++
	c.remove(id)
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
