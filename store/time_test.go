package store

import (
	"math"
	"testing"
	"time"
)

func TestUnixNanos(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	if got := TimeOfNanos(UnixNanos(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("TimeOfNanos(UnixNanos(%v)) = %v, want the same instant in UTC", at, got)
	}
	// Times beyond what int64 nanoseconds hold are clamped, so that they
	// still sort before or after every other.
	if got := UnixNanos(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MinInt64 {
		t.Errorf("UnixNanos of the year 1000 = %d, want math.MinInt64", got)
	}
	if got := UnixNanos(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MaxInt64 {
		t.Errorf("UnixNanos of the year 3000 = %d, want math.MaxInt64", got)
	}
}

func TestActorIs(t *testing.T) {
	alice := Actor{Issuer: "https://id.example", Subject: "alice", ClientID: "cli"}
	for _, tt := range []struct {
		a        Actor
		iss, sub string
		want     bool
	}{
		{alice, "https://id.example", "alice", true},
		{alice, "https://evil.example", "alice", false},
		{alice, "https://id.example", "bob", false},
		{Actor{}, "", "", false}, // anonymous is nobody
	} {
		if got := tt.a.Is(tt.iss, tt.sub); got != tt.want {
			t.Errorf("%+v.Is(%q, %q) = %v, want %v", tt.a, tt.iss, tt.sub, got, tt.want)
		}
	}
}
