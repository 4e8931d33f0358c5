//go:build services

package hdfs_test

import (
	"context"
	"io/fs"
	"testing"

	hdfssink "github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

// BenchmarkHdfsSinkTaskKit is the writer core alone next to the raw
// write (storagetest.TaskBench) into the same MiniDFSCluster.
func BenchmarkHdfsSinkTaskKit(b *testing.B) {
	cl := client(b)
	storagetest.TaskBench(b, hdfssink.NewBackendForTest,
		func() plugins.Config {
			return plugins.Config{"hdfs.url": nameNode(), "format.class": "io.confluent.connect.hdfs3.json.JsonFormat"}
		},
		func(_ context.Context, dir string) int64 {
			var n int64
			if err := cl.Walk("/"+dir+"/bench", func(_ string, info fs.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					n += info.Size()
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
			cl.RemoveAll("/" + dir)
			return n
		})
}
