package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConfigTopicMalformedRecordsSkipped: a record of connect-configs that
// cannot be understood is reported and skipped; it never replaces a good
// config with a nil one, and a negative task count does not panic.
func TestConfigTopicMalformedRecordsSkipped(t *testing.T) {
	s := newConfigStore()
	var bad []string
	s.onMalformed = func(key string, _ int64, reason string) { bad = append(bad, key+": "+reason) }
	off := int64(0)
	put := func(key, value string) {
		r := &kgo.Record{Key: []byte(key), Offset: off}
		if value != "" {
			r.Value = []byte(value)
		}
		off++
		s.apply(r)
	}
	put("connector-a", `{"properties":{"connector.class":"FileStreamSource","name":"a"}}`)
	put("task-a-0", `{"properties":{"task.class":"x"}}`)
	put("commit-a", `{"tasks":1}`)
	put("target-state-a", `{"state":"PAUSED"}`)

	put("connector-a", `not json`)
	put("connector-a", `{"config":{}}`)
	put("connector-a", `{"properties":{"tasks.max":1}}`)
	put("task-a-0", `{"properties":null}`)
	put("task-a-x", `{"properties":{}}`)
	put("commit-a", `{"tasks":-1}`)
	put("commit-a", `{}`)
	put("target-state-a", `{"state":"SLEEPING"}`)
	put("restart-connector-a", `[1,2]`)
	put("bogus-key", `{}`)
	put("session-key", `{"key":"abc"}`) // Kafka's, not ours: skipped silently

	snap := s.snapshot()
	if got := snap.connectors["a"]; got == nil || got["connector.class"] != "FileStreamSource" {
		t.Fatalf("config of a = %v, want the good one kept", got)
	}
	if len(snap.tasks["a"]) != 1 || snap.tasks["a"][0]["task.class"] != "x" {
		t.Fatalf("tasks of a = %v", snap.tasks["a"])
	}
	if snap.target("a") != TargetPaused {
		t.Fatalf("target of a = %s", snap.target("a"))
	}
	if snap.offset != off {
		t.Fatalf("offset %d, want %d (skipped records still advance)", snap.offset, off)
	}
	if len(bad) != 10 {
		t.Fatalf("%d malformed reports, want 10:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	// The one good record after the bad ones still applies.
	put("commit-a", `{"tasks":0}`)
	if n := len(s.snapshot().tasks["a"]); n != 0 {
		t.Fatalf("tasks after a good commit: %d", n)
	}
}

// TestWorkerSkipsMalformedConfigRecord: on a running worker, the skip is
// logged and counted in weir_connect_config_records_skipped_total, and the
// connector keeps its config.
func TestWorkerSkipsMalformedConfigRecord(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	dir := t.TempDir()
	r := call(t, "POST", w.url+"/connectors", map[string]any{"name": "m", "config": sourceConfig(dir+"/in.txt", c.topic("m"))})
	expectCode(t, r, 201, "create")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.configLog.send(ctx, "connector-m", []byte(`{"properties":{"file":7}}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.configLog.readToEnd(ctx); err != nil {
		t.Fatal(err)
	}
	if n := metricValue(t, w.Worker, "weir_connect_config_records_skipped_total"); n != 1 {
		t.Fatalf("skipped-records metric = %v, want 1", n)
	}
	if !strings.Contains(w.log.String(), "skipping a config topic record") {
		t.Fatalf("no ERROR line about the skipped record:\n%s", w.log.String())
	}
	r = call(t, "GET", w.url+"/connectors/m/config", nil)
	expectCode(t, r, 200, "config")
	var cfg map[string]string
	r.json(t, &cfg)
	if cfg["connector.class"] != "FileStreamSource" {
		t.Fatalf("config after a malformed record: %v", cfg)
	}
}

// metricValue sums a metric's samples in a worker's own registry.
func metricValue(t testing.TB, w *Worker, name string) float64 {
	t.Helper()
	mfs, err := w.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestRecreatedConnectorRestarts: a connector deleted and created again
// with the same config, both read in one fetch (no herder pass in between),
// is a new connector: it starts again and gets task configs. The herder
// used to see an unchanged config and left it with no tasks (seen as a
// TestRESTKafkaFidelity flake under load).
func TestRecreatedConnectorRestarts(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	dir := t.TempDir()
	in := dir + "/in.txt"
	writeLines(t, in, 0, 3)
	r := call(t, "POST", w.url+"/connectors", map[string]any{"name": "re", "config": sourceConfig(in, c.topic("re"))})
	expectCode(t, r, 201, "create")
	waitState(t, w.url, "re", stateRunning, stateRunning)
	r = call(t, "GET", w.url+"/connectors/re/config", nil)
	expectCode(t, r, 200, "config")
	var cfg map[string]string
	r.json(t, &cfg)
	val, _ := json.Marshal(map[string]any{"properties": cfg})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.DefaultProduceTopic(w.cfg.ConfigTopic), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("connector-re")}, &kgo.Record{Key: []byte("connector-re"), Value: val}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	starts := func() int {
		return strings.Count(w.log.String(), `msg="connector started" component=connect worker_id=`+w.WorkerID()+` connector=re `)
	}
	eventually(t, 30*time.Second, "the re-created connector to start again", func() (bool, string) {
		return starts() >= 2, fmt.Sprint(starts(), " starts")
	})
	waitState(t, w.url, "re", stateRunning, stateRunning)
}
