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
// a few tens of milliseconds.
//
// Several nodes (`--controller-voters 1@h:p,2@h:p,3@h:p`): the voters
// bootstrap the raft group together; a node whose ID is not a voter joins
// as a non-voter (it learns the metadata, never votes), added by the
// leader when it asks (forward.go). Raft and weir's controller RPCs share
// RaftAddr: the first byte of a connection tells them apart. Propose on a
// node that is not the leader forwards the command to the leader and
// returns once this node has applied it. Every node heartbeats the leader;
// the leader fences a broker it has not heard for SessionTimeout, and the
// FSM moves its leaderships to the first unfenced ISR replica with a new
// leader epoch, never outside the ISR (membership.go). A broker holds a
// lease (Leased) from the heartbeats a verified leader answered; it runs
// out before the broker can be fenced, so a broker cut off from the quorum
// stops acting as a leader before another takes its partitions. Place spreads new
// partitions' replicas over the live brokers, alternating racks.
// reassign.go holds the operator's commands: preferred and unclean leader
// elections and partition reassignment (KIP-455), completed by the
// leader's ISR change once the target replicas are in sync.
package cluster
