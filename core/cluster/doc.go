// Package cluster holds weir's cluster metadata — brokers, topics, their
// partitions (leader, leader epoch, replicas, ISR) and configs, and the
// producer-id allocator — in one deterministic state machine replicated by
// hashicorp/raft (the KRaft equivalent).
//
// Every change to topic metadata is a Command proposed through
// (*Controller).Propose; nothing else mutates State. Apply is deterministic:
// anything random (topic IDs, the cluster ID) is chosen by the proposer and
// travels inside the command, so every voter computes the same State.
//
// Readers take (*Controller).State(), an immutable snapshot swapped
// atomically after every applied command: never mutate what it returns.
//
// Single node (the default of `weir serve`): one voter, an in-process raft
// transport, raft-boltdb for the log and stable store and file snapshots in
// the data directory, and timeouts short enough that the node is leader in
// a few tens of milliseconds. Several voters (`--controller-voters`) use a
// TCP transport on RaftAddr and raft's default timeouts; the FSM does not
// change.
package cluster
