//go:build services

package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

// TestGzipJSONByFieldReadByPython: gzip JSON lines under FieldPartitioner
// directories, read back by Python's gzip and json modules.
func TestGzipJSONByFieldReadByPython(t *testing.T) {
	cl := client(t)
	dir := fmt.Sprintf("fmt-%d", time.Now().UnixNano())
	cfg := plugins.Config(baseConfig())
	for k, v := range map[string]string{"topics.dir": dir, "flush.size": "5", "s3.compression.type": "gzip",
		"partitioner.class": "FieldPartitioner", "partition.field.name": "region"} {
		cfg[k] = v
	}
	task := &storage.Task{NewBackend: s3sink.NewBackendForTest}
	if err := task.Start(storagetest.TaskCtx{}, cfg); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	task.Open([]plugins.TopicPartition{{Topic: "orders", Partition: 2}})
	var recs []plugins.Record
	for i := range 10 {
		region := []string{"eu", "us"}[i%2]
		recs = append(recs, plugins.Record{Topic: "orders", Partition: 2, Offset: int64(100 + i),
			Value: map[string]any{"region": region, "n": int64(i), "note": "ünï \"q\""}})
	}
	ctx := context.Background()
	if err := task.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// The last full file may still be on its way: PreCommit settles it.
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{{Topic: "orders", Partition: 2}: 110}); err != nil {
		t.Fatal(err)
	}
	objs, err := listObjects(ctx, cl, dir+"/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{dir + "/orders/region=eu/orders+2+0000000100.json.gz", dir + "/orders/region=us/orders+2+0000000101.json.gz"}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.key)
	}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("objects %v, want %v", keys, want)
	}
	for i, k := range want {
		b, err := getObject(ctx, cl, k)
		if err != nil {
			t.Fatal(err)
		}
		py := exec.Command("python3", "-c", `import sys, gzip, json
print(",".join("%s:%d" % (r["region"], r["n"]) for r in map(json.loads, gzip.decompress(sys.stdin.buffer.read()).decode().splitlines())))`)
		py.Stdin = bytes.NewReader(b)
		out, err := py.Output()
		if err != nil {
			t.Fatalf("python could not read %s: %v", k, err)
		}
		var exp []string
		for n := i; n < 10; n += 2 {
			exp = append(exp, fmt.Sprintf("%s:%d", []string{"eu", "us"}[i], n))
		}
		if got := strings.TrimSpace(string(out)); got != strings.Join(exp, ",") {
			t.Errorf("%s = %s, want %s", k, got, strings.Join(exp, ","))
		}
	}
}
