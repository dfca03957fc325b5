// Package diskspace watches the free space of the filesystem that holds
// the database, so that the server can shed optional writes and say why
// before a full disk makes every write fail.
package diskspace

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// GuardOptions configure a Guard.
type GuardOptions struct {
	// Dir is a path on the filesystem to watch (the database's folder).
	Dir string
	// Margin is the free space below which the Guard reports Low; zero
	// turns the Guard off.
	Margin uint64
	// Hint ends the messages about low space: what the operator can do.
	Hint string
	// Logger receives a warning when space runs low, and a note when it
	// is back or cannot be measured; nil discards them.
	Logger *slog.Logger
	// Available measures free space; nil means the package's Available.
	Available func(path string) (uint64, error)
}

// Guard remembers the last measurement of free space, so that asking it
// costs no system call; Run refreshes it.
type Guard struct {
	opts GuardOptions

	mu      sync.Mutex
	free    uint64
	low     bool
	lastErr string // the last measuring error, reported once
}

// NewGuard returns a Guard that has measured once.
func NewGuard(opts GuardOptions) *Guard {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Available == nil {
		opts.Available = Available
	}
	g := &Guard{opts: opts}
	g.Check()
	return g
}

// Low reports whether free space was below the margin at the last
// measurement. A Guard that cannot measure never reports Low: unknown
// space is no reason to refuse anything.
func (g *Guard) Low() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.low
}

// Problem describes low space for a readiness check: "" when there is
// enough (or the Guard is off).
func (g *Guard) Problem() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.low {
		return ""
	}
	return g.describe()
}

// describe says how low space is; g.mu must be held.
func (g *Guard) describe() string {
	msg := fmt.Sprintf("low disk space: %s free on the filesystem of %s, below the margin of %s", size(g.free), g.opts.Dir, size(g.opts.Margin))
	if g.opts.Hint != "" {
		msg += "; " + g.opts.Hint
	}
	return msg
}

// Check measures free space now, and logs when it crosses the margin.
func (g *Guard) Check() {
	if g.opts.Margin == 0 {
		return
	}
	free, err := g.opts.Available(g.opts.Dir)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		// Keep the last measurement: one failed call says nothing about
		// the space itself.
		if err.Error() != g.lastErr {
			g.lastErr = err.Error()
			g.opts.Logger.Warn("cannot measure free disk space; until it can, the low-space guard keeps its last reading (at first: not low)", "dir", g.opts.Dir, "err", err)
		}
		return
	}
	g.lastErr = ""
	wasLow := g.low
	g.free, g.low = free, free < g.opts.Margin
	switch {
	case g.low && !wasLow:
		g.opts.Logger.Warn(g.describe(), "free_bytes", free, "margin_bytes", g.opts.Margin)
	case !g.low && wasLow:
		g.opts.Logger.Info("disk space is above the margin again", "free_bytes", free, "margin_bytes", g.opts.Margin)
	}
}

// Run calls Check every interval until ctx ends; run it in its own
// goroutine. It returns at once when the Guard is off.
func (g *Guard) Run(ctx context.Context, every time.Duration) {
	if g.opts.Margin == 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.Check()
		}
	}
}

// size formats a byte count for people.
func size(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
