//go:build services

package elasticsearch_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyIgnoreCountsEveryRecord: with key.ignore=true every record is its
// own document (topic+partition+offset), a kill -9 included.
func TestKeyIgnoreCountsEveryRecord(t *testing.T) {
	t.Parallel()
	needES(t)
	n := startWeir(t)
	topic := uniqueName("es-keyignore")
	t.Cleanup(func() { deleteIndex(t, topic) })
	prod := n.client(t)
	createTopic(t, prod, topic, 4)
	const total = 20_000
	n.mustREST("PUT", "/connectors/"+topic+"/config", sinkConfig(topic, esURL(), "key.ignore", "true"))
	n.waitTask(topic, "RUNNING")
	produce(t, prod, keyed(topic, 0, total/2, 10))
	time.Sleep(time.Second)
	n.kill()
	n.start()
	produce(t, n.client(t), keyed(topic, total/2, total, 10))
	waitCount(t, topic, total, 2*time.Minute)
	waitCaughtUp(t, n, topic, total)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if c, err := docCount(ctx, topic); err != nil || c != total {
		t.Fatalf("key.ignore=true: %d documents (%v), want %d (one per record)", c, err, total)
	}
}

// TestTombstonesDeleteAndResetChangesNothing: null values delete their key's
// document (behavior.on.null.values=delete); then the offsets are deleted
// (KIP-875) and the whole topic replays: not one document changes (same
// content, same version), and no deleted key comes back within
// index.gc_deletes.
func TestTombstonesDeleteAndResetChangesNothing(t *testing.T) {
	t.Parallel()
	needES(t)
	n := startWeir(t)
	topic := uniqueName("es-tomb")
	t.Cleanup(func() { deleteIndex(t, topic) })
	prod := n.client(t)
	createTopic(t, prod, topic, 4)
	const total, keys = 5000, 500
	recs := keyed(topic, 0, total, keys)
	// Tombstones for the first 100 keys, after all their updates.
	for k := 0; k < 100; k++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(k))})
	}
	n.mustREST("PUT", "/connectors/"+topic+"/config", sinkConfig(topic, esURL(), "behavior.on.null.values", "delete"))
	n.waitTask(topic, "RUNNING")
	produce(t, prod, recs)
	waitCaughtUp(t, n, topic, len(recs))
	waitCount(t, topic, keys-100, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := allDocs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range before {
		if k, _ := strconv.Atoi(strings.TrimPrefix(h.ID, "k")); k < 100 {
			t.Fatalf("document %s survived its tombstone", h.ID)
		}
	}
	n.mustREST("PUT", "/connectors/"+topic+"/stop", nil)
	deadline := time.Now().Add(30 * time.Second)
	for n.status(topic).Connector.State != "STOPPED" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	n.mustREST("DELETE", "/connectors/"+topic+"/offsets", nil)
	n.mustREST("PUT", "/connectors/"+topic+"/resume", nil)
	n.waitTask(topic, "RUNNING")
	waitCaughtUp(t, n, topic, len(recs))
	after, err := allDocs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("replay from the start changed the document count: %d → %d", len(before), len(after))
	}
	was := map[string]hit{}
	for _, h := range before {
		was[h.ID] = h
	}
	for _, h := range after {
		b, ok := was[h.ID]
		bs, _ := json.Marshal(b.Source)
		as, _ := json.Marshal(h.Source)
		if !ok || b.Version != h.Version || string(bs) != string(as) {
			t.Fatalf("replay changed document %s: version %d → %d, %s → %s", h.ID, b.Version, h.Version, bs, as)
		}
	}
	t.Logf("%d records + 100 tombstones: %d documents; replay of the whole topic changed none", total, len(after))
}

// TestMalformedDocumentDLQOrFail: a document that conflicts with the
// index's mapping goes to the dead letter queue with the Elasticsearch
// error in a header (errors.tolerance=all), the others are indexed; with
// errors.tolerance=none the task FAILs with a trace naming the error.
func TestMalformedDocumentDLQOrFail(t *testing.T) {
	t.Parallel()
	needES(t)
	n := startWeir(t)
	prod := n.client(t)
	bad := func(topic string) []*kgo.Record {
		var recs []*kgo.Record
		for i := 0; i < 100; i++ {
			v := strconv.Itoa(i)
			if i == 50 {
				v = `"not a number"`
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i)), Value: []byte(`{"n":` + v + `}`)})
		}
		return recs
	}
	// The mapping says n is a long.
	mkIndex := func(topic string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if st, b, err := esDo(ctx, "PUT", "/"+topic, `{"mappings":{"properties":{"n":{"type":"long"}}}}`); err != nil || st >= 300 {
			t.Fatalf("create index: %d %s %v", st, b, err)
		}
		t.Cleanup(func() { deleteIndex(t, topic) })
	}

	topic := uniqueName("es-dlq")
	mkIndex(topic)
	createTopic(t, prod, topic, 1)
	n.mustREST("PUT", "/connectors/"+topic+"/config", sinkConfig(topic, esURL(), "errors.tolerance", "all",
		"errors.deadletterqueue.topic.name", topic+"-dlq", "errors.deadletterqueue.topic.replication.factor", "1",
		"errors.deadletterqueue.context.headers.enable", "true"))
	n.waitTask(topic, "RUNNING")
	produce(t, prod, bad(topic))
	waitCount(t, topic, 99, time.Minute)
	cons := n.client(t, kgo.ConsumeTopics(topic+"-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dlq []*kgo.Record
	for len(dlq) == 0 && ctx.Err() == nil {
		dlq = append(dlq, cons.PollFetches(ctx).Records()...)
	}
	if len(dlq) != 1 || string(dlq[0].Key) != "k50" {
		t.Fatalf("dead letter queue holds %d records (%v), want k50 alone", len(dlq), dlq)
	}
	msg := ""
	for _, h := range dlq[0].Headers {
		if h.Key == "__connect.errors.exception.message" {
			msg = string(h.Value)
		}
	}
	if !strings.Contains(msg, "parsing_exception") || !strings.Contains(msg, "k50") {
		t.Fatalf("DLQ record's __connect.errors.exception.message = %q, want the Elasticsearch parsing error of k50", msg)
	}
	t.Logf("DLQ: %s", msg)

	topic2 := uniqueName("es-fail")
	mkIndex(topic2)
	createTopic(t, prod, topic2, 1)
	n.mustREST("PUT", "/connectors/"+topic2+"/config", sinkConfig(topic2, esURL(), "batch.size", "10"))
	n.waitTask(topic2, "RUNNING")
	produce(t, prod, bad(topic2))
	st := n.waitTask(topic2, "FAILED")
	if tr := st.Tasks[0].Trace; !strings.Contains(tr, "parsing_exception") || !strings.Contains(tr, "k50") || !strings.Contains(tr, topic2) {
		t.Fatalf("FAILED task's trace does not name the document and the Elasticsearch error:\n%s", tr)
	}
	t.Logf("FAILED trace: %.300s", st.Tasks[0].Trace)
}

// TestTooManyRequestsStorm: Elasticsearch (a proxy in front of it)
// answers 429 with Retry-After to a run of bulk requests; the sink backs
// off and retries, and nothing is lost.
func TestTooManyRequestsStorm(t *testing.T) {
	t.Parallel()
	needES(t)
	n := startWeir(t)
	p := newESProxy(t)
	topic := uniqueName("es-429")
	t.Cleanup(func() { deleteIndex(t, topic) })
	prod := n.client(t)
	createTopic(t, prod, topic, 4)
	const total = 20_000
	n.mustREST("PUT", "/connectors/"+topic+"/config", sinkConfig(topic, p.URL(), "key.ignore", "true", "batch.size", "500", "max.retries", "12",
		"retry.backoff.ms", "20"))
	n.waitTask(topic, "RUNNING")
	produce(t, prod, keyed(topic, 0, total/4, 100))
	// 12 refusals: with max.in.flight.requests=5 every request meets
	// several, and backoff (doubling from 20 ms) outlasts them within
	// max.retries; Retry-After: 1 makes every wait at least 1 s.
	const storm = 12
	p.retryAfter = "1"
	p.storm.Store(storm)
	start := time.Now()
	produce(t, prod, keyed(topic, total/4, total, 100))
	waitCount(t, topic, total, 2*time.Minute)
	if p.stormd.Load() < storm {
		t.Fatalf("only %d bulk requests met the 429 storm", p.stormd.Load())
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("%d bulk requests answered 429 with Retry-After: 1 were all through in %s: the sink did not wait", storm, el)
	}
	t.Logf("429 storm: %d bulk requests refused, %d passed; %d documents, none lost", p.stormd.Load(), p.bulks.Load(), total)
}

// TestDataStream: with data.stream.type=LOGS records land in the data
// stream logs-<dataset>-<topic>, each with its @timestamp.
func TestDataStream(t *testing.T) {
	t.Parallel()
	needES(t)
	n := startWeir(t)
	topic := uniqueName("es-ds")
	name := "logs-weirtest-" + topic
	t.Cleanup(func() {
		// Without the data-streams module a stream cannot be deleted
		// here (DELETE _data_stream has no handler); try anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		esDo(ctx, "DELETE", "/_data_stream/"+name, nil)
	})
	prod := n.client(t)
	createTopic(t, prod, topic, 2)
	n.mustREST("PUT", "/connectors/"+topic+"/config", sinkConfig(topic, esURL(), "data.stream.type", "LOGS", "data.stream.dataset", "weirtest"))
	n.waitTask(topic, "RUNNING")
	produce(t, prod, keyed(topic, 0, 1000, 10))
	waitCount(t, name, 1000, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// _resolve/index rather than GET _data_stream: the integ-test-zip has
	// no data-streams REST module (the streams themselves work).
	st, b, err := esDo(ctx, "GET", "/_resolve/index/"+name, nil)
	if err != nil || st != 200 || !strings.Contains(string(b), `"data_streams":[{"name":"`+name+`"`) {
		t.Fatalf("GET _resolve/index/%s: %d %s %v, want it a data stream", name, st, b, err)
	}
	hits, err := allDocs(ctx, name)
	if err != nil || len(hits) != 1000 {
		t.Fatalf("data stream %s: %d documents (%v)", name, len(hits), err)
	}
	if _, ok := hits[0].Source["@timestamp"]; !ok {
		t.Fatalf("document without @timestamp: %v", hits[0].Source)
	}
}
