// Package log is weir's durable partition log: one append-only log per
// topic partition, in Kafka's on-disk layout, that the broker appends
// produce requests to and serves fetches from with zero copies.
//
// # Directory layout
//
// A Manager owns a data directory with one directory per partition, named
// <topic>-<partition> as Kafka names them:
//
//	weir-data/
//	  orders-0/
//	    00000000000000000000.log         segment: record batches, as sent
//	    00000000000000000000.index       sparse offset index of that segment
//	    00000000000000000000.timeindex   sparse time index of that segment
//	    00000000000000170412.log         ...next segment, named by its base offset
//	    00000000000000170412.index
//	    00000000000000170412.timeindex
//	    00000000000000170412.snapshot    producer state as of offset 170412
//	    leader-epoch-checkpoint          epoch -> start offset
//	    weir-log-checkpoint              log start, recovery point, cleaner point
//	    weir-log-config.json             the log's Config, for the next NewManager
//	    .kafka_cleanshutdown             present only between Close and Open
//
// # Segment file (.log)
//
// A segment is a concatenation of Kafka v2 record batches exactly as the
// producer encoded them (compressed or not). Append rewrites only the base
// offset and partition leader epoch (both outside the CRC) and, for
// message.timestamp.type=LogAppendTime, the attributes and max timestamp
// (then the CRC is recomputed). Records are never re-encoded on the hot
// path, so a fetch is a sendfile(2) of a file range.
//
//	segment:  | batch | batch | batch | ... | batch |   (no header, no padding)
//
//	batch (big-endian; CRC-32C covers Attributes..end):
//	+------------+-------------+----------------------+-------+-------+
//	| BaseOffset | BatchLength | PartitionLeaderEpoch | Magic |  CRC  |
//	|   int64    |    int32    |        int32         | int8=2| uint32|
//	+------------+-------------+----------------------+-------+-------+
//	| Attributes | LastOffsetDelta | FirstTimestamp | MaxTimestamp |
//	|   int16    |      int32      |     int64      |    int64     |
//	+------------+-----------------+----------------+--------------+
//	| ProducerID | ProducerEpoch | BaseSequence | NumRecords | Records... |
//	|   int64    |     int16     |    int32     |   int32    | (codec'd)  |
//	+------------+---------------+--------------+------------+------------+
//	  0          8            12                 16      17      21
//	  21 attrs, 23 last delta, 27 first ts, 35 max ts, 43 pid, 51 epoch,
//	  53 base seq, 57 count, 61 records.   Batch size = 12 + BatchLength.
//
// Attributes bit 6 (0x40) is Kafka's delete-horizon flag (KIP-534, Kafka
// 2.8+): set by the cleaner on a batch whose tombstones it kept, with
// FirstTimestamp holding the delete horizon (the time after which they may
// be dropped) and record timestamp deltas relative to it, so records decode
// to their own timestamps. It is the only change compaction makes to the
// format; see compact.go.
//
// Offsets only grow through a log, across segments too, but need not be
// contiguous inside a segment: compaction keeps offsets and leaves gaps. A
// segment's name is its base offset; its first batch may start later after
// compaction. Segments tile the offsets: each one's base is exactly the end
// (last offset + 1) of the one before, because rolls happen at the log end
// and compaction keeps the last batch of what it rewrites (emptied, with
// zero records, if all its records are obsolete, as Kafka does). Recovery
// relies on this to recognise a middle segment whose tail a crash tore.
//
// # Offset index (.index) and time index (.timeindex)
//
// Both are sparse: one entry per index.interval.bytes of batches, as Kafka.
// Offsets are stored relative to the segment base, so a segment spans at
// most 2^32 offsets and 2^32 bytes (segments roll before either overflows).
//
//	.index entry (8 bytes):       .timeindex entry (12 bytes):
//	+-------------+----------+    +-----------+-------------+
//	| relOffset   | position |    | timestamp | relOffset   |
//	| uint32      | uint32   |    | int64     | uint32      |
//	+-------------+----------+    +-----------+-------------+
//	 the batch with base offset    every batch before the batch at
//	 base+relOffset starts at      relOffset has MaxTimestamp <= timestamp;
//	 byte position                 the last entry is the segment's max
//
// A look-up finds the last entry at or below the target and walks batch
// headers forward from there. The in-memory index is the truth while a log
// is open; the files are written when a segment rolls, at checkpoints and at
// Close (atomically, via a temp file and rename). On Open an index file is
// validated (sizes, monotonic entries, positions inside the file, the
// batch at the last entry's position starts at exactly that offset, the
// tail after it walks to the end of the file); one that fails any check is
// rebuilt from the segment, with every CRC checked. A Read whose index
// entry does not land on a batch boundary discards the index and rebuilds
// it in the background: an index is a hint, never trusted.
//
// # Producer snapshot (.snapshot)
//
//	+-------+--------+-------+---------------------------------------------+
//	| "WPS1"| crc32c | count | count x entry                                |
//	+-------+--------+-------+---------------------------------------------+
//	entry: pid int64 | epoch int16 | txnFirstOffset int64 | coordEpoch int32
//	       | lastTimestamp int64 | n uint8 | n x (firstSeq int32 | lastSeq
//	       int32 | firstOffset int64 | lastOffset int64 | maxTs int64)
//
// Written at every roll (state as of the new segment's base) and at Close
// (as of the log end). The three newest are kept. Recovery loads the newest
// one that is at or below the log end and passes its CRC, then replays the
// batch headers after it; duplicate detection (the last five batches per
// producer, as Kafka) therefore survives restarts.
//
// # Checkpoints
//
// Small text files in Kafka's checkpoint format (version, count, entries),
// replaced with write-temp, fsync, rename, fsync-dir:
//
//	leader-epoch-checkpoint      weir-log-checkpoint
//	0                            0
//	2                            1
//	4 0                          <logStart> <recoveryPoint> <cleanerPoint> <crc32c>
//	6 1200
//
// The periodic checkpoint (Manager maintenance) skips a weir-log-checkpoint
// whose content would not change, so idle logs cost no fsyncs.
// The recovery point is the offset below which everything was fsynced; the
// log start only moves forward after the checkpoint holding it is durable,
// and only then are the segments below it unlinked.
//
// # Durability and recovery
//
// Appends go to the page cache and are fsynced by flush.messages, flush.ms
// (Manager), Flush, or, with Config.SyncOnAppend, before Append returns.
// A roll fsyncs the segment it closes, and the directory, in the
// background (as Kafka schedules a flush at every roll), so the recovery
// point follows the rolls without any flush.* setting and is checkpointed
// at once (no append waits for it). The recovery point only
// moves over a prefix of segments whose bytes and directory entries are
// both durable.
//
// Group commit (SyncOnAppend, weir serve --fsync): an Append writes and
// publishes its batches, releases the append lock and joins the log's
// commit round being collected. The first waiter that finds no round
// running leads one (closes it, fsyncs what was published, wakes its
// members); a member of the next round leads that one. So one fdatasync
// covers every batch that arrived while the previous one was on the disk,
// from any number of producers, with no goroutine hand-off for a lone
// appender. A waiter whose batches are already below the recovery point
// waits for nothing, and one that finds a round running returns when that
// round ends if it covered its batches (they were published before it was
// planned), rather than waiting for a round of its own. The logs of a data directory commit independently and
// concurrently, and the file system's journal commits their concurrent
// fdatasyncs together; rounds shared across a Manager's logs were tried
// and measured half as fast with 16 partitions (a shared round waits for
// its slowest file). A new segment's directory entry is synced in the
// round before the first append in it is acknowledged. An Append returns
// only once the recovery point is past its last offset; readers may see
// the batches earlier, but the broker's high watermark moves only when
// Append returns. A duplicate (an idempotent retry) waits for a round too.
//
// A clean Close fsyncs, writes indexes, a producer snapshot and the
// checkpoints, then the clean-shutdown marker; Open removes the marker
// (durably) before accepting appends. Without the marker, Open CRC-checks
// every segment from the one holding the recovery point to the end,
// truncates at the first batch that is torn, fails its CRC, or does not
// continue the offsets, drops any later segment, and rebuilds the indexes,
// producer state and (from the batches' leader epochs) the epoch cache. Nothing below the recovery point is rescanned, so
// nothing that was fsynced is lost, and recovery costs about one CRC pass
// over the unflushed tail (measured: 1 GiB in ~0.4 s). Recovery does not
// fsync what it scanned (that would cost writing the whole dirty tail to
// disk); the recovery point stays put until the next flush, so a second
// crash merely repeats the scan.
// An I/O error during recovery fails Open: only bytes that are not a valid
// batch are truncated, never bytes that could not be read.
//
// # Storage failures
//
// A failed write, truncate or fsync (EIO, ENOSPC, ...) takes the log
// offline, as Kafka takes a log directory offline: after a failed fsync
// the kernel may have dropped the dirty pages, so a retry that succeeds
// proves nothing, and after a failed write the file may hold a partial
// batch. From then on every Append, Read, Flush, truncation, DeleteRecords
// and AssignEpoch returns an error wrapping kerr.KafkaStorageError and the
// cause; maintenance skips the log; the recovery point never moves again
// (so it never covers bytes whose fsync failed); Close writes nothing (no
// checkpoint, no clean-shutdown marker), so the next Open recovers from
// the recovery point with every CRC checked, and the reopened log is
// healthy. A group commit whose fsync fails fails every append waiting on
// it. On a full disk an append fails with a storage error naming ENOSPC
// and nothing acknowledged is lost; once space returns the reopened log
// works (TestDiskFullOnTmpfs runs this on a 4 MiB tmpfs).
//
// Failures that leave the files as the log believes them (no descriptor to
// create a segment, a failed index or producer-snapshot replace: those are
// caches, validated on open) fail the operation but keep the log online.
// A failed leader-epoch or log checkpoint write takes it offline.
//
// For operators: (*Log).Offline returns nil while healthy and the error
// that took the log offline after; Options.OnStorageError is called once
// per failed storage operation with the log directory, the operation and
// the cause. The broker turns the hook into a rate-limited ERROR line and
// weir_log_storage_errors_total{topic,partition}, and reports offline
// logs in /health.
//
// # Compaction and hostile batches
//
// The cleaner decompresses a batch to at most max.message.bytes (with a
// 64 MiB floor) or Options.CleanerMaxBatchBytes: one that would inflate
// further is kept as it is, with a logged reason, and a compacted topic
// refuses it on produce with MESSAGE_TOO_LARGE (the key check decompresses
// under the same limit). Tombstones are kept delete.retention.ms from the
// pass that first kept them (the delete horizon, above), not from their
// producer timestamps.
//
// # Configuration
//
// Config.Validate and Options.Validate return an error naming the first
// setting out of range (by its Kafka topic-config name and its field);
// zero values mean the default. Open refuses an invalid Config and
// SetConfig logs and ignores one; nothing is silently clamped.
//
// # Reads
//
// Read returns whole batches from one segment as a file range; the
// ReadResult holds a reference on the segment so retention can unlink it
// while a fetch is still sending from it (the fd closes on Release).
// WriteTo uses positional sendfile(2) on a syscall.Conn, so any number of
// fetches share one fd without touching its file offset.
//
// # Locking
//
// Manager.mu guards only the map of logs: Open runs outside it, so
// partitions are created (and NewManager opens them) concurrently; a
// partition being created is opened once, and Remove and Close wait for it.
// Per log, appendMu serialises every mutation (Append, roll, truncation, retention,
// the compaction swap); mu guards what readers look at and is held only to
// publish a mutation's result, never across I/O. Order: appendMu, mu.
// Syncs (group commit rounds, background flushes of rolled segments) run
// without appendMu and publish the recovery point under mu; the group
// commit's own mutex is taken with neither held.
//
// # Not yet, and limits
//
// BaseOffset and PartitionLeaderEpoch are outside the CRC in Kafka's v2
// format: a flipped bit that moves an unflushed batch's base offset forward
// into a plausible gap, or raises its epoch, cannot be told from compaction
// or a new leader by any v2 reader (Kafka included); the recovery fuzz
// target therefore spares those 12 bytes from bit flips (truncations and
// zeroed pages still hit them).
//
// No aborted-transaction index (.txnindex): LastStableOffset is exact but
// READ_COMMITTED fetches cannot be given the aborted list, and compaction
// treats aborted records like committed ones. Producer ids expire after 24 h
// idle (Kafka's producer.id.expiration.ms default; not configurable yet).
// file.delete.delay.ms is not applied: files are unlinked at once (open
// readers keep them alive).
//
// Group commit shares fsyncs, it cannot shorten them: an appender with one
// small batch outstanding waits a whole fdatasync (~0.7 ms on this
// project's disks), so 16 appenders of 1 KiB batches move at most 16 KiB
// per fsync, a few percent of the disk's sequential bandwidth; producers
// that batch while their request waits (64 KiB batches) reach it
// (BenchmarkGroupCommit prints both against dd conv=fdatasync: 64 KiB
// batches reach 0.9x of dd into one log and 1.5x into 16). End to end
// (make bench's durable row, 16 franz-go producers at their defaults, 6
// partitions, 2 CPUs) strace counts one fdatasync per partition for every
// ~1.8 MiB of batches from many producers, and the disk is idle most of
// the run: it is bound by the CPU, the clients' ~6 CPU-s/GB more than the
// broker's ~2, and reaches 0.74-0.86 of the same producers against the
// page cache (and 0.3-0.4 of dd on a machine loaded 13-17). One file
// per partition means one fdatasync per partition (concurrent across
// partitions); syncfs(2) would cover them in one call but would also flush
// every other file system user's dirty data.
package log
