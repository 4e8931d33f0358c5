package log

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// FuzzRecovery writes a log, flushes part of it, "crashes", and then lets
// the fuzzer truncate and flip bits in the files a crash can damage: the
// unflushed tail of every segment, and every index, time index, producer
// snapshot and checkpoint file. Recovery must always succeed and yield a
// valid prefix of what was written that keeps every flushed batch, must
// never serve a batch that fails its CRC, and must accept appends after.
//
//	go test -run '^$' -fuzz FuzzRecovery -fuzztime 30s ./core/log/
func FuzzRecovery(f *testing.F) {
	f.Add([]byte{10, 0})
	f.Add([]byte{30, 1, 0, 0, 0, 5})
	f.Add([]byte{45, 1, 1, 1, 0, 40, 2, 2, 1, 3})
	f.Add([]byte{0, 0, 3, 0, 0, 0, 3, 1, 0, 9})
	f.Add([]byte{59, 1, 5, 0, 0, 1, 6, 1, 0, 7, 7, 1, 2, 2})
	f.Add([]byte{20, 1, 4, 3, 255, 255, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		dir := fuzzDir(t)
		c := newClock()
		cfg := DefaultConfig()
		cfg.SegmentBytes = 2048
		cfg.IndexIntervalBytes = 128
		// A process crash loses nothing that reached the page cache, so the
		// fuzzer skips fsyncs (noSyncFS) and runs ~10x more executions.
		o := testOpts(c)
		o.FS = noSyncFS{}
		l := mustOpen(t, dir, cfg, o)
		const total = 60
		flushAt := int(data[0]) % (total + 1)
		var written [][]byte
		var flushedEnd int64
		for i := 0; i < total; i++ {
			if i == flushAt {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				if data[1]&1 == 1 {
					l.Checkpoint() // indexes of closed segments on disk
				}
				flushedEnd = l.EndOffset()
			}
			var rs []rec
			for j := 0; j <= i%5; j++ {
				rs = append(rs, rec{key: []byte{byte(j)}, value: bytes.Repeat([]byte{byte(i)}, 10+i*3), ts: c.ms() + int64(i)})
			}
			b := buildBatch(t, batchSpec{records: rs, producerID: 9, baseSeq: 0, gzip: i%7 == 3})
			if i > 0 {
				// one producer, consecutive sequences
				prev := written[len(written)-1]
				ph, _ := parseHeader(prev)
				binary.BigEndian.PutUint32(b[baseSeqOff:], uint32(ph.lastSequence()+1))
				fixCRC(b)
			}
			mustAppend(t, l, b)
			written = append(written, b)
		}
		if flushAt == total {
			l.Flush()
			flushedEnd = l.EndOffset()
		}
		l.bg.Wait() // rolls flush in the background; count what they made durable
		// What a crash may damage: per segment, bytes past its flushed size.
		damageable := map[string]int64{}
		// BaseOffset (batch bytes 0-7) and PartitionLeaderEpoch (12-15)
		// are outside the CRC in Kafka's v2 format: a flipped bit that moves
		// the offset forward looks like a compaction gap, one in the epoch
		// like a new leader, to any v2 reader (Kafka's too), so bit flips
		// spare those bytes. Truncation and zeroing do not.
		baseOffsetBytes := map[string]map[int64]bool{}
		for _, s := range l.segs {
			name := filepath.Base(s.path(logSuffix))
			damageable[name] = s.flushedSize
			prot := map[int64]bool{}
			eachBatchPos(t, s, func(pos int64) {
				for i := int64(0); i < 16; i++ {
					if i < 8 || i >= 12 {
						prot[pos+i] = true
					}
				}
			})
			baseOffsetBytes[name] = prot
		}
		crash(l)

		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			n := e.Name()
			if _, ok := damageable[n]; ok || strings.HasSuffix(n, indexSuffix) || strings.HasSuffix(n, timeIndexSuffix) ||
				strings.HasSuffix(n, snapshotSuffix) || n == metaCheckpointName {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		ops := data[2:]
		for len(ops) >= 4 && len(names) > 0 {
			name := names[int(ops[0])%len(names)]
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			from := damageable[name] // 0 for non-segment files
			if int64(len(b)) > from {
				pos := from + int64(binary.BigEndian.Uint16(ops[2:]))%(int64(len(b))-from)
				switch ops[1] % 3 {
				case 0: // truncate
					b = b[:pos]
				case 1: // flip a bit
					if !baseOffsetBytes[name][pos] {
						b[pos] ^= 1 << (ops[3] % 8)
					}
				case 2: // zero a torn page tail
					for i := pos; i < int64(len(b)) && i < pos+512; i++ {
						b[i] = 0
					}
				}
				os.WriteFile(p, b, 0o644)
			}
			ops = ops[4:]
		}

		l, err := Open(dir, cfg, o)
		if err != nil {
			t.Fatalf("recovery failed: %v", err)
		}
		defer l.Close()
		end := l.EndOffset()
		if end < flushedEnd {
			t.Fatalf("flushed data lost: end %d < flushed %d", end, flushedEnd)
		}
		hs := readAll(t, l, 0) // verifies every CRC
		if len(hs) > len(written) {
			t.Fatalf("%d batches recovered, %d written", len(hs), len(written))
		}
		for i, h := range hs {
			w, _ := parseHeader(written[i])
			if h != w {
				t.Fatalf("batch %d differs after recovery: %+v vs %+v", i, h, w)
			}
		}
		if hs == nil && end != 0 || hs != nil && hs[len(hs)-1].nextOffset() != end {
			t.Fatalf("end %d does not follow the last batch", end)
		}
		// Producer state follows the recovered prefix: the next sequence
		// is accepted, a retry of the last batch is a duplicate.
		if len(hs) > 0 {
			last := written[len(hs)-1]
			res, err := l.Append(append([]byte(nil), last...), AppendOptions{})
			if err != nil || !res.Duplicate {
				t.Fatalf("retry of last recovered batch: %+v %v", res, err)
			}
		}
		next := buildBatch(t, batchSpec{records: []rec{{key: []byte("x"), value: []byte("y"), ts: c.ms()}}})
		res, err := l.Append(next, AppendOptions{})
		if err != nil || res.BaseOffset != end {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
		readAll(t, l, 0)
	})
}

func eachBatchPos(t *testing.T, s *segment, fn func(pos int64)) {
	sc := newScanner(s.file, s.size, false, nil)
	for pos := int64(0); pos < s.size; {
		h, _, err := sc.next(pos)
		if err != nil {
			t.Fatal(err)
		}
		fn(pos)
		pos += h.size()
	}
}

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[crcOff:], crc32.Checksum(b[attrOff:], crcTable))
}

// FuzzSplitBatches feeds arbitrary bytes to the append validator: it must
// never panic, and anything it accepts must be whole, CRC-valid batches.
func FuzzSplitBatches(f *testing.F) {
	f.Add(simpleBatch(f, 3, 1))
	f.Add(append(simpleBatch(f, 1, 1), simpleBatch(f, 2, 2)...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		batches, err := splitBatches(b, 1<<20)
		if err != nil {
			return
		}
		n := 0
		for _, pb := range batches {
			if verifyBatch(pb.buf) != nil || int64(len(pb.buf)) != pb.h.size() {
				t.Fatal("accepted an invalid batch")
			}
			n += len(pb.buf)
			_ = forEachRecord(pb.buf, func(*decodedRecord) bool { return true })
		}
		if n != len(b) {
			t.Fatalf("accepted %d of %d bytes", n, len(b))
		}
	})
}

// noSyncFS is the OS file system with fsync turned off.
type noSyncFS struct{ OSFS }

type noSyncFile struct{ File }

func (noSyncFile) Sync() error { return nil }

func (f noSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{file}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

// fuzzDir prefers tmpfs: the target creates dozens of small files per
// execution and disk metadata operations would dominate.
func fuzzDir(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "weir-fuzz"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// FuzzFileDecoders feeds arbitrary bytes to the decoders of weir's own
// files (producer snapshot, checkpoints): no panics, and whatever decodes
// re-encodes to something that decodes to the same value.
func FuzzFileDecoders(f *testing.F) {
	ps := producerState{7: {epoch: 2, txnFirstOffset: 40, lastTs: 9, batches: []producerBatch{{firstSeq: 0, lastSeq: 4, firstOffset: 10, lastOffset: 14, maxTs: 9}}}}
	f.Add(ps.marshal())
	f.Add(encodeCheckpoint([]string{"1 2 3 4"}))
	f.Add([]byte("0\n2\n4 0\n6 1200\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ps, err := unmarshalProducerState(b); err == nil {
			again, err := unmarshalProducerState(ps.marshal())
			if err != nil || len(again) != len(ps) {
				t.Fatalf("snapshot round trip: %v", err)
			}
			for id, e := range ps {
				a := again[id]
				if a == nil || a.epoch != e.epoch || a.txnFirstOffset != e.txnFirstOffset || len(a.batches) != len(e.batches) {
					t.Fatalf("producer %d differs after round trip", id)
				}
			}
		}
		for fields := 1; fields <= 4; fields++ {
			rows, ok := decodeCheckpoint(b, fields)
			if !ok {
				continue
			}
			for _, r := range rows {
				if len(r) != fields {
					t.Fatalf("row with %d fields, want %d", len(r), fields)
				}
			}
		}
	})
}
