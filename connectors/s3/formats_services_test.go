//go:build services

package s3_test

import (
	"context"
	"testing"

	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage/formattest"
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
