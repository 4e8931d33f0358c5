package conformance

import (
	"testing"
	"time"
)

// TestPollSpacing: nothing landed yet waits the longest; otherwise an
// eighth of the time the rest is due in at the rate so far, within
// [10 ms, 200 ms].
func TestPollSpacing(t *testing.T) {
	for _, c := range []struct {
		elapsed time.Duration
		got, n  int
		want    time.Duration
	}{
		{time.Second, 0, 100, 200 * time.Millisecond},
		{time.Second, 10, 100, 200 * time.Millisecond},     // rest 9 s
		{time.Second, 50, 100, 125 * time.Millisecond},     // rest 1 s
		{time.Second, 90, 100, 13888888 * time.Nanosecond}, // rest 111 ms
		{time.Second, 99, 100, 10 * time.Millisecond},      // rest 10 ms
		{4 * time.Second, 999_000, 1_000_000, 10 * time.Millisecond},
	} {
		if got := pollSpacing(c.elapsed, c.got, c.n); got != c.want {
			t.Errorf("pollSpacing(%v, %d, %d) = %v, want %v", c.elapsed, c.got, c.n, got, c.want)
		}
	}
}
