// Package file holds weir's FileStreamSource and FileStreamSink
// connectors, the equivalents of Kafka's
// org.apache.kafka.connect.file.FileStreamSourceConnector and
// …FileStreamSinkConnector, with the same configuration keys and source
// offsets, so Kafka quickstart configs run unchanged. Importing the package
// registers both under Kafka's class names (and the aliases
// FileStreamSource, FileStreamSink, file-source, file-sink).
//
// Source: one task tails "file" (standard input when empty), emitting each
// complete line as a STRING value to "topic", at most "batch.size" lines
// per Poll. Lines end at \n, \r\n or \r; a line without its terminator is
// held back until the terminator arrives, so a writer appending slowly
// never produces torn records. The source partition is
// {"filename": <file>} and the offset {"position": <byte offset after the
// line>}; a restarted task seeks there (a stored offset beyond the end of
// the file — truncation — restarts from 0). Rotation is not followed, but
// when the name stops leading to the open file while it has nothing new
// (renamed away, deleted, its directory unmounted) Poll fails retriably
// until it is back, and a different file under the name is read afresh
// from the stored offset.
//
// Sink: every task appends each record's value, rendered as text, plus a
// newline to "file" (standard output when empty); PreCommit flushes and
// fsyncs, so committed offsets never run ahead of the file. Before each
// batch it checks that the name still leads to its file: while the
// directory is gone Put fails retriably (nothing is written into a file
// that vanished); a missing or replaced file is created and appended to.
package file
