package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// File names, as Kafka names them: the base offset zero-padded to 20 digits.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
	cleanedSuffix   = ".cleaned" // compaction output being written
	swapSuffix      = ".swap"    // compaction output committed, old segments not yet removed
	tmpSuffix       = ".tmp"

	offsetEntrySize = 8  // relative offset uint32 | position uint32
	timeEntrySize   = 12 // timestamp int64 | relative offset uint32

	// noTimestamp marks "no batch yet"; -1 is a real (if unknown) timestamp.
	noTimestamp = math.MinInt64
)

func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// parseBaseName parses "00000000000000000042.log" given its suffix.
func parseBaseName(name, suffix string) (int64, bool) {
	if !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	s := strings.TrimSuffix(name, suffix)
	if len(s) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

type offsetEntry struct{ rel, pos uint32 }
type timeEntry struct {
	ts  int64
	rel uint32
}

// segment is one .log file plus its in-memory sparse indexes. The in-memory
// indexes are the truth while the log is open; the .index and .timeindex
// files are a cache written when the segment is rolled, flushed or closed,
// and validated (never trusted) when a log is opened.
//
// Fields other than file, base, dir and refs are guarded by the owning Log:
// written with both appendMu and mu held, read with either.
type segment struct {
	fs   FS
	dir  string
	base int64
	file File

	size int64 // bytes of whole batches
	next int64 // offset after the last batch (base if empty)

	offIdx         []offsetEntry
	timeIdx        []timeEntry
	bytesSinceIdx  int
	bytesSinceTime int

	maxTs    int64 // largest MaxTimestamp of any batch, noTimestamp if none
	offMaxTs int64 // base offset of the batch that holds maxTs
	rollTs   int64 // MaxTimestamp of the first batch, noTimestamp if empty
	created  int64 // wall clock ms of the first append here; segment.ms counts from it

	flushedSize int64  // bytes known durable (written with the log's mu held)
	flushedNext int64  // offset after the last batch known durable (mu)
	dirSeq      uint64 // the log's dirSeq when this file was created; 0 if it was found on disk
	indexDirty  bool   // in-memory index differs from the files

	refs    atomic.Int32 // 1 for the log plus 1 per outstanding ReadResult
	removed atomic.Bool  // files removed; close the fd when refs reaches 0
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base, suffix))
}

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.file.Close()
	}
}

// appendIndexes records a batch written at pos in the in-memory indexes.
// Entries are sparse: one per index.interval.bytes of batches, as Kafka.
func (s *segment) appendIndexes(h *batchHeader, pos int64, interval int) {
	if s.rollTs == noTimestamp {
		s.rollTs = h.MaxTimestamp
	}
	if len(s.offIdx) == 0 && pos == 0 {
		// Position 0 needs no entry: lookups default to it.
	} else if s.bytesSinceIdx >= interval {
		s.offIdx = append(s.offIdx, offsetEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		s.bytesSinceIdx = 0
	}
	if h.MaxTimestamp > s.maxTs {
		s.maxTs = h.MaxTimestamp
		s.offMaxTs = h.BaseOffset
		// A time entry (ts, off) promises that every batch before off has
		// MaxTimestamp <= ts. Moving the last entry forward keeps that
		// promise, keeps the index sparse, and keeps the last entry equal
		// to the segment's max, so a reopened segment knows its max
		// timestamp without a scan.
		e := timeEntry{ts: s.maxTs, rel: uint32(s.offMaxTs - s.base)}
		if n := len(s.timeIdx); n > 0 && s.bytesSinceTime < interval {
			s.timeIdx[n-1] = e
		} else {
			s.timeIdx = append(s.timeIdx, e)
			s.bytesSinceTime = 0
		}
	}
	s.bytesSinceTime += int(h.size())
	s.bytesSinceIdx += int(h.size())
	s.size = pos + h.size()
	s.next = h.nextOffset()
	s.indexDirty = true
}

func (s *segment) resetIndexes() {
	s.offIdx = s.offIdx[:0]
	s.timeIdx = s.timeIdx[:0]
	s.bytesSinceIdx, s.bytesSinceTime = 0, 0
	s.maxTs, s.offMaxTs, s.rollTs = noTimestamp, s.base, noTimestamp
	s.size, s.next = 0, s.base
	s.indexDirty = true
}

// lookup returns the position of the last indexed batch with base offset
// <= off, and that batch's base offset.
func (s *segment) lookup(off int64) (pos int64, base int64) {
	rel := off - s.base
	if rel < 0 {
		return 0, s.base
	}
	if rel > math.MaxUint32 {
		rel = math.MaxUint32
	}
	i := sort.Search(len(s.offIdx), func(i int) bool { return int64(s.offIdx[i].rel) > rel })
	if i == 0 {
		return 0, s.base
	}
	e := s.offIdx[i-1]
	return int64(e.pos), s.base + int64(e.rel)
}

// lookupPos returns the last indexed (position, offset) with position <= p.
func (s *segment) lookupPos(p int64) (pos int64, base int64) {
	i := sort.Search(len(s.offIdx), func(i int) bool { return int64(s.offIdx[i].pos) > p })
	if i == 0 {
		return 0, s.base
	}
	e := s.offIdx[i-1]
	return int64(e.pos), s.base + int64(e.rel)
}

// lookupTime returns an offset from which a forward scan finds the first
// batch with MaxTimestamp >= ts.
func (s *segment) lookupTime(ts int64) int64 {
	i := sort.Search(len(s.timeIdx), func(i int) bool { return s.timeIdx[i].ts >= ts })
	if i == 0 {
		return s.base
	}
	return s.base + int64(s.timeIdx[i-1].rel)
}

// canHold reports whether a batch [base, last] fits the segment's relative
// 32-bit offsets and positions.
func (s *segment) canHold(last int64, size int64) bool {
	return last-s.base <= math.MaxUint32 && s.size+size <= math.MaxUint32
}

// writeIndexes persists the in-memory indexes to their files. The files are
// replaced atomically so a crash leaves either the old or the new index;
// both are validated on open anyway.
func (s *segment) writeIndexes(sync bool) error {
	if !s.indexDirty {
		return nil
	}
	ob := make([]byte, len(s.offIdx)*offsetEntrySize)
	for i, e := range s.offIdx {
		binary.BigEndian.PutUint32(ob[i*8:], e.rel)
		binary.BigEndian.PutUint32(ob[i*8+4:], e.pos)
	}
	tb := make([]byte, len(s.timeIdx)*timeEntrySize)
	for i, e := range s.timeIdx {
		binary.BigEndian.PutUint64(tb[i*12:], uint64(e.ts))
		binary.BigEndian.PutUint32(tb[i*12+8:], e.rel)
	}
	if err := writeFileAtomic(s.fs, s.dir, segmentName(s.base, indexSuffix), ob, sync); err != nil {
		return err
	}
	if err := writeFileAtomic(s.fs, s.dir, segmentName(s.base, timeIndexSuffix), tb, sync); err != nil {
		return err
	}
	s.indexDirty = false
	return nil
}

var errBadIndex = errors.New("corrupt index")

// loadIndexes reads and structurally validates the index files of a segment
// whose data is trusted (below the recovery point). It then walks the batch
// headers after the last offset entry to learn size and next offset, so a
// short or stale index is completed rather than believed. Any inconsistency
// returns errBadIndex and the caller rebuilds the indexes from the data.
func (s *segment) loadIndexes(fileSize int64, interval int) error {
	ob, err := readWholeFile(s.fs, s.path(indexSuffix))
	if err != nil {
		return err
	}
	tb, err := readWholeFile(s.fs, s.path(timeIndexSuffix))
	if err != nil {
		return err
	}
	if len(ob)%offsetEntrySize != 0 || len(tb)%timeEntrySize != 0 {
		return errBadIndex
	}
	s.resetIndexes()
	var lastRel, lastPos int64 = -1, 0
	for i := 0; i < len(ob); i += 8 {
		e := offsetEntry{rel: binary.BigEndian.Uint32(ob[i:]), pos: binary.BigEndian.Uint32(ob[i+4:])}
		if int64(e.rel) <= lastRel || int64(e.pos) <= lastPos || int64(e.pos) >= fileSize {
			return errBadIndex
		}
		lastRel, lastPos = int64(e.rel), int64(e.pos)
		s.offIdx = append(s.offIdx, e)
	}
	var lastTs int64 = math.MinInt64
	lastRel = -1
	for i := 0; i < len(tb); i += 12 {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(tb[i:])), rel: binary.BigEndian.Uint32(tb[i+8:])}
		if e.ts <= lastTs || int64(e.rel) <= lastRel {
			return errBadIndex
		}
		lastTs, lastRel = e.ts, int64(e.rel)
		s.timeIdx = append(s.timeIdx, e)
	}
	// Walk from the last offset entry: its batch must start exactly there.
	pos, base := int64(0), s.base
	if n := len(s.offIdx); n > 0 {
		pos, base = int64(s.offIdx[n-1].pos), s.base+int64(s.offIdx[n-1].rel)
	}
	sc := newScanner(s.file, fileSize, false, nil)
	first := true
	if pos == 0 && fileSize > 0 {
		h, _, err := sc.next(0)
		if err != nil {
			return errBadIndex
		}
		s.rollTs = h.MaxTimestamp
	}
	for pos < fileSize {
		h, _, err := sc.next(pos)
		if err != nil {
			var ce *errCorrupt
			if errors.As(err, &ce) {
				return errBadIndex
			}
			return err
		}
		if h.BaseOffset < s.next || (first && pos != 0 && h.BaseOffset != base) || (first && h.BaseOffset < base) {
			return errBadIndex
		}
		first = false
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.offMaxTs = h.MaxTimestamp, h.BaseOffset
		}
		if s.rollTs == noTimestamp {
			s.rollTs = h.MaxTimestamp
		}
		s.bytesSinceIdx += int(h.size())
		pos += h.size()
		s.next = h.nextOffset()
	}
	s.size = pos
	if n := len(s.timeIdx); n > 0 {
		last := s.timeIdx[n-1]
		if s.base+int64(last.rel) >= s.next {
			return errBadIndex
		}
		if last.ts > s.maxTs {
			s.maxTs, s.offMaxTs = last.ts, s.base+int64(last.rel)
		} else if last.ts < s.maxTs {
			s.timeIdx = append(s.timeIdx, timeEntry{ts: s.maxTs, rel: uint32(s.offMaxTs - s.base)})
		}
	} else if s.maxTs != noTimestamp || s.size > 0 {
		if s.offMaxTs-s.base < 0 {
			return errBadIndex
		}
		// Index empty yet batches exist before the walk start: only
		// acceptable if the walk covered the whole segment.
		if len(s.offIdx) > 0 {
			return errBadIndex
		}
		if s.maxTs != noTimestamp {
			s.timeIdx = append(s.timeIdx, timeEntry{ts: s.maxTs, rel: uint32(s.offMaxTs - s.base)})
		}
	}
	if len(s.offIdx) > 0 && s.base+int64(s.offIdx[len(s.offIdx)-1].rel) >= s.next {
		return errBadIndex
	}
	s.indexDirty = false
	return nil
}

func readWholeFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err == io.EOF && n == len(b) {
		err = nil
	}
	return b[:n], err
}

// writeFileAtomic writes dir/name via a temporary file and a rename. With
// sync the data and the rename are made durable.
func writeFileAtomic(fsys FS, dir, name string, data []byte, sync bool) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := f.WriteAt(data, 0); err != nil {
			f.Close()
			fsys.Remove(tmp)
			return err
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			fsys.Remove(tmp)
			return err
		}
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if sync {
		return fsys.SyncDir(dir)
	}
	return nil
}
