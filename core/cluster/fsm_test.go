package cluster

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

type memSink struct{ bytes.Buffer }

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { return nil }

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	f := newFSM(nil)
	id := NewTopicID()
	for i, c := range []*Command{
		{Op: OpInit, ClusterID: "abc"},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 1, Host: "h", Port: 9092}},
		{Op: OpCreateTopic, Topic: "t", TopicID: id, Assignment: [][]int32{{1}, {1}}, Configs: map[string]string{"retention.ms": "5"}},
		{Op: OpAllocProducerIDs, Count: 1000},
	} {
		b, _ := encodeCommand(c)
		if r, ok := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}).(Result); !ok || r.Err != nil {
			t.Fatalf("apply %s: %+v", c.Op, r)
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	var restored *State
	g := newFSM(func(prev, next *State, c *Command) { restored = next })
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	s := g.state.Load()
	if restored != s || s.ClusterID != "abc" || s.NextProducerID != 1000 || s.Index != 4 || s.Brokers[1].Port != 9092 {
		t.Fatalf("restored state: %+v", s)
	}
	top, ok := s.TopicByID(id)
	if !ok || len(top.Partitions) != 2 || top.Configs["retention.ms"] != "5" {
		t.Fatalf("restored topic: %+v", top)
	}
	// A garbage command is refused, not applied.
	if _, ok := g.Apply(&raft.Log{Index: 5, Type: raft.LogCommand, Data: []byte("{")}).(error); !ok {
		t.Fatal("undecodable command did not return an error")
	}
}

func TestParseVoters(t *testing.T) {
	vs, err := ParseVoters("1@a:1, 2@b:2")
	if err != nil || len(vs) != 2 || vs[1].NodeID != 2 || vs[1].Addr != "b:2" {
		t.Fatalf("%v %v", vs, err)
	}
	for _, bad := range []string{"x@a:1", "1a:1", "1@"} {
		if _, err := ParseVoters(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestApplyFailuresAreCounted: a command that cannot be applied is counted
// (and logged), not dropped silently (issue 8, item 11).
func TestApplyFailuresAreCounted(t *testing.T) {
	f := newFSM(nil)
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte("{not json")})
	if got := testutil.ToFloat64(f.failed.WithLabelValues("undecodable")); got != 1 {
		t.Fatalf("apply failures = %v, want 1", got)
	}
	b, _ := encodeCommand(&Command{Op: "from_the_future"})
	f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: b})
	b, _ = encodeCommand(&Command{Op: OpDeleteTopic, Topic: "nope"})
	f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: b})
	if got := testutil.ToFloat64(f.rejected.WithLabelValues("from_the_future", kerr.InvalidRequest.Message)); got != 1 {
		t.Fatalf("rejected unknown op = %v, want 1", got)
	}
	if got := testutil.ToFloat64(f.rejected.WithLabelValues(string(OpDeleteTopic), kerr.UnknownTopicOrPartition.Message)); got != 1 {
		t.Fatalf("rejected delete = %v, want 1", got)
	}
}

// An ISR change is applied only from the partition's current leader at
// the epochs it names: a deposed leader, or one that missed an ISR change,
// is refused, and a fenced broker cannot be added.
func TestAlterPartitionFencing(t *testing.T) {
	s := newState()
	for _, c := range []*Command{
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 1}},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 2}},
		{Op: OpRegisterBroker, Broker: &Broker{NodeID: 3}},
		{Op: OpCreateTopic, Topic: "t", TopicID: NewTopicID(), Assignment: [][]int32{{1, 2, 3}}},
	} {
		var r Result
		if s, r = apply(s, c); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	alter := func(from, le, pe int32, isr ...int32) *kerr.Error {
		n, r := apply(s, &Command{Op: OpAlterPartition, Topic: "t", BrokerID: from, LeaderEpoch: le, PartitionEpoch: pe, ISR: isr})
		if r.Err == nil {
			s = n
		}
		return r.Err
	}
	if err := alter(1, 0, 0, 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := alter(1, 0, 0, 1, 2, 3); err != kerr.InvalidUpdateVersion {
		t.Fatalf("stale partition epoch: %v", err)
	}
	if err := alter(2, 0, 1, 1, 2); err != kerr.NotLeaderForPartition {
		t.Fatalf("from a follower: %v", err)
	}
	if err := alter(1, 0, 1, 2); err != kerr.InvalidRequest {
		t.Fatalf("leader left out: %v", err)
	}
	// Broker 1 is fenced: broker 2 leads at epoch 1 and broker 1's
	// proposals are refused.
	s, _ = apply(s, &Command{Op: OpFenceBroker, BrokerID: 1})
	p := s.Topics["t"].Partitions[0]
	if p.Leader != 2 || p.LeaderEpoch != 1 || len(p.ISR) != 1 || p.ISR[0] != 2 {
		t.Fatalf("after fencing broker 1: %+v", p)
	}
	if err := alter(1, 0, p.PartitionEpoch, 1, 2); err != kerr.NotLeaderForPartition {
		t.Fatalf("deposed leader: %v", err)
	}
	if err := alter(2, 0, p.PartitionEpoch, 2, 3); err != kerr.FencedLeaderEpoch {
		t.Fatalf("old leader epoch: %v", err)
	}
	if err := alter(2, 1, p.PartitionEpoch, 2, 1); err != kerr.IneligibleReplica {
		t.Fatalf("fenced broker added: %v", err)
	}
	if err := alter(2, 1, p.PartitionEpoch, 2, 3); err != nil {
		t.Fatal(err)
	}
}
