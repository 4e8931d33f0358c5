package log

import (
	"errors"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// countingFS counts fsyncs and bytes read from segment files.
type countingFS struct {
	faultFS
	syncs    atomic.Int64
	logReads atomic.Int64
}

func newCountingFS() *countingFS {
	c := &countingFS{}
	c.err = errors.New("unused")
	c.pred = func(op, path string) bool {
		switch {
		case op == "sync" && strings.HasSuffix(path, logSuffix):
			c.syncs.Add(1)
		case op == "read" && strings.HasSuffix(path, logSuffix):
			c.logReads.Add(1)
		}
		return false
	}
	return c
}

func TestFlushPolicy(t *testing.T) {
	c := newClock()
	cfs := newCountingFS()
	o := testOpts(c)
	o.FS = cfs
	dir := t.TempDir()

	// Default: page cache only, nothing fsynced by appends.
	l := mustOpen(t, dir, DefaultConfig(), o)
	before := cfs.syncs.Load()
	for i := 0; i < 10; i++ {
		mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	}
	if cfs.syncs.Load() != before || l.recoveryPoint != 0 {
		t.Fatalf("default config fsynced: %d syncs, recovery point %d", cfs.syncs.Load()-before, l.recoveryPoint)
	}

	// flush.messages=5: an fsync once 5 records are unflushed.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed := l.EndOffset()
	cfg := DefaultConfig()
	cfg.FlushMessages = 5
	l.SetConfig(cfg)
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	if l.recoveryPoint != flushed {
		t.Fatal("flushed before flush.messages")
	}
	mustAppend(t, l, simpleBatch(t, 2, c.ms())) // 6 unflushed >= 5
	if l.recoveryPoint != l.EndOffset() {
		t.Fatalf("flush.messages did not flush: recovery point %d, end %d", l.recoveryPoint, l.EndOffset())
	}

	// flush.ms through the maintenance hook.
	cfg = DefaultConfig()
	cfg.FlushMs = time.Minute
	l.SetConfig(cfg)
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	l.MaybeFlush()
	if l.recoveryPoint == l.EndOffset() {
		t.Fatal("flushed before flush.ms")
	}
	c.Advance(2 * time.Minute)
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.recoveryPoint != l.EndOffset() {
		t.Fatal("flush.ms did not flush")
	}

	// Sync on append: durable before Append returns.
	cfg = DefaultConfig()
	cfg.SyncOnAppend = true
	l.SetConfig(cfg)
	before = cfs.syncs.Load()
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	if cfs.syncs.Load() == before || l.recoveryPoint != l.EndOffset() {
		t.Fatal("SyncOnAppend did not fsync")
	}
	l.Close()
}

// A clean restart must not rescan data: it reads a few headers only.
func TestCleanRestartDoesNotRescan(t *testing.T) {
	c := newClock()
	cfs := newCountingFS()
	o := testOpts(c)
	o.FS = cfs
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 10
	l := mustOpen(t, dir, cfg, o)
	for i := 0; i < 2000; i++ {
		mustAppend(t, l, simpleBatch(t, 4, c.ms()))
	}
	nseg := len(l.segs)
	l.Close()
	cfs.logReads.Store(0)
	l = mustOpen(t, dir, cfg, o)
	clean := cfs.logReads.Load()
	crash(l)
	cfs.logReads.Store(0)
	l = mustOpen(t, dir, cfg, o)
	afterCrashWithCheckpoint := cfs.logReads.Load()
	defer l.Close()
	// Clean: one header read at the last index entry per segment plus a
	// walk of at most index.interval.bytes; nothing like a full scan.
	if clean > int64(3*nseg) {
		t.Fatalf("clean restart did %d segment reads for %d segments", clean, nseg)
	}
	// After a crash, segments below the recovery point (written at the
	// previous Open) are trusted too.
	if afterCrashWithCheckpoint > int64(3*nseg)+8 {
		t.Fatalf("crash restart with a fresh recovery point did %d reads", afterCrashWithCheckpoint)
	}
}

func TestRollBySegmentMsAndIndexSize(t *testing.T) {
	c := newClock()
	cfg := DefaultConfig()
	cfg.SegmentMs = time.Hour
	l := mustOpen(t, t.TempDir(), cfg, testOpts(c))
	defer l.Close()
	mustAppend(t, l, simpleBatch(t, 1, c.ms()))
	c.Advance(30 * time.Minute)
	mustAppend(t, l, simpleBatch(t, 1, c.ms()))
	if len(l.segs) != 1 {
		t.Fatal("rolled too early")
	}
	c.Advance(31 * time.Minute)
	mustAppend(t, l, simpleBatch(t, 1, c.ms()))
	if len(l.segs) != 2 || l.active().base != 2 {
		t.Fatalf("no roll after segment.ms: %d segments", len(l.segs))
	}
	cfg.SegmentIndexBytes = 3 * timeEntrySize
	cfg.IndexIntervalBytes = 1
	l.SetConfig(cfg)
	for i := 0; i < 20; i++ {
		c.Advance(time.Millisecond)
		mustAppend(t, l, simpleBatch(t, 1, c.ms()))
	}
	if len(l.segs) < 6 {
		t.Fatalf("segment.index.bytes did not roll: %d segments", len(l.segs))
	}
}

// Readers, an appender, retention and DeleteRecords run at once; every
// read returns valid whole batches or OffsetOutOfRange (run with -race).
func TestConcurrentReadsAppendsRetention(t *testing.T) {
	c := newClock()
	cfg := smallSegments()
	cfg.RetentionBytes = 20000
	var clockMu sync.Mutex
	o := testOpts(c)
	o.Now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return c.Now() }
	l := mustOpen(t, t.TempDir(), cfg, o)
	defer l.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for {
				select {
				case <-stop:
					return
				default:
				}
				start, end := l.StartOffset(), l.EndOffset()
				if end == start {
					continue
				}
				off := start + rng.Int63n(end-start)
				res, err := l.Read(off, rng.Intn(3000), -1)
				if err != nil {
					if errors.Is(err, kerr.OffsetOutOfRange) {
						continue
					}
					t.Error(err)
					return
				}
				b, err := res.Bytes()
				res.Release()
				if err != nil {
					t.Error(err)
					return
				}
				for len(b) > 0 {
					h, err := parseHeader(b)
					if err != nil || verifyBatch(b[:h.size()]) != nil {
						t.Errorf("invalid batch read at %d", off)
						return
					}
					b = b[h.size():]
				}
				reads.Add(1)
			}
		}(int64(r))
	}
	for i := 0; i < 2000; i++ {
		mustAppend(t, l, simpleBatch(t, 1+i%3, c.ms()))
		switch i % 100 {
		case 50:
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
		case 99:
			if _, err := l.DeleteRecordsBefore(l.EndOffset() - 50); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no reads happened")
	}
}

// Compaction runs while a writer appends and readers read (run with -race);
// afterwards the newest value of every key is what was written last.
func TestConcurrentCompaction(t *testing.T) {
	c := newClock()
	cfg := smallSegments()
	cfg.CleanupPolicy = CleanupCompact
	cfg.MinCleanableRatio = 0.01
	var clockMu sync.Mutex
	o := testOpts(c)
	o.Now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return c.Now() }
	l := mustOpen(t, t.TempDir(), cfg, o)
	defer l.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var passes atomic.Int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.Compact(); err != nil {
				t.Error(err)
				return
			}
			passes.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			end := l.EndOffset()
			if end == 0 {
				continue
			}
			r, err := l.Read(rand.Int63n(end), 2000, -1)
			if err != nil {
				t.Error(err)
				return
			}
			b, err := r.Bytes()
			r.Release()
			if err != nil {
				t.Error(err)
				return
			}
			for len(b) > 0 {
				h, err := parseHeader(b)
				if err != nil || verifyBatch(b[:h.size()]) != nil {
					t.Error("invalid batch served during compaction")
					return
				}
				b = b[h.size():]
			}
		}
	}()
	latest := map[string]string{}
	for i := 0; i < 1500; i++ {
		k := "key-" + itoa(int64(i%37))
		v := "v" + itoa(int64(i))
		latest[k] = v
		mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte(k), value: []byte(v), ts: c.ms()}}}))
	}
	close(stop)
	wg.Wait()
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range logRecords(t, l) {
		got[r.key] = r.value
	}
	for k, v := range latest {
		if got[k] != v {
			t.Fatalf("%s = %q, want %q (%d compaction passes)", k, got[k], v, passes.Load())
		}
	}
	if passes.Load() == 0 {
		t.Fatal("no compaction pass ran")
	}
}
