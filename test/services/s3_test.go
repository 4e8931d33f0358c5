//go:build services

package services_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func s3Client(t *testing.T, ctx context.Context, secret string) *s3.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("weir", secret, "")),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String("http://" + addr("WEIR_S3_PORT", "9000"))
		o.UsePathStyle = true
	})
}

func TestS3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s3Client(t, ctx, "weirsecret")

	bucket := strings.ToLower(unique("weir-smoke"))
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		hint(t, "s3", err)
	}
	body := []byte("hello from weir")
	keys := []string{"topic/partition=0/00000.json", "topic/partition=0/00010.json"}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("topic/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != len(keys) {
		t.Fatalf("listed %d objects, want %d", len(list.Contents), len(keys))
	}
	for i, o := range list.Contents {
		if aws.ToString(o.Key) != keys[i] {
			t.Fatalf("key %d = %q, want %q", i, aws.ToString(o.Key), keys[i])
		}
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[1])})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(data, body) {
		t.Fatalf("get = %q, %v", data, err)
	}

	// Signatures are checked: the wrong secret is refused.
	bad := s3Client(t, ctx, "not-the-secret")
	_, err = bad.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	var api smithy.APIError
	if err == nil || !errors.As(err, &api) {
		t.Fatalf("wrong secret: err = %v, want an S3 API error", err)
	}
	if api.ErrorCode() != "SignatureDoesNotMatch" && api.ErrorCode() != "AccessDenied" {
		t.Fatalf("wrong secret: error code %q (%v)", api.ErrorCode(), err)
	}
	t.Logf("s3: wrong secret refused with %s", api.ErrorCode())

	for _, k := range keys {
		c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
	}
	c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}
