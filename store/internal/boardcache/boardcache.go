// Package boardcache keeps recently read boards in memory for the store
// backends, because get_board is the call agents make most and a 50-card
// board costs a database far more to assemble than a copy costs.
//
// The cache itself knows nothing of databases. What makes a cached board
// safe to serve is the backend's: store/sqlite invalidates every board it
// writes (one process writes), and store/postgres labels each board with
// the revision it was read at and serves it only after checking that
// label against the database (several replicas write). Both depend on
// the same guard against a read that raced a write, which is this
// package's: each board maps to a generation counter that Invalidate
// bumps, a reader notes the generation before it queries and Put stores
// only if it is unchanged, and storing and invalidating hold the same
// lock, so a board read before an invalidation is either never stored or
// removed by it.
//
// It is bounded by bytes, not by boards: boards differ in size by a factor
// of a thousand, so a count would bound nothing. Boards hold description
// previews (GetBoard reads no more), which keeps even a full board small.
package boardcache

import (
	"container/list"
	"hash/maphash"
	"slices"
	"sync"
	"unsafe"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// DefaultBytes bounds a cache when the store's options do not. A full
// board (1,000 cards, descriptions cut to previews) takes about 1 MB of
// it, a 50-card board about 30 KB.
const DefaultBytes = 32 << 20

// Cache is a bounded, least-recently-used cache of boards. It is safe for
// concurrent use.
type Cache struct {
	seed     maphash.Seed
	maxBytes int64

	mu          sync.Mutex
	boards      map[string]*list.Element // of *Entry, in lru
	lru         list.List                // most recently used first
	bytes       int64                    // the sum of the cached boards' sizes
	generations [256]uint64              // by a hash of the board ID: bounded memory
}

// Entry is a board as cached, with what visibility decisions need and the
// version label it was stored with. It is never changed once cached, so
// it may be read without the cache's lock.
type Entry struct {
	board              store.Board // Owned is set per viewer by View
	ownerIss, ownerSub string
	version            int64
	size               int64 // boardSize's estimate
}

// New makes a cache that holds at most maxBytes of boards, as boardSize
// counts them; a board larger than that is not cached, so a maxBytes of
// zero or less caches nothing.
func New(maxBytes int64) *Cache {
	return &Cache{seed: maphash.MakeSeed(), maxBytes: maxBytes, boards: make(map[string]*list.Element)}
}

// Bytes is the budget a store's option asks for: zero means DefaultBytes,
// and a negative value turns the cache off.
func Bytes(option int64) int64 {
	if option == 0 {
		return DefaultBytes
	}
	return option
}

func (c *Cache) slot(id string) *uint64 {
	return &c.generations[maphash.String(c.seed, id)%uint64(len(c.generations))]
}

// Generation is the board's generation, to note before reading the board
// from the database and to pass to Put after.
func (c *Cache) Generation(id string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.slot(id)
}

// Lookup returns the cached entry of board id, marking it used.
func (c *Cache) Lookup(id string) (*Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.boards[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*Entry), true
}

// Version is the label the entry was stored with.
func (e *Entry) Version() int64 { return e.version }

// View returns a copy of the board as viewer sees it, or visible false
// when viewer may not see it.
func (e *Entry) View(viewer store.Actor) (b *store.Board, visible bool) {
	owned := viewer.Is(e.ownerIss, e.ownerSub)
	if e.board.Visibility != store.Public && !owned {
		return nil, false
	}
	out := copyBoard(&e.board)
	out.Owned = owned
	return out, true
}

// Put stores board b, owned by (ownerIss, ownerSub), read at generation
// gen and labelled version, unless the board was invalidated since gen or
// is cached already with a higher version, making room by forgetting the
// boards used longest ago. A backend without versions passes 0.
func (c *Cache) Put(b *store.Board, ownerIss, ownerSub string, version int64, gen uint64) {
	e := &Entry{board: *copyBoard(b), ownerIss: ownerIss, ownerSub: ownerSub, version: version}
	e.board.Owned = false
	e.size = boardSize(&e.board, ownerIss, ownerSub)
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.slot(b.ID) != gen || e.size > c.maxBytes {
		return
	}
	if old, ok := c.boards[b.ID]; ok && old.Value.(*Entry).version > version {
		return
	}
	c.remove(b.ID)
	for c.bytes+e.size > c.maxBytes {
		c.remove(c.lru.Back().Value.(*Entry).board.ID)
	}
	c.boards[b.ID] = c.lru.PushFront(e)
	c.bytes += e.size
}

// remove forgets board id, if cached; the caller holds the lock.
func (c *Cache) remove(id string) {
	el, ok := c.boards[id]
	if !ok {
		return
	}
	c.bytes -= el.Value.(*Entry).size
	c.lru.Remove(el)
	delete(c.boards, id)
}

// Usage reports how many boards are cached and their total size.
func (c *Cache) Usage() (boards int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.boards), c.bytes
}

// boardSize estimates the memory a cached board holds: its strings and
// the structs around them. Strings that may share memory (a card's board
// and column IDs) are counted each time, so the estimate errs high.
func boardSize(b *store.Board, ownerIss, ownerSub string) int64 {
	n := int(unsafe.Sizeof(list.Element{})+unsafe.Sizeof(Entry{})) +
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

// Invalidate forgets board id and refuses the Put of any read of it that
// began before; "" does so for every board.
func (c *Cache) Invalidate(id string) {
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
