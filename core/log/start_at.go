package log

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// StartAt empties the log and restarts it at offset, as Kafka's
// truncateFullyAndStartAt: a follower whose leader's log begins past this
// log's end (a replica added by a reassignment to a partition whose old
// records were deleted) copies from the leader's log start on. It is a
// no-op when the log already starts at offset and is empty.
func (l *Log) StartAt(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return storageErr("start at", errClosed)
	}
	if err := l.offlineErr("start at"); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("start at %d: %w", offset, kerr.OffsetOutOfRange)
	}
	if l.startOffset == offset && l.endOffsetLocked() == offset {
		return nil
	}
	l.gen.Add(1)
	return l.truncateFullyLocked(offset)
}
