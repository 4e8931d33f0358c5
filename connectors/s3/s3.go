package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
)

// Configuration keys (Confluent's S3 sink names).
const (
	BucketConfig      = "s3.bucket.name"
	RegionConfig      = "s3.region"
	StoreURLConfig    = "store.url"
	PathStyleConfig   = "s3.path.style.access.enabled"
	AccessKeyConfig   = "aws.access.key.id"
	SecretKeyConfig   = "aws.secret.access.key"
	PartSizeConfig    = "s3.part.size"
	CompressionConfig = "s3.compression.type"
	SSEConfig         = "s3.ssea.name"
	ACLConfig         = "s3.acl.canned"
	TaggingConfig     = "s3.object.tagging"
	BackoffConfig     = "s3.retry.backoff.ms"
	PartRetriesConfig = "s3.part.retries"

	// EndOffsetMeta is the user metadata key holding an object's last offset.
	EndOffsetMeta = "weir-end-offset"
)

const (
	jsonClass    = "io.confluent.connect.s3.format.json.JsonFormat"
	bytesClass   = "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"
	avroClass    = "io.confluent.connect.s3.format.avro.AvroFormat"
	parquetClass = "io.confluent.connect.s3.format.parquet.ParquetFormat"
)

var formats = map[string]func(*plugins.ParsedConfig, bool) (storage.Format, error){
	jsonClass: storage.JSONFormat, "JsonFormat": storage.JSONFormat,
	bytesClass: storage.ByteArrayFormat, "ByteArrayFormat": storage.ByteArrayFormat,
	avroClass: storage.AvroFormat, "AvroFormat": storage.AvroFormat,
	parquetClass: storage.ParquetFormat, "ParquetFormat": storage.ParquetFormat,
}

func formatNames() []string {
	return []string{jsonClass, "JsonFormat", bytesClass, "ByteArrayFormat", avroClass, "AvroFormat", parquetClass, "ParquetFormat"}
}

var configDef = storage.ConfigDef(formatNames(), jsonClass).
	Define(plugins.ConfigKey{Name: BucketConfig, Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High,
		Documentation: "The S3 bucket"}).
	Define(plugins.ConfigKey{Name: RegionConfig, Type: plugins.ConfigString, Default: "us-west-2", Importance: plugins.Medium, Documentation: "The AWS region"}).
	Define(plugins.ConfigKey{Name: StoreURLConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.High,
		Validator: plugins.ValidatorFunc("an http(s) URL", func(_ string, v any) error {
			s, _ := v.(string)
			if s == "" {
				return nil
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%q is not an http(s) URL", s)
			}
			return nil
		}), Documentation: "A custom S3 endpoint (MinIO, versitygw, Ceph)"}).
	Define(plugins.ConfigKey{Name: PathStyleConfig, Type: plugins.ConfigBoolean, Default: true, Importance: plugins.Low, Documentation: "Path-style addressing (bucket in the path)"}).
	Define(plugins.ConfigKey{Name: AccessKeyConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.High,
		Documentation: "Access key id; empty uses the SDK's default credential chain"}).
	Define(plugins.ConfigKey{Name: SecretKeyConfig, Type: plugins.ConfigPassword, Default: "", Importance: plugins.High, Documentation: "Secret access key"}).
	Define(plugins.ConfigKey{Name: PartSizeConfig, Type: plugins.ConfigInt, Default: int32(25 << 20), Validator: plugins.Between(5<<20, 1<<31-1), Importance: plugins.High,
		Documentation: "Part size of multipart uploads; files larger than one part are uploaded in parts"}).
	Define(plugins.ConfigKey{Name: CompressionConfig, Type: plugins.ConfigString, Default: "none", Validator: plugins.OneOf("none", "gzip"), Importance: plugins.Low,
		Documentation: "Compression of JSON files"}).
	Define(plugins.ConfigKey{Name: SSEConfig, Type: plugins.ConfigString, Default: "", Validator: plugins.OneOf("", "AES256", "aws:kms"), Importance: plugins.Low, Documentation: "Server-side encryption"}).
	Define(plugins.ConfigKey{Name: ACLConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Low,
		Validator:     plugins.OneOf("", "private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"),
		Documentation: "Canned ACL of the objects"}).
	Define(plugins.ConfigKey{Name: TaggingConfig, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Low,
		Documentation: "Tag objects with startOffset, endOffset and recordCount"}).
	Define(plugins.ConfigKey{Name: BackoffConfig, Type: plugins.ConfigLong, Default: int64(200), Validator: plugins.AtLeast(0), Importance: plugins.Low, Documentation: "Backoff between S3 retries"}).
	Define(plugins.ConfigKey{Name: PartRetriesConfig, Type: plugins.ConfigInt, Default: int32(3), Validator: plugins.AtLeast(0), Importance: plugins.Low,
		Documentation: "Retries of one S3 request before the task's own retry takes over"})

func init() {
	plugins.Register(plugins.Registration{
		Class: "io.confluent.connect.s3.S3SinkConnector", Type: plugins.PluginSink,
		Aliases: []string{"s3-sink"}, Doc: "Archive topics to S3 objects, exactly once",
		New: func() any { return &Connector{} },
	})
}

// Connector is the S3 sink connector.
type Connector struct{ cfg plugins.Config }

var _ plugins.SinkConnector = (*Connector)(nil)

func (c *Connector) ConfigDef() *plugins.ConfigDef { return configDef }
func (c *Connector) Version() string               { return plugins.Version }
func (c *Connector) Stop() error                   { return nil }
func (c *Connector) NewTask() plugins.SinkTask {
	return &storage.Task{NewBackend: newBackend}
}

// Start validates the configuration.
func (c *Connector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := parse(cfg); err != nil {
		return err
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs: every task the same; the group spreads the partitions.
func (c *Connector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(c.cfg, maxTasks), nil
}

func parse(cfg plugins.Config) (*plugins.ParsedConfig, error) {
	p, err := configDef.Parse(cfg)
	if err != nil {
		return nil, fmt.Errorf("S3 sink: %w", err)
	}
	return p, nil
}

func newBackend(cfg plugins.Config) (*storage.Backend, error) {
	p, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	set, err := storage.Parse(p, formats, p.String(CompressionConfig) == "gzip")
	if err != nil {
		return nil, fmt.Errorf("S3 sink: %w", err)
	}
	st, err := newStore(context.Background(), p, set.TopicsDir)
	if err != nil {
		return nil, err
	}
	return &storage.Backend{Name: "S3 sink", Store: st, Settings: set,
		Naming: storage.Naming{TopicsDir: set.TopicsDir, DirDelim: set.DirDelim, FileDelim: set.FileDelim}}, nil
}

// Client builds an S3 client from the sink's keys (tests and the bench use
// it too).
func Client(ctx context.Context, p *plugins.ParsedConfig) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	opts = append(opts, awsconfig.WithRegion(p.String(RegionConfig)))
	if id := p.String(AccessKeyConfig); id != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, string(p.Password(SecretKeyConfig)), "")))
	}
	backoff := time.Duration(p.Long(BackoffConfig)) * time.Millisecond
	attempts := p.Int(PartRetriesConfig) + 1
	opts = append(opts, awsconfig.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			// The task retries on its own; the SDK's retry quota would
			// keep failing requests after an outage ends.
			o.RateLimiter = ratelimit.None
			o.MaxBackoff = max(backoff*8, time.Second)
		})
	}))
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 sink: AWS configuration: %w", err)
	}
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		o.UsePathStyle = p.Bool(PathStyleConfig)
		if u := p.String(StoreURLConfig); u != "" {
			o.BaseEndpoint = aws.String(u)
		}
	}), nil
}

// store writes objects with the S3 API directly: a file smaller than one
// part is one PutObject; a larger one is a multipart upload whose parts
// are sent while the file is still being written (storage.Streamer), so
// an open file holds about two parts (s3.part.size) in memory, one
// uploading behind Put while the next fills. A part
// that failed is sent again from the same bytes, which the SDK's upload
// manager (it consumes its reader once) cannot do without the whole file.
type store struct {
	cl        *s3.Client
	bucket    string
	topicsDir string
	sse       string
	acl       string
	tagging   bool
	partSize  int64
}

var _ storage.Streamer = (*store)(nil)

func newStore(ctx context.Context, p *plugins.ParsedConfig, topicsDir string) (*store, error) {
	cl, err := Client(ctx, p)
	if err != nil {
		return nil, err
	}
	return &store{cl: cl, bucket: p.String(BucketConfig), topicsDir: topicsDir, sse: p.String(SSEConfig), acl: p.String(ACLConfig),
		tagging: p.Bool(TaggingConfig), partSize: int64(p.Int(PartSizeConfig))}, nil
}

func (s *store) Commit(ctx context.Context, key string, data []byte, end int64) error {
	in := &s3.PutObjectInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(key),
		Body:     bytes.NewReader(data),
		Metadata: map[string]string{EndOffsetMeta: strconv.FormatInt(end, 10)},
	}
	if s.sse != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.sse)
	}
	if s.acl != "" {
		in.ACL = types.ObjectCannedACL(s.acl)
	}
	if s.tagging {
		// The start offset is in the key's name; the record count is not
		// known here without the file, so only the end is tagged.
		in.Tagging = aws.String("endOffset=" + strconv.FormatInt(end, 10))
	}
	_, err := s.cl.PutObject(ctx, in)
	return err
}

func (s *store) PartSize() int { return int(s.partSize) }

// Begin starts a multipart upload. Its object's metadata is fixed now,
// before the end offset is known, so Complete first writes the end to a
// small object beside the files (endPath), which EndOffset reads.
func (s *store) Begin(ctx context.Context, key string) (storage.Upload, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if s.sse != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.sse)
	}
	if s.acl != "" {
		in.ACL = types.ObjectCannedACL(s.acl)
	}
	out, err := s.cl.CreateMultipartUpload(ctx, in)
	if err != nil {
		return nil, err
	}
	return &upload{s: s, key: key, id: aws.ToString(out.UploadId)}, nil
}

// endPath is where the end offset of a multipart object is kept: under
// <topics.dir>/+ends/, outside the topics' directories that recovery
// lists.
func (s *store) endPath(key string) string {
	return s.topicsDir + "/+ends/" + strings.TrimPrefix(key, s.topicsDir+"/")
}

// endRecord is the content of an endPath object. Size tells it from a
// record left by an upload that never completed (a later rewrite of the
// same name).
type endRecord struct {
	End  int64 `json:"end"`
	Size int64 `json:"size"`
}

type upload struct {
	s     *store
	key   string
	id    string
	parts []types.CompletedPart
	size  int64
	// lastSent: Complete's own part went through, so a retried Complete
	// (same arguments) does not send it twice.
	lastSent bool
}

func (u *upload) Part(ctx context.Context, data []byte) error {
	n := int32(len(u.parts) + 1)
	out, err := u.s.cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key),
		UploadId: aws.String(u.id), PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
	if err != nil {
		return err
	}
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	u.size += int64(len(data))
	return nil
}

// Complete's p is the key Begin named: S3 names files by their start.
func (u *upload) Complete(ctx context.Context, _ string, last []byte, end int64) error {
	if len(last) > 0 && !u.lastSent {
		if err := u.Part(ctx, last); err != nil {
			return err
		}
		u.lastSent = true
	}
	rec, _ := json.Marshal(endRecord{End: end, Size: u.size})
	if err := u.s.WriteMarker(ctx, u.s.endPath(u.key), rec); err != nil {
		return fmt.Errorf("record the end offset: %w", err)
	}
	_, err := u.s.cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key),
		UploadId: aws.String(u.id), MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}})
	if err != nil {
		var nu *types.NoSuchUpload
		if errors.As(err, &nu) {
			// An earlier Complete whose answer was lost may have done it.
			if h, herr := u.s.cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key)}); herr == nil && aws.ToInt64(h.ContentLength) == u.size {
				return nil
			}
		}
		return err
	}
	if u.s.tagging {
		// Multipart uploads take tags only at their start; tag now (best
		// effort: the object is already visible and complete).
		_, _ = u.s.cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("endOffset"), Value: aws.String(strconv.FormatInt(end, 10))}}}})
	}
	return nil
}

func (u *upload) Abort(ctx context.Context) error {
	_, err := u.s.cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(u.s.bucket), Key: aws.String(u.key), UploadId: aws.String(u.id)})
	return err
}

func (s *store) List(ctx context.Context, dir string) ([]string, error) {
	var out []string
	pg := s3.NewListObjectsV2Paginator(s.cl, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(dir + "/")})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out, nil
}

func (s *store) EndOffset(ctx context.Context, key string) (int64, error) {
	h, err := s.cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	for k, v := range h.Metadata {
		if strings.EqualFold(k, EndOffsetMeta) {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	// A multipart object: its end was recorded beside it.
	b, ok, err := s.ReadMarker(ctx, s.endPath(key))
	if err != nil {
		return 0, fmt.Errorf("read the end offset of %s: %w", key, err)
	}
	var rec endRecord
	if !ok || json.Unmarshal(b, &rec) != nil {
		return 0, fmt.Errorf("object %s has no %s metadata and no end record (not written by weir's S3 sink)", key, EndOffsetMeta)
	}
	if rec.Size != aws.ToInt64(h.ContentLength) {
		return 0, fmt.Errorf("object %s is %d bytes, its end record %s says %d: the record belongs to an upload that never completed; remove the object or the record",
			key, aws.ToInt64(h.ContentLength), s.endPath(key), rec.Size)
	}
	return rec.End, nil
}

func (s *store) ReadMarker(ctx context.Context, key string) ([]byte, bool, error) {
	o, err := s.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		var nk *types.NoSuchKey
		if errors.As(err, &nk) {
			return nil, false, nil
		}
		return nil, false, err
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	return b, err == nil, err
}

func (s *store) WriteMarker(ctx context.Context, key string, data []byte) error {
	_, err := s.cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	return err
}

// Recover aborts multipart uploads of tp's objects that a crashed writer
// left unfinished (they hold parts that cost storage and never appear).
func (s *store) Recover(ctx context.Context, topicsDir string, tp plugins.TopicPartition) error {
	prefix := topicsDir + "/" + tp.Topic + "/"
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	for {
		out, err := s.cl.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("list unfinished uploads: %w", err)
		}
		for _, u := range out.Uploads {
			base := path.Base(aws.ToString(u.Key))
			if !strings.HasPrefix(base, tp.Topic+"+"+strconv.Itoa(int(tp.Partition))+"+") {
				continue
			}
			if _, err := s.cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
				return fmt.Errorf("abort upload of %s: %w", aws.ToString(u.Key), err)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (s *store) Close() error { return nil }
