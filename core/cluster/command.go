package cluster

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Op names a Command's kind.
type Op string

const (
	OpInit             Op = "init"               // ClusterID
	OpRegisterBroker   Op = "register_broker"    // Broker
	OpCreateTopic      Op = "create_topic"       // Topic, TopicID, Internal, Assignment, Configs
	OpDeleteTopic      Op = "delete_topic"       // Topic
	OpCreatePartitions Op = "create_partitions"  // Topic, Assignment (replicas of the NEW partitions)
	OpSetConfigs       Op = "set_configs"        // Topic, Configs (replaces all dynamic configs)
	OpAllocProducerIDs Op = "alloc_producer_ids" // Count
	OpSetLeader        Op = "set_leader"         // Topic, Partition, Leader, ISR
	OpFenceBroker      Op = "fence_broker"       // BrokerID: missed heartbeats or controlled shutdown
	OpUnfenceBroker    Op = "unfence_broker"     // BrokerID: heard again
	// OpAlterPartition is a leader's ISR change (Kafka's AlterPartition):
	// Topic, Partition, BrokerID (the proposing leader), LeaderEpoch and
	// PartitionEpoch it last saw, ISR (the new one).
	OpAlterPartition Op = "alter_partition"
)

// Command is one state-machine input; it is JSON in the raft log, so fields
// may be added but never renamed.
type Command struct {
	Op Op `json:"op"`
	// ID identifies the proposal across its retries (dedup.go); Propose
	// sets it.
	ID         string            `json:"id,omitempty"`
	ClusterID  string            `json:"cluster_id,omitempty"`
	Broker     *Broker           `json:"broker,omitempty"`
	Topic      string            `json:"topic,omitempty"`
	TopicID    UUID              `json:"topic_id,omitzero"`
	Internal   bool              `json:"internal,omitempty"`
	Assignment [][]int32         `json:"assignment,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	Count      int64             `json:"count,omitempty"`
	Partition  int32             `json:"partition,omitempty"`
	Leader     int32             `json:"leader,omitempty"`
	ISR        []int32           `json:"isr,omitempty"`
	BrokerID   int32             `json:"broker_id,omitempty"`
	// LeaderEpoch and PartitionEpoch fence OpAlterPartition from a deposed
	// leader or from a stale view.
	LeaderEpoch    int32 `json:"leader_epoch,omitempty"`
	PartitionEpoch int32 `json:"partition_epoch,omitempty"`
	// OpReassign: Replicas is the target, Cancel reverts. OpElectLeader:
	// Election and Unclean (see reassign.go).
	Replicas []int32 `json:"replicas,omitempty"`
	Cancel   bool    `json:"cancel,omitempty"`
	Election int8    `json:"election,omitempty"`
	Unclean  bool    `json:"unclean,omitempty"`
}

// Result is what applying a Command produced. Err is a Kafka error (nil on
// success) so that handlers answer clients with the code as is.
type Result struct {
	Err             *kerr.Error
	FirstProducerID int64 // OpAllocProducerIDs
	// AppliedAt is set when the command had been applied already (a
	// retried proposal, dedup.go): the index of that first application.
	AppliedAt uint64
}

// apply computes the next state; it never mutates s. It must be
// deterministic.
func apply(s *State, c *Command) (*State, Result) {
	switch c.Op {
	case OpInit:
		if s.ClusterID != "" {
			return s, Result{}
		}
		n := s.clone()
		n.ClusterID = c.ClusterID
		return n, Result{}

	case OpRegisterBroker:
		if c.Broker == nil {
			return s, Result{Err: kerr.InvalidRequest}
		}
		n := s.clone()
		br := *c.Broker
		br.Fenced = false // it just spoke: alive
		n.Brokers[br.NodeID] = br
		electLeaderless(n, br.NodeID)
		return n, Result{}

	case OpAlterPartition:
		t, ok := s.Topics[c.Topic]
		if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
			return s, Result{Err: kerr.UnknownTopicOrPartition}
		}
		p := t.Partitions[c.Partition]
		switch {
		case p.Leader != c.BrokerID:
			return s, Result{Err: kerr.NotLeaderForPartition}
		case c.LeaderEpoch != p.LeaderEpoch:
			return s, Result{Err: kerr.FencedLeaderEpoch}
		case c.PartitionEpoch != p.PartitionEpoch:
			return s, Result{Err: kerr.InvalidUpdateVersion}
		case !slices.Contains(c.ISR, p.Leader):
			return s, Result{Err: kerr.InvalidRequest} // the leader never leaves its own ISR
		}
		for _, r := range c.ISR {
			if !slices.Contains(p.Replicas, r) {
				return s, Result{Err: kerr.InvalidReplicaAssignment}
			}
			if br, ok := s.Brokers[r]; ok && br.Fenced && !slices.Contains(p.ISR, r) {
				return s, Result{Err: kerr.IneligibleReplica} // KIP-841: a fenced broker does not join
			}
		}
		t = t.clone()
		q := &t.Partitions[c.Partition]
		q.ISR = slices.Clone(c.ISR)
		completeReassignment(s, q)
		q.PartitionEpoch++
		n := s.clone()
		n.Topics[t.Name] = t
		return n, Result{}

	case OpElectLeader:
		return applyElect(s, c)

	case OpReassign:
		return applyReassign(s, c)

	case OpFenceBroker, OpUnfenceBroker:
		br, ok := s.Brokers[c.BrokerID]
		if !ok {
			return s, Result{Err: kerr.BrokerNotAvailable}
		}
		fence := c.Op == OpFenceBroker
		if br.Fenced == fence {
			return s, Result{}
		}
		n := s.clone()
		br.Fenced = fence
		n.Brokers[br.NodeID] = br
		if fence {
			fenceBroker(n, br.NodeID)
		} else {
			electLeaderless(n, br.NodeID)
		}
		return n, Result{}

	case OpCreateTopic:
		if _, ok := s.Topics[c.Topic]; ok {
			return s, Result{Err: kerr.TopicAlreadyExists}
		}
		if _, ok := s.byID[c.TopicID]; ok || len(c.Assignment) == 0 {
			return s, Result{Err: kerr.InvalidRequest}
		}
		t := &Topic{Name: c.Topic, ID: c.TopicID, Internal: c.Internal, Configs: c.Configs}
		for _, replicas := range c.Assignment {
			t.Partitions = append(t.Partitions, newPartition(replicas))
		}
		n := s.clone()
		n.Topics[t.Name] = t
		n.byID[t.ID] = t.Name
		return n, Result{}

	case OpDeleteTopic:
		t, ok := s.Topics[c.Topic]
		if !ok {
			return s, Result{Err: kerr.UnknownTopicOrPartition}
		}
		n := s.clone()
		delete(n.Topics, c.Topic)
		delete(n.byID, t.ID)
		return n, Result{}

	case OpCreatePartitions:
		t, ok := s.Topics[c.Topic]
		if !ok {
			return s, Result{Err: kerr.UnknownTopicOrPartition}
		}
		if len(c.Assignment) == 0 {
			return s, Result{Err: kerr.InvalidPartitions}
		}
		t = t.clone()
		for _, replicas := range c.Assignment {
			t.Partitions = append(t.Partitions, newPartition(replicas))
		}
		n := s.clone()
		n.Topics[t.Name] = t
		return n, Result{}

	case OpSetConfigs:
		t, ok := s.Topics[c.Topic]
		if !ok {
			return s, Result{Err: kerr.UnknownTopicOrPartition}
		}
		t = t.clone()
		t.Configs = c.Configs
		n := s.clone()
		n.Topics[t.Name] = t
		return n, Result{}

	case OpAllocProducerIDs:
		if c.Count <= 0 {
			return s, Result{Err: kerr.InvalidRequest}
		}
		n := s.clone()
		first := n.NextProducerID
		n.NextProducerID += c.Count
		return n, Result{FirstProducerID: first}

	case OpSetLeader:
		t, ok := s.Topics[c.Topic]
		if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
			return s, Result{Err: kerr.UnknownTopicOrPartition}
		}
		t = t.clone()
		p := &t.Partitions[c.Partition]
		if p.Leader != c.Leader {
			p.LeaderEpoch++
		}
		p.Leader = c.Leader
		p.ISR = slices.Clone(c.ISR)
		p.PartitionEpoch++
		n := s.clone()
		n.Topics[t.Name] = t
		return n, Result{}
	}
	return s, Result{Err: kerr.InvalidRequest}
}

// newPartition is led by its first replica. The ISR starts as the leader
// alone: the other replicas join it once their fetchers have caught up
// (core/replica), so min.insync.replicas is never met by replicas that
// hold nothing.
func newPartition(replicas []int32) Partition {
	p := Partition{Leader: -1, Replicas: slices.Clone(replicas)}
	if len(replicas) > 0 {
		p.Leader = replicas[0]
		p.ISR = []int32{replicas[0]}
	}
	return p
}

// fenceBroker takes node out of every ISR it is in (unless it is the last
// member: the ISR never empties, so an unclean election is never needed to
// know who holds the data) and moves its leaderships to the first replica
// still in the ISR and not fenced; a partition with none is leaderless
// (-1) until an ISR member comes back. n is a fresh clone; its topics are
// copied before they change.
func fenceBroker(n *State, node int32) {
	for _, name := range n.TopicNames() {
		t := n.Topics[name]
		var nt *Topic
		for i := range t.Partitions {
			p := t.Partitions[i]
			in := slices.Contains(p.ISR, node)
			if p.Leader != node && !in {
				continue
			}
			if nt == nil {
				nt = t.clone()
			}
			q := &nt.Partitions[i]
			if in && len(q.ISR) > 1 {
				q.ISR = slices.DeleteFunc(slices.Clone(q.ISR), func(r int32) bool { return r == node })
			}
			if q.Leader == node {
				q.Leader = -1
				for _, r := range q.Replicas {
					if r != node && slices.Contains(q.ISR, r) && !n.Brokers[r].Fenced {
						q.Leader = r
						break
					}
				}
				q.LeaderEpoch++
			}
			q.PartitionEpoch++
		}
		if nt != nil {
			n.Topics[name] = nt
		}
	}
}

// electLeaderless gives node the partitions that have no leader and whose
// ISR names it (it held their data when it was fenced): no unclean
// election.
func electLeaderless(n *State, node int32) {
	for _, name := range n.TopicNames() {
		t := n.Topics[name]
		var nt *Topic
		for i := range t.Partitions {
			p := t.Partitions[i]
			if p.Leader >= 0 || !slices.Contains(p.ISR, node) {
				continue
			}
			if nt == nil {
				nt = t.clone()
			}
			q := &nt.Partitions[i]
			q.Leader = node
			q.LeaderEpoch++
			q.PartitionEpoch++
		}
		if nt != nil {
			n.Topics[name] = nt
		}
	}
}

func encodeCommand(c *Command) ([]byte, error) { return json.Marshal(c) }

func decodeCommand(b []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode metadata command: %w", err)
	}
	return &c, nil
}
