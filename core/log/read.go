package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sys/unix"
)

// headerBufs recycles the scanner buffers of the fetch path (one per Read).
var headerBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// fileRange is a ReadResult: [pos, pos+size) of one segment file. It holds a
// reference on the segment so retention cannot close the file under it.
type fileRange struct {
	seg      *segment
	pos      int64
	size     int64
	released atomic.Bool
}

var _ ReadResult = (*fileRange)(nil)

func (r *fileRange) Size() int64 { return r.size }

func (r *fileRange) Release() {
	if r.seg != nil && r.released.CompareAndSwap(false, true) {
		r.seg.release()
	}
}

func (r *fileRange) Bytes() ([]byte, error) {
	if r.size == 0 {
		return nil, nil
	}
	b := make([]byte, r.size)
	n, err := r.seg.file.ReadAt(b, r.pos)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF // truncated under us
	}
	return b[:n], storageErr("read segment", err)
}

// WriteTo sends the range to w. Positional sendfile(2) is used when both
// ends are file descriptors: the shared segment fd's file offset is never
// touched, so any number of fetches can send from it at once.
func (r *fileRange) WriteTo(w io.Writer) (int64, error) {
	if r.size == 0 {
		return 0, nil
	}
	if f, ok := r.seg.file.(*os.File); ok {
		if sc, ok := w.(syscall.Conn); ok {
			if n, err, handled := sendfile(sc, f, r.pos, r.size); handled {
				return n, err
			}
		}
	}
	return io.Copy(w, io.NewSectionReader(r.seg.file, r.pos, r.size))
}

// sendfile copies size bytes at pos of f to the connection. handled is
// false if nothing was sent and the caller should fall back to copying
// (the destination does not support sendfile).
func sendfile(sc syscall.Conn, f *os.File, pos, size int64) (written int64, err error, handled bool) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var serr error
	fallback := false
	cerr := src.Control(func(infd uintptr) {
		off := pos
		werr := rc.Write(func(outfd uintptr) bool {
			for written < size {
				chunk := size - written
				if chunk > 1<<30 {
					chunk = 1 << 30
				}
				n, err := unix.Sendfile(int(outfd), int(infd), &off, int(chunk))
				if n > 0 {
					written += int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait for the socket to drain
				case err == unix.EINTR:
					continue
				case err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP:
					if written == 0 {
						fallback = true
						return true
					}
					serr = err
					return true
				case err != nil:
					serr = err
					return true
				case n == 0:
					serr = io.ErrUnexpectedEOF // the file shrank (truncation)
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if fallback {
		return 0, nil, false
	}
	if serr == nil {
		serr = cerr
	}
	if serr != nil {
		return written, fmt.Errorf("sendfile: %w", serr), true
	}
	return written, nil, true
}

// segmentFor returns the index of the segment holding the first batch whose
// last offset is >= off. Called with mu held.
func (l *Log) segmentFor(off int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > off }) - 1
	if i < 0 {
		i = 0
	}
	// Compaction or truncation may leave off in a gap after a segment's
	// last batch: the answer is then in a later segment.
	for i < len(l.segs)-1 && off >= l.segs[i].next {
		i++
	}
	return i
}

// Read returns whole batches from the batch containing offset; see api.go.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	if err := l.offlineErr("read"); err != nil {
		return nil, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, storageErr("read", errClosed)
	}
	end := l.endOffsetLocked()
	if offset < l.startOffset || offset > end {
		start := l.startOffset
		l.mu.RUnlock()
		return nil, fmt.Errorf("offset %d outside [%d, %d]: %w", offset, start, end, kerr.OffsetOutOfRange)
	}
	if maxOffset > end || maxOffset < 0 {
		maxOffset = end
	}
	if offset >= maxOffset {
		l.mu.RUnlock()
		return &fileRange{}, nil
	}
	s := l.segs[l.segmentFor(offset)]
	if offset >= s.next {
		l.mu.RUnlock()
		return &fileRange{}, nil
	}
	segSize := s.size
	startPos, startBase := s.lookup(offset)
	limitHint, limitBase := s.lookupPos(startPos + int64(max(maxBytes, 0)))
	capPos, capBase := s.lookup(maxOffset)
	if maxOffset >= s.next {
		capPos = segSize
	}
	jump, jumpBase := limitHint, limitBase
	if capPos < jump {
		jump, jumpBase = capPos, capBase
	}
	s.acquire()
	l.mu.RUnlock()

	r, err := l.readRange(s, segSize, offset, startPos, startBase, jump, jumpBase, maxBytes, maxOffset)
	if err != nil {
		var ce *errCorrupt
		if errors.As(err, &ce) && startPos != 0 {
			// The index sent us somewhere that is not a batch boundary:
			// do not trust it. Rebuild it and answer from a walk from
			// the start of the segment.
			l.logger.Warn("offset index inconsistent, rebuilding", "segment", s.base, "err", err)
			l.rebuildIndexAsync(s)
			r, err = l.readRange(s, segSize, offset, 0, s.base, 0, s.base, maxBytes, maxOffset)
		}
	}
	if err != nil || r.size == 0 {
		s.release()
		if err != nil {
			return nil, err
		}
		return &fileRange{}, nil
	}
	return r, nil
}

func (l *Log) readRange(s *segment, segSize, offset, pos, base, jump, jumpBase int64, maxBytes int, maxOffset int64) (*fileRange, error) {
	bp := headerBufs.Get().(*[]byte)
	defer headerBufs.Put(bp)
	sc := newScanner(s.file, segSize, false, *bp)
	// Find the first batch whose last offset >= offset.
	first := true
	for {
		h, _, err := sc.next(pos)
		if err == io.EOF {
			return &fileRange{}, nil
		}
		if err != nil {
			return nil, wrapReadErr(err)
		}
		// An index entry must point at exactly its batch; position 0 may
		// hold a later offset than the segment base after compaction.
		if first && (h.BaseOffset < base || (pos != 0 && h.BaseOffset != base)) {
			return nil, &errCorrupt{pos, errBadIndex}
		}
		first = false
		if h.lastOffset() >= offset {
			if h.lastOffset() >= maxOffset {
				return &fileRange{}, nil // the first batch straddles the bound
			}
			break
		}
		pos += h.size()
	}
	start := pos
	// The first batch is always included; then whole batches while they
	// fit maxBytes and end below maxOffset. Jump ahead using the index
	// where that is safe, then walk headers.
	end := start
	h, _, _ := sc.next(start)
	end += h.size()
	if jump > end && jump <= start+int64(maxBytes) {
		if sc.hintOK(jump, jumpBase) {
			end = jump
		} else {
			l.rebuildIndexAsync(s)
		}
	}
	for end < segSize {
		h, _, err := sc.next(end)
		if err != nil {
			if err == io.EOF {
				break
			}
			var ce *errCorrupt
			if errors.As(err, &ce) {
				break // never serve past something that is not a batch
			}
			return nil, wrapReadErr(err)
		}
		if h.lastOffset() >= maxOffset || end+h.size()-start > int64(maxBytes) {
			break
		}
		end += h.size()
	}
	return &fileRange{seg: s, pos: start, size: end - start}, nil
}

func wrapReadErr(err error) error {
	var ce *errCorrupt
	if errors.As(err, &ce) {
		return fmt.Errorf("read: %w: %w", kerr.CorruptMessage, err)
	}
	return storageErr("read segment", err)
}

// rebuildIndexAsync rebuilds s's indexes from its data under the log locks.
func (l *Log) rebuildIndexAsync(s *segment) {
	go func() {
		l.appendMu.Lock()
		defer l.appendMu.Unlock()
		if s.removed.Load() || l.closed {
			return
		}
		tmp := &segment{fs: s.fs, dir: s.dir, base: s.base, file: s.file}
		tmp.resetIndexes()
		l.mu.RLock()
		size := s.size
		l.mu.RUnlock()
		if err := l.rebuildSegment(tmp, size, false); err != nil {
			l.logger.Error("rebuild index", "segment", s.base, "err", err)
			return
		}
		l.mu.Lock()
		s.offIdx, s.timeIdx = tmp.offIdx, tmp.timeIdx
		s.indexDirty = true
		l.mu.Unlock()
	}()
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// with timestamp >= ts (ListOffsets by time); ok is false if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	if err := l.offlineErr("read"); err != nil {
		return 0, 0, false, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, 0, false, storageErr("read", errClosed)
	}
	start := l.startOffset
	var s *segment
	for _, c := range l.segs {
		if c.next > start && c.size > 0 && c.maxTs != noTimestamp && c.maxTs >= ts {
			s = c
			break
		}
	}
	if s == nil {
		l.mu.RUnlock()
		return 0, 0, false, nil
	}
	from := max(s.lookupTime(ts), start)
	pos, hintBase := s.lookup(from)
	size := s.size
	s.acquire()
	l.mu.RUnlock()
	defer s.release()

	sc := newScanner(s.file, size, false, nil)
	if !sc.hintOK(pos, hintBase) {
		l.rebuildIndexAsync(s)
		pos = 0
	}
	for pos < size {
		h, _, err := sc.next(pos)
		if err != nil {
			return 0, 0, false, wrapReadErr(err)
		}
		if h.MaxTimestamp >= ts && h.lastOffset() >= start {
			b := make([]byte, h.size())
			if _, err := s.file.ReadAt(b, pos); err != nil {
				return 0, 0, false, storageErr("read segment", err)
			}
			if off, at, found := refineTimestamp(b, ts); found && off >= start {
				return off, at, true, nil
			}
			return max(h.BaseOffset, start), h.MaxTimestamp, true, nil
		}
		pos += h.size()
	}
	return 0, 0, false, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (ListOffsets -3), or (-1, -1) for an empty log.
func (l *Log) MaxTimestamp() (offset, timestamp int64) {
	l.mu.RLock()
	var best *segment
	for _, s := range l.segs {
		if s.size > 0 && s.maxTs != noTimestamp && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return -1, -1
	}
	off, ts := best.offMaxTs, best.maxTs
	pos, hintBase := best.lookup(off)
	size := best.size
	best.acquire()
	l.mu.RUnlock()
	defer best.release()
	sc := newScanner(best.file, size, false, nil)
	if !sc.hintOK(pos, hintBase) {
		l.rebuildIndexAsync(best)
		pos = 0
	}
	for pos < size {
		h, _, err := sc.next(pos)
		if err != nil {
			break
		}
		if h.BaseOffset == off {
			b := make([]byte, h.size())
			if _, err := best.file.ReadAt(b, pos); err == nil {
				if o := maxTimestampRecord(b); o >= 0 {
					return o, ts
				}
			}
			return h.lastOffset(), ts
		}
		if h.BaseOffset > off {
			break
		}
		pos += h.size()
	}
	return off, ts
}
