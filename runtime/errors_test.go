package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
)

// oneTaskSource is the source connector of the runtime's test plugins: it
// runs one task, with the connector's own config, made by newTask.
type oneTaskSource struct {
	cfg     plugins.Config
	newTask func() plugins.SourceTask
}

// testSourceTask (class io.weir.test.TestSourceConnector) emits "count"
// records numbered 0..count-1 to "topic", returns a retriable error from
// its first "retriable.polls" polls, and fails Start with "fail.message"
// for the first "fail.starts" starts (counted per connector name).

var testStarts sync.Map // connector name -> *int

var testDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "topic", Default: plugins.NoDefault}).
	Define(plugins.ConfigKey{Name: "count", Type: plugins.ConfigInt, Default: "10"}).
	Define(plugins.ConfigKey{Name: "retriable.polls", Type: plugins.ConfigInt, Default: "0"}).
	Define(plugins.ConfigKey{Name: "fail.starts", Type: plugins.ConfigInt, Default: "0"}).
	Define(plugins.ConfigKey{Name: "fail.message", Default: "boom"}).
	Define(plugins.ConfigKey{Name: "secret", Type: plugins.ConfigPassword, Default: ""}).
	Define(plugins.ConfigKey{Name: "check.lso.bootstrap", Default: ""})

func (s *oneTaskSource) ConfigDef() *plugins.ConfigDef { return testDef }
func (s *oneTaskSource) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	s.cfg = cfg
	return nil
}
func (s *oneTaskSource) TaskConfigs(int) ([]plugins.Config, error) {
	return []plugins.Config{s.cfg}, nil
}
func (s *oneTaskSource) Stop() error                 { return nil }
func (s *oneTaskSource) Version() string             { return "test" }
func (s *oneTaskSource) NewTask() plugins.SourceTask { return s.newTask() }

type testSourceTask struct {
	cfg       plugins.Config
	next      int
	count     int
	retriable int
	polls     int
	stop      chan struct{}
}

func (t *testSourceTask) Start(tctx plugins.SourceTaskContext, cfg plugins.Config) error {
	t.cfg = cfg
	t.stop = make(chan struct{})
	t.count, _ = strconv.Atoi(cfg["count"])
	t.retriable, _ = strconv.Atoi(cfg["retriable.polls"])
	fails, _ := strconv.Atoi(cfg["fail.starts"])
	v, _ := testStarts.LoadOrStore(cfg["name"], new(int))
	n := v.(*int)
	*n++
	if *n <= fails {
		return errors.New(cfg["fail.message"])
	}
	off, err := tctx.Offsets().Offset(map[string]any{"source": "test"})
	if err != nil {
		return err
	}
	if off != nil {
		x, _ := asInt(off["next"])
		t.next = int(x)
	}
	return nil
}

func (t *testSourceTask) Poll(ctx context.Context) ([]plugins.Record, error) {
	t.polls++
	if t.polls <= t.retriable {
		return nil, &plugins.Retriable{Err: errors.New("not yet")}
	}
	if t.next >= t.count {
		select {
		case <-ctx.Done():
		case <-t.stop:
		case <-time.After(50 * time.Millisecond):
		}
		return nil, nil
	}
	var out []plugins.Record
	for ; t.next < t.count && len(out) < 7; t.next++ {
		v := strconv.Itoa(t.next)
		if t.next%5 == 3 {
			v = "x" + v // fails a Cast to int32
		}
		out = append(out, plugins.Record{Topic: t.cfg["topic"], Partition: -1, Value: v, ValueSchema: plugins.StringSchema,
			SourcePartition: map[string]any{"source": "test"}, SourceOffset: map[string]any{"next": int64(t.next + 1)}})
	}
	return out, nil
}

// testCommits counts CommitRecord calls per connector name.
var testCommits sync.Map // connector name -> *atomic.Int64

// testEarlyCommits counts, per connector with "check.lso.bootstrap" set,
// CommitRecord calls made while the task's transaction was not yet
// committed. It asks the transaction coordinator (DescribeTransactions),
// not the partition's last stable offset: Kafka writes the commit markers
// asynchronously after EndTxn returns, so the LSO may lag a transaction
// that is already committed (a check on it failed in CI against Kafka).
// The runtime calls CommitRecord from the task's own goroutine before its
// next poll, so no later transaction of the task can be open then.
var testEarlyCommits sync.Map // connector name -> *atomic.Int64

// testCommitCheckErr holds, per connector, the last error of that check,
// so a check that could not run fails the test instead of passing it.
var testCommitCheckErr sync.Map // connector name -> error

func (t *testSourceTask) CommitRecord(rec *plugins.Record) error {
	v, _ := testCommits.LoadOrStore(t.cfg["name"], new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if addr := t.cfg["check.lso.bootstrap"]; addr != "" {
		fail := func(err error) error {
			testCommitCheckErr.Store(t.cfg["name"], err)
			return err
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return fail(err)
		}
		defer cl.Close()
		txnID := "connect-standalone-" + t.cfg["name"] + "-0"
		ds, err := kadm.NewClient(cl).DescribeTransactions(context.Background(), txnID)
		if err != nil {
			return fail(fmt.Errorf("describe transaction %s: %w", txnID, err))
		}
		d, err := ds.On(txnID, nil)
		if err == nil {
			err = d.Err
		}
		if err != nil {
			return fail(fmt.Errorf("describe transaction %s: %w", txnID, err))
		}
		if d.State != "PrepareCommit" && d.State != "CompleteCommit" {
			e, _ := testEarlyCommits.LoadOrStore(t.cfg["name"], new(atomic.Int64))
			e.(*atomic.Int64).Add(1)
		}
	}
	return nil
}
func (t *testSourceTask) Commit() error { return nil }
func (t *testSourceTask) Stop() error {
	close(t.stop)
	return nil
}

func init() {
	plugins.Register(plugins.Registration{Class: "io.weir.test.TestSourceConnector", Type: plugins.PluginSource, New: func() any {
		return &oneTaskSource{newTask: func() plugins.SourceTask { return &testSourceTask{} }}
	}})
}

// TestSinkDeadLetterQueue: undecodable records go to the DLQ with Kafka
// Connect's context headers; good ones reach the file.
func TestSinkDeadLetterQueue(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	in, dlq := c.topic("json-in"), c.topic("dlq")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := w.ensureDataTopic(context.Background(), in, -1); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 20 {
		v := fmt.Sprintf(`{"n":%d}`, i)
		if i%4 == 1 {
			v = fmt.Sprintf(`not json %d`, i)
		}
		recs = append(recs, &kgo.Record{Topic: in, Value: []byte(v), Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.txt")
	r := call(t, "PUT", w.url+"/connectors/dlq-sink/config", map[string]any{
		"connector.class": "FileStreamSink", "file": out, "topics": in, "consumer.override.auto.offset.reset": "earliest", "consumer.override.max.poll.records": "7",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
		"errors.tolerance": "all", "errors.log.enable": "true", "errors.log.include.messages": "true",
		"errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.context.headers.enable": "true",
	})
	expectCode(t, r, http.StatusCreated, "create sink")
	expectLines(t, out, 15)
	got := consumeAll(t, c.addr, dlq, 5, 20*time.Second)
	if len(got) != 5 {
		t.Fatalf("DLQ has %d records, want 5", len(got))
	}
	for i, rec := range got {
		h := map[string]string{}
		for _, x := range rec.Headers {
			h[x.Key] = string(x.Value)
		}
		want := map[string]string{
			"origin": "test", hdrTopic: in, hdrPartition: "0", hdrOffset: strconv.Itoa(4*i + 1),
			hdrConnector: "dlq-sink", hdrTask: "0", hdrStage: string(stageValueConverter),
			hdrClass: "org.apache.kafka.connect.json.JsonConverter",
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("DLQ record %d header %s = %q, want %q (all: %v)", i, k, h[k], v, h)
			}
		}
		if h[hdrExMessage] == "" || h[hdrExClass] == "" {
			t.Errorf("DLQ record %d lacks the exception headers: %v", i, h)
		}
		if string(rec.Value) != fmt.Sprintf("not json %d", 4*i+1) {
			t.Errorf("DLQ record %d value %q", i, rec.Value)
		}
	}
	if !strings.Contains(w.log.String(), "record skipped") {
		t.Errorf("errors.log.enable=true logged nothing")
	}
	metrics := string(call(t, "GET", w.url+"/metrics", nil).body)
	for _, m := range []string{
		`weir_connect_deadletterqueue_produce_requests_total{connector="dlq-sink",task="0"} 5`,
		`weir_connect_errors_total{connector="dlq-sink",stage="VALUE_CONVERTER",task="0"} 5`,
		`weir_connect_sink_records_read_total{connector="dlq-sink",task="0"} 20`,
		`weir_connect_sink_records_sent_total{connector="dlq-sink",task="0"} 15`,
	} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// TestSourceErrorsAndRetries: retriable poll errors are retried, a failing
// transform sends the record to the DLQ (a weir extension for sources),
// and committed offsets survive a restart.
func TestSourceErrorsAndRetries(t *testing.T) {
	testCommits.Delete("nums") // counted per name across -count=N reruns
	c := startCluster(t)
	w := c.startWorker(t, nil)
	topic, dlq := c.topic("nums"), c.topic("src-dlq")
	r := call(t, "POST", w.url+"/connectors", map[string]any{"name": "nums", "config": map[string]any{
		"connector.class": "io.weir.test.TestSourceConnector", "topic": topic, "count": "20", "retriable.polls": "2",
		"value.converter": "org.apache.kafka.connect.storage.StringConverter",
		"transforms":      "cast", "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value", "transforms.cast.spec": "int32",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.context.headers.enable": "true",
	}})
	expectCode(t, r, http.StatusCreated, "create")
	got := consumeAll(t, c.addr, topic, 16, 30*time.Second)
	var vals []string
	for _, r := range got {
		vals = append(vals, string(r.Value))
	}
	want := []string{}
	for i := range 20 {
		if i%5 != 3 {
			want = append(want, strconv.Itoa(i))
		}
	}
	if !slices.Equal(vals, want) {
		t.Fatalf("topic has %v, want %v", vals, want)
	}
	dl := consumeAll(t, c.addr, dlq, 4, 20*time.Second)
	if len(dl) != 4 || string(dl[0].Value) != "x3" {
		t.Fatalf("source DLQ: %d records", len(dl))
	}
	stageOK := false
	for _, h := range dl[0].Headers {
		if h.Key == hdrStage && string(h.Value) == string(stageTransformation) {
			stageOK = true
		}
	}
	if !stageOK {
		t.Fatalf("source DLQ headers: %v", dl[0].Headers)
	}
	metrics := string(call(t, "GET", w.url+"/metrics", nil).body)
	if !strings.Contains(metrics, `weir_connect_retries_total{connector="nums",task="0"} 2`) {
		t.Errorf("retries not counted: %s", grepLines(metrics, "retries"))
	}
	if !strings.Contains(metrics, `weir_connect_source_records_written_total{connector="nums",task="0"} 16`) {
		t.Errorf("written not counted: %s", grepLines(metrics, "written"))
	}
	// CommitRecord for every record, the 4 skipped ones included (Kafka's
	// recordDropped): a STOMP/JMS source acknowledges them upstream.
	eventually(t, 10*time.Second, "CommitRecord calls", func() (bool, string) {
		v, ok := testCommits.Load("nums")
		if !ok {
			return false, "none"
		}
		n := v.(*atomic.Int64).Load()
		return n == 20, fmt.Sprint(n)
	})
	// Offsets: next=20 committed; a restart resumes there (no duplicates).
	eventually(t, 10*time.Second, "committed offset", func() (bool, string) {
		o, _ := w.offsets.get("nums", map[string]any{"source": "test"})
		return fmt.Sprint(o["next"]) == "20", fmt.Sprint(o)
	})
	expectCode(t, call(t, "POST", w.url+"/connectors/nums/restart?includeTasks=true", nil), http.StatusAccepted, "restart")
	time.Sleep(time.Second)
	waitState(t, w.url, "nums", stateRunning, stateRunning)
	if got := consumeAll(t, c.addr, topic, 17, 2*time.Second); len(got) != 16 {
		t.Fatalf("after restart the topic has %d records, want 16", len(got))
	}
}

// TestAutoRestartAndSecrets: a task that fails on start is restarted
// automatically with backoff; its error trace and the logs never show the
// secret that config providers resolved.
func TestAutoRestartAndSecrets(t *testing.T) {
	const secret = "s3cr3t-value-42"
	t.Setenv("WEIR_TEST_SECRET", secret)
	dir := t.TempDir()
	props := filepath.Join(dir, "creds.properties")
	if err := os.WriteFile(props, []byte("# creds\npassword = hunter2-long\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testStarts.Delete("flaky") // -count=N reruns in the same process
	c := startCluster(t)
	// fail.message is no secret key: the worker's allowlist lets it use a
	// provider, and the env pattern lets WEIR_TEST_* through.
	w := c.startWorker(t, func(cfg *Config) {
		cfg.ConfigProviderKeys = []string{"fail.message"}
		cfg.EnvAllowlistPattern = "WEIR_TEST_.*"
	})
	topic := c.topic("auto")
	r := call(t, "POST", w.url+"/connectors", map[string]any{"name": "flaky", "config": map[string]any{
		"connector.class": "io.weir.test.TestSourceConnector", "topic": topic, "count": "5", "fail.starts": "2",
		"fail.message": "cannot log in with ${env:WEIR_TEST_SECRET}", "secret": "${file:" + props + ":password}",
		"value.converter": "org.apache.kafka.connect.storage.StringConverter",
	}})
	expectCode(t, r, http.StatusCreated, "create")
	if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), "hunter2") {
		t.Fatalf("create response leaks a secret: %s", r.body)
	}
	// It fails twice, then runs.
	eventually(t, 20*time.Second, "a FAILED task with a masked trace", func() (bool, string) {
		st := connectorStatus(t, w.url, "flaky")
		if len(st.Tasks) == 1 && st.Tasks[0].State == stateFailed && st.Tasks[0].Trace != nil {
			if strings.Contains(*st.Tasks[0].Trace, secret) {
				t.Fatalf("trace leaks the secret: %s", *st.Tasks[0].Trace)
			}
			return strings.Contains(*st.Tasks[0].Trace, "[hidden]"), *st.Tasks[0].Trace
		}
		return false, fmt.Sprintf("%+v", st)
	})
	waitState(t, w.url, "flaky", stateRunning, stateRunning)
	if got := consumeAll(t, c.addr, topic, 5, 20*time.Second); len(got) != 5 {
		t.Fatalf("after auto-restart: %d records", len(got))
	}
	for _, path := range []string{"/connectors/flaky", "/connectors/flaky/config", "/connectors/flaky/tasks", "/connectors/flaky/status", "/connectors?expand=info&expand=status"} {
		body := string(call(t, "GET", w.url+path, nil).body)
		if strings.Contains(body, secret) || strings.Contains(body, "hunter2") {
			t.Fatalf("GET %s leaks a secret: %s", path, body)
		}
	}
	tasks := string(call(t, "GET", w.url+"/connectors/flaky/tasks", nil).body)
	if !strings.Contains(tasks, "${file:") {
		t.Fatalf("task configs should keep the placeholder: %s", tasks)
	}
	logs := w.log.String()
	if strings.Contains(logs, secret) || strings.Contains(logs, "hunter2") {
		t.Fatalf("logs leak a secret")
	}
	if !strings.Contains(logs, "restarting failed task") {
		t.Fatalf("no automatic restart in the log")
	}

	// With auto-restart off, a failure sticks until a manual restart.
	testStarts.Delete("sticky")
	r = call(t, "POST", w.url+"/connectors", map[string]any{"name": "sticky", "config": map[string]any{
		"connector.class": "io.weir.test.TestSourceConnector", "topic": topic, "count": "0", "fail.starts": "1",
		"auto.restart.enabled": "false",
	}})
	expectCode(t, r, http.StatusCreated, "create sticky")
	waitState(t, w.url, "sticky", stateRunning, stateFailed)
	time.Sleep(1500 * time.Millisecond)
	waitState(t, w.url, "sticky", stateRunning, stateFailed)
	expectCode(t, call(t, "POST", w.url+"/connectors/sticky/tasks/0/restart", nil), http.StatusNoContent, "manual restart")
	waitState(t, w.url, "sticky", stateRunning, stateRunning)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
