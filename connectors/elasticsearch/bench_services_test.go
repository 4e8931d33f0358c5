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

// benchSink carries 1 KiB JSON documents; its Read asks Elasticsearch for
// ids only, so watching does not slow the pipeline it measures.
type benchSink struct{ esSink }

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

func (h *benchSink) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	index := strings.ToLower(s.Topic)
	if _, _, err := esDo(ctx, "POST", "/"+index+"/_refresh", nil); err != nil {
		return nil, err
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

// BenchmarkElasticsearchSinkKit (make bench-connectors): documents/s of
// 1 KiB JSON records end to end through weir serve and the sink, next to
// go-elasticsearch's BulkIndexer loading the same documents straight into
// the same Elasticsearch (the physical limit), and their ratio.
func BenchmarkElasticsearchSinkKit(b *testing.B) {
	needES(b)
	const n = 100_000
	h := &benchSink{esSink{t: b}}
	direct := bulkIndexerRate(b, n)
	r := conformance.Throughput(b, h, n, conformance.Options{})
	ratio := r.RecordsPerSec() / direct
	b.Logf("ElasticsearchSink: %s; BulkIndexer direct: %.0f docs/s; ratio %.2f", r, direct, ratio)
	b.ReportMetric(r.RecordsPerSec(), "docs/s")
	b.ReportMetric(direct, "direct-docs/s")
	b.ReportMetric(ratio, "ratio")
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
	el := time.Since(start)
	if f := failed.Load(); f > 0 {
		b.Fatalf("BulkIndexer: %d of %d documents failed", f, n)
	}
	return float64(n) / el.Seconds()
}
