package runtime

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestExactlyOnceSource: with exactly.once.source.support=enabled, a
// cluster with transactions (Apache Kafka) gets transactional source tasks
// whose records a read_committed consumer sees together with their
// offsets; a cluster without them (weir's broker today) gets at-least-once
// delivery, and connectors that require exactly-once fail with a reason.
func TestExactlyOnceSource(t *testing.T) {
	testCommits.Delete("eos-required") // counted per name across -count=N reruns
	testEarlyCommits.Delete("eos-required")
	testCommitCheckErr.Delete("eos-required")
	c := startCluster(t)
	w := c.startWorker(t, func(cfg *Config) { cfg.ExactlyOnceSourceSupport = "enabled" })
	txn, err := w.transactionsSupported(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster supports transactions: %v", txn)
	topic := c.topic("eos")
	for _, name := range []string{"eos-requested", "eos-required"} {
		support := strings.TrimPrefix(name, "eos-")
		r := call(t, "POST", w.url+"/connectors", map[string]any{"name": name, "config": map[string]any{
			"connector.class": "io.weir.test.TestSourceConnector", "topic": topic + "-" + support, "count": "30",
			"check.lso.bootstrap":  c.addr,
			"exactly.once.support": support, "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})
		expectCode(t, r, http.StatusCreated, "create "+name)
	}
	readCommitted := func(topic string) int {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for n < 30 && ctx.Err() == nil {
			n += cl.PollFetches(ctx).NumRecords()
		}
		return n
	}
	if n := readCommitted(topic + "-requested"); n != 30 {
		t.Fatalf("read_committed consumer saw %d of 30 records", n)
	}
	eventually(t, 10*time.Second, "committed offsets", func() (bool, string) {
		o, _ := w.offsets.get("eos-requested", map[string]any{"source": "test"})
		return fmt.Sprint(o["next"]) == "30", fmt.Sprint(o)
	})
	logs := w.log.String()
	if txn {
		if !strings.Contains(logs, "writes transactionally") {
			t.Fatalf("no transactional task in the log")
		}
		waitState(t, w.url, "eos-required", stateRunning, stateRunning)
		if n := readCommitted(topic + "-required"); n != 30 {
			t.Fatalf("required: read_committed consumer saw %d of 30", n)
		}
		// CommitRecord (a STOMP source's ACK upstream) only once the
		// transaction holding the record is committed.
		eventually(t, 10*time.Second, "CommitRecord calls", func() (bool, string) {
			v, ok := testCommits.Load("eos-required")
			if !ok {
				return false, "none"
			}
			n := v.(*atomic.Int64).Load()
			return n == 30, fmt.Sprint(n)
		})
		if err, ok := testCommitCheckErr.Load("eos-required"); ok {
			t.Fatalf("checking the transaction's state in CommitRecord: %v", err)
		}
		if v, ok := testEarlyCommits.Load("eos-required"); ok && v.(*atomic.Int64).Load() > 0 {
			t.Fatalf("%d CommitRecord calls before the record's transaction committed", v.(*atomic.Int64).Load())
		}
		return
	}
	if !strings.Contains(logs, "exactly-once source support is not available") {
		t.Fatalf("the fallback to at-least-once was not logged")
	}
	eventually(t, 20*time.Second, "the required connector's task to fail with a reason", func() (bool, string) {
		st := connectorStatus(t, w.url, "eos-required")
		if len(st.Tasks) == 1 && st.Tasks[0].Trace != nil {
			return strings.Contains(*st.Tasks[0].Trace, "does not support transactions"), *st.Tasks[0].Trace
		}
		return false, fmt.Sprintf("%+v", st)
	})
}
