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
//	broker.go      Config, New/Start/Close, reconcile (metadata → partition logs)
//	topics.go      topic creation through the metadata state machine
//	configs.go     supported topic configs, validation, mapping onto core/log
//	zerocopy.go    fetch responses whose record bytes go out with sendfile
//	groups.go      group APIs routed to core/group; its Store over __consumer_offsets
//
// Invariants:
//
//   - Topic metadata changes only through core/cluster (Raft). reconcile,
//     run on the FSM's apply goroutine, creates and removes partition logs,
//     so when a proposal returns its effects are servable.
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
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; FindCoordinator for
//     transactions says COORDINATOR_NOT_AVAILABLE; no AddPartitionsToTxn,
//     EndTxn, WriteTxnMarkers, TxnOffsetCommit.
//   - Replication: follower fetches, ISR changes, leader elections,
//     several brokers (the metadata FSM already carries leader, epoch,
//     replicas and ISR; core/cluster already speaks multi-voter Raft).
//   - SASL, TLS, ACLs (authorized operations are reported as unknown),
//     quotas, KIP-848 consumer groups, share groups, topic IDs in Produce
//     (v13) and OffsetCommit/OffsetFetch (v10), DescribeLogDirs,
//     DescribeProducers, ElectLeaders.
package broker
