//go:build services

package hdfs_test

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage/formattest"
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
