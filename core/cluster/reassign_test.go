package cluster

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fourBrokers is a state with brokers 1-4 and topic t, one partition on
// replicas 1,2,3 whose ISR is all three.
func fourBrokers(t *testing.T) *State {
	t.Helper()
	s := newState()
	for _, c := range []*Command{
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 1}},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 2}},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 3}},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 4}},
		{Op: OpCreateTopic, Topic: "t", TopicID: NewTopicID(), Assignment: [][]int32{{1, 2, 3}}},
		{Op: OpAlterPartition, Topic: "t", BrokerID: 1, ISR: []int32{1, 2, 3}},
	} {
		var r Result
		if s, r = apply(s, c); r.Err != nil {
			t.Fatalf("%s: %v", c.Op, r.Err)
		}
	}
	return s
}

func must(t *testing.T, s *State, c *Command) *State {
	t.Helper()
	n, r := apply(s, c)
	if r.Err != nil {
		t.Fatalf("%s: %v", c.Op, r.Err)
	}
	return n
}

// A reassignment from 1,2,3 to 2,3,4 (KIP-455): 4 joins as an adding
// follower, the reassignment completes only once 4 is in the ISR, and the
// leader, 1, is removed, so leadership moves to 2 with a new epoch.
func TestReassignMovesReplicaThroughISR(t *testing.T) {
	s := fourBrokers(t)
	s = must(t, s, &Command{Op: OpReassign, Topic: "t", Replicas: []int32{2, 3, 4}})
	p := s.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(p.Adding, []int32{4}) || !slices.Equal(p.Removing, []int32{1}) || p.Leader != 1 {
		t.Fatalf("in progress: %+v", p)
	}
	// The leader adds 4 to the ISR once it caught up: that completes it.
	s = must(t, s, &Command{Op: OpAlterPartition, Topic: "t", BrokerID: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3, 4}})
	q := s.Topics["t"].Partitions[0]
	if !slices.Equal(q.Replicas, []int32{2, 3, 4}) || q.Reassigning() || !slices.Equal(q.ISR, []int32{2, 3, 4}) {
		t.Fatalf("completed: %+v", q)
	}
	if q.Leader != 2 || q.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("leader after removing the old one: %d epoch %d (was %d)", q.Leader, q.LeaderEpoch, p.LeaderEpoch)
	}
}

// Cancelling (null replicas) puts the original replicas back; cancelling
// when nothing moves is NO_REASSIGNMENT_IN_PROGRESS; unknown brokers and
// duplicates are INVALID_REPLICA_ASSIGNMENT.
func TestReassignCancelAndValidation(t *testing.T) {
	s := fourBrokers(t)
	if _, r := apply(s, &Command{Op: OpReassign, Topic: "t", Cancel: true}); r.Err != kerr.NoReassignmentInProgress {
		t.Fatalf("cancel with none: %v", r.Err)
	}
	for _, bad := range [][]int32{nil, {1, 9}, {1, 1, 2}} {
		if _, r := apply(s, &Command{Op: OpReassign, Topic: "t", Replicas: bad}); r.Err != kerr.InvalidReplicaAssignment {
			t.Fatalf("target %v: %v", bad, r.Err)
		}
	}
	if _, r := apply(s, &Command{Op: OpReassign, Topic: "nope", Replicas: []int32{1}}); r.Err != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown topic: %v", r.Err)
	}
	s = must(t, s, &Command{Op: OpReassign, Topic: "t", Replicas: []int32{4, 2, 3}})
	s = must(t, s, &Command{Op: OpReassign, Topic: "t", Cancel: true})
	// As in Kafka, the reverted set keeps the merged order (the
	// targets' first).
	p := s.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{2, 3, 1}) || p.Reassigning() || p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("after cancel: %+v", p)
	}
	// Shrinking the replica set to members already in sync completes at
	// once.
	s = must(t, s, &Command{Op: OpReassign, Topic: "t", Replicas: []int32{3, 2}})
	p = s.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{3, 2}) || p.Reassigning() || p.Leader != 3 {
		t.Fatalf("shrunk: %+v", p)
	}
}

// Preferred election moves leadership back to the first replica only when
// it is in the ISR and alive; unclean election elects outside the ISR only
// when the topic allows it.
func TestElectLeader(t *testing.T) {
	s := fourBrokers(t)
	if _, r := apply(s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectPreferred}); r.Err != kerr.ElectionNotNeeded {
		t.Fatalf("preferred already leads: %v", r.Err)
	}
	s = must(t, s, &Command{Op: OpFenceBroker, BrokerID: 1})
	if p := s.Topics["t"].Partitions[0]; p.Leader != 2 {
		t.Fatalf("after fencing 1: %+v", p)
	}
	if _, r := apply(s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectPreferred}); r.Err != kerr.PreferredLeaderNotAvailable {
		t.Fatalf("preferred fenced: %v", r.Err)
	}
	s = must(t, s, &Command{Op: OpUnfenceBroker, BrokerID: 1})
	if _, r := apply(s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectPreferred}); r.Err != kerr.PreferredLeaderNotAvailable {
		t.Fatalf("preferred out of the ISR: %v", r.Err)
	}
	p := s.Topics["t"].Partitions[0]
	s = must(t, s, &Command{Op: OpAlterPartition, Topic: "t", BrokerID: 2, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2, 3, 1}})
	s = must(t, s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectPreferred})
	if q := s.Topics["t"].Partitions[0]; q.Leader != 1 || q.LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("preferred elected: %+v (was %+v)", q, p)
	}

	// Unclean: 1 and 2 fenced leave 3 alone in the ISR and leading; fence
	// 3 too and the partition is leaderless with ISR [3].
	if _, r := apply(s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectUnclean}); r.Err != kerr.ElectionNotNeeded {
		t.Fatalf("unclean with a live leader: %v", r.Err)
	}
	for _, id := range []int32{1, 2, 3} {
		s = must(t, s, &Command{Op: OpFenceBroker, BrokerID: id})
	}
	if p := s.Topics["t"].Partitions[0]; p.Leader != -1 || !slices.Equal(p.ISR, []int32{3}) {
		t.Fatalf("all fenced: %+v", p)
	}
	// 2 comes back (3 still gone): it is outside the ISR.
	s = must(t, s, &Command{Op: OpUnfenceBroker, BrokerID: 2})
	if _, r := apply(s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectUnclean}); r.Err != kerr.EligibleLeadersNotAvailable {
		t.Fatalf("unclean not allowed: %v", r.Err)
	}
	s = must(t, s, &Command{Op: OpElectLeader, Topic: "t", Election: ElectUnclean, Unclean: true})
	if p := s.Topics["t"].Partitions[0]; p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("unclean elected: %+v", p)
	}
}
