//go:build services

package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/plugins"
)

// benchSink carries 1 KiB JSON documents. Its Read polls _count (no
// refresh: forcing one every 200 ms would slow the indexing it measures)
// and reads the ids back, to be checked, only once all n are searchable.
type benchSink struct {
	esSink
	n int
}

const benchPad = 1024 - 60 // value ≈ 1 KiB of JSON

var benchValue = plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("payload", plugins.StringSchema).MustBuild()

func benchDoc(i int) string {
	return fmt.Sprintf(`{"id":%d,"payload":"%s"}`, i, strings.Repeat(strconv.Itoa(i%10), benchPad))
}

func (h *benchSink) Record(i int) plugins.Record {
	return plugins.Record{
		Key: "k" + strconv.Itoa(i), KeySchema: plugins.StringSchema,
		Value: plugins.NewStruct(benchValue).MustPut("id", int64(i)).MustPut("payload", strings.Repeat(strconv.Itoa(i%10), benchPad)), ValueSchema: benchValue,
	}
}

// Config points the sink straight at Elasticsearch (the kit harness's
// proxy would add a hop the direct load does not have) and empties the
// index of an earlier round.
func (h *benchSink) Config(s *conformance.Stream) map[string]string {
	deleteIndex(h.t, strings.ToLower(s.Topic))
	return map[string]string{"connection.url": esURL()}
}

func (h *benchSink) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	index := strings.ToLower(s.Topic)
	st, b, err := esDo(ctx, "GET", "/"+index+"/_count", nil)
	if err != nil || st == 404 {
		return nil, err
	}
	var c struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(b, &c); err != nil || st >= 300 {
		return nil, fmt.Errorf("count %s: HTTP %d %s %v", index, st, b, err)
	}
	if c.Count < h.n {
		return nil, nil
	}
	var out []plugins.Record
	path := "/" + index + "/_search?scroll=1m&filter_path=_scroll_id,hits.hits._id"
	var body any = map[string]any{"size": 10000, "_source": false, "sort": []string{"_doc"}}
	for {
		st, b, err := esDo(ctx, "POST", path, body)
		if err != nil || st >= 300 {
			return out, err
		}
		var r struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		for _, x := range r.Hits.Hits {
			if i, err := strconv.Atoi(strings.TrimPrefix(x.ID, "k")); err == nil {
				out = append(out, plugins.Record{Value: plugins.NewStruct(benchValue).MustPut("id", int64(i))})
			}
		}
		if len(r.Hits.Hits) == 0 {
			esDo(ctx, "DELETE", "/_search/scroll", map[string]any{"scroll_id": r.ScrollID})
			return out, nil
		}
		path, body = "/_search/scroll?filter_path=_scroll_id,hits.hits._id", map[string]any{"scroll": "1m", "scroll_id": r.ScrollID}
	}
}

// BenchmarkElasticsearchSinkKit (make bench, via bench-connectors):
// documents/s of 1 KiB JSON records end to end through weir serve and the
// sink with its default settings, next to the physical limit measured in
// the same run: go-elasticsearch's BulkIndexer loading the same documents
// straight into the same Elasticsearch. The machine is shared, so the two
// alternate (direct, sink, direct, sink, direct) and the ratio is of their
// means. Every figure ends when all documents are searchable.
func BenchmarkElasticsearchSinkKit(b *testing.B) {
	needES(b)
	const n, rounds = 100_000, 2
	h := &benchSink{esSink: esSink{t: b}, n: n}
	var direct, sink []float64
	var mbPerDoc float64
	run := func(what string, f func() float64) float64 {
		c0 := takeCPU()
		stop := watchWeirCPU()
		rate := f()
		weir := stop()
		c := takeCPU().since(c0)
		// Elasticsearch's CPU per document says whether the sink makes
		// it work harder than the direct load; the machine's share says
		// how much of it other work took (the machine is shared); weir's
		// (broker, converters and sink in one process) is what the path
		// through Kafka costs on top.
		b.Logf("%-18s %6.0f docs/s; Elasticsearch %.1f CPU-s (%.0f µs/doc); weir %.1f CPU-s (%.0f µs/doc); machine busy %.0f%%",
			what+":", rate, c.es, c.es/n*1e6, weir, weir/n*1e6, c.busy*100)
		return rate
	}
	direct = append(direct, run("BulkIndexer", func() float64 { return bulkIndexerRate(b, n) }))
	for range rounds {
		sink = append(sink, run("ElasticsearchSink", func() float64 {
			r := conformance.Throughput(b, h, n, conformance.Options{})
			b.Logf("ElasticsearchSink: %s", r)
			mbPerDoc = r.MBPerSec() / r.RecordsPerSec()
			return r.RecordsPerSec()
		}))
		direct = append(direct, run("BulkIndexer", func() float64 { return bulkIndexerRate(b, n) }))
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	d, s := mean(direct), mean(sink)
	b.Logf("BulkIndexer direct (the limit): %.0f docs/s, %.1f MB/s (runs: %.0f)", d, d*mbPerDoc, direct)
	b.Logf("ElasticsearchSink:              %.0f docs/s, %.1f MB/s (runs: %.0f)", s, s*mbPerDoc, sink)
	b.Logf("ratio sink/direct: %.2f (target >= 0.8)", s/d)
	b.ReportMetric(s, "docs/s")
	b.ReportMetric(s*mbPerDoc, "MB/s")
	b.ReportMetric(d, "direct-docs/s")
	b.ReportMetric(s/d, "ratio")
}

// watchWeirCPU samples, until stopped, the CPU time of every `weir serve`
// the kit starts for this benchmark (one is gone, or idle, once
// Throughput returns) and returns what they used meanwhile, in seconds.
func watchWeirCPU() (stop func() float64) {
	base := weirCPU()
	last := map[int]float64{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for pid, v := range weirCPU() {
				last[pid] = v
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		sum := 0.0
		for pid, v := range last {
			sum += v - base[pid]
		}
		return sum
	}
}

func weirCPU() map[int]float64 {
	m := map[int]float64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !bytes.Contains(cmd, []byte("serve")) || !bytes.Contains(cmd, []byte("BenchmarkElasticsearchSinkKit")) {
			continue
		}
		if v, ok := procCPU(pid); ok {
			m[pid] = v
		}
	}
	return m
}

// procCPU is a process's user+system CPU seconds.
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the parenthesised command: utime and stime are the
	// 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100, true // USER_HZ
}

// cpuSnap is the Elasticsearch JVM's CPU time and the machine's busy and
// total jiffies at one moment (Linux /proc).
type cpuSnap struct{ es, busy, total float64 }

type cpuUse struct {
	es   float64 // CPU seconds
	busy float64 // share of the machine's CPU time that was busy
}

func takeCPU() cpuSnap {
	var c cpuSnap
	if pid, err := esPID(); err == nil {
		c.es, _ = procCPU(pid)
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, x := range f[1:] {
			v, _ := strconv.ParseFloat(x, 64)
			c.total += v
			if i != 3 && i != 4 { // idle, iowait
				c.busy += v
			}
		}
	}
	return c
}

func (c cpuSnap) since(o cpuSnap) cpuUse {
	u := cpuUse{es: c.es - o.es}
	if t := c.total - o.total; t > 0 {
		u.busy = (c.busy - o.busy) / t
	}
	return u
}

func bulkIndexerRate(b *testing.B, n int) float64 {
	b.Helper()
	index := "bench-direct"
	deleteIndex(b, index)
	defer deleteIndex(b, index)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{esURL()}})
	if err != nil {
		b.Fatal(err)
	}
	// The limit at its best: 5 workers (the sink's max.in.flight.requests)
	// and the answers filtered to what the sink reads too (unfiltered,
	// Elasticsearch spends more CPU per document rendering them).
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: index, NumWorkers: 5, FlushBytes: 5 << 20,
		FilterPath: []string{"errors", "items.*.status", "items.*.error"}})
	if err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	start := time.Now()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if err := bi.Add(ctx, esutil.BulkIndexerItem{Action: "index", DocumentID: "k" + strconv.Itoa(i), Body: bytes.NewReader([]byte(benchDoc(i))),
			OnFailure: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem, error) { failed.Add(1) }}); err != nil {
			b.Fatal(err)
		}
	}
	if err := bi.Close(ctx); err != nil {
		b.Fatal(err)
	}
	// Searchable, as the sink's figure is.
	if c, err := docCount(ctx, index); err != nil || c != n {
		b.Fatalf("BulkIndexer: %d documents searchable (%v), want %d", c, err, n)
	}
	el := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("BulkIndexer: %d of %d documents failed", f, n)
	}
	return float64(n) / el.Seconds()
}
