//go:build services

package hdfs_test

import (
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage/formattest"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

// TestAvroParquetReadByPython: Avro and Parquet files in MiniDFSCluster
// (the hdfs3 class names), every codec, named .parquet whatever the codec,
// listed and fetched through WebHDFS with curl and read back by fastavro
// and pyarrow (connectors/storage/formattest).
func TestAvroParquetReadByPython(t *testing.T) {
	client(t)
	formattest.Run(t, formattest.Sink{
		NewBackend:   hdfs.NewBackendForTest,
		Config:       plugins.Config{"hdfs.url": nameNode()},
		AvroClass:    "io.confluent.connect.hdfs3.avro.AvroFormat",
		ParquetClass: "io.confluent.connect.hdfs3.parquet.ParquetFormat",
		// Confluent's HDFS sinks name every Parquet file .parquet.
		PlainParquetExt: true,
		Files: func(t *testing.T, dir string) map[string][]byte {
			d := "/" + dir + "/orders/partition=0"
			out, err := exec.Command("curl", "-sf", webHDFS()+"/webhdfs/v1"+d+"?op=LISTSTATUS").Output()
			if err != nil {
				t.Fatalf("WebHDFS LISTSTATUS %s: %v", d, err)
			}
			var ls struct {
				FileStatuses struct {
					FileStatus []struct{ PathSuffix, Type string }
				}
			}
			if err := json.Unmarshal(out, &ls); err != nil {
				t.Fatalf("LISTSTATUS %s = %s: %v", d, out, err)
			}
			files := map[string][]byte{}
			for _, f := range ls.FileStatuses.FileStatus {
				p := d + "/" + f.PathSuffix
				if f.Type != "FILE" {
					t.Fatalf("%s is a %s", p, f.Type)
				}
				// OPEN redirects to the DataNode.
				if files[p], err = exec.Command("curl", "-sfL", webHDFS()+"/webhdfs/v1"+p+"?op=OPEN").Output(); err != nil {
					t.Fatalf("WebHDFS OPEN %s: %v", p, err)
				}
			}
			return files
		},
	})
}

// parquetHarness is the kit harness writing Parquet: records with a
// Connect schema (the JSON converter with schemas), read back with
// parquet-go (its Kit's Parse: the kit's checks of order and of files
// written again hold for Parquet files as for JSON lines).
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
	cfg["format.class"] = "io.confluent.connect.hdfs3.parquet.ParquetFormat"
	cfg["value.converter.schemas.enable"] = "true"
	return cfg
}

func (h *parquetHarness) Record(i int) plugins.Record   { return formattest.BenchRecord(i, h.Pad) }
func (*parquetHarness) ID(r plugins.Record) (int, bool) { return formattest.BenchID(r) }

// TestHdfsSinkKitParquet is the whole acceptance kit, kill -9 rounds and
// the frozen NameNode included, with the sink writing Parquet files:
// exactly once across every file read back, records in offset order
// within each.
func TestHdfsSinkKitParquet(t *testing.T) {
	h := newParquetHarness(t, "", nil)
	n, wait := storagetest.KitRecords()
	conformance.Run(t, h, conformance.Options{Records: n, Timeout: wait, Outage: 8 * time.Second, Partitions: 4})
	h.Check(t, "Parquet files")
}

// BenchmarkHdfsParquetSinkKit is the live Parquet throughput row of make
// bench: 1 KiB records with a schema (JSON with schemas in Kafka) end to
// end through weir serve (storagetest.Throughput,
// storagetest.BenchConfig) into snappy Parquet files in MiniDFSCluster;
// BenchmarkHdfsRawWriteKit is its physical limit too.
func BenchmarkHdfsParquetSinkKit(b *testing.B) {
	h := newParquetHarness(b, padding, storagetest.BenchConfig())
	storagetest.Throughput(b, h, h.Class()+" (Parquet)", false)
}

// BenchmarkHdfsParquetPreloadedSinkKit is the same with the records in
// the topic before the connector starts.
func BenchmarkHdfsParquetPreloadedSinkKit(b *testing.B) {
	h := newParquetHarness(b, padding, storagetest.BenchConfig())
	storagetest.Throughput(b, h, h.Class()+" (Parquet, preloaded)", true)
}
