// Package hdfs is the HDFS sink (Confluent's
// io.confluent.connect.hdfs3.Hdfs3SinkConnector, also registered as
// io.confluent.connect.hdfs.HdfsSinkConnector): topics archived to Hadoop
// through the storage writer core (connectors/storage), exactly once, on
// github.com/colinmarc/hdfs/v2.
//
// Files are named /<topics.dir>/<topic>/<encodedPartition>/<topic>+<partition>+<startOffset:%010d>+<endOffset:%010d>.<ext>
// with the end offset inclusive, as Confluent names them. A file is
// written under /<topics.dir>/+tmp/<topic>/<encodedPartition>/, closed
// (which waits for every DataNode's acknowledgement; the NameNode's
// ErrReplicating is retried) and renamed into place, so readers see whole
// files only. Memory is bounded: a file is written to its temp file in
// parts of hdfs.part.size (4 MiB; weir's key) while it fills, one part
// writing behind Put while the next one is encoded, so an open file holds
// about two parts, whatever flush.size; a file smaller than one part is
// written at once when it closes. Its final name, which carries the end
// offset, is given at the rename. A write of a part that fails (a broken
// write pipeline, a DataNode or NameNode gone for longer than the write's
// 30 s) loses the file: colinmarc/hdfs cannot recover a pipeline, so
// which bytes reached the temp file is unknown, and the file's first
// records are no longer in memory. The task then fails (not retriable;
// the worker restarts it): the committed offsets never passed the file's
// start, and the new task removes the temp file and writes the file again
// from there, exactly once, as after a crash. When a partition is
// assigned, temp files a crashed writer left (and their leases) are
// removed and the position is read from the file names; no write-ahead
// log is needed (logs.dir is accepted and unused).
//
// Formats, under io.confluent.connect.hdfs3. and io.confluent.connect.hdfs.
// (connectors/storage has the schema mappings):
//
//	json.JsonFormat        .json
//	string.StringFormat    .txt
//	avro.AvroFormat        .avro; avro.codec: null, deflate, snappy, zstandard
//	parquet.ParquetFormat  .parquet; parquet.codec: snappy (the default), gzip, zstd, none
//	                       (unlike the S3 sink's, the name does not carry the codec: Confluent's HDFS sinks name them so)
//
// Avro and Parquet need a Connect schema (a converter with schemas); a
// record without one is an errant record (DLQ by errors.tolerance), and a
// schema change starts a new file. Not supported yet: avro.codec bzip2 and
// xz, Kerberos, Hive integration.
package hdfs
