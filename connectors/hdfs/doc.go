// Package hdfs is the HDFS sink (Confluent's
// io.confluent.connect.hdfs3.Hdfs3SinkConnector, also registered as
// io.confluent.connect.hdfs.HdfsSinkConnector): topics archived to Hadoop
// through the storage writer core (connectors/storage), exactly once, on
// github.com/colinmarc/hdfs/v2.
//
// Files are named /<topics.dir>/<topic>/<encodedPartition>/<topic>+<partition>+<startOffset:%010d>+<endOffset:%010d>.<ext>
// with the end offset inclusive, as Confluent names them. A file is
// written under /<topics.dir>/+tmp/<topic>/<encodedPartition>/, flushed
// to the DataNodes, closed (the NameNode's ErrReplicating is retried) and
// renamed into place, so readers see whole files only. When a
// partition is assigned, temp files a crashed writer left (and their
// leases) are removed and the position is read from the file names; no
// write-ahead log is needed (logs.dir is accepted and unused).
//
// Formats: JsonFormat and StringFormat (the hdfs3 and hdfs class names).
// Not supported yet: AvroFormat and ParquetFormat, Kerberos, Hive
// integration.
package hdfs
