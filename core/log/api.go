package log

// This file is the contract between core/log and its callers (core/broker,
// core/group, core/replica). Signatures here are agreed; bodies are filled
// in by the log implementation. Errors that a Kafka client must see wrap a
// kerr error (github.com/twmb/franz-go/pkg/kerr) so that callers map them
// with errors.As(err, new(*kerr.Error)) and never by string.

import (
	"io"
	"log/slog"
	"time"
)

// CleanupPolicy is the topic's cleanup.policy.
type CleanupPolicy uint8

const (
	CleanupDelete        CleanupPolicy = 1 << iota // "delete"
	CleanupCompact                                 // "compact"
	CleanupCompactDelete = CleanupDelete | CleanupCompact
)

// TimestampType is message.timestamp.type.
type TimestampType uint8

const (
	CreateTime TimestampType = iota
	LogAppendTime
)

// Config is one partition log's settings; names follow Kafka's topic configs.
// Durations of zero or less mean "never/infinite" where Kafka uses -1.
type Config struct {
	SegmentBytes       int64         // segment.bytes, default 1 GiB
	SegmentMs          time.Duration // segment.ms, default 7 days
	SegmentIndexBytes  int           // segment.index.bytes, default 10 MiB
	IndexIntervalBytes int           // index.interval.bytes, default 4096
	RetentionMs        time.Duration // retention.ms, default 7 days; <0 infinite
	RetentionBytes     int64         // retention.bytes, default -1 (infinite)
	CleanupPolicy      CleanupPolicy // cleanup.policy, default delete
	DeleteRetentionMs  time.Duration // delete.retention.ms, default 1 day
	MinCompactionLagMs time.Duration // min.compaction.lag.ms, default 0
	MinCleanableRatio  float64       // min.cleanable.dirty.ratio, default 0.5
	FlushMessages      int64         // flush.messages, default MaxInt64 (page cache only)
	FlushMs            time.Duration // flush.ms, default infinite
	SyncOnAppend       bool          // weir: fsync before Append returns (acks are durable on disk)
	MaxMessageBytes    int           // max.message.bytes, default 1048588
	TimestampType      TimestampType // message.timestamp.type, default CreateTime
	FileDeleteDelay    time.Duration // file.delete.delay.ms, default 60 s
}

// Options are process-level settings shared by every log of a Manager.
type Options struct {
	FS     FS           // file system seam; nil means the real OS file system
	Logger *slog.Logger // nil means slog.Default()
	Now    func() time.Time

	// Added by core/log (not in the original contract):

	// MaintenanceInterval is how often a Manager runs retention, segment.ms
	// rolls, compaction and checkpoints; 0 means 30 s.
	MaintenanceInterval time.Duration
	// CleanerMaxKeys bounds the compaction key map (about 40 bytes each);
	// 0 means 1<<20.
	CleanerMaxKeys int
	// CleanerMaxBatchBytes caps how large one batch may grow when the
	// cleaner decompresses it; a batch that would inflate past it is kept
	// as it is (not compacted) and the reason logged, and a produce of one
	// to a compacted topic is refused with MESSAGE_TOO_LARGE. 0 means the
	// log's max.message.bytes, at least 64 MiB.
	CleanerMaxBatchBytes int

	// OnStorageError, if set, is called once for every storage operation
	// that failed (a write, fsync, truncate, checkpoint or directory
	// operation), with the log's directory, what was being done and the
	// error. A failed write, fsync or truncate also takes the log offline
	// (see (*Log).Offline). The broker wires it to a rate-limited ERROR log
	// line and weir_log_storage_errors_total{topic,partition}. It may be
	// called with the log's locks held, from any goroutine: it must be
	// quick and must not call back into the Log.
	OnStorageError func(dir, op string, err error)
}

// AppendOrigin says who appends: only client appends are validated for
// producer sequences and get offsets assigned; replication appends keep
// the leader's offsets.
type AppendOrigin uint8

const (
	OriginClient      AppendOrigin = iota // a Produce request
	OriginCoordinator                     // the group/transaction coordinator
	OriginReplication                     // a follower copying the leader (offsets kept)
)

// AppendOptions accompany one Append.
type AppendOptions struct {
	LeaderEpoch int32 // written into every batch's PartitionLeaderEpoch
	Origin      AppendOrigin
}

// AppendResult describes where an Append landed.
type AppendResult struct {
	BaseOffset     int64 // offset of the first record appended
	LastOffset     int64 // offset of the last record appended
	LogAppendTime  int64 // ms since epoch when TimestampType is LogAppendTime, else -1
	LogStartOffset int64
	LogEndOffset   int64 // next offset to be assigned after this append
	Duplicate      bool  // an idempotent retry: offsets are those of the original append
}

// ReadResult is a view of whole record batches on disk. The caller must call
// Release exactly once when it has sent or copied the bytes; until then the
// underlying segment files stay open even if retention deletes them.
type ReadResult interface {
	// Size is the number of bytes of whole batches in the result.
	Size() int64
	// WriteTo copies the bytes to w; if w is a *net.TCPConn (or another
	// syscall.Conn) the copy is zero-copy (sendfile).
	io.WriterTo
	// Bytes reads the whole result into memory (for tests and small reads).
	Bytes() ([]byte, error)
	Release()
}

// Log is one partition's log. All methods are safe for concurrent use;
// Append calls are serialised internally.
//
// Append(records, opts) validates and appends one or more v2 record batches
// exactly as a producer sent them (the Records field of a Produce request):
// CRC-32C checked (kerr.CorruptMessage), size checked against
// MaxMessageBytes (kerr.MessageTooLarge), magic < 2 rejected
// (kerr.UnsupportedForMessageFormat), idempotent producer sequences checked
// (kerr.OutOfOrderSequenceNumber, kerr.InvalidProducerEpoch,
// kerr.UnknownProducerID; a duplicate of one of the producer's last five
// batches returns the original offsets with Duplicate set and writes
// nothing). On any error nothing is written. I/O failures wrap
// kerr.KafkaStorageError.
//
// Read(offset, maxBytes, maxOffset) returns whole batches starting with the
// batch containing offset, not past maxOffset (exclusive: the high watermark
// or last stable offset), at most maxBytes unless the first batch alone is
// larger (then that one batch, as Kafka does). offset outside
// [StartOffset, EndOffset] gives kerr.OffsetOutOfRange.
//
// The agreed method set (implemented in log.go and friends):
//
//	func Open(dir string, cfg Config, opts Options) (*Log, error)        // recovers as needed
//	func (l *Log) Append(records []byte, o AppendOptions) (AppendResult, error)
//	func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (ReadResult, error)
//	func (l *Log) StartOffset() int64                                   // log start offset
//	func (l *Log) EndOffset() int64                                     // log end offset (next offset)
//	func (l *Log) LastStableOffset(hw int64) int64                      // min(hw, first offset of open txns)
//	func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error)
//	func (l *Log) MaxTimestamp() (offset, timestamp int64)              // ListOffsets -3
//	func (l *Log) TruncateTo(offset int64) error                        // drop offsets >= offset
//	func (l *Log) DeleteRecordsBefore(offset int64) (newStart int64, err error)
//	func (l *Log) AssignEpoch(epoch int32, startOffset int64) error     // leader-epoch checkpoint
//	func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) // OffsetForLeaderEpoch; (-1,-1) if unknown
//	func (l *Log) LatestEpoch() int32                                   // -1 if none
//	func (l *Log) SetConfig(cfg Config)
//	func (l *Log) Config() Config
//	func (l *Log) Size() int64                                          // bytes on disk
//	func (l *Log) Flush() error                                         // fsync up to EndOffset
//	func (l *Log) Close() error
//	func (l *Log) Delete() error                                        // close and remove the directory
//
//	// Manager owns every log under one data directory: it opens and recovers
//	// them at start, and runs retention, compaction, segment.ms rolls and
//	// flush.ms in background goroutines.
//	func NewManager(dataDir string, opts Options) (*Manager, error)     // opens all <topic>-<partition> dirs
//	func (m *Manager) Get(topic string, partition int32) (*Log, bool)
//	func (m *Manager) Create(topic string, partition int32, cfg Config) (*Log, error) // idempotent: returns existing
//	func (m *Manager) Remove(topic string, partition int32) error       // delete the partition's data
//	func (m *Manager) Logs() map[TopicPartition]*Log
//	func (m *Manager) Close() error                                     // flush, write clean-shutdown marker
//
//	type TopicPartition struct { Topic string; Partition int32 }
//	func DefaultConfig() Config
