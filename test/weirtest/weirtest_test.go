package weirtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/internal/testutil"
	"github.com/weirlog/weir/test/weirtest"
)

func TestStartTopicsConfigsAndConnect(t *testing.T) {
	w := weirtest.Start(t, weirtest.WithTopics("orders:3", "plain"),
		weirtest.WithBrokerConfig(func(c *broker.Config) { c.AutoCreateTopics = false }))
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["orders"].Partitions); n != 3 {
		t.Errorf("orders has %d partitions, want 3", n)
	}
	if n := len(td["plain"].Partitions); n != 1 {
		t.Errorf("plain has %d partitions, want 1", n)
	}
	// The broker config took: auto-creation is off.
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "not-there", Value: []byte("x")}).FirstErr()
	if err == nil {
		t.Error("produce to an unknown topic succeeded with AutoCreateTopics off")
	}
	resp, err := http.Get(w.ConnectURL() + "/connector-plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var plugins []struct{ Class string }
	if err := json.NewDecoder(resp.Body).Decode(&plugins); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /connector-plugins: %d %v", resp.StatusCode, err)
	}
	var names []string
	for _, p := range plugins {
		names = append(names, p.Class)
	}
	if !strings.Contains(strings.Join(names, " "), "FileStreamSource") {
		t.Errorf("plugins %v lack FileStreamSource", names)
	}
}

// TestWithConnectorsRunsAFileStreamSource applies a Strimzi YAML file at
// start and reads what the connector produced.
func TestWithConnectorsRunsAFileStreamSource(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(input, []byte("alpha\nbeta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(dir, "src.yaml")
	yaml := fmt.Sprintf(`apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata:
  name: src
spec:
  class: FileStreamSource
  tasksMax: 1
  config:
    file: %s
    topic: lines
    value.converter: org.apache.kafka.connect.storage.StringConverter
`, input)
	if err := os.WriteFile(def, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	w := weirtest.Start(t, weirtest.WithFileDirs(dir), weirtest.WithConnectors(def))
	// Connect starts in the background: ConnectURL waits until it is up
	// and the definition is applied, so the connector is there at once.
	resp, err := http.Get(w.ConnectURL() + "/connectors/src/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /connectors/src/status right after Start: %s", resp.Status)
	}
	recs := consume(t, w.Brokers(), "lines", 2)
	if string(recs[0].Value) != "alpha" || string(recs[1].Value) != "beta" {
		t.Fatalf("records %q %q", recs[0].Value, recs[1].Value)
	}
}

// TestCloseBeforeConnectIsUp closes right after Start, while the Connect
// runtime is still starting in the background: the start is abandoned
// quietly (no error for the test) and nothing is left running.
func TestCloseBeforeConnectIsUp(t *testing.T) {
	rec := &errorTB{TB: t}
	var w *weirtest.Weir
	var addrs []string
	t.Run("inner", func(t *testing.T) {
		rec.TB = t
		w = weirtest.Start(rec)
		addrs = w.Brokers()
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	if rec.msg != "" {
		t.Fatalf("closing before Connect was up reported: %s", rec.msg)
	}
	if err := w.WaitConnect(); err == nil {
		// Connect won the race: fine, but then it must have been stopped.
		t.Log("Connect was up before Close")
	} else if !strings.Contains(err.Error(), "closed before") {
		t.Fatalf("WaitConnect after an early Close: %v", err)
	}
	if len(w.Brokers()) != 0 {
		t.Errorf("Brokers() after Close: %v", w.Brokers())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err == nil {
		t.Fatal("the broker still answers after Close")
	}
}

// errorTB records Errorf calls (the cleanup's reports).
type errorTB struct {
	testing.TB
	msg string
}

func (e *errorTB) Errorf(format string, args ...any) { e.msg += fmt.Sprintf(format, args...) }

func TestWithTopicsRejectsBadSpec(t *testing.T) {
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		weirtest.Start(ft, weirtest.WithTopics("x:zero"))
	}()
	<-done
	if !strings.Contains(ft.msg, "name:partitions") {
		t.Fatalf("Start with a bad topic spec: %q", ft.msg)
	}
}

// fatalTB records Fatalf and ends the goroutine, as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtimeGoexit()
}

func consume(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d of %d records from %s", len(out), n, topic)
		}
		out = append(out, f.Records()...)
	}
	return out
}

// BenchmarkStartToFirstAck is weirtest.Start → the first acknowledged
// produce (to an auto-created topic, from a new client); target < 100 ms
// (issue 15). The metrics are medians over b.N starts (run with
// -benchtime 10x): ms-start is Start's return, ms-to-first-ack the ack, and
// ms-connect-ready when the Connect runtime, started in the background, is
// up (WaitConnect).
func BenchmarkStartToFirstAck(b *testing.B) {
	b.Run("broker+connect", func(b *testing.B) { benchStart(b) })
	b.Run("broker-only", func(b *testing.B) { benchStart(b, weirtest.WithoutConnect()) })
}

func benchStart(b *testing.B, opts ...weirtest.Option) {
	var started, acked, connected []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		w := weirtest.Start(b, opts...)
		started = append(started, time.Since(start))
		cl, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...), kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(10*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "first", Value: []byte("x")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		acked = append(acked, time.Since(start))
		if err := w.WaitConnect(); err != nil {
			b.Fatal(err)
		}
		connected = append(connected, time.Since(start))
		cl.Close()
		w.Close()
	}
	b.ReportMetric(medianMS(started), "ms-start")
	b.ReportMetric(medianMS(acked), "ms-to-first-ack")
	b.ReportMetric(medianMS(connected), "ms-connect-ready")
}

func medianMS(ds []time.Duration) float64 {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	return testutil.Median(ms)
}

func runtimeGoexit() { goruntime.Goexit() }

// TestNodesKeepProducingWithANodeStopped: Nodes(3) is a replicated
// cluster in the test process. Topics get three replicas; with the leader
// of a partition stopped, acks=all produce goes on against the other two,
// and every acknowledged record is read back at its offset.
func TestNodesKeepProducingWithANodeStopped(t *testing.T) {
	start := time.Now()
	w := weirtest.Start(t, weirtest.Nodes(3), weirtest.WithTopics("orders:3"))
	t.Logf("3 nodes started in %v", time.Since(start).Round(time.Millisecond))
	if n := len(w.Brokers()); n != 3 {
		t.Fatalf("Brokers() = %d addresses, want 3", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// franz-go refreshes metadata at most every 5 s by default: a
		// test wants the new leader sooner.
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	md, err := kadm.NewClient(prod).Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics["orders"].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("orders/%d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
	type ack struct {
		p   int32
		off int64
	}
	acked := map[ack]string{}
	produce := func(from, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "order-%d", i)})
		}
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		watch := time.AfterFunc(10*time.Second, func() { t.Logf("produce stuck; every node's view:%s", nodeViews(w, "orders")) })
		defer watch.Stop()
		res := prod.ProduceSync(pctx, recs...)
		if err := res.FirstErr(); err != nil {
			state := ""
			if md, merr := kadm.NewClient(prod).Metadata(ctx, "orders"); merr == nil {
				for _, p := range md.Topics["orders"].Partitions {
					state += fmt.Sprintf(" orders/%d leader %d replicas %v ISR %v;", p.Partition, p.Leader, p.Replicas, p.ISR)
				}
			}
			t.Fatalf("acks=all produce of records %d-%d: %v;%s", from, from+n-1, err, state)
		}
		for _, r := range res {
			acked[ack{r.Record.Partition, r.Record.Offset}] = string(r.Record.Value)
		}
	}
	produce(0, 150)

	victim := md.Topics["orders"].Partitions[0].Leader
	if err := w.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	if w.Node(victim) != nil || len(w.Brokers()) != 2 {
		t.Fatalf("node %d stopped, but Node/Brokers still list it: %v", victim, w.Brokers())
	}
	stopped := time.Now()
	produce(150, 150)
	t.Logf("node %d (leader of orders/0) stopped; 150 more records acked (acks=all) %v later", victim, time.Since(stopped).Round(time.Millisecond))

	cons, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[ack]string{}
	for len(got) < len(acked) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[ack{r.Partition, r.Offset}] = string(r.Value) })
	}
	for a, v := range acked {
		if got[a] != v {
			t.Fatalf("acknowledged %q at orders/%d@%d, read %q (%d of %d read)", v, a.p, a.off, got[a], len(got), len(acked))
		}
	}
	// Connect runs against the cluster too.
	resp, err := http.Get(w.ConnectURL() + "/connectors")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /connectors on a 3-node cluster: %s", resp.Status)
	}
}

// nodeViews is each running node's own metadata for topic: leaders and ISRs
// as that node serves them (for failure messages).
func nodeViews(w *weirtest.Weir, topic string) string {
	var out string
	for id := int32(1); w.Node(id) != nil || id <= 3; id++ {
		b := w.Node(id)
		if b == nil {
			if id > 3 {
				break
			}
			continue
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
		if err != nil {
			continue
		}
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		cl.Close()
		if err != nil {
			out += fmt.Sprintf(" node %d: %v;", id, err)
			continue
		}
		out += fmt.Sprintf(" node %d (controller %d):", id, resp.ControllerID)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				out += fmt.Sprintf(" %d: leader %d epoch %d ISR %v err %d,", p.Partition, p.Leader, p.LeaderEpoch, p.ISR, p.ErrorCode)
			}
		}
	}
	return out
}
