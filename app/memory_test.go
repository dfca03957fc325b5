package app

import (
	"math"
	"testing"
)

// TestMemoryLimit: MEMORY_LIMIT is set unless it is 0 or Go's own
// GOMEMLIMIT is set, which the runtime has applied already.
func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name       string
		configured uint64
		gomemlimit string
		want       int64
		wantSet    bool
	}{
		{"the default", 128 << 20, "", 128 << 20, true},
		{"none", 0, "", 0, false},
		{"GOMEMLIMIT wins", 128 << 20, "512MiB", 0, false},
		{"GOMEMLIMIT=off wins too", 128 << 20, "off", 0, false},
		{"beyond int64", math.MaxUint64, "", math.MaxInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set := memoryLimit(tt.configured, tt.gomemlimit)
			if got != tt.want || set != tt.wantSet {
				t.Errorf("memoryLimit(%d, %q) = %d, %v; want %d, %v", tt.configured, tt.gomemlimit, got, set, tt.want, tt.wantSet)
			}
		})
	}
}
