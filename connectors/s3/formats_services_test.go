//go:build services

package s3_test

import (
	"context"
	"testing"
	"time"

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
// parquet-go (its Kit's Parse: the kit's checks of order and of files
// written again hold for Parquet objects as for JSON lines).
type parquetHarness struct {
	*harness
}

func newParquetHarness(tb testing.TB, pad string, extra map[string]string) *parquetHarness {
	return &parquetHarness{&harness{
		Kit: storagetest.Kit{Pad: pad, Parse: formattest.ParquetRecords, IDOf: formattest.BenchID},
		cl:  client(tb), extra: extra,
	}}
}

func (h *parquetHarness) Config(s *conformance.Stream) map[string]string {
	cfg := h.harness.Config(s)
	cfg["format.class"] = "io.confluent.connect.s3.format.parquet.ParquetFormat"
	cfg["value.converter.schemas.enable"] = "true"
	return cfg
}

func (h *parquetHarness) Record(i int) plugins.Record   { return formattest.BenchRecord(i, h.Pad) }
func (*parquetHarness) ID(r plugins.Record) (int, bool) { return formattest.BenchID(r) }

// TestS3SinkKitParquet is the whole acceptance kit, kill -9 rounds
// included, with the sink writing Parquet objects: exactly once across
// every object read back, records in offset order within each.
func TestS3SinkKitParquet(t *testing.T) {
	h := newParquetHarness(t, "", nil)
	n, wait := storagetest.KitRecords()
	conformance.Run(t, h, conformance.Options{Records: n, Timeout: wait, Outage: 3 * time.Second, Partitions: 4})
	h.Check(t, "Parquet objects")
}

// BenchmarkS3ParquetSinkKit is the live Parquet throughput row of make
// bench: 1 KiB records with a schema (JSON with schemas in Kafka) end to
// end through weir serve (storagetest.Throughput,
// storagetest.BenchConfig) into snappy Parquet objects in versitygw;
// BenchmarkS3RawUploadKit is its physical limit too.
func BenchmarkS3ParquetSinkKit(b *testing.B) {
	h := newParquetHarness(b, padding, storagetest.BenchConfig())
	storagetest.Throughput(b, h, h.Class()+" (Parquet)", false)
}

// BenchmarkS3ParquetPreloadedSinkKit is the same with the records in the
// topic before the connector starts.
func BenchmarkS3ParquetPreloadedSinkKit(b *testing.B) {
	h := newParquetHarness(b, padding, storagetest.BenchConfig())
	storagetest.Throughput(b, h, h.Class()+" (Parquet, preloaded)", true)
}
