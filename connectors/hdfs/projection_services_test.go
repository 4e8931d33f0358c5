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

// TestSchemaProjectionReadByPython: under schema.compatibility=BACKWARD,
// older records join an Avro or Parquet file of a newer schema in
// MiniDFSCluster, projected to it (defaults filled in); the files are
// fetched through WebHDFS and read back by fastavro and pyarrow
// (connectors/storage/formattest).
func TestSchemaProjectionReadByPython(t *testing.T) {
	client(t)
	formattest.RunProjection(t, formattest.Sink{
		NewBackend:      hdfs.NewBackendForTest,
		Config:          plugins.Config{"hdfs.url": nameNode()},
		AvroClass:       "io.confluent.connect.hdfs3.avro.AvroFormat",
		ParquetClass:    "io.confluent.connect.hdfs3.parquet.ParquetFormat",
		PlainParquetExt: true,
		Files: func(t *testing.T, dir string) map[string][]byte {
			return webHDFSFiles(t, "/"+dir+"/customers/partition=0")
		},
	})
}

// webHDFSFiles returns every file of directory d, fetched with curl.
func webHDFSFiles(t *testing.T, d string) map[string][]byte {
	t.Helper()
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
			continue // the core's own directories (+tmp)
		}
		// OPEN redirects to the DataNode.
		if files[p], err = exec.Command("curl", "-sfL", webHDFS()+"/webhdfs/v1"+p+"?op=OPEN").Output(); err != nil {
			t.Fatalf("WebHDFS OPEN %s: %v", p, err)
		}
	}
	return files
}
