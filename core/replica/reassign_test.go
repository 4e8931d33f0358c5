package replica

import (
	"slices"
	"testing"
	"time"
)

// A reassignment adds a follower under the same leader epoch: the tracker
// counts its fetches and lets it join the ISR once it reached the HW,
// and it is not shrunk out at once for a lag it had before it was added.
func TestTrackerSetReplicasAddsFollower(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := NewTracker(1, []int32{1, 2}, []int32{1, 2}, 1, 0, now)
	tr.Fetched(2, 10, 10, now)
	if tr.Fetched(4, 10, 10, now) || tr.Expand(4, 0) != nil {
		t.Fatal("a broker that is no replica counted")
	}
	later := now.Add(time.Minute)
	tr.SetReplicas([]int32{1, 2, 4}, later)
	tr.Fetched(2, 10, 10, later)
	tr.Fetched(4, 10, 10, later)
	isr := tr.Expand(4, 0)
	if !slices.Equal(isr, []int32{1, 2, 4}) {
		t.Fatalf("expand after the reassignment added 4: %v", isr)
	}
	tr.SetISR(isr)
	if out := tr.Shrink(later.Add(time.Second), 30*time.Second); out != nil {
		t.Fatalf("shrunk right after joining: %v", out)
	}
	// Removing 2 forgets it: its old LEO no longer holds the HW.
	tr.SetReplicas([]int32{1, 4}, later)
	if tr.Fetched(2, 10, 10, later) {
		t.Fatal("a removed replica's fetch moved the HW")
	}
}
