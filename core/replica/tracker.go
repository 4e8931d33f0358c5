package replica

import (
	"slices"
	"time"
)

// Tracker is the leader's view of one partition's replicas: each
// follower's log end offset as its fetches report it, when it last caught
// up, and from that the high watermark and the ISR changes to propose.
// It is not safe for concurrent use; the broker serialises calls per
// partition.
type Tracker struct {
	leader   int32
	replicas []int32
	isr      []int32
	minISR   int
	hw       int64

	leo      map[int32]int64     // followers' LEO (offset of their next fetch)
	caughtUp map[int32]time.Time // last time the follower's LEO reached the leader's LEO
}

// NewTracker starts tracking a partition this broker leads, from the
// metadata's ISR and the log's current HW. Followers start as caught up
// now, so a fresh leader gives them a full lag period to fetch.
func NewTracker(leader int32, replicas, isr []int32, minISR int, hw int64, now time.Time) *Tracker {
	t := &Tracker{leader: leader, replicas: slices.Clone(replicas), isr: slices.Clone(isr), minISR: max(1, minISR), hw: hw,
		leo: map[int32]int64{}, caughtUp: map[int32]time.Time{}}
	for _, r := range replicas {
		if r != leader {
			t.caughtUp[r] = now
		}
	}
	return t
}

// SetISR replaces the ISR after the metadata changed it.
func (t *Tracker) SetISR(isr []int32) { t.isr = slices.Clone(isr) }

// SetReplicas replaces the replica set after a reassignment changed it
// (same leader epoch): an added follower starts as caught up now, so it
// gets a full lag period once it joins the ISR, and a removed one is
// forgotten.
func (t *Tracker) SetReplicas(replicas []int32, now time.Time) {
	for _, r := range replicas {
		if _, ok := t.caughtUp[r]; !ok && r != t.leader {
			t.caughtUp[r] = now
		}
	}
	for _, r := range t.replicas {
		if !slices.Contains(replicas, r) {
			delete(t.caughtUp, r)
			delete(t.leo, r)
		}
	}
	t.replicas = slices.Clone(replicas)
}

// FollowerLEO is follower's LEO as its last fetch reported it, and
// whether it fetched since this tracker began.
func (t *Tracker) FollowerLEO(follower int32) (int64, bool) {
	l, ok := t.leo[follower]
	return l, ok
}

// ISR is the current in-sync replica set.
func (t *Tracker) ISR() []int32 { return slices.Clone(t.isr) }

// HW is the high watermark.
func (t *Tracker) HW() int64 { return t.hw }

// Fetched records a fetch from follower at offset (it holds everything
// before offset) while the leader's LEO is leaderLEO, and moves the HW.
// It reports whether the HW moved.
func (t *Tracker) Fetched(follower int32, offset, leaderLEO int64, now time.Time) bool {
	if !slices.Contains(t.replicas, follower) || follower == t.leader {
		return false
	}
	t.leo[follower] = offset
	if offset >= leaderLEO {
		t.caughtUp[follower] = now
	}
	return t.Advance(leaderLEO)
}

// Advance recomputes the HW from the ISR's LEOs (the leader's is
// leaderLEO): HW = min LEO over the ISR, never backwards, and not at all
// while the ISR is smaller than min.insync.replicas.
func (t *Tracker) Advance(leaderLEO int64) bool {
	if len(t.isr) < t.minISR {
		return false
	}
	hw := leaderLEO
	for _, r := range t.isr {
		if r == t.leader {
			continue
		}
		l, ok := t.leo[r]
		if !ok {
			return false // not heard yet: it may hold less
		}
		hw = min(hw, l)
	}
	if hw > t.hw {
		t.hw = hw
		return true
	}
	return false
}

// Shrink returns the ISR without the followers that have not caught up
// with the leader's LEO for lagMax (replica.lag.time.max.ms), or nil if
// none is out. The leader stays.
func (t *Tracker) Shrink(now time.Time, lagMax time.Duration) []int32 {
	var out []int32
	changed := false
	for _, r := range t.isr {
		if r != t.leader && now.Sub(t.caughtUp[r]) > lagMax {
			changed = true
			continue
		}
		out = append(out, r)
	}
	if !changed {
		return nil
	}
	return out
}

// Expand returns the ISR with follower added if it is outside it and its
// LEO reached the HW (and epochStart, the first offset of the leader's
// epoch, so that it truncated any divergent tail), or nil. It is asked for
// the follower that just fetched: one that stopped fetching (its last LEO
// is stale) is never added back.
func (t *Tracker) Expand(follower int32, epochStart int64) []int32 {
	if slices.Contains(t.isr, follower) || !slices.Contains(t.replicas, follower) {
		return nil
	}
	if l, ok := t.leo[follower]; ok && l >= t.hw && l >= epochStart {
		return append(slices.Clone(t.isr), follower)
	}
	return nil
}

// Acked reports whether an acks=all batch ending before end is committed
// (on every ISR member), and whether the ISR is now too small for it
// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
func (t *Tracker) Acked(end int64) (committed, notEnough bool) {
	if len(t.isr) < t.minISR {
		return false, true
	}
	return t.hw >= end, false
}

// TruncationOffset is where a follower truncates after asking the leader
// OffsetForLeaderEpoch for its latest epoch: the leader's end offset for
// that epoch (the first offset of the next epoch it knows), capped at the
// follower's own LEO. A leader that does not know the epoch at all
// (leaderEpoch < 0) answers with its log start, so everything diverged.
func TruncationOffset(followerLEO int64, leaderEpoch int32, leaderEndOffset int64) int64 {
	if leaderEpoch < 0 || leaderEndOffset < 0 {
		return 0
	}
	return min(followerLEO, leaderEndOffset)
}
