//go:build services

package s3_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
)

// BenchmarkS3SinkTaskKit is the writer core alone next to the raw upload:
// the S3 sink's task, in this process, writing 1 KiB records that are
// already Connect records (no Kafka, no converter) into the same
// versitygw, flush.size 5000 over 4 partitions. It tells the core's own
// cost from the runtime's (BenchmarkS3SinkKit measures both).
func BenchmarkS3SinkTaskKit(b *testing.B) {
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
		cfg := plugins.Config(baseConfig())
		cfg["topics.dir"], cfg["flush.size"] = dir, "5000"
		task := &storage.Task{NewBackend: s3sink.NewBackendForTest}
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
		objs, err := listObjects(ctx, cl, dir+"/")
		if err != nil {
			b.Fatal(err)
		}
		bytes = 0
		for _, o := range objs {
			bytes += objectSize(ctx, b, cl, o.key)
		}
	}
	mb := float64(bytes) / 1e6
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.Logf("task alone: %.1f MB of objects in %s = %.1f MB/s", mb, el, mb/el.Seconds())
}

func objectSize(ctx context.Context, b *testing.B, cl *s3.Client, key string) int64 {
	h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(kitBucket), Key: aws.String(key)})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToInt64(h.ContentLength)
}
