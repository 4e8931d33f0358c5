// Package record reads and writes Kafka's v2 record batches (magic 2), the
// unit weir stores on disk and sends on the wire unchanged.
//
// The byte codecs come from franz-go: kmsg.RecordBatch / kmsg.Record for the
// layout and kgo's compressors for gzip, snappy, lz4 and zstd. This package
// adds what a broker needs on top: a cheap fixed-offset header view for the
// hot path (no allocation), CRC-32C checks, in-place rewrites of the fields
// a broker owns, and a builder for the batches the broker writes itself
// (group offsets, control records).
//
// Untrusted input: CheckBatch validates a produced batch as Kafka's
// LogValidator does (record count against offsets, every record's varint
// layout walked in place, timestamps, keys), and every decompression
// (Decompress; Records and RecordsUnchecked at DefaultDecompressLimit) is
// bounded, checking what a frame announces before allocating for it, so
// a small "zip bomb" cannot inflate in memory. FuzzCheckBatch keeps both
// honest.
//
// Batch header layout (big endian, 61 bytes), as in Kafka's DefaultRecordBatch:
//
//	+0  baseOffset            int64   ← rewritten by the log on append
//	+8  batchLength           int32   (bytes after this field)
//	+12 partitionLeaderEpoch  int32   ← rewritten by the leader (outside the CRC)
//	+16 magic                 int8    (= 2)
//	+17 crc                   uint32  CRC-32C of bytes [21, end)
//	+21 attributes            int16   bits 0-2 codec, 3 timestamp type,
//	                                  4 transactional, 5 control, 6 delete horizon
//	+23 lastOffsetDelta       int32
//	+27 baseTimestamp         int64
//	+35 maxTimestamp          int64   ← set to the append time for LogAppendTime
//	+43 producerId            int64
//	+51 producerEpoch         int16
//	+53 baseSequence          int32
//	+57 recordCount           int32
//	+61 records...            (compressed as a whole when codec != none)
//
// Ownership: functions taking a batch []byte never retain it; Set* functions
// modify it in place.
package record
