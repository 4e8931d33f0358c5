// Package runtime is weir's Kafka Connect: a worker that runs source and
// sink connectors (plugins.SourceConnector / plugins.SinkConnector) as
// tasks, keeps its state in three compacted topics of any Kafka-compatible
// cluster, and serves Kafka Connect's REST API. It is a Kafka client
// (franz-go) and never imports weir's core: it runs the same against weir
// and Apache Kafka.
//
// # Pieces
//
//	Worker (worker.go)     the herder loop: one goroutine reconciles running
//	                       connectors/tasks with the config topic and the
//	                       assignment; everything else only kicks it
//	stores.go, topiclog.go connect-configs / connect-offsets / connect-status,
//	                       in Kafka Connect's record formats, read fully
//	                       into memory (KafkaBasedLog)
//	source.go, sink.go     one goroutine per task; conversion, transforms,
//	                       offsets; backpressure through bounded buffers
//	errors.go              errors.tolerance, retries, error log, dead letter
//	                       queue with __connect.errors.* headers
//	group.go               distributed mode over the Kafka group protocol
//	rest.go, ops.go        the REST API and the operations behind it
//	yaml.go                Strimzi KafkaConnector files; ApplyDir
//	secrets.go             ${env:NAME} and ${file:path:key}, only in PASSWORD
//	                       (or allowlisted) keys and for allowlisted
//	                       variables; masking
//	suggest.go             "did you mean", unknown config keys
//	metrics.go             Prometheus collectors per connector and task
//
// # Invariants
//
//   - Source offsets are written only after every record submitted before
//     them for the same source partition was acknowledged by the log
//     (at-least-once); with exactly.once.source.support=enabled on a
//     cluster with transactions, records and offsets of one poll commit in
//     one transaction (KIP-618, transaction.boundary=poll).
//   - Sink offsets (consumer group connect-<name>) are committed from what
//     the task's PreCommit reports durable.
//   - REST writes go to the config topic and return after this worker has
//     read them back; in distributed mode only the leader writes (followers
//     forward), except task configs, which the connector's owner writes.
//   - Stored configs keep ${...} placeholders; resolved values live only in
//     running connectors and tasks and are masked in REST bodies, status
//     traces and log lines.
//   - Only the herder goroutine starts or stops connectors and tasks.
//   - A task plugin's Stop never overlaps its Start and runs at most once:
//     a stop requested during a source task's Start is carried out by the
//     task goroutine when Start returns (sourceTask.life).
package runtime
