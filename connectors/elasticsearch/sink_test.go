package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Unit tests of the pure logic (ids, index names, bulk actions, item and
// error classification, offsets) and of the write pipeline against a
// hand-written fake _bulk endpoint. The real Elasticsearch is in the
// *_services_test.go files (go test -tags services).

type fakeCtx struct {
	mu       sync.Mutex
	reported []string
	dlq      bool
}

func (*fakeCtx) Assignment() []plugins.TopicPartition { return nil }
func (*fakeCtx) Pause(...plugins.TopicPartition)      {}
func (*fakeCtx) Resume(...plugins.TopicPartition)     {}
func (*fakeCtx) RequestCommit()                       {}
func (c *fakeCtx) ErrantRecordReporter() func(*plugins.Record, error) {
	if !c.dlq {
		return nil
	}
	return func(r *plugins.Record, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.reported = append(c.reported, fmt.Sprintf("%v@%d: %v", r.Key, r.Offset, err))
	}
}

func newTask(t *testing.T, tctx plugins.SinkTaskContext, kv ...string) *SinkTask {
	t.Helper()
	cfg := plugins.Config{"name": "es-unit", "connection.url": "http://127.0.0.1:1"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	if tctx == nil {
		tctx = &fakeCtx{}
	}
	task := &SinkTask{}
	if err := task.Start(tctx, cfg); err != nil {
		t.Fatalf("Start(%v): %v", cfg, err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

var unitValue = plugins.StructBuilder().Field("n", plugins.Int64Schema).MustBuild()

func rec(topic string, part int32, off int64, key any, keySchema *plugins.Schema, value any) plugins.Record {
	r := plugins.Record{Topic: topic, Partition: part, Offset: off, Key: key, KeySchema: keySchema, Value: value}
	if _, ok := value.(*plugins.Struct); ok {
		r.ValueSchema = unitValue
	}
	return r
}

func TestDocumentIDAndIndexName(t *testing.T) {
	keySchema := plugins.StructBuilder().Field("a", plugins.Int32Schema).Field("b", plugins.StringSchema).MustBuild()
	val := plugins.NewStruct(unitValue).MustPut("n", int64(7))
	cases := []struct {
		name   string
		cfg    []string
		rec    plugins.Record
		index  string
		id     string
		action string
	}{
		{"string key, versioned by offset", nil, rec("Orders", 2, 41, "k1", plugins.StringSchema, val), "orders", "k1",
			`{"index":{"_index":"orders","_id":"k1","version":41,"version_type":"external"}}`},
		{"int key in its text form", nil, rec("t", 0, 5, int64(-12), plugins.Int64Schema, val), "t", "-12", ""},
		{"bool key", nil, rec("t", 0, 5, true, plugins.BooleanSchema, val), "t", "true", ""},
		{"float key", nil, rec("t", 0, 5, 1.5, plugins.Float64Schema, val), "t", "1.5", ""},
		{"struct key as its JSON", nil, rec("t", 0, 5, plugins.NewStruct(keySchema).MustPut("a", int32(1)).MustPut("b", "x"), keySchema, val), "t", `{"a":1,"b":"x"}`, ""},
		{"map key as its JSON", nil, rec("t", 0, 5, map[string]any{"z": "y"}, nil, val), "t", `{"z":"y"}`, ""},
		{"key.ignore: topic+partition+offset, no version", []string{"key.ignore", "true"}, rec("MyTopic", 3, 99, "k", plugins.StringSchema, val), "mytopic", "MyTopic+3+99",
			`{"index":{"_index":"mytopic","_id":"MyTopic+3+99"}}`},
		{"data stream name and create", []string{"data.stream.type", "LOGS", "data.stream.dataset", "app"}, rec("Web", 0, 8, "k", plugins.StringSchema, val), "logs-app-web", "Web+0+8",
			`{"create":{"_index":"logs-app-web","_id":"Web+0+8"}}`},
		{"id with quotes is escaped", nil, rec("t", 0, 1, `a"b`, plugins.StringSchema, val), "t", `a"b`,
			`{"index":{"_index":"t","_id":"a\"b","version":1,"version_type":"external"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := newTask(t, nil, c.cfg...)
			d, err := task.toDoc(&c.rec)
			if err != nil || d == nil {
				t.Fatalf("toDoc: %v, %v", d, err)
			}
			if d.index != c.index || d.id != c.id {
				t.Errorf("index %q id %q, want %q %q", d.index, d.id, c.index, c.id)
			}
			if c.action != "" && string(d.action) != c.action+"\n" {
				t.Errorf("action line\n got %s want %s", d.action, c.action)
			}
		})
	}
}

func TestWriteMethod(t *testing.T) {
	val := plugins.NewStruct(unitValue).MustPut("n", int64(3))
	r := rec("t", 1, 10, "k", plugins.StringSchema, val)
	ins, err := newTask(t, nil).toDoc(&r)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ins.action) + string(ins.source); got != `{"index":{"_index":"t","_id":"k","version":10,"version_type":"external"}}`+"\n"+`{"n":3}`+"\n" {
		t.Errorf("insert:\n%s", got)
	}
	up, err := newTask(t, nil, "write.method", "UPSERT").toDoc(&r)
	if err != nil {
		t.Fatal(err)
	}
	// An update cannot carry an external version.
	if got := string(up.action) + string(up.source); got != `{"update":{"_index":"t","_id":"k"}}`+"\n"+`{"doc":{"n":3},"doc_as_upsert":true}`+"\n" {
		t.Errorf("upsert:\n%s", got)
	}
}

func TestBehaviorOnNullValues(t *testing.T) {
	tomb := rec("t", 0, 77, "gone", plugins.StringSchema, nil)
	if _, err := newTask(t, nil).toDoc(&tomb); err == nil || !strings.Contains(err.Error(), "behavior.on.null.values=fail") {
		t.Errorf("default (fail): err = %v", err)
	}
	if d, err := newTask(t, nil, "behavior.on.null.values", "ignore").toDoc(&tomb); d != nil || err != nil {
		t.Errorf("ignore: %v %v", d, err)
	}
	d, err := newTask(t, nil, "behavior.on.null.values", "delete").toDoc(&tomb)
	if err != nil || d == nil {
		t.Fatalf("delete: %v %v", d, err)
	}
	// Versioned, so a replayed older record cannot resurrect the key
	// while Elasticsearch remembers the delete.
	if string(d.action) != `{"delete":{"_index":"t","_id":"gone","version":77,"version_type":"external"}}`+"\n" || d.source != nil {
		t.Errorf("delete item: %q %q", d.action, d.source)
	}
	if d, err := newTask(t, nil, "behavior.on.null.values", "delete", "key.ignore", "true").toDoc(&tomb); d != nil || err != nil {
		t.Errorf("delete with key.ignore (no document to delete): %v %v", d, err)
	}
	if _, err := parse(plugins.Config{"connection.url": "http://x:9200", "behavior.on.null.values": "delete", "data.stream.type": "logs", "data.stream.dataset": "a"}); err == nil {
		t.Error("delete with a data stream: no error")
	}
}

func TestNullKey(t *testing.T) {
	r := rec("t", 0, 3, nil, nil, plugins.NewStruct(unitValue).MustPut("n", int64(1)))
	if _, err := newTask(t, nil).toDoc(&r); err == nil || !strings.Contains(err.Error(), "null key") {
		t.Errorf("null key: err = %v", err)
	}
	if d, err := newTask(t, nil, "drop.invalid.message", "true").toDoc(&r); d != nil || err != nil {
		t.Errorf("drop.invalid.message: %v %v", d, err)
	}
	if d, err := newTask(t, nil, "key.ignore", "true").toDoc(&r); d == nil || err != nil {
		t.Errorf("key.ignore: %v %v", d, err)
	}
}

func TestBehaviorOnMalformedDocuments(t *testing.T) {
	d := &doc{rec: plugins.Record{Topic: "t", Partition: 1, Offset: 9, Key: "k9"}, index: "t", id: "k9"}
	e := &esError{Type: "document_parsing_exception", Reason: "failed to parse field [n]", CausedBy: &esError{Type: "illegal_argument_exception", Reason: "For input string"}}
	for _, b := range []string{"ignore", "warn"} {
		if err := newTask(t, nil, "behavior.on.malformed.documents", b).malformed(d, e); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	err := newTask(t, nil).malformed(d, e)
	var me *malformedError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "document_parsing_exception") || !strings.Contains(err.Error(), `"k9"`) || !strings.Contains(err.Error(), "t-1@9") {
		t.Errorf("fail: %v", err)
	}
	if transient(err) {
		t.Error("a malformed document is retried")
	}
	// errors.tolerance=all with a dead letter queue: reported, not failed,
	// whatever behavior.on.malformed.documents says.
	fc := &fakeCtx{dlq: true}
	if err := newTask(t, fc, "errors.tolerance", "all").malformed(d, e); err != nil {
		t.Fatal(err)
	}
	if len(fc.reported) != 1 || !strings.Contains(fc.reported[0], "failed to parse field") {
		t.Errorf("reported %v", fc.reported)
	}
}

func TestErrorClassification(t *testing.T) {
	var netErr net.Error = &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	cases := []struct {
		err  error
		want bool
	}{
		{&httpError{status: 429}, true},
		{&httpError{status: 503}, true},
		{&httpError{status: 500}, true},
		{&httpError{status: 400}, false},
		{&httpError{status: 401}, false},
		{&httpError{status: 404}, false},
		{fmt.Errorf("bulk: %w", &httpError{status: 502}), true},
		{netErr, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{&malformedError{errors.New("x")}, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	items := map[int]itemKind{200: itemDone, 201: itemDone, 409: itemDone, 400: itemMalformed, 429: itemRetry, 500: itemRetry, 503: itemRetry, 404: itemRetry}
	for st, want := range items {
		if got := itemClass(st); got != want {
			t.Errorf("itemClass(%d) = %v, want %v", st, got, want)
		}
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "3")
	if he := readError(429, h, strings.NewReader(`{"error":"x"}`)); he.retryAfter != 3*time.Second || he.status != 429 || he.body != `{"error":"x"}` {
		t.Errorf("readError: %+v", he)
	}
	h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if he := readError(503, h, strings.NewReader("")); he.retryAfter < 59*time.Minute {
		t.Errorf("HTTP-date Retry-After: %v", he.retryAfter)
	}
	for attempt := 0; attempt < 30; attempt++ {
		b := backoff(100*time.Millisecond, attempt, 0)
		ceil := min(100*time.Millisecond<<min(attempt, 16), 10*time.Second)
		if b < ceil/2 || b > ceil {
			t.Errorf("attempt %d: backoff %v outside [%v, %v]", attempt, b, ceil/2, ceil)
		}
	}
	if b := backoff(time.Millisecond, 0, 2*time.Second); b != 2*time.Second {
		t.Errorf("Retry-After not honoured: %v", b)
	}
}

// The mapping of a bulk response's items to what the sink does with each
// document.
func TestClassifyBulkResponse(t *testing.T) {
	docs := make([]*doc, 6)
	for i := range docs {
		docs[i] = &doc{id: fmt.Sprint(i)}
	}
	body := `{"errors":true,"items":[
 {"index":{"_id":"0","status":201,"result":"created"}},
 {"index":{"_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"current version [9] is higher"}}},
 {"index":{"_id":"2","status":400,"error":{"type":"document_parsing_exception","reason":"bad n"}}},
 {"index":{"_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
 {"delete":{"_id":"4","status":404,"result":"not_found"}},
 {"update":{"_id":"5","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary not active"}}}]}`
	o, err := classify(strings.NewReader(body), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.malformed) != 1 || o.malformed[0].d != docs[2] || o.malformed[0].e.Type != "document_parsing_exception" {
		t.Errorf("malformed: %+v", o.malformed)
	}
	if len(o.retry) != 2 || o.retry[0] != docs[3] || o.retry[1] != docs[5] {
		t.Errorf("retry: %v", o.retry)
	}
	if !strings.Contains(o.example, "429 es_rejected_execution_exception") {
		t.Errorf("example: %q", o.example)
	}
	if _, err := classify(strings.NewReader(`{"errors":false,"items":[{"index":{"status":201}}]}`), docs); err == nil {
		t.Error("item count mismatch: no error")
	}
	if o, err := classify(strings.NewReader(`{"errors":false,"items":[{"index":{"status":201}}]}`), docs[:1]); err != nil || len(o.retry)+len(o.malformed) != 0 {
		t.Errorf("all written: %+v %v", o, err)
	}
}

func TestSafeOffsets(t *testing.T) {
	a, b, c := plugins.TopicPartition{Topic: "t", Partition: 0}, plugins.TopicPartition{Topic: "t", Partition: 1}, plugins.TopicPartition{Topic: "u", Partition: 0}
	got := safeOffsets(map[plugins.TopicPartition]int64{a: 100, b: 50, c: 7}, map[plugins.TopicPartition]int64{a: 60, b: 80})
	if got[a] != 60 || got[b] != 50 || got[c] != 7 || len(got) != 3 {
		t.Errorf("safeOffsets = %v", got)
	}
}

func TestMappingFromSchema(t *testing.T) {
	inner := plugins.StructBuilder().Field("x", plugins.Float32Schema).MustBuild()
	s := plugins.StructBuilder().
		Field("s", plugins.StringSchema).Field("i", plugins.Int32Schema).Field("in", inner).
		Field("arr", plugins.ArraySchema(plugins.Int64Schema)).MustBuild()
	m, err := mapping(s)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(m)
	for _, want := range []string{"i:map[type:integer]", "in:map[properties:map[x:map[type:float]] type:object]", "arr:map[type:long]", "s:map[fields:map[keyword"} {
		if !strings.Contains(got, want) {
			t.Errorf("mapping %s lacks %s", got, want)
		}
	}
	if _, err := mapping(plugins.StringSchema); err == nil {
		t.Error("a string value schema mapped")
	}
}

// fakeBulk is a hand-written _bulk endpoint: it answers every item 201
// (or what status says), holding each request until release is closed.
type fakeBulk struct {
	srv      *httptest.Server
	requests atomic.Int64
	items    atomic.Int64
	status   atomic.Int64 // whole-request status; 0: 200
	hold     chan struct{}
	inflight atomic.Int64
	peak     atomic.Int64
}

func newFakeBulk(t *testing.T) *fakeBulk {
	f := &fakeBulk{hold: make(chan struct{})}
	close(f.hold)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/_bulk") {
			w.WriteHeader(200)
			io.WriteString(w, `{}`)
			return
		}
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
		}
		b, _ := io.ReadAll(r.Body)
		f.requests.Add(1)
		<-f.hold
		if st := f.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			io.WriteString(w, `{"error":"unavailable"}`)
			return
		}
		items := strings.Count(string(b), "\n") / 2
		f.items.Add(int64(items))
		var sb strings.Builder
		sb.WriteString(`{"errors":false,"items":[`)
		for i := 0; i < items; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`{"index":{"status":201}}`)
		}
		sb.WriteString("]}")
		io.WriteString(w, sb.String())
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func records(topic string, part int32, from, to int) []plugins.Record {
	var out []plugins.Record
	for i := from; i < to; i++ {
		out = append(out, rec(topic, part, int64(i), fmt.Sprint("k", i), plugins.StringSchema, plugins.NewStruct(unitValue).MustPut("n", int64(i))))
	}
	return out
}

// Put returns before Elasticsearch answers; PreCommit never reports an
// offset past a document not yet acknowledged, and reports everything
// once the requests are answered.
func TestPipelineCommitsOnlyAcknowledged(t *testing.T) {
	f := newFakeBulk(t)
	f.hold = make(chan struct{})
	task := newTask(t, nil, "connection.url", f.srv.URL, "schema.ignore", "true", "batch.size", "100", "max.in.flight.requests", "3",
		"consumer.override.max.poll.records", "300")
	tp := plugins.TopicPartition{Topic: "t", Partition: 0}
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- task.Put(ctx, records("t", 0, 0, 300)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a full Put waited for Elasticsearch")
	}
	for f.inflight.Load() < 3 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	got, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 300})
	if err != nil || got[tp] != 0 {
		t.Fatalf("PreCommit with every request unanswered = %v, %v; want offset 0", got, err)
	}
	close(f.hold)
	if err := task.wait(ctx, func(p *pipeline) bool { return len(p.inflight) == 0 }); err != nil {
		t.Fatal(err)
	}
	got, err = task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 300})
	if err != nil || got[tp] != 300 {
		t.Fatalf("PreCommit after every answer = %v, %v; want 300", got, err)
	}
	if f.peak.Load() != 3 || f.items.Load() != 300 || f.requests.Load() != 3 {
		t.Errorf("peak in flight %d (want 3 = max.in.flight.requests), items %d, requests %d", f.peak.Load(), f.items.Load(), f.requests.Load())
	}
}

// A batch that failed transiently after max.retries in the background is
// resent by the next Put; while it still fails, Put returns Retriable and
// takes nothing (the runtime redelivers exactly that batch).
func TestPipelineTransientFailureHoldsOffsets(t *testing.T) {
	f := newFakeBulk(t)
	f.status.Store(503)
	task := newTask(t, nil, "connection.url", f.srv.URL, "schema.ignore", "true", "batch.size", "50", "max.retries", "1", "retry.backoff.ms", "1",
		"consumer.override.max.poll.records", "100")
	tp := plugins.TopicPartition{Topic: "t", Partition: 0}
	ctx := context.Background()
	if err := task.Put(ctx, records("t", 0, 0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := task.wait(ctx, func(p *pipeline) bool { return len(p.inflight) == 0 }); err != nil {
		t.Fatal(err)
	}
	err := task.Put(ctx, records("t", 0, 100, 200))
	var re *plugins.Retriable
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Put while Elasticsearch answers 503: %v, want Retriable", err)
	}
	got, _ := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 100})
	if got[tp] != 0 {
		t.Fatalf("PreCommit while the first batch is unwritten = %v, want 0", got)
	}
	f.status.Store(0)
	if err := task.Put(ctx, records("t", 0, 100, 200)); err != nil {
		t.Fatal(err)
	}
	if err := task.drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 200}); err != nil || got[tp] != 200 {
		t.Fatalf("PreCommit after recovery = %v %v, want 200", got, err)
	}
	if f.items.Load() != 200 {
		t.Errorf("%d documents written, want 200 (the failed batch once, the refused Put's none)", f.items.Load())
	}
}

// A short Put (the tail of the backlog) returns only once its documents
// are written, so a fatal outcome fails it rather than waiting for a Put
// that may never come.
func TestShortPutIsSynchronous(t *testing.T) {
	f := newFakeBulk(t)
	f.status.Store(400)
	task := newTask(t, nil, "connection.url", f.srv.URL, "schema.ignore", "true")
	err := task.Put(context.Background(), records("t", 0, 0, 10))
	if err == nil || transient(err) {
		t.Fatalf("short Put with Elasticsearch answering 400: %v, want a non-retriable error", err)
	}
}
