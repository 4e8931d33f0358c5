package cluster

import (
	"maps"
	"slices"
)

// UUID is a Kafka topic ID (the 16 bytes kmsg uses).
type UUID = [16]byte

// Broker is one registered broker.
type Broker struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack,omitempty"`
	// Fenced: the controller stopped hearing its heartbeats (or it shut
	// down in a controlled way); it leads nothing and is in no ISR it can
	// leave, and Metadata does not list it.
	Fenced bool `json:"fenced,omitempty"`
}

// Partition is one partition's replica placement and leadership. Leader
// epoch bumps on every leader change; PartitionEpoch on every change at all
// (KIP-841 style), so followers can fence stale updates.
type Partition struct {
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	// Adding and Removing are set while a reassignment is in progress
	// (KIP-455; reassign.go): Replicas then holds the target replicas
	// followed by the removing ones.
	Adding   []int32 `json:"adding_replicas,omitempty"`
	Removing []int32 `json:"removing_replicas,omitempty"`
}

// Topic is one topic. Configs hold only the dynamic (explicitly set) topic
// configs; defaults are the broker's business.
type Topic struct {
	Name       string            `json:"name"`
	ID         UUID              `json:"id"`
	Internal   bool              `json:"internal,omitempty"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// State is the whole cluster metadata. A *State returned by the Controller
// is immutable.
type State struct {
	ClusterID      string            `json:"cluster_id"`
	Brokers        map[int32]Broker  `json:"brokers"`
	Topics         map[string]*Topic `json:"topics"`
	NextProducerID int64             `json:"next_producer_id"`
	// Index is the raft index of the last applied command (not persisted
	// in snapshots as state: restored from the snapshot's index).
	Index uint64 `json:"index"`
	// Recent are the last state-changing commands' IDs and results, so
	// that a retried proposal is not applied twice (dedup.go).
	Recent []Applied `json:"recent,omitempty"`

	byID map[UUID]string
}

func newState() *State {
	return &State{Brokers: map[int32]Broker{}, Topics: map[string]*Topic{}, byID: map[UUID]string{}}
}

// TopicByID returns the topic with the given ID.
func (s *State) TopicByID(id UUID) (*Topic, bool) {
	name, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	t, ok := s.Topics[name]
	return t, ok
}

// TopicNames returns the topic names, sorted.
func (s *State) TopicNames() []string {
	return slices.Sorted(maps.Keys(s.Topics))
}

// clone is a shallow copy: maps are new, *Topic values shared (copy a topic
// before changing it).
func (s *State) clone() *State {
	n := *s
	n.Brokers = maps.Clone(s.Brokers)
	n.Topics = maps.Clone(s.Topics)
	n.byID = maps.Clone(s.byID)
	if n.Brokers == nil {
		n.Brokers = map[int32]Broker{}
	}
	if n.Topics == nil {
		n.Topics = map[string]*Topic{}
	}
	if n.byID == nil {
		n.byID = map[UUID]string{}
	}
	return &n
}

func (t *Topic) clone() *Topic {
	n := *t
	n.Partitions = slices.Clone(t.Partitions)
	n.Configs = maps.Clone(t.Configs)
	return &n
}

func (s *State) reindex() {
	s.byID = make(map[UUID]string, len(s.Topics))
	for name, t := range s.Topics {
		s.byID[t.ID] = name
	}
}
