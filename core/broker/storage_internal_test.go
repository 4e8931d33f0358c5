package broker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	wlog "github.com/weirlog/weir/core/log"
)

// sickFS fails every write under directories whose path contains match
// once armed, as a full or failing disk would.
type sickFS struct {
	wlog.OSFS
	match string
	armed atomic.Bool
}

func (f *sickFS) OpenFile(name string, flag int, perm os.FileMode) (wlog.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, f.match) {
		return file, err
	}
	return &sickFile{File: file, fs: f}, nil
}

type sickFile struct {
	wlog.File
	fs *sickFS
}

func (s *sickFile) WriteAt(b []byte, off int64) (int, error) {
	if s.fs.armed.Load() {
		return 0, &os.PathError{Op: "write", Path: s.Name(), Err: syscall.ENOSPC}
	}
	return s.File.WriteAt(b, off)
}

// TestStorageErrorVisible: a failed write is an ERROR line, a count in
// weir_log_storage_errors_total{topic,partition}, and Healthy (so /health)
// reports the node unhealthy while the log is offline (issue 8, item 12).
func TestStorageErrorVisible(t *testing.T) {
	fs := &sickFS{match: "/sick-0/"}
	var logs strings.Builder
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	w := writerFunc(func(p []byte) (int, error) { <-mu; defer func() { mu <- struct{}{} }(); return logs.Write(p) })
	b, err := New(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1, logFS: fs},
		slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.createTopic(ctx, "sick", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Healthy(); err != nil {
		t.Fatalf("healthy before the failure: %v", err)
	}
	fs.armed.Store(true)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	perr := cl.ProduceSync(pctx, &kgo.Record{Topic: "sick", Value: []byte("lost?")}).FirstErr()
	pcancel()
	if perr == nil {
		t.Fatal("produce to a failing disk succeeded")
	}
	if n := testutil.ToFloat64(b.metrics.storageErrors.WithLabelValues("sick", "0")); n < 1 {
		t.Fatalf("weir_log_storage_errors_total{sick,0} = %v", n)
	}
	herr := b.Healthy()
	if herr == nil || !strings.Contains(herr.Error(), "sick-0") {
		t.Fatalf("Healthy() with an offline log = %v", herr)
	}
	<-mu
	out := logs.String()
	mu <- struct{}{}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "storage failure") || !strings.Contains(out, "topic=sick") {
		t.Fatalf("no ERROR line for the storage failure:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)
