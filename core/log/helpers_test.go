package log

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// rec is one test record; a nil value is a tombstone.
type rec struct {
	key, value []byte
	ts         int64 // absolute timestamp
}

type batchSpec struct {
	records       []rec
	producerID    int64
	producerEpoch int16
	baseSeq       int32
	transactional bool
	control       bool
	gzip          bool
	// offsetDeltas optionally overrides record offset deltas (gaps).
	lastOffsetDelta int32
}

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// buildBatch encodes a v2 record batch with base offset 0, as a producer
// would send it.
func buildBatch(t testing.TB, spec batchSpec) []byte {
	if len(spec.records) == 0 {
		t.Fatal("buildBatch: no records")
	}
	firstTs, maxTs := spec.records[0].ts, spec.records[0].ts
	for _, r := range spec.records {
		firstTs = min(firstTs, r.ts)
		maxTs = max(maxTs, r.ts)
	}
	var recs []byte
	for i, r := range spec.records {
		var body []byte
		body = append(body, 0)
		body = appendVarint(body, r.ts-firstTs)
		body = appendVarint(body, int64(i))
		if r.key == nil {
			body = appendVarint(body, -1)
		} else {
			body = appendVarint(body, int64(len(r.key)))
			body = append(body, r.key...)
		}
		if r.value == nil {
			body = appendVarint(body, -1)
		} else {
			body = appendVarint(body, int64(len(r.value)))
			body = append(body, r.value...)
		}
		body = appendVarint(body, 0)
		recs = appendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	attrs := uint16(0)
	if spec.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(recs)
		zw.Close()
		recs = buf.Bytes()
		attrs |= 1
	}
	if spec.transactional {
		attrs |= attrTransactional
	}
	if spec.control {
		attrs |= attrControl
	}
	pid, seq := spec.producerID, spec.baseSeq
	if pid == 0 {
		pid, seq = -1, -1
	}
	lastDelta := int32(len(spec.records) - 1)
	if spec.lastOffsetDelta > lastDelta {
		lastDelta = spec.lastOffsetDelta
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(recs))
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[batchLengthOff:], uint32(batchHeaderSize-12+len(recs)))
	binary.BigEndian.PutUint32(b[epochOff:], 0xffffffff)
	b[magicOff] = 2
	binary.BigEndian.PutUint16(b[attrOff:], attrs)
	binary.BigEndian.PutUint32(b[lastDeltaOff:], uint32(lastDelta))
	binary.BigEndian.PutUint64(b[firstTsOff:], uint64(firstTs))
	binary.BigEndian.PutUint64(b[maxTsOff:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[producerIDOff:], uint64(pid))
	binary.BigEndian.PutUint16(b[producerEpOff:], uint16(spec.producerEpoch))
	binary.BigEndian.PutUint32(b[baseSeqOff:], uint32(seq))
	binary.BigEndian.PutUint32(b[numRecordsOff:], uint32(len(spec.records)))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[crcOff:], crc32.Checksum(b[attrOff:], crcTable))
	return b
}

// simpleBatch is n records with values "v<i>" and timestamp ts.
func simpleBatch(t testing.TB, n int, ts int64) []byte {
	var rs []rec
	for i := 0; i < n; i++ {
		rs = append(rs, rec{key: []byte{'k', byte(i)}, value: []byte("value-" + itoa(int64(i))), ts: ts})
	}
	return buildBatch(t, batchSpec{records: rs})
}

// controlBatch is a transaction marker (commit if commit).
func controlBatch(t testing.TB, pid int64, epoch int16, commit bool, ts int64) []byte {
	key := []byte{0, 0, 0, 0}
	if commit {
		key[3] = 1
	}
	return buildBatch(t, batchSpec{records: []rec{{key: key, value: []byte{0, 0, 0, 0, 0, 0}, ts: ts}}, producerID: pid, producerEpoch: epoch, baseSeq: -1, control: true, transactional: true})
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }
func (c *fakeClock) ms() int64               { return c.t.UnixMilli() }
func testOpts(c *fakeClock) Options          { return Options{Now: c.Now, Logger: discardLogger()} }
func mustOpen(t testing.TB, dir string, cfg Config, o Options) *Log {
	t.Helper()
	l, err := Open(dir, cfg, o)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, AppendOptions{LeaderEpoch: 0})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

// readAll reads every batch from offset to the end and returns their headers.
func readAll(t testing.TB, l *Log, from int64) []batchHeader {
	t.Helper()
	var out []batchHeader
	off := from
	for off < l.EndOffset() {
		r, err := l.Read(off, 1<<20, -1)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		b, err := r.Bytes()
		r.Release()
		if err != nil {
			t.Fatalf("bytes: %v", err)
		}
		if len(b) == 0 {
			t.Fatalf("empty read at %d below end %d", off, l.EndOffset())
		}
		for len(b) > 0 {
			h, err := parseHeader(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := verifyBatch(b[:h.size()]); err != nil {
				t.Fatalf("read a corrupt batch at %d: %v", h.BaseOffset, err)
			}
			out = append(out, h)
			b = b[h.size():]
			off = h.nextOffset()
		}
	}
	return out
}
