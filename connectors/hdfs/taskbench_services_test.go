//go:build services

package hdfs_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"time"

	hdfssink "github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
)

// BenchmarkHdfsSinkTaskKit is the writer core alone next to the raw
// write: the HDFS sink's task, in this process, writing 1 KiB records
// that are already Connect records (no Kafka, no converter) into the same
// MiniDFSCluster, flush.size 5000 over 4 partitions.
func BenchmarkHdfsSinkTaskKit(b *testing.B) {
	cl := client(b)
	const n, parts = 100_000, 4
	recs := make([]plugins.Record, n)
	for i := range recs {
		recs[i] = plugins.Record{Topic: "bench", Partition: int32(i % parts), Offset: int64(i / parts),
			Value: fmt.Sprintf("v%08d%s", i, padding), ValueSchema: plugins.StringSchema}
	}
	var el time.Duration
	var bytes int64
	for b.Loop() {
		dir := fmt.Sprintf("bench/task-%d", time.Now().UnixNano())
		cfg := plugins.Config{"hdfs.url": nameNode(), "topics.dir": dir, "flush.size": "5000",
			"format.class": "io.confluent.connect.hdfs3.json.JsonFormat"}
		task := &storage.Task{NewBackend: hdfssink.NewBackendForTest}
		if err := task.Start(taskCtx{}, cfg); err != nil {
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
		bytes = 0
		if err := cl.Walk("/"+dir+"/bench", func(_ string, info fs.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				bytes += info.Size()
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
		cl.RemoveAll("/" + dir)
	}
	mb := float64(bytes) / 1e6
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.Logf("task alone: %.1f MB of files in %s = %.1f MB/s", mb, el, mb/el.Seconds())
}
