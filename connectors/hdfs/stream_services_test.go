//go:build services

package hdfs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"time"

	hdfssink "github.com/weirlog/weir/connectors/hdfs"
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

var stp = plugins.TopicPartition{Topic: "big", Partition: 0}

// bigRecords are records from..to of stp, about 1 KiB of JSON each, and
// the file lines they become.
func bigRecords(from, to int) ([]plugins.Record, []byte) {
	pad := strings.Repeat("s", 1000)
	var rs []plugins.Record
	var want bytes.Buffer
	for o := from; o < to; o++ {
		v := fmt.Sprintf("%08d%s", o, pad)
		rs = append(rs, plugins.Record{Topic: stp.Topic, Partition: stp.Partition, Offset: int64(o), Value: v, ValueSchema: plugins.StringSchema})
		fmt.Fprintf(&want, "%q\n", v)
	}
	return rs, want.Bytes()
}

func streamTask(t *testing.T, dir string, flush, part int) *storage.Task {
	t.Helper()
	return streamTaskCtx(t, dir, flush, part, storagetest.TaskCtx{})
}

func streamTaskCtx(t *testing.T, dir string, flush, part int, tctx plugins.SinkTaskContext) *storage.Task {
	t.Helper()
	task := &storage.Task{NewBackend: hdfssink.NewBackendForTest}
	if err := task.Start(tctx, plugins.Config{
		"hdfs.url": nameNode(), "topics.dir": dir, "flush.size": fmt.Sprint(flush),
		"hdfs.part.size": fmt.Sprint(part), "format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
	}); err != nil {
		t.Fatal(err)
	}
	task.Open([]plugins.TopicPartition{stp})
	return task
}

// TestHdfsStreamedFileMemory: a 48 MiB file written with hdfs.part.size
// 2 MiB keeps the task's live heap within a few parts (it held the whole
// file before HDFS streamed), shows nothing under its final name while
// open (its parts go to the temp file), and reads back intact under the
// name with its end offset.
func TestHdfsStreamedFileMemory(t *testing.T) {
	cl := client(t)
	const part = 2 << 20
	const n = 48 << 10
	dir := fmt.Sprintf("streamtest/mem-%d", time.Now().UnixNano())
	t.Cleanup(func() { cl.RemoveAll("/" + dir) })
	task := streamTask(t, dir, n, part)
	defer task.Stop()
	ctx := context.Background()
	// The expected file is hashed, not kept: the test's memory is not the
	// task's.
	want := sha256.New()
	size := 0
	base := liveHeap()
	var peak uint64
	const batch = 512
	for from := 0; from < n; from += batch {
		rs, lines := bigRecords(from, from+batch)
		want.Write(lines)
		size += len(lines)
		lines = nil
		if err := task.Put(ctx, rs); err != nil {
			t.Fatal(err)
		}
		rs = nil
		if from%(8*batch) == 0 {
			// What the task holds, not the client's garbage: the
			// client allocates a packet's worth for every 64 KiB it
			// sends, and what it allocates while a GC runs counts as
			// live; so the least of a few readings once the part in
			// flight (its buffer is held until the next part) likely
			// ended.
			h := liveHeap()
			for range 3 {
				time.Sleep(50 * time.Millisecond)
				h = min(h, liveHeap())
			}
			if h > base && h-base > peak {
				peak = h - base
			}
		}
		if from == n/2 {
			fl, err := files(cl, "/"+dir+"/big")
			if err != nil || len(fl) != 0 {
				t.Fatalf("files under the final names while the file is open: %v (%v)", fl, err)
			}
			tmp, err := files(cl, "/"+dir+"/+tmp")
			if err != nil || len(tmp) != 1 {
				t.Fatalf("temp files while the file is open: %v (%v), want the one its parts go to", tmp, err)
			}
		}
	}
	// The last record closed the file (flush.size); PreCommit waits for it.
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{stp: n}); err != nil {
		t.Fatal(err)
	}
	t.Logf("file %.1f MiB in parts of %d KiB; peak live heap growth %.1f MiB (%.1f parts)",
		float64(size)/(1<<20), part>>10, float64(peak)/(1<<20), float64(peak)/part)
	if peak > 4*part {
		t.Errorf("live heap grew by %d bytes while writing a %d-byte file: more than 4 parts of %d (the file is held in memory)", peak, size, part)
	}
	p := fmt.Sprintf("/%s/big/partition=0/big+0+0000000000+%010d.json", dir, n-1)
	got, err := cl.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	if sum := sha256.Sum256(got); len(got) != size || !bytes.Equal(sum[:], want.Sum(nil)) {
		t.Errorf("%s has %d bytes, not the %d of records 0..%d in order", p, len(got), size, n-1)
	}
	if tmp, _ := files(cl, "/"+dir+"/+tmp"); len(tmp) != 0 {
		t.Errorf("temp files left after the rename: %v", tmp)
	}
}

// TestHdfsLostTempFileRestartsFile: the temp file of a streamed file
// removed under the writer (its parts lost, as when the write pipeline
// breaks: storage.ErrRestartFile) does not fail the task: it drops the
// file, resets the partition to the file's start (Offset) and writes it
// again from there, driven as the runtime does (a reset moves the
// position before the next Put). PreCommit never passes the file's start,
// and every record is in the files once.
func TestHdfsLostTempFileRestartsFile(t *testing.T) {
	cl := client(t)
	const part = 256 << 10
	const flush = 2000
	dir := fmt.Sprintf("streamtest/lost-%d", time.Now().UnixNano())
	t.Cleanup(func() { cl.RemoveAll("/" + dir) })
	ctx := context.Background()
	rc := &storagetest.ResetCtx{}
	task := streamTaskCtx(t, dir, flush, part, rc)
	defer task.Stop()
	pos, removed := 0, false
	var rewinds []int
	take := func() {
		for tp, o := range rc.Take() {
			if tp != stp {
				t.Errorf("reset of %v, want only %v", tp, stp)
			}
			pos = int(o)
		}
	}
	for step := 0; pos < 2*flush; step++ {
		if step > 200 {
			t.Fatalf("no progress at %d", pos)
		}
		if pos == flush+800 && !removed {
			// The second file streams by now: take its temp file away.
			tmp, err := files(cl, "/"+dir+"/+tmp")
			if err != nil || len(tmp) != 1 {
				t.Fatalf("temp files of the open file: %v (%v)", tmp, err)
			}
			if err := cl.Remove(tmp[0].path); err != nil {
				t.Fatal(err)
			}
			removed = true
		}
		rs, _ := bigRecords(pos, pos+100)
		if err := task.Put(ctx, rs); err != nil {
			t.Fatalf("Put at %d: %v", pos, err)
		}
		before := pos
		pos += 100
		take()
		safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{stp: int64(pos)})
		if err != nil {
			t.Fatalf("PreCommit at %d: %v", pos, err)
		}
		take()
		if pos <= before {
			rewinds = append(rewinds, pos)
		}
		if safe[stp] > flush && pos < 2*flush {
			t.Errorf("PreCommit returned %d at position %d: past the start of the lost file", safe[stp], pos)
		}
	}
	if fmt.Sprint(rewinds) != fmt.Sprint([]int{flush}) {
		t.Errorf("rewinds %v, want one to %d: the start of the lost file", rewinds, flush)
	}
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{stp: 2 * flush}); err != nil {
		t.Fatal(err)
	}
	fl, err := files(cl, "/"+dir+"/big")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fl {
		names = append(names, f.path)
	}
	want := []string{
		fmt.Sprintf("/%s/big/partition=0/big+0+0000000000+%010d.json", dir, flush-1),
		fmt.Sprintf("/%s/big/partition=0/big+0+%010d+%010d.json", dir, flush, 2*flush-1),
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	for i, p := range want {
		got, err := cl.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, lines := bigRecords(i*flush, (i+1)*flush); !bytes.Equal(got, lines) {
			t.Errorf("%s is not records %d..%d once each, in order", p, i*flush, (i+1)*flush-1)
		}
	}
	if err := cl.Walk("/"+dir+"/+tmp", func(p string, info fs.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}
