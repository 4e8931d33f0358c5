// Package elasticsearch is the Elasticsearch sink (ElasticsearchSink, alias
// io.confluent.connect.elasticsearch.ElasticsearchSinkConnector), with the
// keys of Confluent's connector, built on go-elasticsearch's Bulk API.
//
// Every record becomes one bulk item in the index named after its topic
// (lower-cased, after transforms: rename with RegexRouter) or, with
// data.stream.type and data.stream.dataset, in the data stream
// <type>-<dataset>-<topic> (created, with an index template when none
// matches). Document ids are the record key (strings as they are, other
// primitives in their text form, structs and maps as their JSON), or
// topic+partition+offset with key.ignore=true and for data streams.
//
// # Idempotence
//
// A keyed write carries the record's Kafka offset as the document's
// external version (version_type=external), so a replay after a crash, a
// rebalance or an offset reset never puts an older value over a newer one:
// Elasticsearch answers 409 and the sink skips it. Ids from
// topic+partition+offset (and data stream creates) are idempotent by
// themselves. Put returns only once every item of the batch is
// acknowledged (written, skipped as a conflict, or handled as malformed),
// so the offsets the runtime commits afterwards never pass an unwritten
// document. Together these make the sink exactly once in effect.
//
// What the promise does not cover:
//   - several topics routed into one index with the same keys: offsets of
//     different partitions are not comparable, so the higher offset wins,
//     not the later write;
//   - a key whose tombstone was applied: Elasticsearch remembers a deleted
//     document's version only for index.gc_deletes (60 s by default); a
//     replay after that re-creates the document from an older record until
//     the replay reaches the tombstone again;
//   - write.method=upsert: updates cannot carry an external version, so a
//     replay re-applies old partial updates until it catches up.
//
// # Errors
//
// Whole requests answered 429 or 5xx, and connection errors, are retried
// max.retries times with exponential backoff (retry.backoff.ms doubling)
// with jitter, never sooner than a Retry-After header asks; bulk items that
// fail with 429 or 5xx are retried alone. After that the batch goes back
// to the runtime as a retriable error (the task stays RUNNING with the
// cause in its status trace, and the batch is redelivered). Items refused
// with 400 (mapping conflicts, parse errors) go to the dead letter queue
// with errors.tolerance=all, the Elasticsearch error in
// __connect.errors.exception.message; otherwise
// behavior.on.malformed.documents decides (fail by default: the task
// FAILs naming the record, the index and the Elasticsearch error).
//
// Mappings come from the value schema when schema.ignore=false and the
// index does not exist yet (see mapping).
//
// Not supported: compact.map.entries=false (maps with string keys are
// always objects), Java key and trust stores (elastic.https.ssl.* take PEM
// files), elastic.https.ssl.keystore.type/truststore.type and the other
// JSSE tuning keys, proxy.* keys, Kerberos (kerberos.*), write.method=upsert
// with data streams, and external.version.header.
package elasticsearch
