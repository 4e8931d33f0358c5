//go:build services

package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
	direct = append(direct, bulkIndexerRate(b, n))
	for range rounds {
		r := conformance.Throughput(b, h, n, conformance.Options{})
		b.Logf("ElasticsearchSink: %s", r)
		sink = append(sink, r.RecordsPerSec())
		mbPerDoc = r.MBPerSec() / r.RecordsPerSec()
		direct = append(direct, bulkIndexerRate(b, n))
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

func bulkIndexerRate(b *testing.B, n int) float64 {
	b.Helper()
	index := "bench-direct"
	deleteIndex(b, index)
	defer deleteIndex(b, index)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{esURL()}})
	if err != nil {
		b.Fatal(err)
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: es, Index: index, NumWorkers: 5, FlushBytes: 5 << 20})
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
