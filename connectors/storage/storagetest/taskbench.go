package storagetest

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
)

// Padding makes the benches' records about 1 KiB of JSON each.
var Padding = strings.Repeat("x", 960)

// TaskCtx is a SinkTaskContext for a task run by a test itself.
type TaskCtx struct{}

func (TaskCtx) Assignment() []plugins.TopicPartition               { return nil }
func (TaskCtx) Pause(...plugins.TopicPartition)                    {}
func (TaskCtx) Resume(...plugins.TopicPartition)                   {}
func (TaskCtx) RequestCommit()                                     {}
func (TaskCtx) Offset(map[plugins.TopicPartition]int64)            {}
func (TaskCtx) ErrantRecordReporter() func(*plugins.Record, error) { return nil }

// TaskBench is the writer core alone next to the raw write: a sink's
// task, in this process, writing 1 KiB records that are already Connect
// records (no Kafka, no converter), flush.size 5000 over 4 partitions.
// config gives the backend's keys (a fresh map each time; the bench sets
// topics.dir and flush.size); stored returns the bytes the files under
// topics.dir dir hold (and may remove them). It reports MB/s of stored
// files.
func TaskBench(b *testing.B, newBackend func(plugins.Config) (*storage.Backend, error),
	config func() plugins.Config, stored func(ctx context.Context, dir string) int64) {
	const n, parts = 100_000, 4
	recs := make([]plugins.Record, n)
	for i := range recs {
		recs[i] = plugins.Record{Topic: "bench", Partition: int32(i % parts), Offset: int64(i / parts),
			Value: fmt.Sprintf("v%08d%s", i, Padding), ValueSchema: plugins.StringSchema}
	}
	var el time.Duration
	var bytes int64
	for b.Loop() {
		dir := fmt.Sprintf("bench/task-%d", time.Now().UnixNano())
		cfg := config()
		cfg["topics.dir"], cfg["flush.size"] = dir, "5000"
		task := &storage.Task{NewBackend: newBackend}
		if err := task.Start(TaskCtx{}, cfg); err != nil {
			b.Fatal(err)
		}
		var tps []plugins.TopicPartition
		for p := range parts {
			tps = append(tps, plugins.TopicPartition{Topic: "bench", Partition: int32(p)})
		}
		task.Open(tps)
		ctx := context.Background()
		start := time.Now()
		for i := 0; i < n; i += 500 {
			if err := task.Put(ctx, recs[i:i+500]); err != nil {
				b.Fatal(err)
			}
		}
		cur := map[plugins.TopicPartition]int64{}
		for _, tp := range tps {
			cur[tp] = n / parts
		}
		if _, err := task.PreCommit(ctx, cur); err != nil {
			b.Fatal(err)
		}
		el = time.Since(start)
		task.Stop()
		bytes = stored(ctx, dir)
	}
	mb := float64(bytes) / 1e6
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.Logf("task alone: %.1f MB of files in %s = %.1f MB/s", mb, el, mb/el.Seconds())
}

// ResetCtx is a TaskCtx that keeps the offsets the task resets (Offset),
// for a test that drives the task as the runtime does: Take them after
// Put and PreCommit, and go on from there.
type ResetCtx struct {
	TaskCtx
	mu     sync.Mutex
	resets map[plugins.TopicPartition]int64
}

func (c *ResetCtx) Offset(offs map[plugins.TopicPartition]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resets == nil {
		c.resets = map[plugins.TopicPartition]int64{}
	}
	maps.Copy(c.resets, offs)
}

// Take returns the resets asked for since the last Take.
func (c *ResetCtx) Take() map[plugins.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.resets
	c.resets = nil
	return r
}
