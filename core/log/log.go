package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Log is one partition's log; see api.go for the contract.
//
// Locking: appendMu serialises every mutation (Append, roll, truncation,
// retention, the compaction swap); mu guards the state readers look at.
// A mutation holds appendMu throughout and takes mu only to publish, so
// readers wait for a pointer swap, never for I/O. Lock order: appendMu, mu.
// Fields below mu are written with both held and read with either.
type Log struct {
	dir    string
	fs     FS
	logger *slog.Logger
	now    func() time.Time

	appendMu sync.Mutex
	mu       sync.RWMutex

	cfg           Config
	segs          []*segment // ascending base offset; the last is active
	startOffset   int64
	recoveryPoint int64 // every batch below is fsynced; written with mu held (syncs run without appendMu)
	cleanerPoint  int64 // compaction has cleaned everything below
	epochs        []epochEntry
	producers     producerState
	closed        bool
	dirSeq        uint64 // bumped (with mu) when a segment file is created
	dirSynced     uint64 // dirSeq as of the last durable directory sync (mu)

	unflushedMsgs int64
	lastFlush     time.Time
	snapshotAt    int64 // offset of the newest producer snapshot written
	epochsDirty   bool
	gen           atomic.Uint64 // bumped by truncation; syncs and compaction passes planned before it do not apply

	offline        atomic.Pointer[offlineError] // set once by a failed write, truncate or fsync
	onStorageError func(dir, op string, err error)
	commit         groupCommit    // SyncOnAppend's group commit
	bg             sync.WaitGroup // background flushes of rolled segments

	// metaOnDisk is the last log checkpoint written (writeMetaLocked);
	// guarded by metaMu, which serialises the writes of that file
	// (mutations hold appendMu; a background roll flush holds neither).
	metaMu       sync.Mutex
	metaOnDisk   logMeta
	metaOnDiskOK bool

	cleanerMaxKeys  int
	cleanerMaxBatch int
}

var errClosed = errors.New("log closed")

// storageErr wraps an I/O failure so that a client sees KAFKA_STORAGE_ERROR
// while the log keeps the cause for the operator.
func storageErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, kerr.KafkaStorageError, err)
}

// DefaultConfig returns Kafka's topic defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		CleanupPolicy:      CleanupDelete,
		DeleteRetentionMs:  24 * time.Hour,
		MinCompactionLagMs: 0,
		MinCleanableRatio:  0.5,
		FlushMessages:      math.MaxInt64,
		FlushMs:            -1,
		MaxMessageBytes:    1048588,
		TimestampType:      CreateTime,
		FileDeleteDelay:    60 * time.Second,
	}
}

// normalize fills zero values with defaults so a partly filled Config from
// a test or the broker behaves sanely.
func (c Config) normalize() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentBytes > math.MaxUint32 {
		c.SegmentBytes = math.MaxUint32 // positions in the offset index are 32 bits
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.CleanupPolicy == 0 {
		c.CleanupPolicy = CleanupDelete
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = math.MaxInt64
	}
	if c.MinCleanableRatio <= 0 {
		c.MinCleanableRatio = d.MinCleanableRatio
	}
	return c
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Open opens (creating if needed) the log in dir and recovers it. After a
// clean Close the indexes and producer snapshot are loaded as they are
// (still validated); otherwise every segment from the recovery point on is
// scanned with CRC checks, the log is truncated at the first invalid batch,
// and indexes and producer state are rebuilt from the data.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", filepath.Base(dir), err)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", filepath.Base(dir), err)
	}
	opts = opts.withDefaults()
	l := &Log{
		dir:       dir,
		fs:        opts.FS,
		logger:    opts.Logger.With("log", filepath.Base(dir)),
		now:       opts.Now,
		cfg:       cfg.normalize(),
		lastFlush: opts.Now(),

		cleanerMaxKeys:  opts.CleanerMaxKeys,
		cleanerMaxBatch: opts.CleanerMaxBatchBytes,
		onStorageError:  opts.OnStorageError,
	}
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, l.ioErr("create log dir", err)
	}
	if err := l.recover(); err != nil {
		err = l.ioErr("recover log", err)
		for _, s := range l.segs {
			s.file.Close()
		}
		return nil, err
	}
	if err := writeConfig(l.fs, dir, l.cfg); err != nil {
		for _, s := range l.segs {
			s.file.Close()
		}
		return nil, l.ioErr("write log config", err)
	}
	return l, nil
}

func (l *Log) openSegment(base int64, create bool) (*segment, error) {
	s := &segment{fs: l.fs, dir: l.dir, base: base}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	f, err := l.fs.OpenFile(s.path(logSuffix), flag, 0o644)
	if err != nil {
		return nil, storageErr("open segment "+segmentName(base, logSuffix), err)
	}
	s.file = f
	s.refs.Store(1)
	s.resetIndexes()
	s.indexDirty = false
	s.flushedNext = base
	if create {
		l.mu.Lock()
		l.dirSeq++
		s.dirSeq = l.dirSeq
		l.mu.Unlock()
	}
	return s, nil
}

func (l *Log) recover() error {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return storageErr("list log dir", err)
	}
	clean := false
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	if names[cleanShutdownName] {
		clean = true
	}
	// A swap file is compaction output that was committed: finish it
	// before looking at segments (see compact.go).
	if err := l.finishSwaps(ents); err != nil {
		return err
	}
	if ents, err = l.fs.ReadDir(l.dir); err != nil {
		return storageErr("list log dir", err)
	}
	var bases []int64
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, tmpSuffix), strings.HasSuffix(n, cleanedSuffix):
			_ = l.fs.Remove(filepath.Join(l.dir, n)) // an interrupted write: never committed
		case strings.HasSuffix(n, logSuffix):
			if b, ok := parseBaseName(n, logSuffix); ok {
				bases = append(bases, b)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	meta, haveMeta := readMeta(l.fs, l.dir)
	if !haveMeta {
		clean = false // without a recovery point nothing can be trusted
		meta.recovery = 0
	}
	l.epochs = readEpochCheckpoint(l.fs, l.dir)
	if len(bases) == 0 {
		start := int64(0)
		if haveMeta {
			start = meta.start
		}
		s, err := l.openSegment(start, true)
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		l.startOffset, l.recoveryPoint, l.cleanerPoint = start, start, start
		l.producers = producerState{}
		l.epochs = truncateEpochs(l.epochs, start, false)
		return l.removeCleanMarker()
	}
	for _, b := range bases {
		s, err := l.openSegment(b, false)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	l.startOffset = bases[0]
	if haveMeta && meta.start > l.startOffset {
		l.startOffset = meta.start
	}
	// Segments wholly below the log start were deleted by retention or
	// DeleteRecords just before a crash: the checkpoint is the truth.
	for len(l.segs) > 1 && l.segs[1].base <= l.startOffset {
		l.removeSegmentFiles(l.segs[0])
		l.segs = l.segs[1:]
	}

	// Trusted prefix: segments that end at or below the recovery point.
	scanFrom := len(l.segs) - 1
	if !clean {
		scanFrom = sort.Search(len(l.segs), func(i int) bool {
			return i+1 >= len(l.segs) || l.segs[i+1].base > meta.recovery
		})
	}
	for i := 0; i < len(l.segs); i++ {
		s := l.segs[i]
		st, err := s.file.Stat()
		if err != nil {
			return storageErr("stat segment", err)
		}
		if i < scanFrom || clean {
			err := s.loadIndexes(st.Size(), l.cfg.IndexIntervalBytes)
			if err == nil {
				continue
			}
			if !errors.Is(err, errBadIndex) && !errors.Is(err, fs.ErrNotExist) && !isShortRead(err) {
				return storageErr("load index of segment "+segmentName(s.base, logSuffix), err)
			}
			// The index does not match the data: rebuild it, checking
			// every CRC on the way since something on this disk lied. An
			// empty segment has nothing to index (a segment rolled and
			// never written to has no index files): nothing to warn about.
			if st.Size() > 0 {
				l.logger.Warn("rebuilding index", "segment", s.base, "reason", err)
			}
		}
		// Untrusted: CRC-scan it. A corrupt batch ends the log there.
		if err := l.rebuildSegment(s, st.Size(), true); err != nil {
			var ce *errCorrupt
			if !errors.As(err, &ce) {
				return storageErr("recover segment "+segmentName(s.base, logSuffix), err)
			}
			l.logger.Warn("truncating corrupt log tail", "segment", s.base, "position", ce.pos, "reason", ce.reason)
			if err := s.file.Truncate(ce.pos); err != nil {
				return storageErr("truncate corrupt tail", err)
			}
			// No fsync here: if the truncation is lost in a power cut the
			// torn bytes come back and the next recovery cuts them again.
			for _, later := range l.segs[i+1:] {
				l.removeSegmentFiles(later)
			}
			l.segs = l.segs[:i+1]
		}
		// Segments tile the offsets: each starts where the previous one
		// ends (rolls happen at the log end, compaction keeps a segment's
		// end). A scanned segment that ends early lost its tail in the
		// crash, so nothing after it can be trusted to continue it.
		if i+1 < len(l.segs) && l.segs[i+1].base != s.next {
			l.logger.Warn("dropping segments after a torn one", "segment", s.base, "next", s.next, "following", l.segs[i+1].base)
			for _, later := range l.segs[i+1:] {
				l.removeSegmentFiles(later)
			}
			l.segs = l.segs[:i+1]
		}
	}
	// Drop empty segments in the middle (an interrupted roll); keep the last.
	kept := l.segs[:0]
	for i, s := range l.segs {
		if s.size == 0 && i < len(l.segs)-1 {
			l.removeSegmentFiles(s)
			continue
		}
		kept = append(kept, s)
	}
	l.segs = kept
	if l.startOffset > l.endOffsetLocked() {
		// The checkpointed start is past the data: the tail it covered was
		// lost (unflushed). The log is empty; start where the data ends.
		l.startOffset = l.endOffsetLocked()
	}
	end := l.endOffsetLocked()
	// The recovery point does not move: what was scanned is valid but not
	// known durable (a kill -9 leaves it dirty in the page cache). Making
	// it durable here would make recovery as slow as writing the unflushed
	// tail to disk; the flush policy (or Close) does it later, and a crash
	// before then only repeats the CRC scan.
	l.recoveryPoint = end
	if !clean {
		l.recoveryPoint = min(max(meta.recovery, l.segs[0].base), end)
	}
	for _, s := range l.segs {
		if clean || s.next <= l.recoveryPoint {
			s.flushedSize, s.flushedNext = s.size, s.next
		}
	}
	l.cleanerPoint = meta.cleaner
	if l.cleanerPoint < l.startOffset {
		l.cleanerPoint = l.startOffset
	}
	if l.cleanerPoint > end {
		l.cleanerPoint = end
	}
	l.epochs = truncateEpochs(l.epochs, end, false)
	l.epochs = truncateEpochsFromStart(l.epochs, l.startOffset)
	if err := l.rebuildProducers(end); err != nil {
		return err
	}
	if err := l.writeMetaLocked(false); err != nil {
		return l.ioErr("write log checkpoint", err)
	}
	if l.epochsDirty {
		if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs); err != nil {
			return l.ioErr("write leader-epoch checkpoint", err)
		}
		l.epochsDirty = false
	}
	return l.removeCleanMarker()
}

func isShortRead(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (l *Log) removeCleanMarker() error {
	p := filepath.Join(l.dir, cleanShutdownName)
	if err := l.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.ioErr("remove clean-shutdown marker", err)
	}
	// Durable before any append: a crash must not find a stale marker.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.ioErr("sync log dir", err)
	}
	l.mu.Lock()
	l.dirSynced = l.dirSeq
	l.mu.Unlock()
	return nil
}

// rebuildSegment rebuilds s's indexes by walking its batches from position
// 0; with verify every CRC is checked (an *errCorrupt names the first bad
// batch, the indexes then cover the valid prefix).
func (l *Log) rebuildSegment(s *segment, fileSize int64, verify bool) error {
	s.resetIndexes()
	sc := newScanner(s.file, fileSize, verify, nil)
	var pos int64
	for pos < fileSize {
		h, _, err := sc.next(pos)
		if err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		if h.BaseOffset < s.next || (pos == 0 && h.BaseOffset < s.base) {
			return &errCorrupt{pos, errors.New("offsets not increasing")}
		}
		if !s.canHold(h.lastOffset(), h.size()) {
			return &errCorrupt{pos, errors.New("offset outside segment range")}
		}
		s.appendIndexes(&h, pos, l.cfg.IndexIntervalBytes)
		if verify {
			l.learnEpoch(&h)
		}
		pos += h.size()
	}
	return nil
}

// learnEpoch records a batch's leader epoch if it is newer than any known,
// as Kafka's recovery does: the epoch checkpoint is written after the data,
// so a crash in between must not lose the epoch. Called on recovery scans.
func (l *Log) learnEpoch(h *batchHeader) {
	if h.LeaderEpoch < 0 {
		return
	}
	if n := len(l.epochs); n == 0 || h.LeaderEpoch > l.epochs[n-1].epoch {
		l.epochs = append(l.epochs, epochEntry{epoch: h.LeaderEpoch, start: h.BaseOffset})
		l.epochsDirty = true
	}
}

// rebuildProducers loads the newest producer snapshot at or below end and
// replays the batch headers after it (on open and after truncation; called
// with appendMu held or before the log is shared).
func (l *Log) rebuildProducers(end int64) error {
	ps, at, ok := loadSnapshot(l.fs, l.dir, end)
	if !ok || at < l.segs[0].base {
		ps, at = producerState{}, l.segs[0].base
	}
	l.snapshotAt = at
	for _, s := range l.segs {
		if s.next <= at || s.size == 0 {
			continue
		}
		pos, hintBase := s.lookup(at)
		sc := newScanner(s.file, s.size, false, nil)
		if !sc.hintOK(pos, hintBase) {
			pos = 0
		}
		for pos < s.size {
			h, _, err := sc.next(pos)
			if err != nil {
				return storageErr("replay producer state", err)
			}
			if h.BaseOffset >= at {
				ps.update(&h, nil)
			}
			pos += h.size()
		}
	}
	l.mu.Lock()
	l.producers = ps
	l.mu.Unlock()
	// Snapshots past the end describe batches that no longer exist.
	offs, _ := snapshotOffsets(l.fs, l.dir)
	for _, o := range offs {
		if o > end {
			_ = l.fs.Remove(filepath.Join(l.dir, segmentName(o, snapshotSuffix)))
		}
	}
	return nil
}

func (l *Log) metaLocked() logMeta {
	l.mu.RLock() // the recovery point moves under mu alone (syncs run without appendMu)
	defer l.mu.RUnlock()
	return logMeta{start: l.startOffset, recovery: l.recoveryPoint, cleaner: l.cleanerPoint}
}

// writeMetaLocked writes the log checkpoint (weir-log-checkpoint) with the
// current log start, recovery point and cleaner point. Every write of that
// file goes through here (callers hold appendMu, own the log in Open, or
// are the background flush of a roll), so metaOnDisk is what the file
// holds. With skipSame, a checkpoint equal
// to it is not rewritten: the periodic Checkpoint of an idle log, or of a
// busy one whose recovery point has not moved (no flush), would otherwise
// fsync a file and its directory while holding appendMu, stalling appends
// every maintenance interval for nothing.
func (l *Log) writeMetaLocked(skipSame bool) error {
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	// Read under metaMu: a later write never records an older state.
	m := l.metaLocked()
	if skipSame && l.metaOnDiskOK && l.metaOnDisk == m {
		return nil
	}
	l.metaOnDiskOK = false // unknown until this write succeeds
	if err := writeMeta(l.fs, l.dir, m); err != nil {
		return err
	}
	l.metaOnDisk, l.metaOnDiskOK = m, true
	return nil
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

func (l *Log) endOffsetLocked() int64 { return l.active().next }

// removeSegmentFiles unlinks a segment's files. Outstanding ReadResults keep
// the open file descriptor, so a fetch in flight still completes; the fd is
// closed when the last reference is released.
func (l *Log) removeSegmentFiles(s *segment) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(s.path(suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("remove segment file", "file", s.path(suf), "err", err)
		}
	}
	if s.removed.CompareAndSwap(false, true) {
		s.release()
	}
}

// StartOffset is the log start offset.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startOffset
}

// EndOffset is the log end offset: the offset the next record gets.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.endOffsetLocked()
}

// LastStableOffset is min(hw, first offset of any open transaction).
func (l *Log) LastStableOffset(hw int64) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if f := l.producers.firstUnstable(); f >= 0 && f < hw {
		return f
	}
	return hw
}

// Config returns the log's current configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig replaces the configuration; it applies from the next append
// or maintenance run, and is stored in the log directory so the next
// NewManager reopens the log with it.
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		// The broker validates topic configs before they reach a log; an
		// invalid one here is a bug, and is refused rather than clamped.
		l.logger.Error("refusing invalid log config", "err", err)
		return
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	l.cfg = cfg.normalize()
	l.mu.Unlock()
	if !l.closed {
		if err := writeConfig(l.fs, l.dir, l.cfg); err != nil {
			l.logger.Error("persist log config", "err", err)
		}
	}
}

// Size is the number of bytes of all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Append validates and appends record batches; see api.go. records may be
// rewritten in place (base offset, leader epoch, LogAppendTime), as Kafka
// does with a produce request's buffer, and is not retained.
func (l *Log) Append(records []byte, o AppendOptions) (AppendResult, error) {
	res, pending, err := l.AppendNoWait(records, o)
	if err != nil || !pending {
		return res, err
	}
	// SyncOnAppend: wait, without the append lock, for the group commit
	// that covers these batches, so other producers' appends join it.
	if err := l.AwaitDurable(res.LogEndOffset); err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// AppendNoWait is Append without the wait for durability: when pending
// is true (SyncOnAppend) the batches are written and published but not
// yet fsynced, and the caller must call AwaitDurable(res.LogEndOffset)
// before acknowledging them. It lets one request append to many logs
// first and then wait for all their group commits together, paying one
// fsync latency instead of one per log.
func (l *Log) AppendNoWait(records []byte, o AppendOptions) (res AppendResult, pending bool, err error) {
	if err := l.offlineErr("append"); err != nil {
		return AppendResult{}, false, err
	}
	l.mu.RLock()
	maxBytes := l.cfg.MaxMessageBytes
	l.mu.RUnlock()
	// CRC checks run before taking the append lock: they are the costly
	// part of validation and need no log state.
	var batchBuf [2]parsedBatch
	batches, err := appendBatches(batchBuf[:0], records, maxBytes)
	if err != nil {
		return AppendResult{}, false, err
	}
	l.appendMu.Lock()
	res, durable, err := l.appendLocked(records, batches, o)
	l.appendMu.Unlock()
	if err != nil {
		return res, false, err
	}
	return res, !durable, nil
}

// appendLocked is Append under appendMu. durable is false when the caller
// must still wait for a group commit (SyncOnAppend) before acknowledging.
func (l *Log) appendLocked(records []byte, batches []parsedBatch, o AppendOptions) (res AppendResult, durable bool, err error) {
	if l.closed {
		return AppendResult{}, true, storageErr("append", errClosed)
	}
	if err := l.offlineErr("append"); err != nil {
		return AppendResult{}, true, err
	}
	cfg := l.cfg
	end := l.endOffsetLocked()

	// Validate against producer state on a scratch copy: nothing changes
	// unless the whole append is accepted.
	var scratch producerState
	ps := l.producers
	for i := range batches {
		h := &batches[i].h
		if h.control() && o.Origin == OriginClient {
			return AppendResult{}, true, fmt.Errorf("clients may not write control batches: %w", kerr.InvalidRecord)
		}
		if cfg.CleanupPolicy&CleanupCompact != 0 && !h.control() && o.Origin != OriginReplication {
			if err := checkKeys(batches[i].buf, l.decodeLimit(cfg)); err != nil {
				return AppendResult{}, true, err
			}
		}
		if o.Origin == OriginReplication {
			if h.BaseOffset < end {
				return AppendResult{}, true, fmt.Errorf("replicated batch at %d below log end %d: %w", h.BaseOffset, end, kerr.OffsetOutOfRange)
			}
			end = h.nextOffset()
			continue
		}
		if h.ProducerID >= 0 {
			if err := ps.check(h); err != nil {
				var dup *errDuplicate
				if errors.As(err, &dup) {
					if len(batches) > 1 {
						return AppendResult{}, true, fmt.Errorf("duplicate batch inside a multi-batch append: %w", kerr.DuplicateSequenceNumber)
					}
					// With SyncOnAppend the original may still be waiting
					// for its fsync: the duplicate waits for it too.
					return AppendResult{
						BaseOffset: dup.orig.firstOffset, LastOffset: dup.orig.lastOffset,
						LogAppendTime: -1, LogStartOffset: l.startOffset,
						LogEndOffset: l.endOffsetLocked(), Duplicate: true,
					}, !cfg.SyncOnAppend, nil
				}
				return AppendResult{}, true, err
			}
			if len(batches) > 1 {
				if scratch == nil {
					scratch = l.producers.clone()
					ps = scratch
				}
				h2 := *h
				h2.BaseOffset = end
				ps.update(&h2, nil)
			}
		}
		end += int64(h.LastOffsetDelta) + 1
	}

	// Assign offsets and stamp the batches.
	now := l.now().UnixMilli()
	appendTime := int64(-1)
	if cfg.TimestampType == LogAppendTime {
		appendTime = now
	}
	next := l.endOffsetLocked()
	var total int64
	var msgs int64
	for i := range batches {
		b := &batches[i]
		if o.Origin != OriginReplication {
			setBaseOffset(b.buf, next)
			b.h.BaseOffset = next
			setLeaderEpoch(b.buf, o.LeaderEpoch)
			b.h.LeaderEpoch = o.LeaderEpoch
			if appendTime >= 0 {
				setLogAppendTime(b.buf, appendTime)
				b.h.MaxTimestamp = appendTime
				b.h.Attributes |= attrLogAppendTime
			}
		}
		next = b.h.nextOffset()
		total += b.h.size()
		msgs += int64(b.h.NumRecords)
	}
	first, last := batches[0].h.BaseOffset, batches[len(batches)-1].h.lastOffset()

	seg := l.active()
	if seg.size > 0 && (seg.size+total > cfg.SegmentBytes || !seg.canHold(last, total) || l.rollDue(seg, cfg, now) ||
		(len(seg.timeIdx)+1)*timeEntrySize > cfg.SegmentIndexBytes || (len(seg.offIdx)+1)*offsetEntrySize > cfg.SegmentIndexBytes) {
		// Roll at the log end, not at the first new offset: a replicated
		// batch may start after a gap, and segments must tile the offsets
		// (recovery relies on it to spot a torn middle segment).
		if err := l.rollLocked(l.endOffsetLocked()); err != nil {
			return AppendResult{}, true, err
		}
		seg = l.active()
	}
	// Batches are contiguous in records when they came as one buffer, so
	// one write suffices; records is exactly the batches.
	pos := seg.size
	if err := writeFull(seg.file, records[:total], pos); err != nil {
		// Undo a partial write so the file never holds a torn batch that
		// a later append would bury mid-file; the log goes offline anyway
		// (recovery would cut a torn tail too).
		err = l.fail("write segment", err)
		if terr := seg.file.Truncate(pos); terr != nil {
			l.fail("truncate after failed write", terr)
		}
		return AppendResult{}, true, err
	}

	l.mu.Lock()
	if seg.created == 0 {
		seg.created = now
	}
	for i := range batches {
		h := &batches[i].h
		seg.appendIndexes(h, pos, cfg.IndexIntervalBytes)
		pos += h.size()
		l.producers.update(h, nil)
		if h.LeaderEpoch >= 0 && (len(l.epochs) == 0 || h.LeaderEpoch > l.epochs[len(l.epochs)-1].epoch) {
			l.epochs = append(l.epochs, epochEntry{epoch: h.LeaderEpoch, start: h.BaseOffset})
			l.epochsDirty = true
		}
	}
	res = AppendResult{
		BaseOffset: first, LastOffset: last, LogAppendTime: appendTime,
		LogStartOffset: l.startOffset, LogEndOffset: seg.next,
	}
	epochsDirty := l.epochsDirty
	l.epochsDirty = false
	epochs := l.epochs
	l.mu.Unlock()

	if epochsDirty {
		// The epoch cache must be durable before the batches that start
		// the epoch are acknowledged: a failed write fails the append and
		// takes the log offline (recovery relearns epochs from batches).
		if err := writeEpochCheckpoint(l.fs, l.dir, epochs); err != nil {
			return AppendResult{}, true, l.fail("write leader-epoch checkpoint", err)
		}
	}
	l.unflushedMsgs += msgs
	if cfg.SyncOnAppend {
		return res, false, nil
	}
	if l.unflushedMsgs >= cfg.FlushMessages {
		if err := l.syncUnflushed(); err != nil {
			return AppendResult{}, true, err
		}
	}
	return res, true, nil
}

func writeFull(f File, b []byte, pos int64) error {
	for len(b) > 0 {
		n, err := f.WriteAt(b, pos)
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, pos = b[n:], pos+int64(n)
	}
	return nil
}

func (l *Log) rollDue(s *segment, cfg Config, nowMs int64) bool {
	if cfg.SegmentMs <= 0 || s.size == 0 {
		return false
	}
	since := s.created
	if since == 0 {
		since = s.rollTs
	}
	return since > 0 && nowMs-since >= cfg.SegmentMs.Milliseconds()
}

// rollLocked closes the active segment and starts one at base. Callers hold
// appendMu. The old segment's indexes are written and a producer snapshot
// is taken at base, so recovery replays at most the new active segment.
func (l *Log) rollLocked(base int64) error {
	if err := l.offlineErr("roll segment"); err != nil {
		return err
	}
	old := l.active()
	if err := old.writeIndexes(false); err != nil {
		// An index is a cache (validated on open, rebuilt if wrong), and a
		// failed atomic replace leaves the old file: the log stays online.
		return l.ioErr("write index", err)
	}
	s, err := l.openSegment(base, true)
	if err != nil {
		// Nothing was changed: the log stays online (out of descriptors
		// heals by itself), but the operator hears of it.
		return l.ioErr("roll segment", err)
	}
	if err := l.writeSnapshot(base); err != nil {
		s.file.Close()
		return err
	}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	// The closed segment is flushed, and the new one's directory entry
	// synced, in the background; with SyncOnAppend the group commit of the
	// first append here syncs the directory before acknowledging it.
	l.flushRolled()
	return nil
}

// writeSnapshot writes the producer state as of offset (the log end) and
// keeps the three newest snapshots. It is not fsynced: a torn snapshot
// fails its CRC on open and an older one is replayed from instead.
func (l *Log) writeSnapshot(offset int64) error {
	if err := writeFileAtomic(l.fs, l.dir, segmentName(offset, snapshotSuffix), l.producers.marshal(), false); err != nil {
		// A snapshot is a cache too (recovery replays from an older one).
		return l.ioErr("write producer snapshot", err)
	}
	l.snapshotAt = offset
	offs, _ := snapshotOffsets(l.fs, l.dir)
	for i := 0; i+3 < len(offs); i++ {
		_ = l.fs.Remove(filepath.Join(l.dir, segmentName(offs[i], snapshotSuffix)))
	}
	return nil
}

// syncUnflushed fsyncs every segment with unflushed bytes, and the
// directory if a segment was created since its last sync. Called with
// appendMu held, so it covers the whole log.
func (l *Log) syncUnflushed() error {
	if l.offline.Load() != nil {
		// Nothing more is fsynced; the failure was reported when the log
		// went offline, and the periodic flush.ms must not repeat it.
		return nil
	}
	if err := l.syncSegments("fsync segment"); err != nil {
		return err
	}
	l.unflushedMsgs = 0
	l.lastFlush = l.now()
	return nil
}

// Flush fsyncs the log up to EndOffset.
func (l *Log) Flush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return storageErr("flush", errClosed)
	}
	if err := l.offlineErr("flush"); err != nil {
		return err
	}
	return l.syncUnflushed()
}

// Checkpoint writes the recovery point, log start and dirty indexes, so a
// crash after it rescans only what was appended since the last flush.
func (l *Log) Checkpoint() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed || l.offline.Load() != nil {
		return nil
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		if err := s.writeIndexes(false); err != nil {
			return l.ioErr("write index", err)
		}
	}
	return l.fail("write log checkpoint", l.writeMetaLocked(true))
}

// Close flushes, persists indexes, producer state and checkpoints, and
// writes the clean-shutdown marker so the next Open skips the scan.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.offline.Load() == nil {
		err = l.closeLocked()
	} else {
		// An offline log writes nothing more: no checkpoint, no marker,
		// so the next Open recovers it from its recovery point.
		err = l.Offline()
	}
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.mu.Unlock()
	l.bg.Wait() // background flushes of rolled segments (they take mu only) end first
	for _, s := range segs {
		if s.removed.CompareAndSwap(false, true) {
			s.release()
		}
	}
	return err
}

func (l *Log) closeLocked() error {
	if err := l.syncUnflushed(); err != nil {
		return err
	}
	// An index that cannot be written is rebuilt on the next Open; it is
	// logged (the disk is failing) and the shutdown is not called clean.
	var idxErr error
	for _, s := range l.segs {
		if err := s.writeIndexes(true); err != nil {
			err = l.ioErr("write index", err)
			l.logger.Error("write index at close", "segment", s.base, "err", err)
			idxErr = errors.Join(idxErr, err)
		}
	}
	end := l.endOffsetLocked()
	if l.snapshotAt != end {
		if err := l.writeSnapshot(end); err != nil {
			return err
		}
	}
	if err := writeEpochCheckpoint(l.fs, l.dir, l.epochs); err != nil {
		return l.fail("write leader-epoch checkpoint", err)
	}
	if err := l.writeMetaLocked(false); err != nil {
		return l.fail("write log checkpoint", err)
	}
	if idxErr != nil {
		return idxErr
	}
	// The snapshot is synced through the marker's directory sync below
	// only as far as the rename; sync its data explicitly.
	if err := writeFileAtomic(l.fs, l.dir, segmentName(end, snapshotSuffix), l.producers.marshal(), true); err != nil {
		return l.fail("write producer snapshot", err)
	}
	return l.fail("write clean-shutdown marker", writeFileAtomic(l.fs, l.dir, cleanShutdownName, nil, true))
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.appendMu.Lock()
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.mu.Unlock()
	l.appendMu.Unlock()
	l.bg.Wait()
	for _, s := range segs {
		if s.removed.CompareAndSwap(false, true) {
			s.release()
		}
	}
	return l.ioErr("remove log dir", l.fs.RemoveAll(l.dir))
}
