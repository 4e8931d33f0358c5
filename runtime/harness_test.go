package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/core/broker/brokertest"

	_ "github.com/weirlog/weir/connectors/datagen"
	"github.com/weirlog/weir/connectors/file"
)

// The tests keep FileStream files in t.TempDir(): allow the system's
// temporary directory, here and in the worker processes the crash tests
// start (they inherit the environment).
func init() { os.Setenv(file.AllowedDirsEnv, os.TempDir()) }

// kafkaEnv selects Apache Kafka (test/services/kafka.sh) instead of the
// in-process weir broker, e.g. WEIR_TEST_KAFKA=127.0.0.1:19092.
const kafkaEnv = "WEIR_TEST_KAFKA"

var testSeq atomic.Int64

// testCluster is the log the tests run against, with names unique per
// test so that a shared Apache Kafka can serve many tests.
type testCluster struct {
	addr   string
	prefix string
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	prefix := fmt.Sprintf("t%d-%d-", time.Now().UnixNano()%1e9, testSeq.Add(1))
	if addr := os.Getenv(kafkaEnv); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			t.Fatalf("%s=%s but nothing listens there (start it with test/services/kafka.sh start): %v", kafkaEnv, addr, err)
		}
		c.Close()
		return &testCluster{addr: addr, prefix: prefix}
	}
	b := brokertest.Start(t)
	return &testCluster{addr: b.Addr(), prefix: prefix}
}

func (c *testCluster) topic(name string) string { return c.prefix + name }

type testWorker struct {
	*Worker
	url string
	srv *http.Server
	log *logBuffer
}

// logBuffer keeps a worker's log lines for assertions (and prints them
// when the test fails).
type logBuffer struct {
	t   testing.TB
	buf lockedBuffer
}

type lockedBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.buf.mu <- struct{}{}
	defer func() { <-l.buf.mu }()
	return l.buf.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.buf.mu <- struct{}{}
	defer func() { <-l.buf.mu }()
	return l.buf.buf.String()
}

// workerConfig is a fast-moving configuration for tests.
func (c *testCluster) workerConfig(mut func(*Config)) Config {
	cfg := Config{
		BootstrapServers:       []string{c.addr},
		ConfigTopic:            c.topic("connect-configs"),
		OffsetTopic:            c.topic("connect-offsets"),
		StatusTopic:            c.topic("connect-status"),
		OffsetTopicPartitions:  3,
		StatusTopicPartitions:  2,
		TopicReplicationFactor: 1,
		OffsetFlushInterval:    300 * time.Millisecond,
		RestartBackoffMin:      200 * time.Millisecond,
		RestartBackoffMax:      time.Second,
		SessionTimeout:         6 * time.Second,
		HeartbeatInterval:      500 * time.Millisecond,
	}
	if mut != nil {
		mut(&cfg)
	}
	return cfg
}

func (c *testCluster) startWorker(t *testing.T, mut func(*Config)) *testWorker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.workerConfig(mut)
	cfg.HTTPAddr = ln.Addr().String()
	cfg.AdvertisedURL = ""
	lb := &logBuffer{t: t, buf: lockedBuffer{mu: make(chan struct{}, 1)}}
	logger := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	tw := &testWorker{Worker: w, url: "http://" + cfg.HTTPAddr, srv: srv, log: lb}
	t.Cleanup(func() {
		tw.close()
		if t.Failed() {
			t.Logf("worker %s log:\n%s", cfg.HTTPAddr, lb.String())
		}
	})
	return tw
}

func (w *testWorker) close() {
	w.srv.Close()
	w.Worker.Close()
}

type response struct {
	code int
	body []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

func call(t testing.TB, method, url string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: b}
}

func expectCode(t testing.TB, r response, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.code, code, r.body)
	}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func connectorStatus(t testing.TB, url, name string) connectorStateInfo {
	t.Helper()
	r := call(t, "GET", url+"/connectors/"+name+"/status", nil)
	var st connectorStateInfo
	if r.code == http.StatusOK {
		r.json(t, &st)
	}
	return st
}

func waitState(t testing.TB, url, name, connState string, taskStates ...string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s to be %s %v", name, connState, taskStates), func() (bool, string) {
		st := connectorStatus(t, url, name)
		if st.Connector.State != connState || len(st.Tasks) != len(taskStates) {
			return false, fmt.Sprintf("%+v", st)
		}
		for i, ts := range taskStates {
			if st.Tasks[i].State != ts {
				return false, fmt.Sprintf("%+v", st)
			}
		}
		return true, ""
	})
}

func writeLines(t testing.TB, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := from; i < to; i++ {
		fmt.Fprintf(w, "line-%06d\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// consumeAll reads every record of a topic currently in the log.
func consumeAll(t testing.TB, addr, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}
