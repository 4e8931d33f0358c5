package log

import (
	"errors"
	"log/slog"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Issue 8 item 11: errors are not dropped.

// TestCompactionDirSyncFailureAbortsSwap: if the directory fsync that
// commits a compaction swap fails, the swap is aborted (the old segments
// stay in service, no .swap or .cleaned file is left) instead of carrying
// on with a commit that may not be durable.
func TestCompactionDirSyncFailureAbortsSwap(t *testing.T) {
	c := newClock()
	ffs := newFaultFS()
	o := testOpts(c)
	o.FS = ffs
	cfg := smallSegments()
	cfg.CleanupPolicy = CleanupCompact
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg, o)
	defer l.Close()
	for i := 0; i < 300; i++ {
		mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte{'k', byte(i % 7)}, value: []byte("value"), ts: c.ms()}}}))
	}
	l.bg.Wait()
	segsBefore := append([]*segment(nil), l.segs...)
	sizeBefore := l.Size()
	ffs.failOn(func(op, p string) bool { return op == "syncdir" })
	if _, err := l.Compact(); !isStorageErr(err) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("compaction with a failing directory fsync: %v", err)
	}
	ffs.failOn(nil)
	if l.Size() != sizeBefore || len(l.segs) != len(segsBefore) {
		t.Fatalf("the swap went ahead: size %d -> %d, %d -> %d segments", sizeBefore, l.Size(), len(segsBefore), len(l.segs))
	}
	for i, s := range segsBefore {
		if l.segs[i] != s {
			t.Fatalf("segment %d replaced", i)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), swapSuffix) || strings.HasSuffix(e.Name(), cleanedSuffix) {
			t.Fatalf("left %s behind", e.Name())
		}
	}
	if l.Offline() != nil {
		t.Fatalf("an aborted compaction took the log offline: %v", l.Offline())
	}
	readAll(t, l, 0)
	if n, err := l.Compact(); err != nil || n <= 0 {
		t.Fatalf("compaction once the fault is gone: %d, %v", n, err)
	}
}

// TestEpochCheckpointFailureFailsOperation: a leader-epoch checkpoint that
// cannot be written fails the operation that needed it (AssignEpoch, an
// append starting a new epoch) and takes the log offline.
func TestEpochCheckpointFailureFailsOperation(t *testing.T) {
	for _, how := range []string{"assign", "append"} {
		t.Run(how, func(t *testing.T) {
			c := newClock()
			ffs := newFaultFS()
			o := testOpts(c)
			o.FS = ffs
			l := mustOpen(t, t.TempDir(), DefaultConfig(), o)
			defer l.Close()
			mustAppend(t, l, simpleBatch(t, 2, c.ms()))
			ffs.failOn(func(op, p string) bool { return strings.Contains(p, epochCheckpointName) })
			var err error
			if how == "assign" {
				err = l.AssignEpoch(3, l.EndOffset())
			} else {
				_, err = l.Append(simpleBatch(t, 2, c.ms()), AppendOptions{LeaderEpoch: 3})
			}
			if !isStorageErr(err) {
				t.Fatalf("%s with a failing epoch checkpoint: %v", how, err)
			}
			if l.Offline() == nil {
				t.Fatal("log online after a failed epoch checkpoint")
			}
		})
	}
}

// TestIndexWriteFailureAtCloseIsLogged: Close reports an index it cannot
// write, at ERROR, and does not call the shutdown clean.
func TestIndexWriteFailureAtCloseIsLogged(t *testing.T) {
	c := newClock()
	ffs := newFaultFS()
	h := &captureHandler{}
	o := Options{Now: c.Now, Logger: slog.New(h), FS: ffs}
	dir := t.TempDir()
	l := mustOpen(t, dir, smallSegments(), o)
	for i := 0; i < 50; i++ {
		mustAppend(t, l, simpleBatch(t, 4, c.ms()))
	}
	ffs.failOn(func(op, p string) bool { return op == "open" && strings.Contains(p, indexSuffix) })
	if err := l.Close(); !isStorageErr(err) {
		t.Fatalf("close with failing index writes: %v", err)
	}
	h.mu.Lock()
	logged := strings.Join(h.recs, "\n")
	h.mu.Unlock()
	if !strings.Contains(logged, "ERROR write index at close") {
		t.Fatalf("index write failure not logged: %q", logged)
	}
	if _, err := os.Stat(dir + "/" + cleanShutdownName); err == nil {
		t.Fatal("clean-shutdown marker written although indexes were not")
	}
}

// TestConfigValidate: out-of-range settings are errors naming the setting
// (never clamped), zero values mean the defaults, Open refuses an invalid
// Config and SetConfig ignores one.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	bad := []struct {
		name string
		mod  func(*Config)
	}{
		{"segment.bytes", func(c *Config) { c.SegmentBytes = -1 }},
		{"segment.bytes", func(c *Config) { c.SegmentBytes = 13 }},
		{"segment.bytes", func(c *Config) { c.SegmentBytes = math.MaxUint32 + 1 }},
		{"segment.index.bytes", func(c *Config) { c.SegmentIndexBytes = -5 }},
		{"segment.index.bytes", func(c *Config) { c.SegmentIndexBytes = 3 }},
		{"index.interval.bytes", func(c *Config) { c.IndexIntervalBytes = -1 }},
		{"cleanup.policy", func(c *Config) { c.CleanupPolicy = 9 }},
		{"delete.retention.ms", func(c *Config) { c.DeleteRetentionMs = -time.Second }},
		{"min.compaction.lag.ms", func(c *Config) { c.MinCompactionLagMs = -time.Second }},
		{"min.cleanable.dirty.ratio", func(c *Config) { c.MinCleanableRatio = 1.5 }},
		{"min.cleanable.dirty.ratio", func(c *Config) { c.MinCleanableRatio = math.NaN() }},
		{"flush.messages", func(c *Config) { c.FlushMessages = -1 }},
		{"max.message.bytes", func(c *Config) { c.MaxMessageBytes = -1 }},
		{"message.timestamp.type", func(c *Config) { c.TimestampType = 7 }},
		{"file.delete.delay.ms", func(c *Config) { c.FileDeleteDelay = -time.Second }},
	}
	for _, b := range bad {
		cfg := DefaultConfig()
		b.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), b.name) || !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%s: Validate() = %v", b.name, err)
		}
	}
	cfg := DefaultConfig()
	cfg.SegmentBytes = math.MaxUint32 + 1
	if _, err := Open(t.TempDir(), cfg, testOpts(newClock())); err == nil || !strings.Contains(err.Error(), "segment.bytes") {
		t.Fatalf("Open with segment.bytes over 4 GiB: %v", err)
	}
	l := mustOpen(t, t.TempDir(), DefaultConfig(), testOpts(newClock()))
	defer l.Close()
	l.SetConfig(cfg)
	if l.Config().SegmentBytes != DefaultConfig().SegmentBytes {
		t.Fatalf("SetConfig applied an invalid config: segment.bytes %d", l.Config().SegmentBytes)
	}

	for _, o := range []Options{{MaintenanceInterval: -1}, {CleanerMaxKeys: -1}, {CleanerMaxBatchBytes: -1}} {
		if err := o.Validate(); err == nil || !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("Options %+v: Validate() = %v", o, err)
		}
	}
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero options: %v", err)
	}
}
