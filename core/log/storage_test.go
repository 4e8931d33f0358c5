package log

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes under a temporary directory (the
// tests run as root) and unmounts it when the test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a %s tmpfs (the log tests run as root): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestDiskFullOnTmpfs (issue 8 item 5): a real full file system. Appends
// get a clear KAFKA_STORAGE_ERROR naming ENOSPC and the log goes offline;
// nothing acknowledged is lost (reopened, every acked record reads back,
// CRCs checked); once space returns the reopened log takes appends again.
func TestDiskFullOnTmpfs(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "disk-full-0")
	c := newClock()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20 // one segment: the data write is what fails
	l := mustOpen(t, dir, cfg, testOpts(c))
	val := bytes.Repeat([]byte("x"), 8000)
	batch := func() []byte {
		return buildBatch(t, batchSpec{records: []rec{{key: []byte("k"), value: val, ts: c.ms()}}})
	}
	var acked int64
	var err error
	for i := 0; i < 1000; i++ {
		var res AppendResult
		if res, err = l.Append(batch(), AppendOptions{}); err != nil {
			break
		}
		acked = res.LogEndOffset
	}
	if err == nil {
		t.Fatal("4 MiB tmpfs never filled")
	}
	if !isStorageErr(err) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("append on a full disk: %v", err)
	}
	if acked < 100 {
		t.Fatalf("only %d records before the disk was full", acked)
	}
	if l.Offline() == nil {
		t.Fatal("log still online after ENOSPC")
	}
	if _, err := l.Append(batch(), AppendOptions{}); !isStorageErr(err) {
		t.Fatalf("append on the offline log: %v", err)
	}
	_ = l.Close()

	// Still full: opening may fail (recovery writes a checkpoint), but
	// only with a clear storage error, and it must not cut acked data.
	if l2, err := Open(dir, cfg, testOpts(c)); err != nil {
		if !isStorageErr(err) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("open on a full disk: %v", err)
		}
	} else {
		if l2.EndOffset() < acked {
			t.Fatalf("open on a full disk: end %d, acked %d", l2.EndOffset(), acked)
		}
		crash(l2)
	}

	if err := os.Remove(ballast); err != nil { // space returns
		t.Fatal(err)
	}
	l = mustOpen(t, dir, cfg, testOpts(c))
	if l.Offline() != nil || l.EndOffset() < acked {
		t.Fatalf("reopened: end %d, acked %d, offline %v", l.EndOffset(), acked, l.Offline())
	}
	if hs := readAll(t, l, 0); int64(len(hs)) < acked {
		t.Fatalf("read %d batches back, acked %d", len(hs), acked)
	}
	for i := 0; i < 10; i++ {
		mustAppend(t, l, batch())
	}
	end := l.EndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, cfg, testOpts(c))
	defer l.Close()
	if l.EndOffset() != end {
		t.Fatalf("after a clean restart end %d, want %d", l.EndOffset(), end)
	}
}

// TestRollFlushesInBackground (issue 8 item 5): a roll fsyncs the closed
// segment and the directory in the background and checkpoints the new
// recovery point, so a crash rescans only the active segment, as doc.go
// promises (before, the recovery point stayed at 0 without flush.*).
func TestRollFlushesInBackground(t *testing.T) {
	c := newClock()
	cfs := newCountingFS()
	o := testOpts(c)
	o.FS = cfs
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	l := mustOpen(t, dir, cfg, o)
	for i := 0; i < 400; i++ {
		mustAppend(t, l, simpleBatch(t, 4, c.ms()))
	}
	if len(l.segs) < 4 {
		t.Fatalf("only %d segments", len(l.segs))
	}
	l.bg.Wait()
	if cfs.syncs.Load() < int64(len(l.segs)-1) {
		t.Fatalf("%d fsyncs for %d rolls", cfs.syncs.Load(), len(l.segs)-1)
	}
	active := l.active()
	if l.recoveryPoint < active.base {
		t.Fatalf("recovery point %d, want at least the active segment's base %d", l.recoveryPoint, active.base)
	}
	l.bg.Wait() // the last roll's checkpoint write
	crash(l)
	l = mustOpen(t, dir, cfg, o)
	defer l.Close()
	// Recovery CRC-scans from the checkpointed recovery point: the active
	// segment only.
	if l.recoveryPoint < active.base {
		t.Fatalf("after a crash the recovery point is %d, want at least %d", l.recoveryPoint, active.base)
	}
	// The recovered tail was not fsynced by recovery: the next roll's
	// flush covers it too, so the recovery point keeps up.
	for n := len(l.segs); len(l.segs) < n+2; {
		mustAppend(t, l, simpleBatch(t, 4, c.ms()))
	}
	l.bg.Wait()
	if l.recoveryPoint < l.active().base {
		t.Fatalf("after recovery and two rolls the recovery point is %d, want at least %d", l.recoveryPoint, l.active().base)
	}
}

// TestSyncOnAppendSyncsNewSegmentDir (issue 8 item 5): with SyncOnAppend
// the directory entry of a new segment is durable before the first append
// in it is acknowledged (an fdatasync of a file whose name is not durable
// does not make its bytes findable after a power cut).
func TestSyncOnAppendSyncsNewSegmentDir(t *testing.T) {
	c := newClock()
	ffs := newFaultFS()
	var mu sync.Mutex
	var events []string
	ffs.before = func(op, path string) {
		if (op == "open" && strings.HasSuffix(path, logSuffix)) || op == "syncdir" {
			mu.Lock()
			events = append(events, op)
			mu.Unlock()
		}
	}
	o := testOpts(c)
	o.FS = ffs
	cfg := DefaultConfig()
	cfg.SyncOnAppend = true
	cfg.SegmentBytes = 300
	l := mustOpen(t, t.TempDir(), cfg, o)
	defer l.Close()
	for i := 0; i < 20; i++ {
		nsegs := len(l.segs)
		mustAppend(t, l, simpleBatch(t, 2, c.ms()))
		if len(l.segs) == nsegs {
			continue
		}
		mu.Lock()
		last := strings.Join(events, " ")
		mu.Unlock()
		i := strings.LastIndex(last, "open")
		if i < 0 || !strings.Contains(last[i:], "syncdir") {
			t.Fatalf("first append in a new segment acknowledged before its directory entry was synced: %s", last)
		}
	}
	if len(l.segs) < 3 {
		t.Fatalf("only %d segments", len(l.segs))
	}
}

// TestGroupCommitSharesFsync (issue 16, durable mode): with SyncOnAppend,
// concurrent appends from several producers share fsyncs: while one round
// is on the disk the others queue up and the next round covers them all;
// the logs of a Manager commit concurrently. Every append is durable
// (recovery point past it) when it returns.
func TestGroupCommitSharesFsync(t *testing.T) {
	t.Run("one log", func(t *testing.T) {
		c := newClock()
		cfs := newCountingFS()
		cfs.before = func(op, path string) {
			if op == "sync" && strings.HasSuffix(path, logSuffix) {
				time.Sleep(50 * time.Millisecond) // a slow disk: appends pile up
			}
		}
		o := testOpts(c)
		o.FS = cfs
		cfg := DefaultConfig()
		cfg.SyncOnAppend = true
		l := mustOpen(t, t.TempDir(), cfg, o)
		defer l.Close()
		const n = 16
		before := cfs.syncs.Load()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := simpleBatch(t, 2, c.ms())
				<-start
				res, err := l.Append(b, AppendOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				l.mu.RLock()
				rp := l.recoveryPoint
				l.mu.RUnlock()
				if rp < res.LogEndOffset {
					t.Errorf("acknowledged %d with recovery point %d", res.LogEndOffset, rp)
				}
			}()
		}
		close(start)
		wg.Wait()
		// Alone, each append would fsync: 16. Shared, the first round
		// takes what arrived first and the next the rest (a loaded
		// machine may need a round or two more).
		syncs := cfs.syncs.Load() - before
		if syncs > n/4 {
			t.Fatalf("%d concurrent appends took %d fsyncs; group commit should need 2 or 3", n, syncs)
		}
		if l.EndOffset() != 2*n {
			t.Fatalf("end %d", l.EndOffset())
		}
	})
	t.Run("logs of one manager", func(t *testing.T) {
		cfs := newCountingFS()
		cfs.before = func(op, path string) {
			if op == "sync" && strings.HasSuffix(path, logSuffix) {
				time.Sleep(50 * time.Millisecond)
			}
		}
		m, err := NewManager(t.TempDir(), Options{FS: cfs, Logger: discardLogger(), MaintenanceInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		cfg := DefaultConfig()
		cfg.SyncOnAppend = true
		const parts, perPart = 4, 4
		var logs []*Log
		for p := int32(0); p < parts; p++ {
			l, err := m.Create("gc", p, cfg)
			if err != nil {
				t.Fatal(err)
			}
			logs = append(logs, l)
		}
		before := cfs.syncs.Load()
		rounds := commitRounds(logs)
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for i := 0; i < parts*perPart; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := simpleBatch(t, 1, 0)
				<-begin
				if _, err := logs[i%parts].Append(b, AppendOptions{}); err != nil {
					t.Error(err)
				}
			}()
		}
		start := time.Now()
		close(begin)
		wg.Wait()
		elapsed := time.Since(start)
		syncs := cfs.syncs.Load() - before
		r := commitRounds(logs) - rounds
		if r > parts*perPart/2 || syncs > r {
			t.Fatalf("%d appends to %d logs took %d fsyncs in %d commit rounds", parts*perPart, parts, syncs, r)
		}
		// Logs commit independently and concurrently: the rounds of
		// different logs overlap, so the whole takes about the rounds of
		// one log (50 ms each), not the sum over logs.
		perLog := (r + parts - 1) / parts
		if elapsed > time.Duration(perLog+2)*50*time.Millisecond+100*time.Millisecond {
			t.Fatalf("%d rounds over %d logs took %v: the logs did not commit concurrently", r, parts, elapsed)
		}
	})
}

// TestGroupCommitFsyncFailureFailsEveryWaiter: one failed fsync fails every
// append waiting on it, and the log goes offline (issue 8 item 5).
func TestGroupCommitFsyncFailureFailsEveryWaiter(t *testing.T) {
	c := newClock()
	ffs := newFaultFS()
	var failing atomic.Bool
	ffs.before = func(op, path string) {
		if op == "sync" && failing.Load() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	o := testOpts(c)
	o.FS = ffs
	cfg := DefaultConfig()
	cfg.SyncOnAppend = true
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg, o)
	acked := mustAppend(t, l, simpleBatch(t, 2, c.ms())).LogEndOffset
	failing.Store(true)
	ffs.failOn(func(op, p string) bool { return op == "sync" && strings.HasSuffix(p, logSuffix) })
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(simpleBatch(t, 2, c.ms()), AppendOptions{}); isStorageErr(err) {
				failed.Add(1)
			} else {
				t.Errorf("append with failing fsync: %v", err)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 8 || l.Offline() == nil {
		t.Fatalf("%d of 8 appends failed, offline %v", failed.Load(), l.Offline())
	}
	if l.recoveryPoint != acked {
		t.Fatalf("recovery point %d, want %d", l.recoveryPoint, acked)
	}
	ffs.failOn(nil)
	l.Close()
	l = mustOpen(t, dir, cfg, o)
	defer l.Close()
	readAll(t, l, 0)
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
}

// captureHandler records log records at WARN and above.
type captureHandler struct {
	mu   sync.Mutex
	recs []string
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.recs = append(h.recs, b.String())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// TestCleanRestartLogsNoWarnings (issue 8 item 13): Close then Open logs
// nothing at WARN or above; before, every empty segment (one rolled and
// not yet written to) warned "rebuilding index".
func TestCleanRestartLogsNoWarnings(t *testing.T) {
	h := &captureHandler{}
	c := newClock()
	o := Options{Now: c.Now, Logger: slog.New(h)}
	dataDir := t.TempDir()
	m, err := NewManager(dataDir, o)
	if err != nil {
		t.Fatal(err)
	}
	cfg := smallSegments()
	for p := int32(0); p < 3; p++ {
		l, err := m.Create("quiet", p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50*int(p); i++ {
			mustAppend(t, l, simpleBatch(t, 4, c.ms()))
		}
		if p == 2 { // leave an empty active segment behind
			if _, err := l.DeleteRecordsBefore(l.EndOffset()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		m, err = NewManager(dataDir, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recs) > 0 {
		t.Fatalf("a clean restart logged warnings:\n%s", strings.Join(h.recs, "\n"))
	}
}

// TestOfflineLogIsQuietInMaintenance: once offline, the background work of
// a Manager (flush.ms, retention, compaction, checkpoints) skips the log
// instead of failing again every interval: the failure was reported once.
func TestOfflineLogIsQuietInMaintenance(t *testing.T) {
	c := newClock()
	ffs := newFaultFS()
	o := testOpts(c)
	o.FS = ffs
	cfg := DefaultConfig()
	cfg.FlushMs = time.Second
	cfg.CleanupPolicy = CleanupCompactDelete
	l := mustOpen(t, t.TempDir(), cfg, o)
	defer l.Close()
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	ffs.failOn(func(op, p string) bool { return op == "sync" })
	c.Advance(2 * time.Second)
	if err := l.Maintain(); !isStorageErr(err) {
		t.Fatalf("the failing flush: %v", err)
	}
	appendFails := func() {
		if _, err := l.Append(simpleBatch(t, 2, c.ms()), AppendOptions{}); !isStorageErr(err) {
			t.Fatalf("append: %v", err)
		}
	}
	appendFails()
	for i := 0; i < 3; i++ {
		c.Advance(2 * time.Second)
		if err := l.Maintain(); err != nil {
			t.Fatalf("maintenance of an offline log: %v", err)
		}
	}
}

func commitRounds(logs []*Log) (n int64) {
	for _, l := range logs {
		n += l.commit.rounds.Load()
	}
	return n
}

// TestGroupCommitRunningRoundCoversLateWaiter: a waiter whose batches a
// running round already planned (they were published before it started)
// returns when that round ends, without a round of its own: the broker
// appends every partition of a request before it waits on each, so its
// first partitions are often in a round another producer started
// meanwhile. And a waiter whose batches are already durable waits for
// nothing.
func TestGroupCommitRunningRoundCoversLateWaiter(t *testing.T) {
	c := newClock()
	cfs := newCountingFS()
	var slow atomic.Bool
	inSync := make(chan struct{}, 1)
	cfs.before = func(op, path string) {
		if op == "sync" && strings.HasSuffix(path, logSuffix) && slow.Load() {
			select {
			case inSync <- struct{}{}:
			default:
			}
			time.Sleep(150 * time.Millisecond)
		}
	}
	o := testOpts(c)
	o.FS = cfs
	cfg := DefaultConfig()
	cfg.SyncOnAppend = true
	l := mustOpen(t, t.TempDir(), cfg, o)
	defer l.Close()
	mustAppend(t, l, simpleBatch(t, 1, c.ms())) // creates and syncs the segment
	slow.Store(true)
	res, pending, err := l.AppendNoWait(simpleBatch(t, 2, c.ms()), AppendOptions{})
	if err != nil || !pending {
		t.Fatalf("AppendNoWait: pending %v, %v", pending, err)
	}
	rounds := l.commit.rounds.Load()
	first := make(chan error, 1)
	go func() { first <- l.AwaitDurable(res.LogEndOffset) }()
	<-inSync // the round is planned (it covers res) and on the disk
	if err := l.AwaitDurable(res.LogEndOffset); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if r := l.commit.rounds.Load() - rounds; r != 1 {
		t.Fatalf("%d commit rounds for batches one round covered", r)
	}
	l.mu.RLock()
	rp := l.recoveryPoint
	l.mu.RUnlock()
	if rp < res.LogEndOffset {
		t.Fatalf("returned with recovery point %d below %d", rp, res.LogEndOffset)
	}
	// Already durable: no round at all.
	if err := l.AwaitDurable(res.LogEndOffset); err != nil {
		t.Fatal(err)
	}
	if r := l.commit.rounds.Load() - rounds; r != 1 {
		t.Fatalf("%d commit rounds after waiting for durable batches", r)
	}
}
