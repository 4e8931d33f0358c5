package log

import (
	"errors"
	"io"
)

// errCorrupt reports where a scan met bytes that are not a valid batch. It
// is not an I/O error: recovery truncates there, reads refuse to go past.
type errCorrupt struct {
	pos    int64
	reason error
}

func (e *errCorrupt) Error() string {
	return "corrupt batch at position " + itoa(e.pos) + ": " + e.reason.Error()
}

func itoa(v int64) string {
	var b [20]byte
	i := len(b)
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// scanner walks the batches of one segment file from a position. With
// verify it reads whole batches in large chunks and checks each CRC (the
// recovery scan: ~memory bandwidth); without it reads only headers
// (position look-ups, producer-state replay).
type scanner struct {
	f      File
	end    int64 // file size: nothing at or past it is read
	verify bool
	buf    []byte
	bufPos int64 // file position of buf[0]
	bufLen int
}

const scanChunk = 1 << 20

func newScanner(f File, end int64, verify bool, buf []byte) *scanner {
	if verify && cap(buf) < scanChunk {
		buf = make([]byte, scanChunk)
	}
	if !verify && cap(buf) < 4096 {
		buf = make([]byte, 4096)
	}
	return &scanner{f: f, end: end, verify: verify, buf: buf[:cap(buf)], bufPos: -1}
}

// fill makes [pos, pos+n) available in s.buf; it returns the slice or a
// short slice if the file ends first.
func (s *scanner) fill(pos int64, n int) ([]byte, error) {
	if s.bufPos >= 0 && pos >= s.bufPos && pos+int64(n) <= s.bufPos+int64(s.bufLen) {
		off := int(pos - s.bufPos)
		return s.buf[off : off+n], nil
	}
	want := n
	if s.verify && want < scanChunk {
		want = scanChunk
	} else if !s.verify && want < 4096 {
		want = 4096 // small batches: one read serves many headers
	}
	if rem := s.end - pos; int64(want) > rem {
		want = int(rem)
	}
	if want < 0 {
		want = 0
	}
	if cap(s.buf) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:cap(s.buf)]
	m, err := s.f.ReadAt(s.buf[:want], pos)
	if err != nil && !(errors.Is(err, io.EOF) && m == want) {
		if errors.Is(err, io.EOF) {
			s.bufPos, s.bufLen = pos, m
			if m < n {
				return s.buf[:m], nil
			}
			return s.buf[:n], nil
		}
		s.bufPos = -1
		return nil, err
	}
	s.bufPos, s.bufLen = pos, m
	if m < n {
		return s.buf[:m], nil
	}
	return s.buf[:n], nil
}

// next reads the batch at pos. It returns *errCorrupt for bytes that are not
// a whole valid batch (torn tail, garbage, CRC mismatch), and other errors
// for I/O failures. body is only set with verify, and only valid until the
// next call.
func (s *scanner) next(pos int64) (h batchHeader, body []byte, err error) {
	if pos >= s.end {
		return h, nil, io.EOF
	}
	hb, err := s.fill(pos, batchHeaderSize)
	if err != nil {
		return h, nil, err
	}
	if len(hb) < batchHeaderSize {
		return h, nil, &errCorrupt{pos, errShortHeader}
	}
	h, err = parseHeader(hb)
	if err != nil {
		return h, nil, &errCorrupt{pos, err}
	}
	if pos+h.size() > s.end {
		return h, nil, &errCorrupt{pos, errors.New("batch past end of file")}
	}
	if !s.verify {
		return h, nil, nil
	}
	b, err := s.fill(pos, int(h.size()))
	if err != nil {
		return h, nil, err
	}
	if int64(len(b)) < h.size() {
		return h, nil, &errCorrupt{pos, errShortHeader}
	}
	if err := verifyBatch(b); err != nil {
		return h, nil, &errCorrupt{pos, err}
	}
	return h, b, nil
}

// hintOK reports whether an index hint (pos, base) lands on a batch that
// starts there with that base offset (position 0 may hold a later offset
// after compaction). Index entries are hints: every caller checks one
// before walking from it, and falls back to position 0 if it is wrong.
func (s *scanner) hintOK(pos, base int64) bool {
	if pos >= s.end {
		return pos == s.end
	}
	h, _, err := s.next(pos)
	if err != nil {
		return false
	}
	if pos == 0 {
		return h.BaseOffset >= base
	}
	return h.BaseOffset == base
}
