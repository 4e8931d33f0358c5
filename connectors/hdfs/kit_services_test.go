//go:build services

package hdfs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/weirlog/weir/connectors/conformance"
	hdfssink "github.com/weirlog/weir/connectors/hdfs"
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

// topicsDir is unique to one stream of one run.
func topicsDir(s *conformance.Stream) string {
	h := fnv.New64a()
	h.Write([]byte(s.Dir))
	return "kit/" + strconv.FormatUint(h.Sum64(), 36)
}

type harness struct {
	cl    *hdfs.Client
	extra map[string]string
	pad   string // appended to every value (bench: ~1 KiB records)

	mu         sync.Mutex
	disorder   []string
	rewritten  []string // names written again with other records (stream: name)
	seen       map[string]*version
	superseded map[string][]plugins.Record // per stream
}

func (*harness) Class() string                    { return "io.confluent.connect.hdfs3.Hdfs3SinkConnector" }
func (*harness) Guarantee() conformance.Guarantee { return conformance.ExactlyOnce }
func (*harness) Carries() conformance.Fields      { return conformance.Values }

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

var kitEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (h *harness) Record(i int) plugins.Record {
	return plugins.Record{
		Key: fmt.Sprintf("k%d", i), KeySchema: plugins.StringSchema,
		Value: fmt.Sprintf("v%08d \"quoted\" back\\slash\ttab ünïcødé ✓", i) + h.pad, ValueSchema: plugins.StringSchema,
		Timestamp: kitEpoch.Add(time.Duration(i) * time.Millisecond),
	}
}

func (*harness) ID(r plugins.Record) (int, bool) {
	s, _ := r.Value.(string)
	if len(s) < 9 || s[0] != 'v' {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:9])
	return n, err == nil
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

type version struct {
	tag  string
	recs []plugins.Record
}

// Read parses every JSON line of the stream's files. A file written
// again (offsets moved back on purpose) keeps its earlier records
// counted too, so Read returns every record the sink ever wrote.
func (h *harness) Read(_ context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	fl, err := files(h.cl, "/"+topicsDir(s)+"/"+s.Topic)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen, h.superseded = map[string]*version{}, map[string][]plugins.Record{}
	}
	var out []plugins.Record
	for _, f := range fl {
		v := h.seen[f.path]
		if v == nil || v.tag != f.tag {
			recs, err := h.readFile(f.path)
			if err != nil {
				return nil, err
			}
			if v != nil {
				h.superseded[s.Name] = append(h.superseded[s.Name], v.recs...)
				if s.Name != "kit-lifecycle" && !sameRecords(h, v.recs, recs) {
					h.rewritten = append(h.rewritten, s.Name+": "+f.path)
				}
			}
			v = &version{tag: f.tag, recs: recs}
			h.seen[f.path] = v
		}
		out = append(out, v.recs...)
	}
	return append(out, h.superseded[s.Name]...), nil
}

func (h *harness) readFile(p string) ([]plugins.Record, error) {
	b, err := h.cl.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []plugins.Record
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		r := plugins.Record{Value: v}
		if id, ok := h.ID(r); ok {
			if id <= last {
				h.disorder = append(h.disorder, path.Base(p))
			}
			last = id
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Down freezes the MiniDFSCluster (NameNode and DataNode, one JVM) with
// SIGSTOP; Up thaws it. A restart would lose the data: MiniDFSCluster
// formats on every start.
func (*harness) Down(context.Context, *conformance.Stream) error { return signalHDFS(syscall.SIGSTOP) }
func (*harness) Up(context.Context, *conformance.Stream) error   { return signalHDFS(syscall.SIGCONT) }

func signalHDFS(sig syscall.Signal) error {
	dir := os.Getenv("WEIR_SERVICES_DIR")
	if dir == "" {
		dir = "/tmp/weir-services"
	}
	b, err := os.ReadFile(dir + "/hdfs.pid")
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

// kitRecords is how many records RoundTrip, Crash and Rebalance carry:
// the 200,000 in make test-long (WEIR_TEST_LONG=1), 20,000 in
// make test (still dozens of files per partition at flush.size 300),
// and how long the kit waits for them.
func kitRecords() (int, time.Duration) {
	if os.Getenv("WEIR_TEST_LONG") != "" {
		return 200_000, 5 * time.Minute
	}
	return 20_000, 0
}

func TestHdfsSinkKit(t *testing.T) {
	h := &harness{cl: client(t)}
	n, wait := kitRecords()
	conformance.Run(t, h, conformance.Options{Records: n, Timeout: wait, Outage: 8 * time.Second, Partitions: 4})
	h.mu.Lock()
	defer h.mu.Unlock()
	// A name denotes one set of records (Confluent's deterministic
	// naming): written again it must hold the same ones, or a reader
	// that saw the first version and one that saw the second disagree.
	// Only Lifecycle moves offsets back on purpose.
	if len(h.rewritten) > 0 {
		t.Errorf("%d files written again under the same name with other records: %s", len(h.rewritten), strings.Join(h.rewritten[:min(len(h.rewritten), 10)], ", "))
	}
	if len(h.disorder) > 0 {
		t.Errorf("files with records out of offset order: %s", strings.Join(h.disorder[:min(len(h.disorder), 10)], ", "))
	}
}

var padding = strings.Repeat("x", 960)

// BenchmarkHdfsSinkKit is the throughput row of make bench-connectors:
// 1 KiB JSON records end to end through weir serve into HDFS.
func BenchmarkHdfsSinkKit(b *testing.B) {
	n := 50_000
	if s := os.Getenv("WEIR_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	h := &harness{cl: client(b), pad: padding, extra: map[string]string{"flush.size": "5000", "rotate.interval.ms": "-1", "rotate.schedule.interval.ms": "1000"}}
	var r conformance.Result
	for b.Loop() {
		r = conformance.Throughput(b, h, n, conformance.Options{Partitions: 4})
	}
	b.ReportMetric(r.RecordsPerSec(), "records/s")
	b.ReportMetric(r.MBPerSec(), "MB/s")
	b.Logf("%s: %s", h.Class(), r)
}

// BenchmarkHdfsRawWriteKit is the physical limit next to it: colinmarc/hdfs
// writing 5 MB files (5000 such records) sequentially into the same
// MiniDFSCluster.
func BenchmarkHdfsRawWriteKit(b *testing.B) {
	cl := client(b)
	body := bytes.Repeat([]byte(`"`+padding+`"`+"\n"), 5000)
	const files = 20
	var el time.Duration
	cl.MkdirAll("/bench", 0o755)
	for b.Loop() {
		start := time.Now()
		for i := range files {
			p := fmt.Sprintf("/bench/raw-%d", i)
			cl.Remove(p)
			w, err := cl.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(body); err != nil {
				b.Fatal(err)
			}
			for err = w.Close(); errors.Is(err, hdfs.ErrReplicating); err = w.Close() {
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		el = time.Since(start)
	}
	mb := float64(files*len(body)) / 1e6
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.Logf("raw write: %.1f MB in %s = %.1f MB/s", mb, el, mb/el.Seconds())
}

// sameRecords reports whether two versions of a file hold the same
// records in the same order.
func sameRecords(h *harness, a, b []plugins.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, okx := h.ID(a[i])
		y, oky := h.ID(b[i])
		if okx != oky || x != y {
			return false
		}
	}
	return true
}
