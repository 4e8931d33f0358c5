// Package s3 is the S3 sink (Confluent's io.confluent.connect.s3.S3SinkConnector,
// registered under that class): topics archived to an S3 bucket through
// the storage writer core (connectors/storage), exactly once.
//
// Objects are named <topics.dir>/<topic>/<encodedPartition>/<topic>+<partition>+<startOffset:%010d>.<ext>,
// as Confluent names them, and carry their end offset in the user
// metadata x-amz-meta-weir-end-offset, from which the task recovers its
// position on every partition assignment. An object appears whole: one
// PutObject, or a multipart upload through the SDK's upload manager
// (parts of s3.part.size) that is aborted when it fails; uploads a
// crashed task left unfinished are aborted when its partitions are next
// assigned.
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
// and xz, s3.part.size streaming (a file is buffered whole in memory until it is
// committed, so flush.size bounds memory), s3.ssea.name values other than
// AES256 and aws:kms without a key id.
package s3
