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

	"github.com/weirlog/weir/core/cluster"
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
	if err := b.createTopic(ctx, "sick", 1, -1, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Healthy(); err != nil {
		t.Fatalf("healthy before the failure: %v", err)
	}
	fs.armed.Store(true)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordRetries(0), kgo.RecordDeliveryTimeout(3*time.Second))
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
	// Once the disk works again, the reconciler reopens (recovers) the
	// log and the node is healthy without a restart.
	fs.armed.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for b.Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy 10 s after the disk recovered: %v", b.Healthy())
		}
		time.Sleep(100 * time.Millisecond)
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

// slowRemoveFS makes removing matching directories take delay, as deleting
// a topic of many large segments does.
type slowRemoveFS struct {
	wlog.OSFS
	match string
	delay time.Duration
}

func (f *slowRemoveFS) RemoveAll(path string) error {
	if strings.Contains(path, f.match) {
		time.Sleep(f.delay)
	}
	return f.OSFS.RemoveAll(path)
}

// TestDeleteTopicDoesNotStallMetadata: removing a topic's logs happens on
// the reconciler, not raft's apply goroutine: while a slow deletion runs,
// other metadata commands apply at once (issue 8, item 1).
func TestDeleteTopicDoesNotStallMetadata(t *testing.T) {
	fs := &slowRemoveFS{match: "/big-", delay: 2 * time.Second}
	b, err := New(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1, logFS: fs},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.createTopic(ctx, "big", 1, -1, nil, false); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() {
		_, err := b.ctl.Propose(ctx, &cluster.Command{Op: cluster.OpDeleteTopic, Topic: "big"})
		deleted <- err
	}()
	time.Sleep(200 * time.Millisecond) // the deletion is under way
	start := time.Now()
	if _, err := b.ctl.State().Topics["big"]; err {
		t.Fatal("topic still in the metadata")
	}
	res, err := b.ctl.Propose(ctx, &cluster.Command{Op: cluster.OpAllocProducerIDs, Count: 10})
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a metadata command waited %v behind a topic deletion", d)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if _, ok := b.lookup("big"); ok {
		t.Fatal("DeleteTopics returned before the topic was out of service")
	}
}
