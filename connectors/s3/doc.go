// Package s3 is the S3 sink (Confluent's io.confluent.connect.s3.S3SinkConnector,
// registered under that class): topics archived to an S3 bucket through
// the storage writer core (connectors/storage), exactly once.
//
// Objects are named <topics.dir>/<topic>/<encodedPartition>/<topic>+<partition>+<startOffset:%010d>.<ext>,
// as Confluent names them; the task recovers its position from their end
// offsets on every partition assignment. An object appears whole:
//
//   - a file smaller than s3.part.size is one PutObject, its end offset
//     in the user metadata x-amz-meta-weir-end-offset;
//   - a larger one is a multipart upload whose parts are sent while the
//     file is still being written (storage.Streamer), so an open file
//     holds about two parts in memory however large flush.size is (one
//     uploads behind the task while the next fills). A part that fails
//     is sent again from the same bytes. A multipart upload's
//     metadata is fixed at its start, before the end offset is known, so
//     the end is written first to <topics.dir>/+ends/<topic>/… (with the
//     object's size, which tells it from a record of an upload that never
//     completed), then the upload is completed.
//
// Uploads a crashed task left unfinished are aborted when its partitions
// are next assigned; a task that loses a partition aborts its own.
//
// The uploads use the S3 API directly rather than the SDK's upload
// manager (feature/s3/manager, deprecated; its successor
// feature/s3/transfermanager is at v0.x): both consume their reader
// once, so a part lost to an outage could only be sent again by keeping
// the whole file in memory.
//
// Formats (connectors/storage has the schema mappings):
//
//	format.class (io.confluent.connect.s3.format.…)  extension                   codec key
//	json.JsonFormat                                  .json, .json.gz             s3.compression.type=gzip
//	bytearray.ByteArrayFormat                        format.bytearray.extension  -
//	avro.AvroFormat                                  .avro                       avro.codec: null, deflate, snappy, zstandard
//	parquet.ParquetFormat                            .snappy.parquet, .gz.parquet, .zstd.parquet, .parquet
//	                                                                             parquet.codec: snappy (default), gzip, zstd, none
//
// Avro and Parquet need a Connect schema (a converter with schemas); a
// record without one is an errant record (DLQ by errors.tolerance), and a
// schema change starts a new object. Not supported yet: avro.codec bzip2
// and xz, s3.ssea.name values other than
// AES256 and aws:kms without a key id.
package s3
