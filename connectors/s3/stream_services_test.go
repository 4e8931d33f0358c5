//go:build services

package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestPartSizeBoundsMemory: a 40 MB file with s3.part.size 5 MiB goes to
// versitygw as a multipart upload streamed while it is written, the
// task's live heap stays within a few parts, the object holds every
// record in order, and a task started afterwards recovers the object's
// end offset (kept beside it: multipart objects carry no end metadata).
func TestPartSizeBoundsMemory(t *testing.T) {
	cl := client(t)
	const part = 5 << 20
	const n = 40_000
	dir := fmt.Sprintf("stream-%d", time.Now().UnixNano())
	cfg := plugins.Config(baseConfig())
	for k, v := range map[string]string{"topics.dir": dir, "flush.size": fmt.Sprint(n), "s3.part.size": fmt.Sprint(part)} {
		cfg[k] = v
	}
	tp := plugins.TopicPartition{Topic: "big", Partition: 0}
	pad := strings.Repeat("z", 1000)
	mk := func(from, to int) []plugins.Record {
		rs := make([]plugins.Record, 0, to-from)
		for o := from; o < to; o++ {
			rs = append(rs, plugins.Record{Topic: tp.Topic, Partition: 0, Offset: int64(o), Value: fmt.Sprintf("%06d%s", o, pad), ValueSchema: plugins.StringSchema})
		}
		return rs
	}
	ctx := context.Background()
	task := &storage.Task{NewBackend: s3sink.NewBackendForTest}
	if err := task.Start(storagetest.TaskCtx{}, cfg); err != nil {
		t.Fatal(err)
	}
	task.Open([]plugins.TopicPartition{tp})
	base := liveHeap()
	var peak uint64
	for from := 0; from < n; from += 1000 {
		if err := task.Put(ctx, mk(from, from+1000)); err != nil {
			t.Fatal(err)
		}
		if h := liveHeap(); h > base && h-base > peak {
			peak = h - base
		}
	}
	task.Close([]plugins.TopicPartition{tp})
	task.Stop()
	key := dir + "/big/partition=0/big+0+0000000000.json"
	h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(kitBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	size := aws.ToInt64(h.ContentLength)
	t.Logf("object %s: %.1f MB, ETag %s; peak live heap growth %.1f MiB (%.1f parts of %d MiB)",
		key, float64(size)/1e6, aws.ToString(h.ETag), float64(peak)/(1<<20), float64(peak)/part, part>>20)
	if !strings.Contains(aws.ToString(h.ETag), "-") {
		t.Errorf("ETag %s is not a multipart upload's", aws.ToString(h.ETag))
	}
	if peak > 4*part {
		t.Errorf("live heap grew by %.1f MiB for a %.1f MB file: more than 4 parts (the file is held in memory)", float64(peak)/(1<<20), float64(size)/1e6)
	}
	body, err := getObject(ctx, cl, key)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	i := 0
	for sc.Scan() {
		var v string
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v != fmt.Sprintf("%06d%s", i, pad) {
			t.Fatalf("line %d of %s: %.40q (%v)", i, key, sc.Text(), err)
		}
		i++
	}
	if i != n {
		t.Fatalf("%s holds %d records, want %d", key, i, n)
	}
	// Redelivered from 0 after a crash: nothing is written again; the
	// next file starts after the recovered end.
	again := &storage.Task{NewBackend: s3sink.NewBackendForTest}
	if err := again.Start(storagetest.TaskCtx{}, cfg); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	again.Open([]plugins.TopicPartition{tp})
	for from := 0; from < n+10; from += 1000 {
		if err := again.Put(ctx, mk(from, min(from+1000, n+10))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := again.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: n + 10}); err != nil {
		t.Fatal(err)
	}
	objs, err := listObjects(ctx, cl, dir+"/big/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.key)
	}
	if len(keys) != 1 || keys[0] != key {
		t.Errorf("after redelivery the objects are %v, want only %s (the 10 new records stay open)", keys, key)
	}
}
