package log

import (
	"fmt"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TruncateTo removes every batch at or after offset (replication truncates a
// diverged follower). Batches are whole: if offset falls inside a batch the
// whole batch goes and the log ends after the last batch kept. If no batch
// at or after the log start would be left (offset at or below the start, or
// inside the batch holding the start), the log is emptied and restarts at
// offset, as Kafka's truncateFullyAndStartAt.
func (l *Log) TruncateTo(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return storageErr("truncate", errClosed)
	}
	if err := l.offlineErr("truncate"); err != nil {
		return err
	}
	if offset >= l.endOffsetLocked() {
		return nil
	}
	if offset < 0 {
		return fmt.Errorf("truncate to %d: %w", offset, kerr.OffsetOutOfRange)
	}
	l.gen.Add(1)
	if offset <= l.startOffset {
		return l.truncateFullyLocked(offset)
	}
	i := l.segmentFor(offset)
	s := l.segs[i]
	pos, hintBase := s.lookup(offset)
	sc := newScanner(s.file, s.size, false, nil)
	if !sc.hintOK(pos, hintBase) {
		pos = 0 // a bad index must never decide where we cut
	}
	for pos < s.size {
		h, _, err := sc.next(pos)
		if err != nil {
			return wrapReadErr(err)
		}
		if h.lastOffset() >= offset {
			break
		}
		pos += h.size()
	}
	// A segment left empty is dropped (unless it is the first), so the log
	// ends right after the last batch kept, even across a compaction gap.
	if pos == 0 && i > 0 {
		i--
		s = l.segs[i]
		pos = s.size
	}
	tmp := &segment{fs: s.fs, dir: s.dir, base: s.base, file: s.file}
	tmp.resetIndexes()
	rebuilt := pos < s.size
	newEnd := s.next
	if rebuilt {
		if err := s.file.Truncate(pos); err != nil {
			return l.fail("truncate segment", err)
		}
		if err := l.rebuildSegment(tmp, pos, false); err != nil {
			return l.fail("rebuild truncated segment", err)
		}
		newEnd = tmp.next
	}
	if newEnd <= l.startOffset {
		// No batch at or after the log start survives: restart empty.
		return l.truncateFullyLocked(offset)
	}
	l.mu.Lock()
	l.gen.Add(1) // again under mu: a sync planned since the first bump must not apply
	removed := append([]*segment(nil), l.segs[i+1:]...)
	l.segs = l.segs[:i+1]
	if rebuilt {
		s.offIdx, s.timeIdx = tmp.offIdx, tmp.timeIdx
		s.size, s.next = tmp.size, tmp.next
		s.maxTs, s.offMaxTs, s.rollTs = tmp.maxTs, tmp.offMaxTs, tmp.rollTs
		s.bytesSinceIdx, s.bytesSinceTime = tmp.bytesSinceIdx, tmp.bytesSinceTime
		s.indexDirty = true
	}
	s.flushedSize = min(s.flushedSize, s.size)
	s.flushedNext = min(s.flushedNext, s.next)
	end := s.next
	l.recoveryPoint = min(l.recoveryPoint, end)
	l.cleanerPoint = min(l.cleanerPoint, end)
	l.epochs = truncateEpochs(l.epochs, end, true)
	l.mu.Unlock()
	for _, r := range removed {
		l.removeSegmentFiles(r)
	}
	if err := l.rebuildProducers(end); err != nil {
		return l.fail("truncate", err)
	}
	if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs); err != nil {
		return l.fail("write leader-epoch checkpoint", err)
	}
	return l.fail("write log checkpoint", l.writeMetaLocked(false))
}

func (l *Log) truncateFullyLocked(offset int64) error {
	s, err := l.openSegment(offset, true)
	if err != nil {
		return l.ioErr("truncate fully", err)
	}
	l.mu.Lock()
	l.gen.Add(1)
	old := l.segs
	l.segs = []*segment{s}
	l.startOffset, l.recoveryPoint, l.cleanerPoint = offset, offset, offset
	l.producers = producerState{}
	l.epochs = truncateEpochs(l.epochs, offset, true)
	l.mu.Unlock()
	// Write the checkpoint first: if we crash after it, recovery drops the
	// old segments as below the log start.
	if err := l.writeMetaLocked(false); err != nil {
		return l.fail("write log checkpoint", err)
	}
	for _, o := range old {
		if o.base != offset {
			l.removeSegmentFiles(o)
		} else if o.removed.CompareAndSwap(false, true) {
			o.release() // same file name: reopened with O_TRUNC above
		}
	}
	offs, _ := snapshotOffsets(l.fs, l.dir)
	for _, o := range offs {
		_ = l.fs.Remove(filepath.Join(l.dir, segmentName(o, snapshotSuffix)))
	}
	l.snapshotAt = -1
	return l.fail("write leader-epoch checkpoint", writeEpochCheckpoint(l.fs, l.dir, l.epochs))
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords)
// and deletes the segments wholly below it. It returns the new start.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, storageErr("delete records", errClosed)
	}
	if err := l.offlineErr("delete records"); err != nil {
		return 0, err
	}
	end := l.endOffsetLocked()
	if offset > end || offset < 0 {
		return l.startOffset, fmt.Errorf("delete records before %d outside [%d, %d]: %w", offset, l.startOffset, end, kerr.OffsetOutOfRange)
	}
	if offset <= l.startOffset {
		return l.startOffset, nil
	}
	if act := l.active(); act.size > 0 && act.next <= offset {
		if err := l.rollLocked(end); err != nil {
			return l.startOffset, err
		}
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].next <= offset {
		n++
	}
	return offset, l.deletePrefixLocked(n, offset)
}

// deletePrefixLocked drops the first n segments and moves the log start to
// newStart. The checkpoint with the new start is made durable before any
// file is removed, so a crash in between cannot resurrect the records.
func (l *Log) deletePrefixLocked(n int, newStart int64) error {
	l.mu.Lock()
	removed := append([]*segment(nil), l.segs[:n]...)
	l.segs = append([]*segment(nil), l.segs[n:]...)
	if newStart > l.startOffset {
		l.startOffset = newStart
	}
	l.cleanerPoint = max(l.cleanerPoint, l.startOffset)
	l.recoveryPoint = max(l.recoveryPoint, l.segs[0].base)
	l.epochs = truncateEpochsFromStart(l.epochs, l.startOffset)
	l.mu.Unlock()
	if err := l.writeMetaLocked(false); err != nil {
		return l.fail("write log checkpoint", err)
	}
	for _, s := range removed {
		l.removeSegmentFiles(s)
	}
	if len(removed) > 0 {
		if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs); err != nil {
			return l.fail("write leader-epoch checkpoint", err)
		}
	}
	return nil
}

// EnforceRetention rolls the active segment if segment.ms has passed (so an
// idle topic's data can expire) and, for cleanup.policy with delete,
// deletes the oldest closed segments past retention.ms or retention.bytes.
// It returns the number of segments deleted.
func (l *Log) EnforceRetention() (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed || l.offline.Load() != nil {
		return 0, nil
	}
	cfg := l.cfg
	now := l.now().UnixMilli()
	if l.rollDue(l.active(), cfg, now) {
		if err := l.rollLocked(l.endOffsetLocked()); err != nil {
			return 0, err
		}
	}
	if cfg.CleanupPolicy&CleanupDelete == 0 {
		return 0, nil
	}
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	n := 0
	for n < len(l.segs)-1 {
		s := l.segs[n]
		ts := s.maxTs
		if ts == noTimestamp || ts < 0 {
			ts = s.created
		}
		byTime := cfg.RetentionMs > 0 && ts > 0 && ts < now-cfg.RetentionMs.Milliseconds()
		byBytes := cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes
		if !byTime && !byBytes {
			break
		}
		total -= s.size
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, l.deletePrefixLocked(n, l.segs[n].base)
}

// truncateEpochs drops entries that start after end, and with inclusive
// also those starting at end (TruncateTo, as Kafka's truncateFromEnd;
// recovery keeps an epoch assigned at the log end with no records yet).
func truncateEpochs(e []epochEntry, end int64, inclusive bool) []epochEntry {
	incl := inclusive
	out := e[:0:0]
	for _, x := range e {
		if x.start > end || (incl && x.start == end) {
			break
		}
		out = append(out, x)
	}
	return out
}

// truncateEpochsFromStart drops entries wholly below start, keeping the one
// that covers start (moved up to it), as Kafka's truncateFromStart.
func truncateEpochsFromStart(e []epochEntry, start int64) []epochEntry {
	i := 0
	for i+1 < len(e) && e[i+1].start <= start {
		i++
	}
	if i >= len(e) {
		return e
	}
	out := append([]epochEntry(nil), e[i:]...)
	if out[0].start < start {
		out[0].start = start
	}
	return out
}

// AssignEpoch records that epoch starts at startOffset (a new leader, or a
// follower learning the leader's epochs). Entries that conflict (same or
// later epoch, or starting at or after startOffset) are replaced, as Kafka's
// LeaderEpochFileCache.assign does.
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return storageErr("assign epoch", errClosed)
	}
	if err := l.offlineErr("assign epoch"); err != nil {
		return err
	}
	if epoch < 0 || startOffset < 0 {
		return fmt.Errorf("assign epoch %d at %d: %w", epoch, startOffset, kerr.InvalidRequest)
	}
	l.mu.Lock()
	if n := len(l.epochs); n > 0 && l.epochs[n-1].epoch == epoch && l.epochs[n-1].start <= startOffset {
		l.mu.Unlock()
		return nil
	}
	kept := l.epochs[:0:0]
	for _, e := range l.epochs {
		if e.epoch < epoch && e.start < startOffset {
			kept = append(kept, e)
		}
	}
	l.epochs = append(kept, epochEntry{epoch: epoch, start: startOffset})
	epochs := l.epochs
	l.mu.Unlock()
	// A new leader's epoch must be durable before it serves: a failed
	// write fails the assignment and takes the log offline.
	return l.fail("write leader-epoch checkpoint", writeEpochCheckpoint(l.fs, l.dir, epochs))
}

// LatestEpoch is the newest leader epoch, -1 if none.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.epochs) == 0 {
		return -1
	}
	return l.epochs[len(l.epochs)-1].epoch
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch <= the
// requested one and the offset where the next epoch starts (the log end for
// the latest epoch); (-1, -1) if the epoch is unknown or newer than any.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := len(l.epochs)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if l.epochs[n-1].epoch == epoch {
		return epoch, l.endOffsetLocked()
	}
	hi := -1
	for i, e := range l.epochs {
		if e.epoch > epoch {
			hi = i
			break
		}
	}
	if hi < 0 {
		return -1, -1
	}
	if hi == 0 {
		return epoch, l.epochs[0].start
	}
	return l.epochs[hi-1].epoch, l.epochs[hi].start
}
