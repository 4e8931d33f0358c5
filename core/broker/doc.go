// Package broker is weir's Kafka protocol front end: it accepts client
// connections, decodes requests with franz-go's kmsg, serves each API key
// from its own file (produce.go, fetch.go, metadata.go, …; each opens with
// the versions it serves and its behaviour), and writes responses in
// request order.
//
// Pieces and who owns what:
//
//	conn.go        one connection: read → decode → handle → write, in order
//	apis.go        registry of served keys/versions (ApiVersions is built from it)
//	partition.go   a served partition: log, leader epoch, high watermark, waiters
//	broker.go      Config (Validate), New/Start/Close, the data-dir lock, accept limits
//	reconcile.go   the reconciler: metadata state → partition logs, off raft's apply goroutine
//	topics.go      topic creation through the metadata state machine
//	configs.go     supported topic configs, validation, mapping onto core/log
//	zerocopy.go    fetch responses whose record bytes go out with sendfile
//	groups.go      group APIs routed to core/group; its Store over __consumer_offsets
//	admin_elect.go, admin_reassign.go, admin_log_dirs.go
//	               ElectLeaders, partition reassignment, DescribeLogDirs (operator tools)
//	follower_fetch.go  fetch from the closest replica (KIP-392)
//
// Invariants:
//
//   - Topic metadata changes only through core/cluster (Raft). The apply
//     goroutine only hands each state to the reconciler, which creates and
//     removes partition logs; a proposal that changed topics returns once
//     the reconciler has put its state in service (cluster's Settle), so
//     its effects are servable, while file I/O never stalls metadata.
//   - Every partition directory records its topic ID (partition.metadata):
//     a directory of another incarnation of a topic, or of a topic the
//     metadata does not know, is set aside and deleted after a grace
//     period, never served.
//   - The high watermark moves only in partition.advanceHW. Single node:
//     HW = log end offset once Append returned (durable per the acks
//     policy). Replication replaces that caller, not the readers.
//   - A connection's non-blocking requests run one at a time in arrival
//     order (idempotent sequences depend on it); responses are always
//     written in request order.
//   - A malformed, oversized or unsupported request closes its connection
//     with a log line; nothing else is affected (FuzzRequestPath).
//
// Not implemented yet (answers say so rather than pretend):
//
//   - Transactions: InitProducerId with a transactional ID is refused with
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a transactional batch with
//     INVALID_TXN_STATE (never stored); FindCoordinator for
//     transactions says COORDINATOR_NOT_AVAILABLE; no AddPartitionsToTxn,
//     EndTxn, WriteTxnMarkers, TxnOffsetCommit.
//   - Replication: follower fetches, ISR changes, leader elections,
//     several brokers (the metadata FSM already carries leader, epoch,
//     replicas and ISR; core/cluster already speaks multi-voter Raft).
//   - SASL, TLS, ACLs (asked for authorized operations, Metadata and
//     DescribeCluster answer everything, as Kafka without an authorizer),
//     quotas, KIP-848 consumer groups, share groups, topic IDs in Produce
//     (v13) and OffsetCommit/OffsetFetch (v10), DescribeProducers,
//     AlterReplicaLogDirs (one log directory), replication throttles.
package broker
