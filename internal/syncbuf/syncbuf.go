// Package syncbuf is a bytes.Buffer that several goroutines may write to at
// once: the sink tests give a logger whose handlers run concurrently.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a goroutine-safe, append-only text buffer. The zero value is
// ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
