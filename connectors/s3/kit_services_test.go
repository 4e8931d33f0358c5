//go:build services

package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/weirlog/weir/connectors/conformance"
	s3sink "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/plugins"
)

// These tests need versitygw from test/services (bash test/services/s3.sh
// start) and fail when it is down.

const kitBucket = "weir-kit"

func s3Endpoint() string {
	port := os.Getenv("WEIR_S3_PORT")
	if port == "" {
		port = "9000"
	}
	return "http://127.0.0.1:" + port
}

func baseConfig() map[string]string {
	return map[string]string{
		"store.url": s3Endpoint(), "s3.region": "us-east-1", "s3.path.style.access.enabled": "true",
		"aws.access.key.id": "weir", "aws.secret.access.key": "weirsecret", "s3.bucket.name": kitBucket,
	}
}

// client returns an S3 client of the test server and makes sure the
// bucket exists.
func client(t testing.TB) *s3.Client {
	t.Helper()
	cfg := plugins.Config(baseConfig())
	cfg["flush.size"] = "1"
	p, err := s3sink.ConfigDefForTest().Parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := s3sink.Client(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(kitBucket)}); err != nil {
		if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(kitBucket)}); err != nil {
			t.Fatalf("versitygw at %s is not reachable or the bucket cannot be made (start it: bash test/services/s3.sh start): %v", s3Endpoint(), err)
		}
	}
	return cl
}

// topicsDir is a directory unique to one stream of one run, so files of
// earlier runs (the bucket persists) are never recovered into this one.
func topicsDir(s *conformance.Stream) string {
	h := fnv.New64a()
	h.Write([]byte(s.Dir))
	return "kit/" + strconv.FormatUint(h.Sum64(), 36)
}

type harness struct {
	cl    *s3.Client
	extra map[string]string
	pad   string // appended to every value (bench: ~1 KiB records)

	mu         sync.Mutex
	disorder   []string // files whose records are not in ascending order
	rewritten  []string // names written again with other records (stream: name)
	seen       map[string]*version
	superseded map[string][]plugins.Record // per stream: records of objects written again since
}

func (*harness) Class() string                    { return "io.confluent.connect.s3.S3SinkConnector" }
func (*harness) Guarantee() conformance.Guarantee { return conformance.ExactlyOnce }
func (*harness) Carries() conformance.Fields      { return conformance.Values }

func (h *harness) Config(s *conformance.Stream) map[string]string {
	cfg := baseConfig()
	cfg["topics.dir"] = topicsDir(s)
	cfg["flush.size"] = "300"
	cfg["rotate.interval.ms"] = "1000"
	cfg["format.class"] = "io.confluent.connect.s3.format.json.JsonFormat"
	for k, v := range h.extra {
		cfg[k] = v
	}
	return cfg
}

var kitEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (h *harness) Record(i int) plugins.Record {
	return plugins.Record{
		Key: fmt.Sprintf("k%d", i), KeySchema: plugins.StringSchema,
		Value: fmt.Sprintf("v%08d \"quoted\" back\\slash\ttab ünïcødé ✓", i) + h.pad, ValueSchema: plugins.StringSchema,
		Timestamp: kitEpoch.Add(time.Duration(i) * time.Millisecond),
	}
}

func (*harness) ID(r plugins.Record) (int, bool) {
	s, _ := r.Value.(string)
	if len(s) < 9 || s[0] != 'v' {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:9])
	return n, err == nil
}

// Read lists the stream's objects and parses every JSON line. An object
// written again (a new LastModified or ETag under the same key: offsets
// moved back on purpose) keeps its earlier records counted too, so Read
// returns every record the sink ever wrote; unchanged objects come from a
// cache.
func (h *harness) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	objs, err := listObjects(ctx, h.cl, topicsDir(s)+"/"+s.Topic+"/")
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen, h.superseded = map[string]*version{}, map[string][]plugins.Record{}
	}
	var out []plugins.Record
	for _, o := range objs {
		v := h.seen[o.key]
		if v == nil || v.tag != o.tag {
			recs, err := h.readObject(ctx, o.key)
			if err != nil {
				return nil, err
			}
			if v != nil {
				h.superseded[s.Name] = append(h.superseded[s.Name], v.recs...)
				if s.Name != "kit-lifecycle" && !sameRecords(h, v.recs, recs) {
					h.rewritten = append(h.rewritten, s.Name+": "+o.key)
				}
			}
			v = &version{tag: o.tag, recs: recs}
			h.seen[o.key] = v
		}
		out = append(out, v.recs...)
	}
	return append(out, h.superseded[s.Name]...), nil
}

type version struct {
	tag  string
	recs []plugins.Record
}

func (h *harness) readObject(ctx context.Context, k string) ([]plugins.Record, error) {
	b, err := getObject(ctx, h.cl, k)
	if err != nil {
		return nil, err
	}
	var out []plugins.Record
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		r := plugins.Record{Value: v}
		if id, ok := h.ID(r); ok {
			if id <= last {
				h.disorder = append(h.disorder, k)
			}
			last = id
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

type object struct{ key, tag string }

func listObjects(ctx context.Context, cl *s3.Client, prefix string) ([]object, error) {
	var out []object
	pg := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(kitBucket), Prefix: aws.String(prefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			out = append(out, object{aws.ToString(o.Key), aws.ToString(o.ETag) + aws.ToTime(o.LastModified).String()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func getObject(ctx context.Context, cl *s3.Client, key string) ([]byte, error) {
	o, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(kitBucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer o.Body.Close()
	return io.ReadAll(o.Body)
}

// Down stops versitygw; Up starts it again with its data (posix backend).
func (*harness) Down(ctx context.Context, _ *conformance.Stream) error {
	return service(ctx, "stop")
}

func (*harness) Up(ctx context.Context, _ *conformance.Stream) error {
	return service(ctx, "start")
}

func service(ctx context.Context, verb string) error {
	cmd := exec.CommandContext(ctx, "bash", "../../test/services/s3.sh", verb)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("s3.sh %s: %v: %s", verb, err, out)
	}
	return nil
}

func (*harness) BadValues() map[string]string {
	return map[string]string{"store.url": "ftp://nowhere", "flush.size": "0", "partitioner.class": "NoSuchPartitioner"}
}

// kitRecords is how many records RoundTrip, Crash and Rebalance carry:
// the 200,000 in make test-long (WEIR_TEST_LONG=1), 20,000 in
// make test (still dozens of objects per partition at flush.size 300),
// and how long the kit waits for them.
func kitRecords() (int, time.Duration) {
	if os.Getenv("WEIR_TEST_LONG") != "" {
		return 200_000, 5 * time.Minute
	}
	return 20_000, 0
}

func TestS3SinkKit(t *testing.T) {
	h := &harness{cl: client(t)}
	n, wait := kitRecords()
	conformance.Run(t, h, conformance.Options{Records: n, Timeout: wait, Outage: 3 * time.Second, Partitions: 4})
	h.mu.Lock()
	defer h.mu.Unlock()
	// A name denotes one set of records (Confluent's deterministic
	// naming): written again it must hold the same ones, or a reader
	// that saw the first version and one that saw the second disagree.
	// Only Lifecycle moves offsets back on purpose.
	if len(h.rewritten) > 0 {
		t.Errorf("%d objects written again under the same name with other records: %s", len(h.rewritten), strings.Join(h.rewritten[:min(len(h.rewritten), 10)], ", "))
	}
	if len(h.disorder) > 0 {
		t.Errorf("objects with records out of offset order: %s", strings.Join(h.disorder[:min(len(h.disorder), 10)], ", "))
	}
}

// padded makes the bench's records about 1 KiB of JSON each.
var padding = strings.Repeat("x", 960)

// BenchmarkS3SinkKit is the throughput row of make bench-connectors:
// 1 KiB JSON records end to end through weir serve into versitygw.
func BenchmarkS3SinkKit(b *testing.B) {
	n := 50_000
	if s := os.Getenv("WEIR_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	h := &harness{cl: client(b), pad: padding, extra: map[string]string{"flush.size": "5000", "rotate.interval.ms": "-1", "rotate.schedule.interval.ms": "1000"}}
	var r conformance.Result
	for b.Loop() {
		r = conformance.Throughput(b, h, n, conformance.Options{Partitions: 4})
	}
	b.ReportMetric(r.RecordsPerSec(), "records/s")
	b.ReportMetric(r.MBPerSec(), "MB/s")
	b.Logf("%s: %s", h.Class(), r)
}

// BenchmarkS3RawUploadKit is the physical limit next to it: PutObject of
// 5 MB objects (the size of 5000 such records) into the same versitygw,
// one at a time, straight from memory.
func BenchmarkS3RawUploadKit(b *testing.B) {
	cl := client(b)
	body := bytes.Repeat([]byte(`"`+padding+`"`+"\n"), 5000)
	const objects = 20
	var el time.Duration
	for b.Loop() {
		start := time.Now()
		for i := range objects {
			if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(kitBucket),
				Key: aws.String(fmt.Sprintf("bench/raw-%d", i)), Body: bytes.NewReader(body)}); err != nil {
				b.Fatal(err)
			}
		}
		el = time.Since(start)
	}
	mb := float64(objects*len(body)) / 1e6
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.Logf("raw upload: %.1f MB in %s = %.1f MB/s", mb, el, mb/el.Seconds())
}

// sameRecords reports whether two versions of a file hold the same
// records in the same order.
func sameRecords(h *harness, a, b []plugins.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, okx := h.ID(a[i])
		y, oky := h.ID(b[i])
		if okx != oky || x != y {
			return false
		}
	}
	return true
}
