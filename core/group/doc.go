// Package group is weir's group coordinator: Kafka's classic consumer
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed
// offsets (OffsetCommit, OffsetFetch, OffsetDelete) and the group admin
// APIs (DescribeGroups, ListGroups, DeleteGroups), with all state kept in
// the __consumer_offsets topic in Kafka's own record formats.
//
// The broker decodes a request with kmsg and hands it to
// Coordinator.Handle; Versions lists what Handle serves, for ApiVersions.
// Each API's file opens with the behaviour it implements (join.go,
// offsets.go, admin.go).
//
// # Groups
//
// A group moves through Kafka's states:
//
//	Empty ──a member joins──▶ PreparingRebalance ──all rejoined, or the──▶ CompletingRebalance
//	  ▲                          ▲   │             rebalance timeout                │
//	  └──barrier completes with──┼───┘                                    leader's SyncGroup
//	     no members              │                                                  ▼
//	                             └── joins, leaves, expiries, new metadata ──── Stable
//	                                 (or a missed SyncGroup)
//
// plus Dead for a deleted group. The coordinator never looks inside the
// protocol metadata or assignments it relays, except to learn a "consumer"
// group's subscribed topics (for OffsetDelete and offset expiry): eager and
// cooperative rebalancing differ only in what clients send. The leader is
// the oldest member.
//
// # Records
//
// Records go to partition PartitionFor(group, n) of __consumer_offsets,
// one v2 batch per change (built with core/record), each Append durable
// before the change is visible or acknowledged:
//
//	key                                        value
//	OffsetCommitKey v1 (group, topic, part)    OffsetCommitValue v3 (offset, leader epoch,
//	                                           metadata, commit timestamp); nil = deleted
//	GroupMetadataKey v2 (group)                GroupMetadataValue v3 (protocol type,
//	                                           generation, protocol, leader, state
//	                                           timestamp, members with instance ids,
//	                                           subscriptions and assignments); nil = deleted
//
// Group metadata is written when a generation's assignment is stored (the
// leader's SyncGroup), when a group empties, and when a static member is
// replaced without a rebalance. Load replays every partition; it also
// reads the older value versions Kafka wrote (offset v0-v2, group v0-v2)
// and skips the records of KIP-848 groups.
//
// # Concurrency
//
// Handle may be called from any number of goroutines. JoinGroup and
// SyncGroup block on their barrier; everything else answers at once
// (after at most one Store.Append). Each group has its own mutex, held
// across its Appends so that log order is state order; the coordinator's
// mutex guards only the map of groups and is taken after, never before, a
// group's. Timers (sessions, rebalance and sync timeouts, offset expiry)
// run on the clock seam so tests drive them by hand.
//
// # Not implemented
//
//   - KIP-848 consumer groups (ConsumerGroupHeartbeat), share groups, and
//     transactional offset commits (TxnOffsetCommit).
//   - OffsetCommit/OffsetFetch v10 (topic ids).
//   - Per-commit retention (OffsetCommit v2-v4) is ignored, as in Kafka 2.1+.
//   - Authorization: described groups report every group operation.
package group
