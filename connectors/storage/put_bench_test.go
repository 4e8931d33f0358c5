package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

// BenchmarkPutJSON is the writer core's CPU per record without a store's
// network: 1 KiB string records as JSON lines into an in-memory store,
// flush.size 5000 over 4 partitions (the shape of the storage benches).
func BenchmarkPutJSON(b *testing.B) {
	const n, parts = 20_000, 4
	pad := strings.Repeat("x", 960)
	rs := make([]plugins.Record, n)
	for i := range rs {
		rs[i] = plugins.Record{Topic: "bench", Partition: int32(i % parts), Offset: int64(i / parts),
			Value: fmt.Sprintf("v%08d%s", i, pad), ValueSchema: plugins.StringSchema}
	}
	b.SetBytes(int64(n * 970))
	for b.Loop() {
		st := newMem()
		task := &Task{NewBackend: testBackend("bench", st, false)}
		if err := task.Start(&fakeCtx{}, plugins.Config{"flush.size": "5000"}); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for i := 0; i < n; i += 500 {
			if err := task.Put(ctx, rs[i:i+500]); err != nil {
				b.Fatal(err)
			}
		}
		cur := map[plugins.TopicPartition]int64{}
		for p := range parts {
			cur[plugins.TopicPartition{Topic: "bench", Partition: int32(p)}] = n / parts
		}
		if _, err := task.PreCommit(ctx, cur); err != nil {
			b.Fatal(err)
		}
		task.Stop()
	}
}
