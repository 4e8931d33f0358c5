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
)

// Command is one state-machine input; it is JSON in the raft log, so fields
// may be added but never renamed.
type Command struct {
	Op         Op                `json:"op"`
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
}

// Result is what applying a Command produced. Err is a Kafka error (nil on
// success) so that handlers answer clients with the code as is.
type Result struct {
	Err             *kerr.Error
	FirstProducerID int64 // OpAllocProducerIDs
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
		n.Brokers[c.Broker.NodeID] = *c.Broker
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

func newPartition(replicas []int32) Partition {
	p := Partition{Leader: -1, Replicas: slices.Clone(replicas), ISR: slices.Clone(replicas)}
	if len(replicas) > 0 {
		p.Leader = replicas[0]
	}
	return p
}

func encodeCommand(c *Command) ([]byte, error) { return json.Marshal(c) }

func decodeCommand(b []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode metadata command: %w", err)
	}
	return &c, nil
}
