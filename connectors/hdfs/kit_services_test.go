//go:build services

package hdfs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/weirlog/weir/connectors/conformance"
	hdfssink "github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/internal/testutil"
	"github.com/weirlog/weir/plugins"
)

// These tests need the MiniDFSCluster from test/services (bash
// test/services/hdfs.sh start) and fail when it is down.

func nameNode() string {
	port := os.Getenv("WEIR_HDFS_PORT")
	if port == "" {
		port = "8020"
	}
	return "hdfs://127.0.0.1:" + port
}

func webHDFS() string {
	port := os.Getenv("WEIR_HDFS_HTTP_PORT")
	if port == "" {
		port = "9870"
	}
	return "http://127.0.0.1:" + port
}

func client(t testing.TB) *hdfs.Client {
	t.Helper()
	p, err := hdfssink.ConfigDefForTest().Parse(plugins.Config{"hdfs.url": nameNode(), "flush.size": "1"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := hdfssink.Client(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.StatFs(); err != nil {
		t.Fatalf("HDFS at %s is not reachable (start it: bash test/services/hdfs.sh start): %v", nameNode(), err)
	}
	return cl
}

func topicsDir(s *conformance.Stream) string { return storagetest.TopicsDir(s) }

// harness is the kit's harness of the HDFS sink: storagetest.Kit reading
// files of the MiniDFSCluster.
type harness struct {
	storagetest.Kit
	cl    *hdfs.Client
	extra map[string]string
	// restartNN makes the kit's outage a NameNode restart (stopped at
	// Down, started again from its fsimage and edit log at Up) instead of
	// the frozen process.
	restartNN bool
}

func (*harness) Class() string { return "io.confluent.connect.hdfs3.Hdfs3SinkConnector" }

func (h *harness) Config(s *conformance.Stream) map[string]string {
	cfg := map[string]string{
		"hdfs.url": nameNode(), "topics.dir": topicsDir(s), "flush.size": "300", "rotate.interval.ms": "1000",
		"format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
	}
	for k, v := range h.extra {
		cfg[k] = v
	}
	return cfg
}

type file struct {
	path, tag string
}

// files lists the committed files of a stream's topic (temp files are
// under +tmp, outside it), with a version tag (size and mtime).
func files(cl *hdfs.Client, dir string) ([]file, error) {
	var out []file
	err := cl.Walk(dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			out = append(out, file{p, fmt.Sprint(info.Size(), info.ModTime().UnixNano())})
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, err
}

// Files lists the stream's committed files; a file written again has a
// new size or mtime.
func (h *harness) Files(_ context.Context, s *conformance.Stream) ([]storagetest.File, error) {
	fl, err := files(h.cl, "/"+topicsDir(s)+"/"+s.Topic)
	if err != nil {
		return nil, err
	}
	out := make([]storagetest.File, len(fl))
	for i, f := range fl {
		out[i] = storagetest.File{Path: f.path, Tag: f.tag}
	}
	return out, nil
}

// RemoveFiles deletes the stream's directory (a throughput row's, once
// checked).
func (h *harness) RemoveFiles(_ context.Context, s *conformance.Stream) error {
	return h.cl.RemoveAll("/" + topicsDir(s))
}

// Read parses every JSON line of the stream's files
// (storagetest.Kit.ReadFiles).
func (h *harness) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	fl, err := h.Files(ctx, s)
	if err != nil {
		return nil, err
	}
	return h.ReadFiles(s, fl, h.cl.ReadFile, path.Base)
}

// Down freezes the MiniDFSCluster (NameNode and DataNode, one JVM) with
// SIGSTOP, or with restartNN stops its NameNode; Up thaws it, or starts
// the NameNode again (a restart of the process would lose the data:
// MiniDFSCluster formats on every start).
func (h *harness) Down(ctx context.Context, _ *conformance.Stream) error {
	if h.restartNN {
		return controlHDFS(ctx, "namenode-stop")
	}
	return signalHDFS(syscall.SIGSTOP)
}

func (h *harness) Up(ctx context.Context, _ *conformance.Stream) error {
	if h.restartNN {
		return controlHDFS(ctx, "namenode-start")
	}
	return signalHDFS(syscall.SIGCONT)
}

// controlHDFS has the MiniDFSCluster process (test/services/hdfs) carry
// out cmd, namenode-stop or namenode-start, and waits for it to say it did.
func controlHDFS(ctx context.Context, cmd string) error {
	base := filepath.Join(testutil.ServicesDir(), "hdfs", "ready.control")
	os.Remove(base + ".done")
	if err := os.WriteFile(base+".tmp", []byte(cmd+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(base+".tmp", base); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		b, err := os.ReadFile(base + ".done")
		if err == nil {
			if r := strings.TrimSpace(string(b)); r != "ok "+cmd {
				return fmt.Errorf("MiniDFSCluster %s: %s", cmd, r)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("MiniDFSCluster did not carry out %s (is test/services/hdfs.sh's MiniHdfs current?): %w", cmd, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func signalHDFS(sig syscall.Signal) error {
	b, err := os.ReadFile(testutil.ServicesDir() + "/hdfs.pid")
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

func (*harness) BadValues() map[string]string {
	return map[string]string{"hdfs.url": "http://nowhere", "flush.size": "0", "partitioner.class": "NoSuchPartitioner"}
}

func TestHdfsSinkKit(t *testing.T) {
	h := &harness{cl: client(t)}
	n, wait := storagetest.KitRecords()
	conformance.Run(t, h, conformance.Options{Records: n, Timeout: wait, Outage: 8 * time.Second, Partitions: 4})
	h.Check(t, "files")
}

var padding = storagetest.Padding

// BenchmarkHdfsSinkKit is the live throughput row of make bench: 1 KiB
// JSON records produced by the bench while the sink consumes them, end
// to end through weir serve into HDFS (storagetest.Throughput,
// storagetest.BenchConfig: files closed by flush.size).
func BenchmarkHdfsSinkKit(b *testing.B) {
	h := &harness{Kit: storagetest.Kit{Pad: padding}, cl: client(b), extra: storagetest.BenchConfig()}
	storagetest.Throughput(b, h, h.Class(), false)
}

// BenchmarkHdfsPreloadedSinkKit is the same with the records in the
// topic before the connector starts (the sink drains a backlog).
func BenchmarkHdfsPreloadedSinkKit(b *testing.B) {
	h := &harness{Kit: storagetest.Kit{Pad: padding}, cl: client(b), extra: storagetest.BenchConfig()}
	storagetest.Throughput(b, h, h.Class()+" (preloaded)", true)
}

// BenchmarkHdfsRawWriteKit is the physical limit next to it: colinmarc/hdfs
// writing the same 5 MB files (the JSON lines of 5000 such records) into
// the same MiniDFSCluster, straight from memory (storagetest.RawBench:
// one and four at a time, the faster counts).
//
// Every file gets a new name under a directory of this run (removed at
// the end): a run's files never collide with another run's, and no
// delete of the last pass's file sits inside the timed writes.
func BenchmarkHdfsRawWriteKit(b *testing.B) {
	cl := client(b)
	dir := fmt.Sprintf("/bench/raw-%d-%d", os.Getpid(), time.Now().UnixNano())
	if err := cl.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.RemoveAll(dir) })
	storagetest.RawBench(b, storagetest.RawBody(), func(_ context.Context, name int, body []byte) error {
		p := fmt.Sprintf("%s/%d", dir, name)
		w, err := cl.Create(p)
		if err != nil {
			return err
		}
		if _, err := w.Write(body); err != nil {
			return err
		}
		for err = w.Close(); errors.Is(err, hdfs.ErrReplicating); err = w.Close() {
			time.Sleep(50 * time.Millisecond)
		}
		return err
	})
}

// TestHdfsSinkKitStreamed is the kit with every file streamed: 1 KiB
// records, flush.size 300, hdfs.part.size 64 KiB (about five parts a
// file), so kill -9 leaves temp files half written, and the outage is a
// NameNode restart in the middle of files: stopped for 8 s, then started
// again from its fsimage and edit log while the DataNode stays up.
func TestHdfsSinkKitStreamed(t *testing.T) {
	h := &harness{Kit: storagetest.Kit{Pad: padding}, cl: client(t), extra: map[string]string{"hdfs.part.size": "65536"}, restartNN: true}
	n, wait := storagetest.KitRecords()
	conformance.Run(t, h, conformance.Options{Records: n, Timeout: wait, Outage: 8 * time.Second, Partitions: 4})
	h.Check(t, "files")
}
