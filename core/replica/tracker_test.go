package replica

import (
	"testing"
	"time"
)

func TestTrackerHighWatermarkIsMinISRLEO(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := NewTracker(1, []int32{1, 2, 3}, []int32{1, 2, 3}, 2, 0, now)
	if tr.Fetched(2, 5, 10, now) {
		t.Fatal("HW moved before follower 3 was heard")
	}
	if !tr.Fetched(3, 7, 10, now) || tr.HW() != 5 {
		t.Fatalf("HW %d, want 5 = min LEO of the ISR", tr.HW())
	}
	if c, ne := tr.Acked(6); c || ne {
		t.Fatalf("a batch ending at 6 acked with follower 2 at 5: %v %v", c, ne)
	}
	tr.Fetched(2, 10, 10, now)
	if tr.HW() != 7 {
		t.Fatalf("HW %d, want 7", tr.HW())
	}
	// Fetches never move the HW backwards.
	tr.Fetched(3, 6, 10, now)
	if tr.HW() != 7 {
		t.Fatalf("HW moved back to %d", tr.HW())
	}
}

func TestTrackerHoldsHWBelowMinISR(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := NewTracker(1, []int32{1, 2, 3}, []int32{1}, 2, 3, now)
	tr.Fetched(2, 9, 9, now)
	if tr.HW() != 3 {
		t.Fatalf("HW moved to %d with the ISR below min.insync.replicas", tr.HW())
	}
	if _, ne := tr.Acked(9); !ne {
		t.Fatal("acks=all not refused with ISR below min.insync.replicas")
	}
	if tr.Expand(3, 0) != nil {
		t.Fatal("follower 3, never heard, added to the ISR")
	}
	isr := tr.Expand(2, 0)
	if len(isr) != 2 || isr[1] != 2 {
		t.Fatalf("expand: %v", isr)
	}
	tr.SetISR(isr)
	if !tr.Advance(9) || tr.HW() != 9 {
		t.Fatalf("HW %d after the ISR grew", tr.HW())
	}
}

func TestTrackerShrinksLaggingFollower(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := NewTracker(1, []int32{1, 2, 3}, []int32{1, 2, 3}, 1, 0, now)
	tr.Fetched(2, 10, 10, now.Add(20*time.Second))
	tr.Fetched(3, 4, 10, now.Add(20*time.Second)) // fetching, but behind
	if got := tr.Shrink(now.Add(25*time.Second), 30*time.Second); got != nil {
		t.Fatalf("shrunk early: %v", got)
	}
	got := tr.Shrink(now.Add(31*time.Second), 30*time.Second)
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("shrink: %v, want [1 2]", got)
	}
	// A follower below the leader epoch's start stays out: it may still
	// hold a divergent tail.
	tr.SetISR(got)
	tr.Fetched(3, 10, 12, now.Add(32*time.Second))
	if isr := tr.Expand(3, 11); isr != nil {
		t.Fatalf("expanded with a follower below the epoch start: %v", isr)
	}
}

func TestTruncationOffset(t *testing.T) {
	for _, c := range []struct {
		leo   int64
		epoch int32
		end   int64
		want  int64
	}{
		{leo: 10, epoch: 3, end: 7, want: 7},   // divergent tail [7,10) dropped
		{leo: 5, epoch: 3, end: 7, want: 5},    // behind: nothing to drop
		{leo: 5, epoch: -1, end: -1, want: 0},  // leader does not know the epoch
		{leo: 12, epoch: 4, end: 12, want: 12}, // in line
	} {
		if got := TruncationOffset(c.leo, c.epoch, c.end); got != c.want {
			t.Errorf("TruncationOffset(%d, %d, %d) = %d, want %d", c.leo, c.epoch, c.end, got, c.want)
		}
	}
}
