// Package cluster tests weir as a replicated cluster the way Jepsen tests
// a Kafka-compatible broker: several `weir serve` processes, a workload of
// idempotent acks=all producers and a committing consumer group, faults
// (kill -9, SIGSTOP/SIGCONT, SIGTERM, network partitions between Linux
// network namespaces), and a checker that reads every partition back from
// every replica and judges the history.
//
// The pieces:
//
//   - harness.go: Cluster and Node. N nodes on free loopback ports (or, in
//     a Net, one network namespace each), own data directories, logs kept per
//     node; Kill (SIGKILL), Pause/Resume (SIGSTOP/SIGCONT), Stop (SIGTERM),
//     Start again on the same ports and data; Leader finds a partition's
//     leader through Metadata.
//   - netns.go: Net, namespaces joined by a bridge in a hub namespace (all
//     addresses live only inside the namespaces, created and deleted by the
//     test); Isolate cuts a node from its peers with blackhole routes, Heal
//     restores them. The test process reaches the nodes through a client
//     namespace of its own (sockets opened on a thread switched into it).
//   - workload.go: producers that record every acknowledged (partition,
//     offset, value) and a consumer group that records every committed
//     offset; ReadAll reads a partition from its leader, ReadReplica from
//     one replica's own log (a Fetch to that broker, served up to its high
//     watermark); Cluster.Only makes clients that reach one node alone, so
//     what they see acknowledged, that node acknowledged.
//   - checker.go: Check judges a History: acknowledged, present, lost,
//     moved, duplicated, reordered, divergent across replicas, unexpected,
//     committed-offset regressions, printed as a table.
//
// The checker's unit tests run in `make test`. The scenarios need a
// multi-node weir and run under the build tag `cluster`
// (`make test-cluster`; `make test` runs the core ones, test-cluster-core);
// each says in its name what it shows.
package cluster
