//go:build services

package s3_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/weirlog/weir/connectors/conformance"
	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage/formattest"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

// TestAvroParquetReadByPython: Avro and Parquet objects in versitygw, every
// codec, read back by fastavro and pyarrow (connectors/storage/formattest).
func TestAvroParquetReadByPython(t *testing.T) {
	cl := client(t)
	formattest.Run(t, formattest.Sink{
		NewBackend:   s3sink.NewBackendForTest,
		Config:       plugins.Config(baseConfig()),
		AvroClass:    "io.confluent.connect.s3.format.avro.AvroFormat",
		ParquetClass: "io.confluent.connect.s3.format.parquet.ParquetFormat",
		Files: func(t *testing.T, dir string) map[string][]byte {
			ctx := context.Background()
			objs, err := listObjects(ctx, cl, dir+"/")
			if err != nil {
				t.Fatal(err)
			}
			out := map[string][]byte{}
			for _, o := range objs {
				if out[o.key], err = getObject(ctx, cl, o.key); err != nil {
					t.Fatal(err)
				}
			}
			return out
		},
	})
}

// parquetHarness is the kit harness writing Parquet: records with a
// Connect schema (the JSON converter with schemas), read back with
// parquet-go.
type parquetHarness struct {
	*harness
	mu   sync.Mutex
	seen map[string][]plugins.Record // object key + tag → records
}

func (h *parquetHarness) Config(s *conformance.Stream) map[string]string {
	cfg := h.harness.Config(s)
	cfg["format.class"] = "io.confluent.connect.s3.format.parquet.ParquetFormat"
	cfg["value.converter.schemas.enable"] = "true"
	return cfg
}

func (h *parquetHarness) Record(i int) plugins.Record   { return formattest.BenchRecord(i, h.Pad) }
func (*parquetHarness) ID(r plugins.Record) (int, bool) { return formattest.BenchID(r) }
func (h *parquetHarness) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	objs, err := h.Files(ctx, s)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string][]plugins.Record{}
	}
	var out []plugins.Record
	for _, o := range objs {
		recs, ok := h.seen[o.Path+o.Tag]
		if !ok {
			b, err := getObject(ctx, h.cl, o.Path)
			if err != nil {
				return nil, err
			}
			if recs, err = formattest.ParquetRecords(b); err != nil {
				return nil, fmt.Errorf("%s: %w", o.Path, err)
			}
			h.seen[o.Path+o.Tag] = recs
		}
		out = append(out, recs...)
	}
	return out, nil
}

// BenchmarkS3ParquetSinkKit is the live Parquet throughput row of make
// bench: 1 KiB records with a schema (JSON with schemas in Kafka) end to
// end through weir serve (storagetest.Throughput,
// storagetest.BenchConfig) into snappy Parquet objects in versitygw;
// BenchmarkS3RawUploadKit is its physical limit too.
func BenchmarkS3ParquetSinkKit(b *testing.B) {
	h := &parquetHarness{harness: &harness{Kit: storagetest.Kit{Pad: padding}, cl: client(b), extra: storagetest.BenchConfig()}}
	storagetest.Throughput(b, h, h.Class()+" (Parquet)", false)
}

// BenchmarkS3ParquetPreloadedSinkKit is the same with the records in the
// topic before the connector starts.
func BenchmarkS3ParquetPreloadedSinkKit(b *testing.B) {
	h := &parquetHarness{harness: &harness{Kit: storagetest.Kit{Pad: padding}, cl: client(b), extra: storagetest.BenchConfig()}}
	storagetest.Throughput(b, h, h.Class()+" (Parquet, preloaded)", true)
}
