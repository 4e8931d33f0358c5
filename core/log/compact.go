package log

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weirlog/weir/core/record"
)

// Compaction (cleanup.policy=compact) keeps the newest record per key.
//
// One pass:
//  1. Plan under the append lock: the closed segments (never the active
//     one), the dirty ones being those at or after the cleaner point whose
//     newest timestamp is older than min.compaction.lag.ms. Skip if dirty
//     bytes / closed bytes < min.cleanable.dirty.ratio.
//  2. Map: key hash (MD5, 16 bytes, as Kafka's SkimpyOffsetMap) -> newest
//     offset, over the dirty segments, stopping at a segment boundary once
//     Options.CleanerMaxKeys is reached (bounded memory: the rest waits
//     for the next pass).
//  3. Copy every closed segment up to the mapped end, group by group
//     (a group fits segment.bytes), keeping a record unless a newer one
//     with its key is in the map. Tombstones follow Kafka's delete
//     horizon (KIP-534): the first pass that keeps a tombstone rewrites
//     its batch with the delete-horizon attribute and the base timestamp
//     set to now + delete.retention.ms; a later pass drops the tombstone
//     once that time has passed. Producer timestamps play no part: a
//     tombstone stamped in 1970 or in 2100 is kept delete.retention.ms
//     from when the cleaner first saw it, giving consumers that long to
//     see the delete. Offsets are kept: a batch keeps
//     its base offset and last offset delta; kept records are re-encoded
//     with their offsets (record.Batch, KeepOffsets) and the batch's own
//     codec. Untouched batches and control batches are copied verbatim.
//  4. Swap, per group, crash-safe at every step:
//     write <base>.cleaned, fsync → rename to <base>.<end>.swap, fsync dir
//     (the commit point) → remove the group's old segments → rename the
//     swap to <base>.log. Open finishes a swap found on disk (finishSwaps)
//     and deletes a .cleaned file (an uncommitted pass).
//
// Decompression is bounded (Log.decodeLimit: max.message.bytes with a
// 64 MiB floor, or Options.CleanerMaxBatchBytes): a batch whose records
// would inflate past the limit is neither mapped nor rebuilt but copied as
// it is, with a WARN naming it, so a hostile 70 KB zstd batch claiming
// 512 MiB costs the cleaner a bounded buffer, never the process.
//
// Readers holding a ReadResult on an old segment keep its file open until
// they release it. Records of aborted transactions are compacted like any
// other (there is no aborted-transaction index yet).

const defaultCleanerMaxKeys = 1 << 20

func swapName(base, end int64) string { return fmt.Sprintf("%020d.%020d%s", base, end, swapSuffix) }

func parseSwapName(name string) (base, end int64, ok bool) {
	if !strings.HasSuffix(name, swapSuffix) {
		return 0, 0, false
	}
	parts := strings.Split(strings.TrimSuffix(name, swapSuffix), ".")
	if len(parts) != 2 || len(parts[0]) != 20 || len(parts[1]) != 20 {
		return 0, 0, false
	}
	b, err1 := strconv.ParseInt(parts[0], 10, 64)
	e, err2 := strconv.ParseInt(parts[1], 10, 64)
	return b, e, err1 == nil && err2 == nil && b < e
}

// finishSwaps completes compaction swaps that were committed before a crash.
func (l *Log) finishSwaps(ents []os.DirEntry) error {
	for _, e := range ents {
		base, end, ok := parseSwapName(e.Name())
		if !ok {
			continue
		}
		for _, o := range ents {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if b, ok := parseBaseName(o.Name(), suf); ok && b >= base && b < end {
					if err := l.fs.Remove(filepath.Join(l.dir, o.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return storageErr("finish compaction swap", err)
					}
				}
			}
		}
		if err := l.fs.Rename(filepath.Join(l.dir, e.Name()), filepath.Join(l.dir, segmentName(base, logSuffix))); err != nil {
			return storageErr("finish compaction swap", err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return storageErr("finish compaction swap", err)
		}
	}
	return nil
}

// Compact runs one compaction pass if the log is dirty enough and returns
// the number of bytes reclaimed.
func (l *Log) Compact() (int64, error) {
	// 1. Plan.
	l.appendMu.Lock()
	if l.closed || l.offline.Load() != nil || l.cfg.CleanupPolicy&CleanupCompact == 0 || len(l.segs) < 2 {
		l.appendMu.Unlock()
		return 0, nil
	}
	cfg := l.cfg
	now := l.now().UnixMilli()
	closed := append([]*segment(nil), l.segs[:len(l.segs)-1]...)
	nextBase := l.segs[len(l.segs)-1].base
	cleanerPoint := l.cleanerPoint
	gen := l.gen.Load()
	startOffset := l.startOffset
	var total, dirty int64
	firstDirty := len(closed)
	lastDirty := -1
	for i, s := range closed {
		total += s.size
		if s.next <= cleanerPoint {
			continue
		}
		if cfg.MinCompactionLagMs > 0 && s.maxTs != noTimestamp && s.maxTs > now-cfg.MinCompactionLagMs.Milliseconds() {
			break
		}
		if firstDirty == len(closed) {
			firstDirty = i
		}
		lastDirty = i
		dirty += s.size
	}
	// Sizes and ends as of the plan: truncation may change them later (it
	// bumps gen, so the swap aborts), and they must not be read unlocked.
	sizes := make(map[*segment]int64, len(closed))
	for _, s := range closed {
		s.acquire()
		sizes[s] = s.size
	}
	nexts := make([]int64, len(closed))
	for i, s := range closed {
		nexts[i] = s.next
	}
	l.appendMu.Unlock()
	defer func() {
		for _, s := range closed {
			s.release()
		}
	}()
	if lastDirty < 0 || total == 0 || float64(dirty)/float64(total) < cfg.MinCleanableRatio {
		return 0, nil
	}

	// 2. Map.
	maxKeys := l.cleanerMaxKeys
	if maxKeys <= 0 {
		maxKeys = defaultCleanerMaxKeys
	}
	offsets := make(map[[16]byte]int64)
	mapped := firstDirty - 1
	limit := l.decodeLimit(cfg)
	var oversized map[int64]bool // batches (by base offset) over the limit

	for i := firstDirty; i <= lastDirty; i++ {
		s := closed[i]
		err := eachBatchAt(s, sizes[s], func(h *batchHeader, b []byte, _ int64) error {
			if h.control() {
				return nil
			}
			err := forEachRecordLimit(b, limit, func(r *decodedRecord) bool {
				if !r.keyNull {
					offsets[md5.Sum(r.key)] = h.BaseOffset + int64(r.offsetDelta)
				}
				return true
			})
			if errors.Is(err, record.ErrTooLarge) {
				// Not mapped: older records of its keys are kept too
				// (compaction only ever keeps more), and the copy below
				// keeps the batch as it is.
				l.logger.Warn("compaction keeps a batch it may not decompress", "offset", h.BaseOffset,
					"bytes", h.size(), "limit", limit, "reason", err)
				if oversized == nil {
					oversized = map[int64]bool{}
				}
				oversized[h.BaseOffset] = true
				return nil
			}
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("compaction map of segment %d: %w", s.base, err)
		}
		mapped = i
		if len(offsets) >= maxKeys && i < lastDirty {
			break
		}
	}
	if mapped < firstDirty {
		return 0, nil
	}
	mappedEnd := nextBase
	if mapped+1 < len(closed) {
		mappedEnd = closed[mapped+1].base
	}

	// 3. + 4. Copy and swap, group by group.
	var reclaimed int64
	group := []*segment{}
	var groupSize int64
	flush := func(end int64) error {
		if len(group) == 0 {
			return nil
		}
		n, err := l.cleanGroup(group, sizes, end, offsets, oversized, now, cfg, gen)
		reclaimed += n
		group, groupSize = group[:0], 0
		return err
	}
	for i := 0; i <= mapped; i++ {
		s := closed[i]
		if nexts[i] <= startOffset {
			continue
		}
		if len(group) > 0 && groupSize+sizes[s] > cfg.SegmentBytes {
			if err := flush(s.base); err != nil {
				return reclaimed, err
			}
		}
		group = append(group, s)
		groupSize += sizes[s]
	}
	if err := flush(mappedEnd); err != nil {
		return reclaimed, err
	}
	l.appendMu.Lock()
	l.mu.Lock()
	if mappedEnd > l.cleanerPoint {
		l.cleanerPoint = min(mappedEnd, l.endOffsetLocked())
	}
	l.mu.Unlock()
	l.appendMu.Unlock()
	return reclaimed, nil
}

// eachBatch calls fn for every batch of s, CRC-checked: compaction never
// copies a corrupt batch.
// The caller holds a lock that keeps s.size stable.
func eachBatch(s *segment, fn func(h *batchHeader, b []byte) error) error {
	return eachBatchAt(s, s.size, func(h *batchHeader, b []byte, _ int64) error { return fn(h, b) })
}

// eachBatchAt is eachBatch over the first size bytes, passing positions.
func eachBatchAt(s *segment, size int64, fn func(h *batchHeader, b []byte, pos int64) error) error {
	sc := newScanner(s.file, size, true, nil)
	var pos int64
	for pos < size {
		h, b, err := sc.next(pos)
		if err != nil {
			return err
		}
		if err := fn(&h, b, pos); err != nil {
			return err
		}
		pos += h.size()
	}
	return nil
}

// emptyBatch appends to dst a copy of b's header with no records: same base
// offset, last offset delta, timestamps and producer fields.
func emptyBatch(b []byte, dst []byte) []byte {
	out := append(dst, b[:batchHeaderSize]...)
	binary.BigEndian.PutUint32(out[batchLengthOff:], uint32(batchHeaderSize-12))
	attrs := binary.BigEndian.Uint16(out[attrOff:]) &^ attrCompressionMask
	binary.BigEndian.PutUint16(out[attrOff:], attrs)
	binary.BigEndian.PutUint32(out[numRecordsOff:], 0)
	binary.BigEndian.PutUint32(out[crcOff:], record.Checksum(out))
	return out
}

// cleanGroup writes the compacted copy of group (which covers offsets up to
// end) and swaps it in.
func (l *Log) cleanGroup(group []*segment, sizes map[*segment]int64, end int64, offsets map[[16]byte]int64, oversized map[int64]bool, now int64, cfg Config, gen uint64) (int64, error) {
	newHorizon := now + cfg.DeleteRetentionMs.Milliseconds()
	limit := l.decodeLimit(cfg)
	base := group[0].base
	cleanedPath := filepath.Join(l.dir, segmentName(base, cleanedSuffix))
	f, err := l.fs.OpenFile(cleanedPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, l.ioErr("create cleaned segment", err)
	}
	ns := &segment{fs: l.fs, dir: l.dir, base: base, file: f}
	ns.refs.Store(1)
	ns.resetIndexes()
	fail := func(err error) (int64, error) {
		f.Close()
		_ = l.fs.Remove(cleanedPath)
		return 0, err
	}
	w := bufio.NewWriterSize(&offsetWriter{f: f}, 1<<20)
	var oldSize int64
	var out, scratch []byte
	for _, s := range group {
		size := sizes[s]
		oldSize += size
		err := eachBatchAt(s, size, func(h *batchHeader, b []byte, pos int64) error {
			var kept []record.Record
			all := true
			horizon, hasHorizon := h.deleteHorizon()
			tombstones := false                 // kept ones
			tooLarge := oversized[h.BaseOffset] // the map found it over the limit: not again
			if !h.control() && !tooLarge {
				err := forEachRecordLimit(b, limit, func(r *decodedRecord) bool {
					off := h.BaseOffset + int64(r.offsetDelta)
					keep := true
					if !r.keyNull {
						if newest, ok := offsets[md5.Sum(r.key)]; ok && newest > off {
							keep = false
						}
					}
					if keep && r.valueNull && hasHorizon && now >= horizon {
						keep = false
					}
					if keep {
						kept = append(kept, *r.src)
						tombstones = tombstones || r.valueNull
					} else {
						all = false
					}
					return true
				})
				if errors.Is(err, record.ErrTooLarge) {
					tooLarge, kept, all = true, nil, true // kept as it is (logged by the map)
				} else if err != nil {
					return err
				}
			}
			// A batch keeps its horizon when rebuilt; one with tombstones
			// and no horizon yet gets one (and is rewritten for it).
			setHorizon := int64(0)
			if hasHorizon {
				setHorizon = horizon
			} else if tombstones {
				setHorizon = newHorizon
			}
			switch {
			case h.control() || tooLarge || (all && (hasHorizon || !tombstones)):
				out = b
			case len(kept) == 0 && s == group[len(group)-1] && pos+h.size() == size:
				// The group's last batch stays, emptied, so the cleaned
				// segment ends where the old one did and segments keep
				// tiling the offsets (as Kafka keeps empty batches).
				scratch = emptyBatch(b, scratch[:0])
				out = scratch
			case len(kept) == 0:
				return nil // the whole batch is obsolete
			default:
				// Never build into out: it may alias the scanner's buffer.
				var err error
				if scratch, err = rebuildBatch(h, kept, setHorizon, scratch[:0]); err != nil {
					return err
				}
				out = scratch
			}
			oh, _ := parseHeader(out)
			ns.appendIndexes(&oh, ns.size, cfg.IndexIntervalBytes)
			_, err := w.Write(out)
			return err
		})
		if err != nil {
			return fail(fmt.Errorf("compact segment %d: %w", s.base, err))
		}
	}
	// Failures writing the copy abort the pass and leave the log as it
	// was (a full disk stops compaction, not the log).
	if err := w.Flush(); err != nil {
		return fail(l.ioErr("write cleaned segment", err))
	}
	if err := f.Sync(); err != nil {
		return fail(l.ioErr("sync cleaned segment", err))
	}

	// Swap under the append lock; abort if the log changed under us.
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	idx := -1
	for i, s := range l.segs {
		if s == group[0] {
			idx = i
			break
		}
	}
	if l.closed || l.gen.Load() != gen || idx < 0 || idx+len(group) >= len(l.segs) {
		return fail(nil)
	}
	for i, s := range group {
		if l.segs[idx+i] != s {
			return fail(nil)
		}
	}
	swap := filepath.Join(l.dir, swapName(base, end))
	if err := l.fs.Rename(cleanedPath, swap); err != nil {
		return fail(l.ioErr("commit cleaned segment", err))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// The commit is not known durable: abort the swap. Renamed back,
		// the output is an uncommitted .cleaned file that recovery
		// deletes; if the rename back fails, the .swap is still a valid
		// compaction of segments that stay closed, which recovery may
		// finish. Either way the old segments stay in service.
		err = l.ioErr("sync log dir after compaction commit", err)
		if rerr := l.fs.Rename(swap, cleanedPath); rerr != nil {
			l.logger.Error("abort compaction swap", "err", rerr)
			f.Close()
			return 0, err
		}
		return fail(err)
	}
	ns.flushedSize = ns.size
	l.mu.Lock()
	segs := append([]*segment(nil), l.segs[:idx]...)
	segs = append(segs, ns)
	segs = append(segs, l.segs[idx+len(group):]...)
	l.segs = segs
	l.mu.Unlock()
	for _, s := range group {
		l.removeSegmentFiles(s)
	}
	if err := l.fs.Rename(swap, ns.path(logSuffix)); err != nil {
		return 0, l.ioErr("install cleaned segment", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// Committed already: recovery finishes a swap whose rename to
		// .log was lost. Report it; nothing to undo.
		l.logger.Error("sync log dir after compaction swap", "err", l.ioErr("sync log dir after compaction swap", err))
	}
	ns.indexDirty = true
	if err := ns.writeIndexes(false); err != nil {
		l.logger.Warn("write cleaned index", "err", err)
	}
	return oldSize - ns.size, nil
}

// rebuildBatch encodes the kept records of the batch h with its codec and
// producer fields (record.Batch, offsets kept). The last offset delta is
// restored to the original so the batch still spans the offsets, and the
// producer sequence range, it did: producer-state replay depends on it.
func rebuildBatch(h *batchHeader, kept []record.Record, deleteHorizon int64, dst []byte) ([]byte, error) {
	rb := record.Batch{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.LeaderEpoch,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Transactional:        h.transactional(),
		LogAppendTime:        h.Attributes&attrLogAppendTime != 0,
		Codec:                record.Codec(h.compression()),
		KeepOffsets:          true,
		DeleteHorizonMs:      deleteHorizon,
		Records:              kept,
	}
	out, err := rb.AppendTo(dst)
	if err != nil {
		return nil, fmt.Errorf("re-encode compacted batch at %d: %w", h.BaseOffset, err)
	}
	binary.BigEndian.PutUint32(out[lastDeltaOff:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint32(out[crcOff:], record.Checksum(out))
	return out, nil
}

// offsetWriter adapts WriterAt to an io.Writer from position 0.
type offsetWriter struct {
	f   File
	off int64
}

func (w *offsetWriter) Write(p []byte) (int, error) {
	if err := writeFull(w.f, p, w.off); err != nil {
		return 0, err
	}
	w.off += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*offsetWriter)(nil)
