//go:build services

package elasticsearch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/internal/testutil"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/test/compat/harness"
)

// The acceptance kit against ElasticsearchSink on the real Elasticsearch.
// ExternalDown is a real outage: the Elasticsearch JVM is frozen with
// SIGSTOP for the kit's 30 s and thawed with SIGCONT (esPause), so the
// sink meets a node that accepts connections and answers nothing, the
// way a hung or paused node looks. The kit runs before the package's
// parallel tests (they call t.Parallel), so the pause stalls no other
// test.

// TestMain holds an exclusive lock on the test Elasticsearch while the
// package runs: a concurrent run of these tests (another worktree testing
// an importer) waits instead of having its node frozen by this run's
// outage and its kit indices (named after the kit's fixed topics)
// deleted.
func TestMain(m *testing.M) {
	dir := testutil.ServicesDir()
	lock, err := os.OpenFile(filepath.Join(dir, "elasticsearch.tests.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lock of the test Elasticsearch: %v\n", err)
		os.Exit(1)
	}
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		fmt.Fprintf(os.Stderr, "waiting for another run of the Elasticsearch tests (%s)\n", lock.Name())
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			fmt.Fprintf(os.Stderr, "lock of the test Elasticsearch: %v\n", err)
			os.Exit(1)
		}
	}
	code := conformance.Main(m)
	harness.RemoveBinary()
	lock.Close()
	os.Exit(code)
}

const (
	esClass = "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector"
	idBase  = 100_000_000
)

var kitValue = plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("payload", plugins.StringSchema).MustBuild()

// esSink is the sink harness. Documents are keyed (key "k<i>", the
// offset as external version): a replay writes nothing new, so the sink
// declares exactly once in effect.
type esSink struct {
	mu      sync.Mutex
	indices map[string]bool
	t       testing.TB
}

func (h *esSink) Class() string                    { return esClass }
func (h *esSink) Guarantee() conformance.Guarantee { return conformance.ExactlyOnce }
func (h *esSink) Carries() conformance.Fields      { return conformance.Values }

// index is the stream's index: its topic renamed by the RegexRouter of
// Config to carry this run's pid, so a run of an older copy of these
// tests elsewhere (without TestMain's lock) never shares an index with
// this one.
func (h *esSink) index(s *conformance.Stream) string {
	return strings.ToLower(s.Topic) + "-" + strconv.Itoa(os.Getpid())
}

func (h *esSink) Config(s *conformance.Stream) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.indices[s.Topic] {
		if h.indices == nil {
			h.indices = map[string]bool{}
		}
		index := h.index(s)
		deleteIndex(h.t, index)
		h.t.Cleanup(func() { deleteIndex(h.t, index) })
		h.indices[s.Topic] = true
	}
	return map[string]string{
		"connection.url":   esURL(),
		"retry.backoff.ms": "50",
		"max.retries":      "3",
		// A frozen node answers nothing: 3 s (Confluent's default) per
		// attempt makes the retries run out, and the status say why,
		// well within the outage.
		"read.timeout.ms": "3000",
		"linger.ms":       "5",
		// A killed worker's member leaves the group after 6 s, not 45.
		"consumer.override.session.timeout.ms":    "6000",
		"consumer.override.heartbeat.interval.ms": "1000",
		// The index is named after the topic after transforms.
		"transforms":                   "route",
		"transforms.route.type":        "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":       "(.*)",
		"transforms.route.replacement": "$1-" + strconv.Itoa(os.Getpid()),
	}
}

func (h *esSink) Record(i int) plugins.Record {
	return plugins.Record{
		Key: "k" + strconv.Itoa(i), KeySchema: plugins.StringSchema,
		Value: plugins.NewStruct(kitValue).MustPut("id", int64(i)).MustPut("payload", strconv.Itoa(idBase+i)), ValueSchema: kitValue,
	}
}

func (h *esSink) ID(r plugins.Record) (int, bool) {
	v, ok := r.Value.(*plugins.Struct)
	if !ok {
		return 0, false
	}
	id, ok := v.Get("id").(int64)
	return int(id), ok && id >= 0
}

func (h *esSink) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	hits, err := allDocs(ctx, h.index(s))
	if err != nil {
		return nil, err
	}
	out := make([]plugins.Record, 0, len(hits))
	for _, d := range hits {
		v := plugins.NewStruct(kitValue)
		if n, ok := d.Source["id"].(json.Number); ok {
			if id, err := n.Int64(); err == nil {
				v.MustPut("id", id)
			}
		}
		if p, ok := d.Source["payload"].(string); ok {
			v.MustPut("payload", p)
		}
		out = append(out, plugins.Record{Value: v, ValueSchema: kitValue})
	}
	return out, nil
}

func (h *esSink) Down(context.Context, *conformance.Stream) error { return esPause(h.t) }
func (h *esSink) Up(context.Context, *conformance.Stream) error   { return esResume() }

func (h *esSink) BadValues() map[string]string {
	return map[string]string{
		"connection.url":                  "ftp://127.0.0.1:9200",
		"behavior.on.null.values":         "explode",
		"behavior.on.malformed.documents": "explode",
		"write.method":                    "merge",
		"batch.size":                      "0",
		"data.stream.type":                "TRACES_OF_NOTHING",
		"elastic.security.protocol":       "SASL",
	}
}

func TestElasticsearchSinkKit(t *testing.T) {
	needES(t)
	conformance.Run(t, &esSink{t: t}, conformance.Options{Outage: 30 * time.Second, Timeout: 90 * time.Second})
}

// Idempotent: a replay rewrites nothing in the index, so Lifecycle sees
// the re-read in the committed offsets (conformance.Idempotent).
func (h *esSink) Idempotent() {}
