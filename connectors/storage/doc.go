// Package storage is the writer core shared by the object-storage and
// Hadoop sinks (connectors/s3, connectors/hdfs), as Confluent's
// kafka-connect-storage-common is for theirs: record formats,
// partitioners, file rotation, exactly-once file naming and the recovery
// of each Kafka partition's position from the files already in storage.
// A backend gives it a Store (commit one whole file atomically, list
// files, small marker objects); Task is the SinkTask both backends run.
//
// # Exactly once
//
// A file holds records of one Kafka partition and one encoded partition
// (a directory such as partition=3 or year=2026/month=01/day=02), in
// ascending offset order. Its name carries the topic, the Kafka partition
// and the start offset (and, for HDFS, the inclusive end offset; S3
// objects carry the end offset in their metadata). A file becomes visible
// whole (S3: one PUT or a completed multipart upload; HDFS: a temp file
// under +tmp, closed once every DataNode acknowledged it, renamed). PreCommit returns, per partition, the start
// offset of its oldest open file, so consumer offsets never pass a record
// that is not durable.
//
// On every partition assignment the task lists the partition's files and
// keeps, per encoded partition, the highest offset already stored; a
// redelivered record at or below it is dropped. Files of one encoded
// partition are committed in offset order and a record's encoded
// partition is a function of the record (not of the wall clock), so this
// is exact: a crash between a file's commit and the offset commit never
// writes a record twice and never skips one. Wallclock timestamp
// extraction breaks that function and is therefore not exactly-once.
// rotate.schedule.interval.ms closes files by wall clock: the file
// boundaries are then not reproducible, but the recovery above still
// drops every record already stored.
//
// Offsets moved while the connector is stopped (KIP-875 PATCH or DELETE)
// must win over storage. A task that stops cleanly writes a marker per
// partition (under <topics.dir>/+clean/) with the offset it last returned
// from PreCommit and a fingerprint of the partition's files. On the next
// assignment, if the fingerprint still matches and the first record
// delivered is not at that offset, the offsets were moved on purpose: the
// stored positions are ignored and the records are written again.
//
// Schema changes: a record whose value schema differs from the open
// file's starts a new file, as schema.compatibility decides (NONE: any
// change; BACKWARD and FULL: a higher version; FORWARD: a lower one).
// A record of another schema that does not start a new file (an older
// version under BACKWARD and FULL, a newer one under FORWARD) is
// projected to the file's schema, as Confluent does with Kafka Connect's
// SchemaProjector (plugins.Project): fields it lacks take the file
// schema's defaults (nil when optional), fields the file's schema lacks
// are dropped, numbers widen. A record that cannot be projected (a
// required field without default missing, say) goes through the error
// policy like one the format cannot write. A file's schema is that of its
// first record, as in Confluent's S3 sink. Confluent's HDFS sink instead
// carries the schema from one file of a partition to the next (reading it
// back from the last file after a restart), so there a v1 record after a
// full v2 file is projected to v2; weir's HDFS sink keeps the S3 rule, and
// that record starts a v1 file. Like flush.size and
// rotate.interval.ms this depends on the records alone, so a file's
// boundaries and contents do not depend on when it was written.
//
// Uploads behind Put: a file Put closes (flush.size, record-time rotation,
// schema change) is stored on a goroutine of its own while Put goes on
// encoding the next records, one file at a time, so files of an encoded
// partition still become visible in offset order. PreCommit, Close and
// Stop wait for it first; offsets never pass a file not yet stored, and a
// failed upload is retried by the next call, which reports it retriable.
//
// Memory: a file's bytes are buffered until it is committed, except with
// a Streamer (S3, HDFS), which takes a file in parts of PartSize while it
// is written: an open file then holds about two parts (one uploading
// behind Put while the next fills). Where names carry the end offset
// (HDFS), the upload begins under a provisional name and gets its final
// name when it completes (Upload.Complete). A store that lost a file's parts
// (ErrRestartFile) restarts the file's Kafka partition in the running
// task: the file's first records are no longer in memory, so its open
// files are dropped (uploads aborted), the partition is reset to the
// file's start (SinkTaskContext.Offset, as Confluent's sinks rewind) and
// recovered from storage as a fresh assignment, which skips what is
// stored; PreCommit never passes the file's start meanwhile.
//
// Idle close: with rotate.interval.ms set, a file that received no record
// for rotate.interval.ms of wall time is committed (storage-common #275);
// a timer asks the runtime for a commit so it happens without traffic.
//
// # Formats
//
// JSONFormat (one bare value per line, optional gzip), ByteArrayFormat,
// StringFormat, AvroFormat (object container files written by
// github.com/linkedin/goavro/v2's OCFWriter, records gathered into 64 KiB
// blocks; codecs null, deflate, snappy, and zstandard, which goavro's
// OCFWriter lacks: that container is put together from goavro-encoded
// header and blocks, compressed by klauspost/compress; goavro was chosen over
// hamba/avro because hamba's reflect2 calls methods by name, which keeps
// every exported method in the binary: 16 MB of image, issue 15) and
// ParquetFormat (github.com/parquet-go/parquet-go;
// chosen over Apache Arrow's Go Parquet for its weight: a sixth of the
// build time and no gRPC in the binary; its map-based groups sort columns
// by name, so an ordered group node keeps the Connect field order).
// Avro and Parquet map the record's Connect value schema as Confluent's
// AvroData does (format_avro_data.go, format_parquet.go); their writers
// are SchemaBound, and Task starts a new file when a record's schema
// differs from the open file's. A record without a schema, or a value that
// does not match its schema, is refused before any byte of it reaches the
// file, so the file stays readable and the record goes to the DLQ.
package storage
