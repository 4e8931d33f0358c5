//go:build services

package s3_test

import (
	"context"
	"testing"

	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage/formattest"
	"github.com/weirlog/weir/plugins"
)

// TestSchemaProjectionReadByPython: under schema.compatibility=BACKWARD,
// older records join an Avro or Parquet object of a newer schema,
// projected to it (defaults filled in); fastavro and pyarrow read the
// objects back from versitygw (connectors/storage/formattest).
func TestSchemaProjectionReadByPython(t *testing.T) {
	cl := client(t)
	formattest.RunProjection(t, formattest.Sink{
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
