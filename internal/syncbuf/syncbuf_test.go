package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _, _ = b.Write([]byte("x\n")) })
	}
	wg.Wait()
	if got := strings.Count(b.String(), "x\n"); got != 50 {
		t.Errorf("%d writes recorded, want 50", got)
	}
}
