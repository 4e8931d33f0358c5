// Package replica holds weir's partition replication protocol: how a
// follower copies its leader's log, how the leader keeps the in-sync
// replica set (ISR) and the high watermark (HW), and how a follower that
// diverged after a leader change truncates. It is Kafka's protocol
// (KIP-101, KIP-279, KIP-320, KIP-841), so Kafka clients keep their
// semantics for acks=all and min.insync.replicas.
//
// The protocol, for one partition with leader L and followers F1, F2:
//
//	producer           leader L                      follower F1 (F2 alike)
//	   │ Produce acks=all  │                                   │
//	   │──────────────────▶│ ISR < min.insync? NOT_ENOUGH_REPLICAS
//	   │                   │ append(epoch e) → LEO_L           │
//	   │                   │◀──────────────────────────────────│ Fetch(ReplicaID=F1, offset=LEO_F1)
//	   │                   │ LEO[F1] = offset (F1 holds [0,offset))
//	   │                   │ HW = min(LEO over ISR), if |ISR| ≥ min.insync
//	   │                   │──────────────────────────────────▶│ batches [LEO_F1, LEO_L), HW
//	   │                   │                                   │ append(origin=replication, offsets kept)
//	   │                   │◀──────────────────────────────────│ Fetch(offset=LEO_F1') …
//	   │◀──────────────────│ HW ≥ batch end: acknowledge       │
//	   │                   │   (ISR shrank below min.insync    │
//	   │                   │    meanwhile: NOT_ENOUGH_REPLICAS_AFTER_APPEND)
//
//	ISR changes go through the metadata state machine (core/cluster), with
//	the leader epoch and partition epoch of the proposer checked there:
//	  shrink: a follower whose LEO has not reached the leader's LEO for
//	          replica.lag.time.max.ms (30 s) leaves the ISR;
//	  expand: a follower whose LEO reached the HW (and the leader's epoch
//	          start) joins it;
//	  fence:  a broker that misses heartbeats leaves every ISR and its
//	          leaderships move to the first unfenced ISR replica, with a
//	          new leader epoch (core/cluster OpFenceBroker).
//
//	After a leader change, a follower asks the new leader
//	OffsetForLeaderEpoch(its latest epoch e) and truncates to
//	min(its LEO, the end offset the leader reports for e): never by the HW
//	alone, which may lag what the ISR holds.
//
// Invariants:
//   - HW ≤ min(LEO of every ISR member): the HW is the minimum of the ISR's
//     LEOs, and an ISR member's LEO only moves back by truncation below the
//     HW, which a member in sync never needs.
//   - A batch acknowledged with acks=all is on every ISR member: it is
//     acknowledged only once the HW passed it, with at least
//     min.insync.replicas members in the ISR, and a replica only joins the
//     ISR once it holds everything up to the HW.
//   - The HW does not move while |ISR| < min.insync.replicas.
//   - Leaders are elected from the ISR only, so a new leader holds every
//     acknowledged batch; a deposed leader's ISR and epoch in the metadata
//     fence it: it can no longer grow the ISR or move the HW. The one
//     exception is an operator's ElectLeaders of type UNCLEAN on a topic
//     with unclean.leader.election.enable=true and no live ISR member.
//
// This package holds Tracker, the leader-side ISR and HW state machine of
// one partition, and TruncationOffset, the follower's divergence rule,
// both pure. core/broker wires them (replication.go): follower fetchers,
// the leader's handling of replica fetches, the acks=all wait and ISR
// changes proposed as core/cluster's OpAlterPartition, which refuses a
// proposer that is not the leader at the leader and partition epochs it
// names.
//
// A leader cut off from the metadata quorum keeps its partitions until the
// controller fences it (broker.session.timeout.ms): an acks=all write it
// acknowledges is on every member of the ISR it knows, which holds any
// leader the controller can elect instead, so none is lost; its ISR
// changes are refused, so it cannot shrink the ISR to itself. Beyond
// Kafka, it also stops acknowledging writes of any acks (and an acks=all
// wait gives up) once its lease runs out, shortly before the controller
// can fence it (core/cluster's membership.go): a partitioned or paused
// leader never acknowledges an acks=1 write after another replica could
// have taken over. Reads from it are not fenced: they may be stale, never
// uncommitted.
//
// Preferred-leader election and reassignment (KIP-455: adding replicas
// follow and join the ISR, then the removing ones leave) are metadata
// commands (core/cluster reassign.go); a reassignment changes a leader's
// replica set under the same epoch (Tracker.SetReplicas). Consumers may
// fetch from an in-sync follower in their rack (KIP-392, core/broker
// follower_fetch.go), up to that follower's HW.
package replica
