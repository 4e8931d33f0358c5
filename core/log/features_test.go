package log

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// crash abandons l as kill -9 would: file descriptors closed, nothing
// flushed, no indexes, snapshot, checkpoint or clean-shutdown marker.
func crash(l *Log) {
	// A killed process has no goroutines left: let a roll's background
	// flush finish rather than have it write into the reopened log's dir.
	l.bg.Wait()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		if s.removed.CompareAndSwap(false, true) {
			s.release()
		}
	}
}

func smallSegments() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	return cfg
}

func TestSegmentsRollAndIndexes(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 300; i++ {
		mustAppend(t, l, simpleBatch(t, 1+i%4, c.ms()+int64(i)))
	}
	end := l.EndOffset()
	if n := len(l.segs); n < 5 {
		t.Fatalf("expected several segments, got %d", n)
	}
	checkEveryOffset := func(l *Log) {
		t.Helper()
		for off := int64(0); off < end; off++ {
			r, err := l.Read(off, 1, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := r.Bytes()
			r.Release()
			h, err := parseHeader(b)
			if err != nil || off < h.BaseOffset || off > h.lastOffset() {
				t.Fatalf("read %d returned batch [%d, %d]: %v", off, h.BaseOffset, h.lastOffset(), err)
			}
		}
		hs := readAll(t, l, 0)
		if len(hs) != 300 {
			t.Fatalf("%d batches", len(hs))
		}
	}
	checkEveryOffset(l)
	l.Close()
	// The files are Kafka's: <base>.log/.index/.timeindex.
	if _, err := os.Stat(filepath.Join(dir, segmentName(0, indexSuffix))); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, cfg, testOpts(c))
	checkEveryOffset(l)
	crash(l)
	l = mustOpen(t, dir, cfg, testOpts(c))
	checkEveryOffset(l)
	l.Close()
}

func TestRecoveryTruncatesTornTail(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 40; i++ {
		mustAppend(t, l, simpleBatch(t, 3, c.ms()))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	flushedEnd := l.EndOffset()
	for i := 0; i < 5; i++ {
		mustAppend(t, l, simpleBatch(t, 3, c.ms()))
	}
	act := l.active()
	path, size := act.path(logSuffix), act.size
	crash(l)
	// Tear the last batch and add garbage after it.
	if err := os.Truncate(path, size-7); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("garbage garbage garbage garbage garbage garbage garbage garbage"))
	f.Close()
	l = mustOpen(t, dir, cfg, testOpts(c))
	if got, want := l.EndOffset(), flushedEnd+12; got != want {
		t.Fatalf("end after recovery %d, want %d", got, want)
	}
	readAll(t, l, 0)
	if res := mustAppend(t, l, simpleBatch(t, 1, c.ms())); res.BaseOffset != flushedEnd+12 {
		t.Fatalf("append after recovery at %d", res.BaseOffset)
	}
	l.Close()

	// A bit flip in the middle of the unflushed region truncates there.
	l = mustOpen(t, dir, cfg, testOpts(c))
	act = l.active()
	path = act.path(logSuffix)
	crash(l)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x40
	os.WriteFile(path, b, 0o644)
	os.Remove(filepath.Join(dir, metaCheckpointName)) // no recovery point: scan all
	l = mustOpen(t, dir, cfg, testOpts(c))
	defer l.Close()
	hs := readAll(t, l, 0)
	if len(hs) == 0 || l.EndOffset() >= flushedEnd+13 {
		t.Fatalf("corrupt batch not truncated: end %d", l.EndOffset())
	}
}

func TestCorruptIndexIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 100; i++ {
		mustAppend(t, l, simpleBatch(t, 2, c.ms()+int64(i)))
	}
	l.Close()
	// Point every entry of the first index one byte off.
	ip := filepath.Join(dir, segmentName(0, indexSuffix))
	b, _ := os.ReadFile(ip)
	if len(b) < 16 {
		t.Fatalf("index too small: %d", len(b))
	}
	for i := 4; i < len(b); i += 8 {
		b[i+3]++
	}
	os.WriteFile(ip, b, 0o644)
	os.WriteFile(filepath.Join(dir, segmentName(0, timeIndexSuffix)), []byte("short"), 0o644)
	l = mustOpen(t, dir, cfg, testOpts(c))
	defer l.Close()
	hs := readAll(t, l, 0)
	if len(hs) != 100 {
		t.Fatalf("%d batches after index rebuild", len(hs))
	}
	if off, ts, ok, err := l.OffsetForTimestamp(c.ms() + 10); err != nil || !ok || off != 20 || ts != c.ms()+10 {
		t.Fatalf("time lookup after rebuild: %d %d %v %v", off, ts, ok, err)
	}
}

func TestTimestamps(t *testing.T) {
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, t.TempDir(), cfg, testOpts(c))
	defer l.Close()
	base := c.ms()
	// Batch i holds records at base+10i, base+10i+5 (two records), with a
	// dip at batch 7 to check "first batch whose max >= T".
	for i := 0; i < 50; i++ {
		ts := base + int64(10*i)
		if i == 7 {
			ts = base
		}
		mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte("a"), value: []byte("x"), ts: ts}, {key: []byte("b"), value: []byte("y"), ts: ts + 5}}}))
	}
	cases := []struct {
		ts      int64
		off, at int64
		ok      bool
	}{
		{base - 100, 0, base, true},
		{base, 0, base, true},
		{base + 3, 1, base + 5, true},
		{base + 12, 3, base + 15, true},
		{base + 60, 12, base + 60, true},
		{base + 71, 16, base + 80, true}, // batch 7 (offset 14) dips below
		{base + 495, 99, base + 495, true},
		{base + 496, 0, 0, false},
	}
	for _, tc := range cases {
		off, at, ok, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || ok != tc.ok || (ok && (off != tc.off || at != tc.at)) {
			t.Errorf("OffsetForTimestamp(%d): %d %d %v %v, want %d %d %v", tc.ts-base, off, at-base, ok, err, tc.off, tc.at-base, tc.ok)
		}
	}
	if off, ts := l.MaxTimestamp(); off != 99 || ts != base+495 {
		t.Fatalf("MaxTimestamp %d %d", off, ts-base)
	}

	cfg.TimestampType = LogAppendTime
	l.SetConfig(cfg)
	c.Advance(time.Hour)
	res := mustAppend(t, l, simpleBatch(t, 2, 5))
	if res.LogAppendTime != c.ms() {
		t.Fatalf("LogAppendTime %d", res.LogAppendTime)
	}
	r, _ := l.Read(res.BaseOffset, 1000, -1)
	b, _ := r.Bytes()
	r.Release()
	h, _ := parseHeader(b)
	if h.MaxTimestamp != c.ms() || h.Attributes&attrLogAppendTime == 0 || verifyBatch(b[:h.size()]) != nil {
		t.Fatalf("LogAppendTime batch: %+v", h)
	}
	if off, ts := l.MaxTimestamp(); off != res.LastOffset || ts != c.ms() {
		t.Fatalf("MaxTimestamp after LogAppendTime %d %d", off, ts)
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 100; i++ {
		if i == 50 {
			l.AssignEpoch(3, l.EndOffset())
		}
		l.Append(simpleBatch(t, 2, c.ms()+int64(i)), AppendOptions{LeaderEpoch: l.LatestEpoch()})
	}
	if err := l.TruncateTo(151); err != nil { // inside batch [150,151]
		t.Fatal(err)
	}
	if l.EndOffset() != 150 {
		t.Fatalf("end %d after truncate", l.EndOffset())
	}
	if err := l.TruncateTo(90); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 90 || l.LatestEpoch() != -1 && l.LatestEpoch() != 0 {
		t.Fatalf("end %d epoch %d", l.EndOffset(), l.LatestEpoch())
	}
	if _, ts := l.MaxTimestamp(); ts != c.ms()+44 {
		t.Fatalf("max ts %d after truncation", ts-c.ms())
	}
	if res := mustAppend(t, l, simpleBatch(t, 1, c.ms())); res.BaseOffset != 90 {
		t.Fatalf("append after truncate at %d", res.BaseOffset)
	}
	if hs := readAll(t, l, 0); len(hs) != 46 {
		t.Fatalf("%d batches", len(hs))
	}
	crash(l)
	l = mustOpen(t, dir, cfg, testOpts(c))
	if l.EndOffset() != 91 {
		t.Fatalf("end %d after reopen", l.EndOffset())
	}
	// Truncating below the start empties the log and restarts it there.
	l.DeleteRecordsBefore(40)
	if err := l.TruncateTo(10); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 10 || l.EndOffset() != 10 || l.Size() != 0 {
		t.Fatalf("after full truncation [%d, %d) size %d", l.StartOffset(), l.EndOffset(), l.Size())
	}
	l.Close()
}

func TestDeleteRecordsAndRetention(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 100; i++ {
		mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	}
	nseg := len(l.segs)
	start, err := l.DeleteRecordsBefore(177)
	if err != nil || start != 177 || l.StartOffset() != 177 {
		t.Fatalf("delete records: %d %v", start, err)
	}
	if len(l.segs) >= nseg {
		t.Fatal("no segment deleted")
	}
	if _, err := l.Read(176, 100, -1); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	r, err := l.Read(177, 100, -1) // the batch holding 176-177
	if err != nil || r.Size() == 0 {
		t.Fatal(err)
	}
	// A read in flight keeps its segment's file alive through deletion.
	if _, err := l.DeleteRecordsBefore(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if b, err := r.Bytes(); err != nil || len(b) == 0 {
		t.Fatalf("read after delete: %v", err)
	}
	r.Release()
	if l.StartOffset() != 200 || l.Size() != 0 {
		t.Fatalf("start %d size %d", l.StartOffset(), l.Size())
	}
	crash(l)
	l = mustOpen(t, dir, cfg, testOpts(c))
	if l.StartOffset() != 200 || l.EndOffset() != 200 {
		t.Fatalf("after reopen [%d, %d)", l.StartOffset(), l.EndOffset())
	}

	// Retention by bytes keeps at most retention.bytes (whole segments).
	cfg.RetentionBytes = 10000
	l.SetConfig(cfg)
	for i := 0; i < 200; i++ {
		mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	}
	if n, err := l.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention by bytes: %d %v", n, err)
	}
	if l.Size() > 10000+4096 {
		t.Fatalf("size %d after retention", l.Size())
	}
	// Retention by time; the idle active segment is rolled by segment.ms
	// so everything can expire.
	cfg.RetentionBytes = -1
	cfg.RetentionMs = time.Hour
	cfg.SegmentMs = 10 * time.Minute
	l.SetConfig(cfg)
	c.Advance(2 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil { // rolls
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.Size() != 0 || l.StartOffset() != l.EndOffset() {
		t.Fatalf("time retention left %d bytes [%d, %d)", l.Size(), l.StartOffset(), l.EndOffset())
	}
	l.Close()
}

func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, dir, DefaultConfig(), testOpts(c))
	if l.LatestEpoch() != -1 {
		t.Fatal("epoch on empty log")
	}
	for e := int32(1); e <= 3; e++ {
		if err := l.AssignEpoch(e*2, l.EndOffset()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			l.Append(simpleBatch(t, 2, c.ms()), AppendOptions{LeaderEpoch: e * 2})
		}
	}
	// epochs: 2@0, 4@10, 6@20; end 30
	cases := []struct {
		req   int32
		epoch int32
		end   int64
	}{{6, 6, 30}, {4, 4, 20}, {5, 4, 20}, {2, 2, 10}, {1, 1, 0}, {7, -1, -1}, {-1, -1, -1}}
	check := func() {
		t.Helper()
		for _, tc := range cases {
			if e, o := l.EndOffsetForEpoch(tc.req); e != tc.epoch || o != tc.end {
				t.Errorf("EndOffsetForEpoch(%d) = %d, %d want %d, %d", tc.req, e, o, tc.epoch, tc.end)
			}
		}
	}
	check()
	crash(l)
	l = mustOpen(t, dir, DefaultConfig(), testOpts(c))
	check()
	// A crash between a batch write and the checkpoint write: recovery
	// learns epochs from the batches it scans, as Kafka does.
	crash(l)
	os.Remove(filepath.Join(dir, epochCheckpointName))
	l = mustOpen(t, dir, DefaultConfig(), testOpts(c))
	check()
	// Appends with a higher epoch record it automatically.
	l.Append(simpleBatch(t, 1, c.ms()), AppendOptions{LeaderEpoch: 9})
	if l.LatestEpoch() != 9 {
		t.Fatalf("latest %d", l.LatestEpoch())
	}
	l.TruncateTo(30)
	if l.LatestEpoch() != 6 {
		t.Fatalf("latest after truncate %d", l.LatestEpoch())
	}
	l.Close()
}

func TestProducerIdempotence(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	const pid = 1000
	pb := func(epoch int16, seq int32, n int) []byte {
		var rs []rec
		for i := 0; i < n; i++ {
			rs = append(rs, rec{key: []byte("k"), value: []byte("v"), ts: c.ms()})
		}
		return buildBatch(t, batchSpec{records: rs, producerID: pid, producerEpoch: epoch, baseSeq: seq})
	}
	if _, err := l.Append(pb(0, 5, 1), AppendOptions{}); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("unknown producer at seq 5: %v", err)
	}
	var results []AppendResult
	for i := 0; i < 8; i++ {
		results = append(results, mustAppend(t, l, pb(0, int32(i*3), 3)))
		mustAppend(t, l, simpleBatch(t, 1, c.ms())) // interleave other data
	}
	check := func(l *Log) {
		t.Helper()
		end := l.EndOffset()
		// Retries of the last five batches are duplicates with the
		// original offsets; older ones are out of order.
		for i := 3; i < 8; i++ {
			res, err := l.Append(pb(0, int32(i*3), 3), AppendOptions{})
			if err != nil || !res.Duplicate || res.BaseOffset != results[i].BaseOffset || res.LastOffset != results[i].LastOffset {
				t.Fatalf("retry %d: %+v %v", i, res, err)
			}
		}
		if _, err := l.Append(pb(0, 0, 3), AppendOptions{}); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
			t.Fatalf("old retry: %v", err)
		}
		if _, err := l.Append(pb(0, 30, 1), AppendOptions{}); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
			t.Fatalf("gap: %v", err)
		}
		if l.EndOffset() != end {
			t.Fatal("duplicate or rejected batch was written")
		}
	}
	check(l)
	l.Close()
	l = mustOpen(t, dir, cfg, testOpts(c))
	check(l)
	crash(l)
	os.Remove(filepath.Join(dir, metaCheckpointName))
	l = mustOpen(t, dir, cfg, testOpts(c))
	check(l)
	// Epoch bump restarts at 0; the old epoch is fenced.
	mustAppend(t, l, pb(1, 0, 2))
	if _, err := l.Append(pb(0, 24, 1), AppendOptions{}); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced epoch: %v", err)
	}
	if _, err := l.Append(pb(2, 3, 1), AppendOptions{}); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("new epoch at seq 3: %v", err)
	}
	l.Close()
}

func TestTransactionsLastStableOffset(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, dir, DefaultConfig(), testOpts(c))
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	txn := buildBatch(t, batchSpec{records: []rec{{key: []byte("k"), value: []byte("v"), ts: c.ms()}}, producerID: 7, baseSeq: 0, transactional: true})
	res := mustAppend(t, l, txn)
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	if lso := l.LastStableOffset(l.EndOffset()); lso != res.BaseOffset {
		t.Fatalf("LSO %d with open txn at %d", lso, res.BaseOffset)
	}
	if lso := l.LastStableOffset(1); lso != 1 {
		t.Fatalf("LSO above hw: %d", lso)
	}
	if _, err := l.Append(controlBatch(t, 7, 0, true, c.ms()), AppendOptions{}); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("client control batch: %v", err)
	}
	l.Close()
	l = mustOpen(t, dir, DefaultConfig(), testOpts(c))
	if lso := l.LastStableOffset(l.EndOffset()); lso != res.BaseOffset {
		t.Fatalf("LSO after reopen %d", lso)
	}
	if _, err := l.Append(controlBatch(t, 7, 0, true, c.ms()), AppendOptions{Origin: OriginCoordinator}); err != nil {
		t.Fatal(err)
	}
	if lso := l.LastStableOffset(l.EndOffset()); lso != l.EndOffset() {
		t.Fatalf("LSO after commit %d", lso)
	}
	l.Close()
}

func TestManager(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	m, err := NewManager(dir, testOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Create("orders-eu", 3, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	compacted := DefaultConfig()
	compacted.CleanupPolicy = CleanupCompact
	compacted.SegmentBytes = 1 << 20
	if _, err := m.Create("__consumer_offsets", 0, compacted); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, simpleBatch(t, 5, c.ms()))
	if l2, _ := m.Create("orders-eu", 3, DefaultConfig()); l2 != l {
		t.Fatal("Create not idempotent")
	}
	if _, err := m.Create("../x", 0, DefaultConfig()); err == nil {
		t.Fatal("bad topic accepted")
	}
	m.Create("gone", 0, DefaultConfig())
	if err := m.Remove("gone", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone-0")); !os.IsNotExist(err) {
		t.Fatalf("removed dir still there: %v", err)
	}
	if err := m.RunMaintenance(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = NewManager(dir, testOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A reopened log keeps its own config: a compacted topic must not be
	// opened with the delete defaults.
	if co, ok := m.Get("__consumer_offsets", 0); !ok || co.Config() != compacted {
		t.Fatalf("config not restored: %+v", co.Config())
	}
	l, ok := m.Get("orders-eu", 3)
	if !ok || l.EndOffset() != 5 || len(m.Logs()) != 2 {
		t.Fatalf("after reopen: %v %v %d", ok, l, len(m.Logs()))
	}
}

// An index entry that passes the load checks but points mid-batch is caught
// when used: reads, time look-ups and truncation stay correct.
func TestWrongIndexEntryIsNotTrusted(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 200
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 100; i++ {
		mustAppend(t, l, simpleBatch(t, 2, c.ms()+int64(i)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ip := filepath.Join(dir, segmentName(0, indexSuffix))
	b, _ := os.ReadFile(ip)
	if len(b) < 5*8 {
		t.Fatalf("index has %d entries", len(b)/8)
	}
	for i := 0; i < len(b)/8-1; i++ { // all but the last (which load checks)
		b[i*8+7] += 3
	}
	os.WriteFile(ip, b, 0o644)
	l = mustOpen(t, dir, cfg, testOpts(c))
	defer l.Close()
	for off := int64(0); off < 200; off += 7 {
		r, err := l.Read(off, 500, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := r.Bytes()
		r.Release()
		h, err := parseHeader(got)
		if err != nil || verifyBatch(got[:h.size()]) != nil || off < h.BaseOffset || off > h.lastOffset() {
			t.Fatalf("read %d through a wrong index: batch [%d, %d] %v", off, h.BaseOffset, h.lastOffset(), err)
		}
	}
	if o, _, ok, err := l.OffsetForTimestamp(c.ms() + 50); err != nil || !ok || o != 100 {
		t.Fatalf("time look-up: %d %v %v", o, ok, err)
	}
	if err := l.TruncateTo(120); err != nil || l.EndOffset() != 120 {
		t.Fatalf("truncate: end %d %v", l.EndOffset(), err)
	}
	if hs := readAll(t, l, 0); len(hs) != 60 {
		t.Fatalf("%d batches after truncation", len(hs))
	}
}

func TestProducerExpiration(t *testing.T) {
	c := newClock()
	l := mustOpen(t, t.TempDir(), DefaultConfig(), testOpts(c))
	defer l.Close()
	b := buildBatch(t, batchSpec{records: []rec{{key: []byte("k"), value: []byte("v"), ts: c.ms()}}, producerID: 5, baseSeq: 0})
	mustAppend(t, l, b)
	c.Advance(23 * time.Hour)
	l.Maintain()
	if _, ok := l.producers[5]; !ok {
		t.Fatal("expired too early")
	}
	c.Advance(2 * time.Hour)
	l.Maintain()
	if _, ok := l.producers[5]; ok {
		t.Fatal("idle producer not expired after producer.id.expiration.ms")
	}
}
