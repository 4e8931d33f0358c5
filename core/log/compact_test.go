package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
)

// latestValues reads the whole log and returns key -> (offset, value-or-nil)
// of the newest record per key, and the number of records.
func latestValues(t *testing.T, l *Log) (map[string]string, int) {
	t.Helper()
	out := map[string]string{}
	n := 0
	off := l.StartOffset()
	for off < l.EndOffset() {
		r, err := l.Read(off, 1<<20, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.Bytes()
		r.Release()
		if len(b) == 0 {
			break
		}
		for len(b) > 0 {
			h, _ := parseHeader(b)
			if err := verifyBatch(b[:h.size()]); err != nil {
				t.Fatal(err)
			}
			if !h.control() {
				err := forEachRecord(b[:h.size()], func(r *decodedRecord) bool {
					n++
					if r.valueNull {
						out[string(r.key)] = "<tombstone>"
					} else {
						out[string(r.key)] = "present"
					}
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			b = b[h.size():]
			off = h.nextOffset()
		}
	}
	return out, n
}

func TestCompaction(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			cfg := smallSegments()
			cfg.CleanupPolicy = CleanupCompact
			cfg.DeleteRetentionMs = time.Hour
			l := mustOpen(t, dir, cfg, testOpts(c))
			if _, err := l.Append(buildBatch(t, batchSpec{records: []rec{{value: []byte("x"), ts: 1}}}), AppendOptions{}); !errors.Is(err, kerr.InvalidRecord) {
				t.Fatalf("null key on compacted topic: %v", err)
			}
			// 20 keys, each written 10 times; key 0..4 deleted at the end.
			want := map[int64]string{} // offset -> "k=v" for the newest per key
			latest := map[string]int64{}
			for round := 0; round < 10; round++ {
				var rs []rec
				for k := 0; k < 20; k++ {
					rs = append(rs, rec{key: []byte(fmt.Sprintf("key-%02d", k)), value: []byte(fmt.Sprintf("v%d", round)), ts: c.ms()})
				}
				res := mustAppend(t, l, buildBatch(t, batchSpec{records: rs[:10], gzip: gz}))
				for i := 0; i < 10; i++ {
					latest[string(rs[i].key)] = res.BaseOffset + int64(i)
				}
				res = mustAppend(t, l, buildBatch(t, batchSpec{records: rs[10:], gzip: gz}))
				for i := 0; i < 10; i++ {
					latest[string(rs[10+i].key)] = res.BaseOffset + int64(i)
				}
			}
			var ts []rec
			for k := 0; k < 5; k++ {
				ts = append(ts, rec{key: []byte(fmt.Sprintf("key-%02d", k)), ts: c.ms()})
			}
			mustAppend(t, l, buildBatch(t, batchSpec{records: ts, gzip: gz}))
			for i := 0; i < 80; i++ { // push the tombstones out of the active segment
				mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte("filler"), value: []byte("f"), ts: c.ms()}}}))
			}
			_ = want
			end := l.EndOffset()
			before := l.Size()
			reclaimed, err := l.Compact()
			if err != nil {
				t.Fatal(err)
			}
			if reclaimed <= 0 || l.Size() >= before {
				t.Fatalf("nothing reclaimed: %d, size %d -> %d", reclaimed, before, l.Size())
			}
			if l.EndOffset() != end {
				t.Fatalf("end moved %d -> %d", end, l.EndOffset())
			}
			vals, _ := latestValues(t, l)
			for k := 0; k < 20; k++ {
				key := fmt.Sprintf("key-%02d", k)
				if k < 5 && vals[key] != "<tombstone>" {
					t.Fatalf("%s: %q, want tombstone kept within delete.retention.ms", key, vals[key])
				}
				if k >= 5 && vals[key] != "present" {
					t.Fatalf("%s lost", key)
				}
			}
			// Every record still in the log is the newest for its key
			// (offsets kept), except in the active segment.
			readAll(t, l, l.StartOffset())

			// After delete.retention.ms the tombstones go too.
			c.Advance(2 * time.Hour)
			l.mu.Lock()
			l.cleanerPoint = 0 // force a full pass
			l.mu.Unlock()
			cfg.MinCleanableRatio = 0.01
			l.SetConfig(cfg)
			if _, err := l.Compact(); err != nil {
				t.Fatal(err)
			}
			vals, _ = latestValues(t, l)
			for k := 0; k < 5; k++ {
				if _, ok := vals[fmt.Sprintf("key-%02d", k)]; ok {
					t.Fatalf("tombstone for key-%02d survived delete.retention.ms", k)
				}
			}
			l.Close()
			l = mustOpen(t, dir, cfg, testOpts(c))
			defer l.Close()
			vals2, _ := latestValues(t, l)
			if len(vals2) != len(vals) || l.EndOffset() != end {
				t.Fatalf("after reopen %d keys (want %d), end %d", len(vals2), len(vals), l.EndOffset())
			}
		})
	}
}

// TestCompactionCrashSafety interrupts a pass at each step (through the
// fault FS) and checks the reopened log has exactly the same latest values.
func TestCompactionCrashSafety(t *testing.T) {
	steps := []string{"create-cleaned", "rename-swap", "remove-old", "rename-log"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			ffs := newFaultFS()
			cfg := smallSegments()
			cfg.CleanupPolicy = CleanupCompact
			o := testOpts(c)
			o.FS = ffs
			l := mustOpen(t, dir, cfg, o)
			for round := 0; round < 30; round++ {
				var rs []rec
				for k := 0; k < 8; k++ {
					rs = append(rs, rec{key: []byte(fmt.Sprintf("key-%d", k)), value: []byte(fmt.Sprintf("round-%d", round)), ts: c.ms()})
				}
				mustAppend(t, l, buildBatch(t, batchSpec{records: rs}))
			}
			want, _ := latestValues(t, l)
			end := l.EndOffset()
			switch step {
			case "create-cleaned":
				ffs.failOn(func(op, path string) bool { return op == "open" && strings.HasSuffix(path, cleanedSuffix) })
			case "rename-swap":
				ffs.failOn(func(op, path string) bool { return op == "rename" && strings.HasSuffix(path, swapSuffix) })
			case "remove-old":
				n := 0
				ffs.failOn(func(op, path string) bool {
					if op == "remove" && strings.HasSuffix(path, logSuffix) {
						n++
						return n > 1
					}
					return false
				})
			case "rename-log":
				ffs.failOn(func(op, path string) bool {
					return op == "rename" && strings.HasSuffix(path, logSuffix) && strings.Contains(path, "swap") == false
				})
			}
			l.Compact() // may fail: that is the point
			crash(l)
			ffs.failOn(nil)
			l = mustOpen(t, dir, cfg, o)
			defer l.Close()
			got, _ := latestValues(t, l)
			if l.EndOffset() != end || len(got) != len(want) {
				t.Fatalf("after crash at %s: end %d (want %d), %d keys (want %d)", step, l.EndOffset(), end, len(got), len(want))
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), swapSuffix) || strings.HasSuffix(e.Name(), cleanedSuffix) {
					t.Fatalf("left over %s", filepath.Join(dir, e.Name()))
				}
			}
			// A later pass completes.
			if _, err := l.Compact(); err != nil {
				t.Fatal(err)
			}
			got, _ = latestValues(t, l)
			if len(got) != len(want) {
				t.Fatalf("after a later pass %d keys", len(got))
			}
		})
	}
}

// With a key map smaller than the dirty key set, a pass maps only a prefix
// of the dirty segments (bounded memory) and later passes finish the job.
func TestCompactionBoundedMemory(t *testing.T) {
	c := newClock()
	cfg := smallSegments()
	cfg.CleanupPolicy = CleanupCompact
	cfg.MinCleanableRatio = 0.01
	o := testOpts(c)
	o.CleanerMaxKeys = 8
	l := mustOpen(t, t.TempDir(), cfg, o)
	defer l.Close()
	latest := map[string]string{}
	for i := 0; i < 400; i++ {
		k := fmt.Sprintf("key-%d", (i*7)%60)
		v := fmt.Sprintf("v%d", i)
		latest[k] = v
		mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte(k), value: []byte(v), ts: c.ms()}}}))
	}
	activeBase := l.active().base
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if l.cleanerPoint >= activeBase {
		t.Fatalf("one pass mapped everything (cleaner point %d, active %d) despite an 8-key map", l.cleanerPoint, activeBase)
	}
	for pass := 0; pass < 50 && l.cleanerPoint < l.active().base; pass++ {
		if _, err := l.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	for _, r := range logRecords(t, l) {
		got[r.key] = r.value
	}
	for k, v := range latest {
		if got[k] != v {
			t.Fatalf("%s = %q, want %q", k, got[k], v)
		}
	}
	if n := len(logRecords(t, l)); n >= 400 {
		t.Fatalf("nothing compacted: %d records", n)
	}
}

// TestTombstoneDeleteHorizon (issue 8 item 6): tombstones are kept for
// delete.retention.ms from when the cleaner first saw them (Kafka's delete
// horizon, KIP-534: stamped into the batch as the delete-horizon attribute
// and base timestamp), whatever timestamp the producer put on them. Before,
// a tombstone stamped in the past was dropped by the first pass (consumers
// never saw the delete) and one stamped in the future was kept for ever.
func TestTombstoneDeleteHorizon(t *testing.T) {
	c := newClock()
	cfg := smallSegments()
	cfg.CleanupPolicy = CleanupCompact
	cfg.DeleteRetentionMs = time.Hour
	cfg.MinCleanableRatio = 0.01
	l := mustOpen(t, t.TempDir(), cfg, testOpts(c))
	defer l.Close()
	past, future := int64(1000), c.ms()+10*365*24*3600*1000
	fill := func() {
		for i := 0; i < 60; i++ { // close the segment holding what came before
			mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte(fmt.Sprintf("filler-%d", i)), value: []byte("f"), ts: c.ms()}}}))
		}
	}
	for _, gz := range []bool{false, true} {
		mustAppend(t, l, buildBatch(t, batchSpec{gzip: gz, records: []rec{
			{key: []byte(fmt.Sprintf("old-%v", gz)), ts: past},
			{key: []byte(fmt.Sprintf("new-%v", gz)), ts: future},
			{key: []byte(fmt.Sprintf("live-%v", gz)), value: []byte("v"), ts: c.ms()},
		}}))
	}
	fill()
	tombstones := func() (n int, horizons []int64) {
		for _, s := range l.segs[:len(l.segs)-1] {
			if err := eachBatch(s, func(h *batchHeader, b []byte) error {
				hz, ok := h.deleteHorizon()
				return forEachRecord(b, func(r *decodedRecord) bool {
					if r.valueNull && r.keyNull == false {
						n++
						if ok {
							horizons = append(horizons, hz)
						}
						if r.timestamp != past && r.timestamp != future {
							t.Errorf("tombstone timestamp %d changed", r.timestamp)
						}
					}
					return true
				})
			}); err != nil {
				t.Fatal(err)
			}
		}
		return n, horizons
	}
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	firstSeen := c.ms()
	n, hz := tombstones()
	if n != 4 {
		t.Fatalf("the first pass left %d of 4 tombstones (producer timestamps must not decide)", n)
	}
	if len(hz) != 4 || hz[0] != firstSeen+time.Hour.Milliseconds() {
		t.Fatalf("delete horizons %v, want 4 x %d", hz, firstSeen+time.Hour.Milliseconds())
	}
	// Half the retention later, with a pass in between, they are still
	// there and the horizon has not moved.
	c.Advance(30 * time.Minute)
	fill()
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if n, hz := tombstones(); n != 4 || hz[0] != firstSeen+time.Hour.Milliseconds() {
		t.Fatalf("after 30 min: %d tombstones, horizons %v", n, hz)
	}
	// Past the horizon the next pass drops them all, the future-dated too.
	c.Advance(31 * time.Minute)
	fill()
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if n, _ := tombstones(); n != 0 {
		t.Fatalf("%d tombstones survived their delete horizon", n)
	}
	vals, _ := latestValues(t, l)
	for _, gz := range []bool{false, true} {
		if vals[fmt.Sprintf("live-%v", gz)] != "present" {
			t.Fatalf("live-%v lost: %v", gz, vals)
		}
	}
	readAll(t, l, l.StartOffset())
}

// zstdBomb is a zstd batch of n records of 1 MiB of zeros each: some tens
// of KB on disk, n MiB decompressed. It is built streaming, so the test
// itself never holds the inflated bytes.
func zstdBomb(t testing.TB, n int) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for i := 0; i < n; i++ {
		key := []byte(fmt.Sprintf("bomb-%d", i))
		var body []byte
		body = append(body, 0)              // attributes
		body = binary.AppendVarint(body, 0) // timestamp delta
		body = binary.AppendVarint(body, int64(i))
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
		body = binary.AppendVarint(body, int64(len(zeros)))
		var rec []byte
		rec = binary.AppendVarint(rec, int64(len(body)+len(zeros)+1))
		rec = append(rec, body...)
		zw.Write(rec)
		zw.Write(zeros)
		zw.Write([]byte{0}) // no headers
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	recs := buf.Bytes()
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(recs))
	binary.BigEndian.PutUint32(b[batchLengthOff:], uint32(batchHeaderSize-12+len(recs)))
	binary.BigEndian.PutUint32(b[epochOff:], 0xffffffff)
	b[magicOff] = 2
	binary.BigEndian.PutUint16(b[attrOff:], 4) // zstd
	binary.BigEndian.PutUint32(b[lastDeltaOff:], uint32(n-1))
	ts := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[firstTsOff:], ts)
	binary.BigEndian.PutUint64(b[maxTsOff:], ts)
	binary.BigEndian.PutUint64(b[producerIDOff:], ^uint64(0))
	binary.BigEndian.PutUint16(b[producerEpOff:], 0xffff)
	binary.BigEndian.PutUint32(b[baseSeqOff:], 0xffffffff)
	binary.BigEndian.PutUint32(b[numRecordsOff:], uint32(n))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[crcOff:], crc32.Checksum(b[attrOff:], crcTable))
	return b
}

// TestCleanerDecompressionIsBounded (issue 8 item 8, the log's part): the
// cleaner decompresses a batch to at most its limit (max.message.bytes
// with a 64 MiB floor, or Options.CleanerMaxBatchBytes): a ~70 KB zstd
// batch claiming 512 MiB is kept as it is, with a logged reason, instead
// of being inflated in memory; a compacted topic refuses such a batch on
// produce with MESSAGE_TOO_LARGE.
func TestCleanerDecompressionIsBounded(t *testing.T) {
	for _, ceiling := range []int{0, 8 << 20} {
		t.Run(fmt.Sprintf("ceiling=%d", ceiling), func(t *testing.T) {
			c := newClock()
			h := &captureHandler{}
			o := Options{Now: c.Now, Logger: slog.New(h), CleanerMaxBatchBytes: ceiling}
			cfg := smallSegments()
			l := mustOpen(t, t.TempDir(), cfg, o)
			defer l.Close()
			bomb := zstdBomb(t, 512)
			t.Logf("a %d-byte zstd batch of 512 MiB", len(bomb))
			res := mustAppend(t, l, append([]byte(nil), bomb...))
			for i := 0; i < 60; i++ {
				mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte("bomb-1"), value: []byte("newer"), ts: c.ms()}}}))
			}
			cfg.CleanupPolicy = CleanupCompact
			cfg.MinCleanableRatio = 0.01
			l.SetConfig(cfg)
			if _, err := l.Append(append([]byte(nil), bomb...), AppendOptions{}); !errors.Is(err, kerr.MessageTooLarge) {
				t.Fatalf("produce of the bomb to a compacted topic: %v", err)
			}

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := l.Compact(); err != nil {
				t.Fatalf("compaction: %v", err)
			}
			runtime.ReadMemStats(&after)
			limit := l.decodeLimit(cfg)
			// Bounded by the limit (decompression buffers double, the
			// decoder keeps a window), never by what the batch claims.
			if got := after.TotalAlloc - before.TotalAlloc; got > uint64(min(4*limit+(16<<20), 256<<20)) {
				t.Fatalf("compaction allocated %d MiB for a batch limited to %d MiB", got>>20, limit>>20)
			} else {
				t.Logf("compaction allocated %d MiB (limit %d MiB)", got>>20, limit>>20)
			}
			h.mu.Lock()
			logged := strings.Join(h.recs, "\n")
			h.mu.Unlock()
			if !strings.Contains(logged, "may not decompress") {
				t.Fatalf("no reason logged: %q", logged)
			}
			// Kept as it is: the same bytes at the same offset.
			r, err := l.Read(res.BaseOffset, 1<<20, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := r.Bytes()
			r.Release()
			hb, _ := parseHeader(got)
			if hb.BaseOffset != res.BaseOffset || !bytes.Equal(got[hb.size()-100:hb.size()], bomb[len(bomb)-100:]) {
				t.Fatal("the batch over the limit was not kept as it is")
			}
		})
	}
}
