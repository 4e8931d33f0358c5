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
// Formats: JsonFormat (s3.compression.type=gzip for .json.gz) and
// ByteArrayFormat. Not supported yet: AvroFormat and ParquetFormat,
// s3.part.size streaming (a file is buffered whole in memory until it is
// committed, so flush.size bounds memory), s3.ssea.name values other than
// AES256 and aws:kms without a key id.
package s3
