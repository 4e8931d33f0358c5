package cluster

import (
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A proposal retried after its first attempt committed unseen (leadership
// lost after the append, a forward's answer lost) reaches the log twice
// with one ID: the second entry changes nothing and answers the first
// one's result, on a node that applied both and on one restored from a
// snapshot taken between them. Without the ID the retried CreateTopic
// answered TOPIC_ALREADY_EXISTS and the retried ElectLeader
// ELECTION_NOT_NEEDED to the proposer whose command had done it.
func TestRetriedProposalAppliedOnce(t *testing.T) {
	f := newFSM(nil)
	index := uint64(0)
	applyTo := func(f *fsm, c *Command) Result {
		t.Helper()
		b, _ := encodeCommand(c)
		index++
		r, ok := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b}).(Result)
		if !ok {
			t.Fatalf("apply %s: not a Result", c.Op)
		}
		return r
	}
	for _, c := range []*Command{
		{Op: OpInit, ClusterID: "abc", ID: "i"},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 1}, ID: "r1"},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 2}, ID: "r2"},
	} {
		if r := applyTo(f, c); r.Err != nil {
			t.Fatalf("%s: %v", c.Op, r.Err)
		}
	}
	create := &Command{Op: OpCreateTopic, Topic: "t", TopicID: NewTopicID(), Assignment: [][]int32{{1, 2}}, ID: "create-1"}
	elect := &Command{Op: OpElectLeader, Topic: "t", Election: ElectPreferred, ID: "elect-1"}
	alloc := &Command{Op: OpAllocProducerIDs, Count: 10, ID: "alloc-1"}

	if r := applyTo(f, create); r.Err != nil || r.AppliedAt != 0 {
		t.Fatalf("create: %+v", r)
	}
	createdAt := index
	// Make 2 the preferred leader and put it in the ISR, so that an
	// election moves the leadership.
	for _, c := range []*Command{
		{Op: OpReassign, Topic: "t", Replicas: []int32{2, 1}, ID: "reorder"},
		{Op: OpAlterPartition, Topic: "t", BrokerID: 1, PartitionEpoch: 1, ISR: []int32{1, 2}, ID: "isr"},
	} {
		if r := applyTo(f, c); r.Err != nil {
			t.Fatalf("%s: %v", c.Op, r.Err)
		}
	}
	if r := applyTo(f, elect); r.Err != nil {
		t.Fatalf("elect: %v", r.Err)
	}
	first := applyTo(f, alloc)

	// A snapshot here: a node restored from it gets the retries too.
	snap, _ := f.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newFSM(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}

	at := index
	for name, n := range map[string]*fsm{"applied": f, "restored": g} {
		index = at
		before := n.state.Load()
		if r := applyTo(n, create); r.Err != nil || r.AppliedAt != createdAt {
			t.Fatalf("%s: retried create: %v (applied at %d, want %d)", name, r.Err, r.AppliedAt, createdAt)
		}
		if r := applyTo(n, elect); r.Err != nil {
			t.Fatalf("%s: retried elect: %v", name, r.Err)
		}
		if r := applyTo(n, alloc); r.Err != nil || r.FirstProducerID != first.FirstProducerID {
			t.Fatalf("%s: retried alloc: %+v, want first producer ID %d", name, r, first.FirstProducerID)
		}
		if s := n.state.Load(); s != before || s.NextProducerID != 10 || s.Topics["t"].Partitions[0].Leader != 2 {
			t.Fatalf("%s: the retries changed the state: next pid %d, leader %d", name, s.NextProducerID, s.Topics["t"].Partitions[0].Leader)
		}
		// A new proposal (another ID) is applied as ever.
		if r := applyTo(n, &Command{Op: OpElectLeader, Topic: "t", Election: ElectPreferred, ID: "elect-2"}); r.Err != kerr.ElectionNotNeeded {
			t.Fatalf("%s: a second election: %v, want ELECTION_NOT_NEEDED", name, r.Err)
		}
	}

	// The list is bounded: the oldest IDs go.
	for i := range recentCommands + 5 {
		applyTo(f, &Command{Op: OpAllocProducerIDs, Count: 1, ID: "a" + string(rune('0'+i%10)) + NewClusterID()})
	}
	s := f.state.Load()
	if len(s.Recent) != recentCommands {
		t.Fatalf("%d remembered commands, want %d", len(s.Recent), recentCommands)
	}
	if _, ok := s.appliedResult("create-1"); ok {
		t.Fatal("the oldest command is still remembered")
	}
}
