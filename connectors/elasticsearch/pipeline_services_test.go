//go:build services

package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/test/compat/harness"
)

// These tests drive a real `weir serve` (kill -9 really kills) with
// schemaless JSON values and string keys, produced with Kafka's key-hash
// partitioner so every key stays in one partition.

// weirNode is one weir serve (test/compat/harness's Proc, with the
// offsets flushed every second) that can be killed and started again;
// ready once its Connect REST API answers.
type weirNode struct {
	t           *testing.T
	p           *harness.Proc
	kafka, http string
}

func startWeir(t *testing.T) *weirNode {
	t.Helper()
	p := harness.StartWeir(t, "", "--log-level", "info", "--connect-offset-flush-interval", "1s")
	n := &weirNode{t: t, p: p, kafka: p.KafkaAddr, http: p.HTTPAddr}
	n.waitREST()
	return n
}

func (n *weirNode) start() {
	n.t.Helper()
	if err := n.p.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.waitREST()
}

// waitREST waits until GET /connectors answers 200 (the worker has read
// its config topic).
func (n *weirNode) waitREST() {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, _, err := n.rest("GET", "/connectors", nil); err == nil && st == 200 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("weir REST API not ready after 60s")
}

func (n *weirNode) kill() { n.p.Kill() }

func (n *weirNode) rest(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+n.http+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

func (n *weirNode) mustREST(method, path string, body any) []byte {
	n.t.Helper()
	st, b, err := n.rest(method, path, body)
	if err != nil || st >= 300 {
		n.t.Fatalf("%s %s: HTTP %d %s %v", method, path, st, b, err)
	}
	return b
}

type connStatus struct {
	Connector struct{ State string } `json:"connector"`
	Tasks     []struct {
		State string `json:"state"`
		Trace string `json:"trace"`
	} `json:"tasks"`
}

func (n *weirNode) status(name string) connStatus {
	var s connStatus
	if st, b, err := n.rest("GET", "/connectors/"+name+"/status", nil); err == nil && st == 200 {
		json.Unmarshal(b, &s)
	}
	return s
}

func (n *weirNode) waitTask(name, state string) connStatus {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := n.status(name)
		if len(s.Tasks) > 0 && s.Tasks[0].State == state {
			return s
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("connector %s: task not %s after 60s: %+v", name, state, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *weirNode) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.kafka), kgo.ProducerLinger(5 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, cl *kgo.Client, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(partitions), -1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

func produce(t *testing.T, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < len(recs); i += 5000 {
		if err := cl.ProduceSync(ctx, recs[i:min(i+5000, len(recs))]...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// sinkConfig is the connector config for topic into Elasticsearch at url.
func sinkConfig(topic, url string, kv ...string) map[string]string {
	c := map[string]string{
		"connector.class":                "ElasticsearchSink",
		"topics":                         topic,
		"connection.url":                 url,
		"key.converter":                  "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"value.converter.schemas.enable": "false",
		"retry.backoff.ms":               "50",
		"max.retries":                    "3",
		"read.timeout.ms":                "10000",
		// A killed worker's member leaves the group after 6 s, not 45:
		// the restarted one gets its partitions without that stall.
		"consumer.override.session.timeout.ms":    "6000",
		"consumer.override.heartbeat.interval.ms": "1000",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

// waitCount waits until index holds want documents.
func waitCount(t *testing.T, index string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := -1
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := docCount(ctx, index)
		cancel()
		if err == nil {
			got = c
			if c == want {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("index %s holds %d documents after %s, want %d", index, got, timeout, want)
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

// keyed makes n records over keys keys, key k<i%keys>, value {"key","seq","pad"}.
func keyed(topic string, from, to, keys int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		k := "k" + strconv.Itoa(i%keys)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(fmt.Sprintf(`{"key":%q,"seq":%d,"pad":"%s"}`, k, i, strings.Repeat("x", 40)))})
	}
	return recs
}

// checkLastValues asserts one document per key, each the key's last value.
func checkLastValues(t *testing.T, index string, n, keys int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hits, err := allDocs(ctx, index)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != keys {
		t.Errorf("index %s holds %d documents, want one per key: %d", index, len(hits), keys)
	}
	wrong := 0
	for _, h := range hits {
		k, _ := strconv.Atoi(strings.TrimPrefix(h.ID, "k"))
		last := n - 1 - ((n-1-k)%keys+keys)%keys // the largest i < n with i%keys == k
		seq, _ := h.Source["seq"].(json.Number).Int64()
		if int(seq) != last {
			if wrong < 5 {
				t.Errorf("document %s has seq %d, want its key's last value %d", h.ID, seq, last)
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d documents are not their key's last value", wrong, len(hits))
	}
}

// TestKeyedUpdatesSurviveKill9: 3 kill -9 rounds while keyed records with
// many updates per key flow over 4 partitions; afterwards the index holds
// exactly one document per key, equal to the key's last value. make test
// carries 40,000 records over 2,000 keys (20 updates a key, several
// batches and commits per round); make test-long (WEIR_TEST_LONG=1) the
// issue's 200,000 over 10,000.
func TestKeyedUpdatesSurviveKill9(t *testing.T) {
	t.Parallel()
	needES(t)
	total, keys := 40_000, 2_000
	if os.Getenv("WEIR_TEST_LONG") != "" {
		total, keys = 200_000, 10_000
	}
	n := startWeir(t)
	topic := uniqueName("es-kill")
	t.Cleanup(func() { deleteIndex(t, topic) })
	prod := n.client(t)
	createTopic(t, prod, topic, 4)
	const rounds = 3
	n.mustREST("PUT", "/connectors/"+topic+"/config", sinkConfig(topic, esURL(), "batch.size", "1000"))
	n.waitTask(topic, "RUNNING")
	per := total / (rounds + 1)
	for r := 0; r < rounds; r++ {
		produce(t, prod, keyed(topic, r*per, (r+1)*per, keys))
		// Kill while this round's documents are being written: once the
		// first of them is searchable, after up to another 0.5 s.
		waitSeqSince(t, topic, r*per)
		time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
		n.kill()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, _ := docCount(ctx, topic)
		cancel()
		t.Logf("kill -9 round %d after %d records produced: %d documents in the index", r+1, (r+1)*per, c)
		n.start()
		prod = n.client(t)
	}
	produce(t, prod, keyed(topic, rounds*per, total, keys))
	// Caught up when every key shows its last value: wait for the
	// committed offsets to reach the end, then check.
	waitCaughtUp(t, n, topic, total)
	checkLastValues(t, topic, total, keys)
	t.Logf("%d keyed records, %d keys, 4 partitions, %d kill -9 rounds: %d documents, each its key's last value", total, keys, rounds, keys)
}

// waitSeqSince waits until a document of index carries a seq ≥ from.
func waitSeqSince(t *testing.T, index string, from int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	q := map[string]any{"query": map[string]any{"range": map[string]any{"seq": map[string]any{"gte": from}}}}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, b, err := esDo(ctx, "POST", "/"+index+"/_count", q)
		cancel()
		var c struct {
			Count int `json:"count"`
		}
		if err == nil && st == 200 && json.Unmarshal(b, &c) == nil && c.Count > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no document of %s with seq >= %d after 60s", index, from)
}

// waitCaughtUp waits until the connector's committed offsets sum to total.
func waitCaughtUp(t *testing.T, n *weirNode, name string, total int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	sum := int64(0)
	for time.Now().Before(deadline) {
		st, b, err := n.rest("GET", "/connectors/"+name+"/offsets", nil)
		if err == nil && st == 200 {
			var o struct {
				Offsets []struct {
					Offset struct {
						KafkaOffset int64 `json:"kafka_offset"`
					} `json:"offset"`
				} `json:"offsets"`
			}
			json.Unmarshal(b, &o)
			sum = 0
			for _, x := range o.Offsets {
				sum += x.Offset.KafkaOffset
			}
			if sum == int64(total) {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("connector %s committed offsets sum to %d after 3m, want %d; status %+v", name, sum, total, n.status(name))
}
