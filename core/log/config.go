package log

import (
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Kafka's floors for segment.bytes and segment.index.bytes: a log accepts
// whatever Kafka accepts (a segment smaller than a batch holds one batch).
const (
	minSegmentBytes      = 14
	minSegmentIndexBytes = 4
)

// Validate reports the first setting that is out of range, naming it as the
// topic config (and the Config field). Zero values mean "the default" and
// are valid, as normalize fills them; nothing out of range is ever clamped.
// The error wraps kerr.InvalidConfig.
func (c Config) Validate() error {
	bad := func(name, field string, v any, want string) error {
		return fmt.Errorf("log config %s (%s) = %v: must be %s: %w", name, field, v, want, kerr.InvalidConfig)
	}
	switch {
	case c.SegmentBytes < 0 || (c.SegmentBytes > 0 && c.SegmentBytes < minSegmentBytes):
		return bad("segment.bytes", "SegmentBytes", c.SegmentBytes, fmt.Sprintf("at least %d", minSegmentBytes))
	case c.SegmentBytes > math.MaxUint32:
		// Positions in the offset index are 32 bits.
		return bad("segment.bytes", "SegmentBytes", c.SegmentBytes, fmt.Sprintf("at most %d", int64(math.MaxUint32)))
	case c.SegmentIndexBytes < 0 || (c.SegmentIndexBytes > 0 && c.SegmentIndexBytes < minSegmentIndexBytes):
		return bad("segment.index.bytes", "SegmentIndexBytes", c.SegmentIndexBytes, fmt.Sprintf("at least %d", minSegmentIndexBytes))
	case c.IndexIntervalBytes < 0:
		return bad("index.interval.bytes", "IndexIntervalBytes", c.IndexIntervalBytes, "at least 0")
	case c.CleanupPolicy > CleanupCompactDelete:
		return bad("cleanup.policy", "CleanupPolicy", c.CleanupPolicy, "delete, compact or both")
	case c.DeleteRetentionMs < 0:
		return bad("delete.retention.ms", "DeleteRetentionMs", c.DeleteRetentionMs, "at least 0")
	case c.MinCompactionLagMs < 0:
		return bad("min.compaction.lag.ms", "MinCompactionLagMs", c.MinCompactionLagMs, "at least 0")
	case c.MinCleanableRatio < 0 || c.MinCleanableRatio > 1 || math.IsNaN(c.MinCleanableRatio):
		return bad("min.cleanable.dirty.ratio", "MinCleanableRatio", c.MinCleanableRatio, "between 0 and 1")
	case c.FlushMessages < 0:
		return bad("flush.messages", "FlushMessages", c.FlushMessages, "at least 1")
	case c.MaxMessageBytes < 0:
		return bad("max.message.bytes", "MaxMessageBytes", c.MaxMessageBytes, "at least 0")
	case c.TimestampType > LogAppendTime:
		return bad("message.timestamp.type", "TimestampType", c.TimestampType, "CreateTime or LogAppendTime")
	case c.FileDeleteDelay < 0:
		return bad("file.delete.delay.ms", "FileDeleteDelay", c.FileDeleteDelay, "at least 0")
	}
	return nil
}

// Validate reports the first Options field that is out of range.
func (o Options) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("log option %s = %v: must be %s: %w", field, v, want, kerr.InvalidConfig)
	}
	switch {
	case o.MaintenanceInterval < 0:
		return bad("MaintenanceInterval", o.MaintenanceInterval, "at least 0 (0 is the default, 30s)")
	case o.CleanerMaxKeys < 0:
		return bad("CleanerMaxKeys", o.CleanerMaxKeys, "at least 0 (0 is the default, 1<<20)")
	case o.CleanerMaxBatchBytes < 0:
		return bad("CleanerMaxBatchBytes", o.CleanerMaxBatchBytes, "at least 0 (0 is the default)")
	}
	return nil
}
