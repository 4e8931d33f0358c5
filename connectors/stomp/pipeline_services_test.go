//go:build services

package stomp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/test/compat/harness"
)

// The pipeline tests run the real `weir serve` (built from this tree) as
// the worker, with ActiveMQ on both ends.

// pipelineN is the message count of TestPipelineQueueTopicQueue (the
// issue's 100,000); WEIR_STOMP_N overrides it.
func pipelineN() int {
	if n, err := strconv.Atoi(os.Getenv("WEIR_STOMP_N")); err == nil && n > 0 {
		return n
	}
	return 100000
}

func putConnector(t testing.TB, p *harness.Proc, name string, cfg map[string]string) {
	t.Helper()
	b, _ := json.Marshal(cfg)
	req, _ := http.NewRequest(http.MethodPut, "http://"+p.HTTPAddr+"/connectors/"+name+"/config", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT connector %s: %v", name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT connector %s: %s %s", name, resp.Status, body)
	}
}

// waitRunning waits until the connector and all its tasks are RUNNING.
func waitRunning(t testing.TB, p *harness.Proc, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.HTTPAddr + "/connectors/" + name + "/status")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			var st struct {
				Connector struct{ State string }
				Tasks     []struct{ State, Trace string }
			}
			if json.Unmarshal(b, &st) == nil && st.Connector.State == "RUNNING" && len(st.Tasks) > 0 {
				ok := true
				for _, ts := range st.Tasks {
					if ts.State == "FAILED" {
						t.Fatalf("connector %s task failed: %s", name, ts.Trace)
					}
					ok = ok && ts.State == "RUNNING"
				}
				if ok {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("connector %s not running after 60s: %s", name, last)
}

func taskCount(t testing.TB, p *harness.Proc, name string) int {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTPAddr + "/connectors/" + name + "/tasks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tasks []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&tasks); err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}

func sourceConnector(dest, topic string, kv ...string) map[string]string {
	cfg := map[string]string{
		"connector.class":    "StompSource",
		"tasks.max":          "1",
		"stomp.url":          stompURL(),
		"stomp.destinations": dest,
		"kafka.topic":        topic,
		"key.converter":      "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":    "org.apache.kafka.connect.converters.ByteArrayConverter",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

func sinkConnector(topic, dest string, kv ...string) map[string]string {
	cfg := map[string]string{
		"connector.class":   "StompSink",
		"tasks.max":         "1",
		"topics":            topic,
		"stomp.url":         stompURL(),
		"stomp.destination": dest,
		"key.converter":     "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":   "org.apache.kafka.connect.converters.ByteArrayConverter",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

// collector reads a queue in the background and counts each message by
// its app-seq header.
type collector struct {
	mu    sync.Mutex
	seen  map[int]int
	total int
	bad   []string
	stop  chan struct{}
	done  chan struct{}
}

func collect(t testing.TB, dest string) *collector {
	t.Helper()
	c := dial(t)
	sub, err := c.Subscribe(dest, gostomp.AckClientIndividual, gostomp.SubscribeOpt.Header("activemq.prefetchSize", "2000"))
	if err != nil {
		t.Fatalf("subscribe %s: %v", dest, err)
	}
	col := &collector{seen: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for {
			select {
			case <-col.stop:
				drainAway(sub)
				return
			case m := <-sub.C:
				if m == nil || m.Err != nil {
					col.mu.Lock()
					col.bad = append(col.bad, fmt.Sprintf("subscription ended: %v", m))
					col.mu.Unlock()
					return
				}
				_ = c.Ack(m)
				seq, err := strconv.Atoi(m.Header.Get("app-seq"))
				col.mu.Lock()
				if err != nil {
					col.bad = append(col.bad, "no app-seq: "+m.Header.Get("message-id"))
				} else {
					if want := "body-" + strconv.Itoa(seq); !strings.HasPrefix(string(m.Body), want) || m.Header.Get("app-tag") != "t"+strconv.Itoa(seq%7) {
						col.bad = append(col.bad, fmt.Sprintf("seq %d: body %.20q tag %q", seq, m.Body, m.Header.Get("app-tag")))
					}
					col.seen[seq]++
				}
				col.total++
				col.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { col.close() })
	return col
}

func (c *collector) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// waitDistinct waits until n distinct messages arrived and then idle
// passes without a new one (so late duplicates are counted too).
func (c *collector) waitDistinct(t testing.TB, n int, timeout, idle time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for c.distinct() < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	last, quiet := -1, time.Now()
	for time.Since(quiet) < idle {
		c.mu.Lock()
		tot := c.total
		c.mu.Unlock()
		if tot != last {
			last, quiet = tot, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report checks every seq in [0,n) arrived and returns the duplicates.
func (c *collector) report(t testing.TB, n int) (dups int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, dupSeqs []int
	for i := 0; i < n; i++ {
		switch k := c.seen[i]; {
		case k == 0:
			missing = append(missing, i)
		case k > 1:
			dups += k - 1
			dupSeqs = append(dupSeqs, i)
		}
	}
	if len(c.bad) > 0 {
		t.Errorf("%d malformed messages, first: %s", len(c.bad), c.bad[0])
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d messages missing from the output queue, first %v", len(missing), n, missing[:min(10, len(missing))])
	}
	if len(dupSeqs) > 0 {
		t.Logf("duplicates: %d messages (%d extra copies), first app-seq %v", len(dupSeqs), dups, dupSeqs[:min(20, len(dupSeqs))])
	}
	return dups
}

func genMsg(i int) msgSpec {
	return msgSpec{body: []byte(fmt.Sprintf("body-%d-%s", i, strings.Repeat("x", 64))),
		headers: []string{"app-seq", strconv.Itoa(i), "app-tag", "t" + strconv.Itoa(i%7)}}
}

// 100,000 messages with headers: queue → StompSource → topic → StompSink
// → second queue; each arrives exactly once (no crash, so no duplicate).
func TestPipelineQueueTopicQueue(t *testing.T) {
	n := pipelineN()
	in, out := "/queue/"+unique("weir.in"), "/queue/"+unique("weir.out")
	topic := strings.ReplaceAll(unique("stomp-pipe"), ".", "-")
	p := harness.StartWeir(t, "")
	col := collect(t, out)
	// Two competing consumers on the input queue.
	putConnector(t, p, "src", sourceConnector(in, topic, "tasks.max", "2"))
	putConnector(t, p, "snk", sinkConnector(topic, out))
	waitRunning(t, p, "src")
	waitRunning(t, p, "snk")
	if tasks := taskCount(t, p, "src"); tasks != 2 {
		t.Fatalf("source has %d tasks, want 2 competing consumers", tasks)
	}
	start := time.Now()
	send(t, in, n, genMsg)
	t.Logf("sent %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	col.waitDistinct(t, n, 3*time.Minute, 3*time.Second)
	t.Logf("%d distinct messages in the output queue after %v (%d received)", col.distinct(), time.Since(start).Round(time.Millisecond), col.total)
	if dups := col.report(t, n); dups != 0 {
		t.Errorf("%d duplicates without any crash", dups)
	}
}

// kill -9 of the worker mid-stream, three times: nothing is lost, in the
// topic (every message-id) or in the output queue; duplicates (only of
// messages not yet acknowledged when the worker died) are counted.
func TestPipelineSurvivesKill9(t *testing.T) {
	n := pipelineN() / 10
	in, out := "/queue/"+unique("weir.kin"), "/queue/"+unique("weir.kout")
	topic := strings.ReplaceAll(unique("stomp-kill"), ".", "-")
	p := harness.StartWeir(t, "")
	col := collect(t, out)
	putConnector(t, p, "src", sourceConnector(in, topic))
	putConnector(t, p, "snk", sinkConnector(topic, out))
	waitRunning(t, p, "src")
	waitRunning(t, p, "snk")
	// The input arrives over ~10 s or more, so that every kill is mid-stream.
	sent := make(chan struct{})
	const chunks = 30
	go func() {
		defer close(sent)
		for c := 0; c < chunks; c++ {
			from, to := n*c/chunks, n*(c+1)/chunks
			send(t, in, to-from, func(i int) msgSpec { return genMsg(from + i) })
			time.Sleep(300 * time.Millisecond)
		}
	}()
	for round := 1; round <= 3; round++ {
		// Kill once the (restarted) pipeline has moved on by n/10.
		base := col.distinct()
		for deadline := time.Now().Add(time.Minute); col.distinct() < base+n/10 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		got := col.distinct()
		if got >= n {
			t.Fatalf("round %d: the stream had already completed; nothing was killed mid-stream", round)
		}
		t.Logf("round %d: kill -9 with %d of %d messages in the output queue", round, got, n)
		p.Kill()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	<-sent
	col.waitDistinct(t, n, 3*time.Minute, 5*time.Second)
	dups := col.report(t, n)
	t.Logf("output queue: %d distinct of %d, %d duplicates after 3 kill -9", col.distinct(), n, dups)

	// The topic: every input message (its ActiveMQ message-id is the
	// record key) is there, duplicates counted.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ids := map[string]int{}
	seqs := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(seqs) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			ids[string(r.Key)]++
			for _, h := range r.Headers {
				if h.Key == "stomp.app-seq" {
					seqs[string(h.Value)] = true
				}
			}
		})
	}
	topicDups := 0
	for _, k := range ids {
		topicDups += k - 1
	}
	if len(seqs) != n || len(ids) != n {
		t.Errorf("topic holds %d distinct app-seq and %d distinct message-ids, want %d", len(seqs), len(ids), n)
	}
	t.Logf("topic: %d distinct message-ids, %d duplicate records after 3 kill -9", len(ids), topicDups)
}

// A durable topic subscription outlives the worker: what is published
// while it is down arrives after the restart.
func TestDurableSubscriptionSurvivesRestart(t *testing.T) {
	dest := "/topic/" + unique("weir.dur")
	topic := strings.ReplaceAll(unique("stomp-dur"), ".", "-")
	p := harness.StartWeir(t, "")
	putConnector(t, p, "dur", sourceConnector(dest, topic, "stomp.subscription.name", unique("weir-sub")))
	waitRunning(t, p, "dur")
	time.Sleep(time.Second) // the subscription exists once the task subscribed
	send(t, dest, 10, genMsg)
	readTopic := func(want int) (map[string]bool, int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		seqs := map[string]bool{}
		total := 0
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for total < want && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				total++
				for _, h := range r.Headers {
					if h.Key == "stomp.app-seq" {
						seqs[string(h.Value)] = true
					}
				}
			})
		}
		return seqs, total
	}
	if got, _ := readTopic(10); len(got) != 10 {
		t.Fatalf("before the restart: %d of 10 messages", len(got))
	}
	p.Stop()
	send(t, dest, 20, genMsg) // app-seq 0..19 again; 10..19 are new
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, p, "dur")
	got, total := readTopic(30)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(got) != 20 || total != 30 {
		t.Fatalf("after the restart: %d records, app-seq %v; want 30 records, 0..19 (20 published while the worker was down)", total, keys)
	}
}
