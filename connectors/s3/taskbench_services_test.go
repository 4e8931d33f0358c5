//go:build services

package s3_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

// BenchmarkS3SinkTaskKit is the writer core alone next to the raw upload
// (storagetest.TaskBench) into the same versitygw. It tells the core's
// own cost from the runtime's (BenchmarkS3SinkKit measures both).
func BenchmarkS3SinkTaskKit(b *testing.B) {
	cl := client(b)
	storagetest.TaskBench(b, s3sink.NewBackendForTest,
		func() plugins.Config { return plugins.Config(baseConfig()) },
		func(ctx context.Context, dir string) int64 {
			objs, err := listObjects(ctx, cl, dir+"/")
			if err != nil {
				b.Fatal(err)
			}
			var n int64
			for _, o := range objs {
				n += objectSize(ctx, b, cl, o.key)
			}
			return n
		})
}

func objectSize(ctx context.Context, b *testing.B, cl *s3.Client, key string) int64 {
	h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(kitBucket), Key: aws.String(key)})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToInt64(h.ContentLength)
}
