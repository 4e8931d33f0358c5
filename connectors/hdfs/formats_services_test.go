//go:build services

package hdfs_test

import (
	"testing"

	"github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage/formattest"
	"github.com/weirlog/weir/plugins"
)

// TestAvroParquetReadByPython: Avro and Parquet files in MiniDFSCluster
// (the hdfs3 class names), every codec, named .parquet whatever the codec,
// read back by fastavro and pyarrow (connectors/storage/formattest).
func TestAvroParquetReadByPython(t *testing.T) {
	cl := client(t)
	formattest.Run(t, formattest.Sink{
		NewBackend:   hdfs.NewBackendForTest,
		Config:       plugins.Config{"hdfs.url": nameNode()},
		AvroClass:    "io.confluent.connect.hdfs3.avro.AvroFormat",
		ParquetClass: "io.confluent.connect.hdfs3.parquet.ParquetFormat",
		// Confluent's HDFS sinks name every Parquet file .parquet.
		PlainParquetExt: true,
		Files: func(t *testing.T, dir string) map[string][]byte {
			fs, err := files(cl, "/"+dir)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string][]byte{}
			for _, f := range fs {
				if out[f.path], err = cl.ReadFile(f.path); err != nil {
					t.Fatal(err)
				}
			}
			return out
		},
	})
}
