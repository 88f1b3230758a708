package defs

import (
	"slices"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{First: 500 * time.Millisecond, Max: 5 * time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	b.Reset()
	if w := b.Next(); w != 500*time.Millisecond {
		t.Fatalf("after Reset: %v", w)
	}
	// A camera's kind of failure may change the bounds between tries.
	b.First, b.Max = 2*time.Second, 3*time.Second
	if w := b.Next(); w != 2*time.Second {
		t.Fatalf("raised First: %v", w)
	}
	if w := b.Next(); w != 3*time.Second {
		t.Fatalf("lowered Max: %v", w)
	}
}
