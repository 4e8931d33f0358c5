package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/internal/testutil"
)

// TestSinkRestartAfterKill9HonoursSessionOverride: after kill -9 a sink's
// consumer never leaves its group, so the restarted task's join waits for
// the dead member's session to expire. The worker here runs with Kafka's
// consumer default (session.timeout.ms 45 s); the connector sets
// consumer.override.session.timeout.ms=6000 (the broker's minimum), and the
// restarted sink must deliver well before 45 s.
func TestSinkRestartAfterKill9HonoursSessionOverride(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs")
	os.Mkdir(defs, 0o755)
	out := filepath.Join(dir, "out.txt")
	topic := c.topic("restart-in")
	os.WriteFile(filepath.Join(defs, "s.yaml"), fmt.Appendf(nil, `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata: {name: restart-out}
spec:
  class: FileStreamSink
  config: {topics: %s, file: %s, value.converter: org.apache.kafka.connect.storage.StringConverter, consumer.override.session.timeout.ms: "6000", consumer.override.heartbeat.interval.ms: "1000"}
`, topic, out), 0o644)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	addr := testutil.FreePort(t)
	const session = "45s"
	p := c.startProc(t, addr, "-connectors", defs, "-session-timeout", session)
	produce(0, 10)
	eventually(t, 60*time.Second, "the first records in the file", func() (bool, string) {
		n := len(readLines(out))
		return n >= 10, fmt.Sprintf("%d lines", n)
	})
	p.kill()
	produce(10, 20)
	restarted := time.Now()
	p = c.startProc(t, addr, "-connectors", defs, "-session-timeout", session)
	eventually(t, 60*time.Second, "the records produced during the outage", func() (bool, string) {
		n := len(readLines(out))
		return n >= 20, fmt.Sprintf("%d lines", n)
	})
	took := time.Since(restarted)
	t.Logf("sink delivered %s after the restart (worker session %s, connector override 6 s)", took.Round(100*time.Millisecond), session)
	// 45 s would mean the override was ignored; the rest of the margin is
	// worker start-up on a loaded 2-core machine.
	if took >= 35*time.Second {
		t.Fatalf("the restarted sink took %s: it waited for the worker's %s session, not the 6 s override", took, session)
	}
	waitState(t, p.url, "restart-out", stateRunning, stateRunning)
}

// TestSessionOverrideValidation: the group-membership overrides are
// consumer-only, positive integers, and the heartbeat must fit in the
// session, as Kafka's consumer requires.
func TestSessionOverrideValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg      map[string]string
		producer bool
		ok       bool
	}{
		{map[string]string{"consumer.override.session.timeout.ms": "6000"}, false, true},
		{map[string]string{"consumer.override.session.timeout.ms": "6000", "consumer.override.heartbeat.interval.ms": "2000"}, false, true},
		{map[string]string{"consumer.override.session.timeout.ms": "6000", "consumer.override.heartbeat.interval.ms": "6000"}, false, false},
		{map[string]string{"consumer.override.session.timeout.ms": "six"}, false, false},
		{map[string]string{"consumer.override.heartbeat.interval.ms": "0"}, false, false},
		{map[string]string{"producer.override.session.timeout.ms": "6000"}, true, false},
	} {
		opts, _, err := clientOverrides(tc.cfg, tc.producer)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v, want ok=%v", tc.cfg, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		cl, err := kgo.NewClient(append(opts, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"))...)
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.OptValue(kgo.SessionTimeout).(time.Duration); got != 6*time.Second {
			t.Errorf("%v: session timeout %s, want 6s", tc.cfg, got)
		}
		cl.Close()
	}
}

// TestSinkCleanShutdownLeavesGroup: a worker that shuts down (SIGTERM in
// weir serve, Close here) stops its sink tasks, and their consumers leave
// the group, so the next worker's sink is assigned at once instead of
// waiting out the session (45 s here, Kafka's consumer default).
func TestSinkCleanShutdownLeavesGroup(t *testing.T) {
	c := startCluster(t)
	out := filepath.Join(t.TempDir(), "out.txt")
	topic := c.topic("leave-in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	long := func(cfg *Config) { cfg.SessionTimeout = 45 * time.Second; cfg.HeartbeatInterval = 3 * time.Second }
	w := c.startWorker(t, long)
	r := call(t, "PUT", w.url+"/connectors/leave-out/config", map[string]any{
		"connector.class": "FileStreamSink", "topics": topic, "file": out,
		"value.converter": "org.apache.kafka.connect.storage.StringConverter"})
	expectCode(t, r, 201, "create sink")
	produce(0, 10)
	eventually(t, 60*time.Second, "the first records in the file", func() (bool, string) {
		n := len(readLines(out))
		return n >= 10, fmt.Sprintf("%d lines", n)
	})
	w.close()
	produce(10, 20)
	restarted := time.Now()
	w2 := c.startWorker(t, long)
	eventually(t, 60*time.Second, "the records produced while no worker ran", func() (bool, string) {
		n := len(readLines(out))
		return n >= 20, fmt.Sprintf("%d lines", n)
	})
	took := time.Since(restarted)
	t.Logf("sink delivered %s after the new worker started", took.Round(100*time.Millisecond))
	if took >= 30*time.Second {
		t.Fatalf("the sink took %s after a clean shutdown: the old consumer did not leave its group", took)
	}
	waitState(t, w2.url, "leave-out", stateRunning, stateRunning)
}
