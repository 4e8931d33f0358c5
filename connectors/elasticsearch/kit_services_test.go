//go:build services

package elasticsearch_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/plugins"
)

// The acceptance kit against ElasticsearchSink on the real Elasticsearch.
// Each stream writes through its own loopback HTTP proxy: the system going
// down is the proxy refusing every connection of that stream (what the
// sink sees when Elasticsearch stops), the server stays up for the others.

func TestMain(m *testing.M) { os.Exit(conformance.Main(m)) }

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
	proxies map[string]*esProxy
	t       testing.TB
}

func (h *esSink) Class() string                    { return esClass }
func (h *esSink) Guarantee() conformance.Guarantee { return conformance.ExactlyOnce }
func (h *esSink) Carries() conformance.Fields      { return conformance.Values }

func (h *esSink) proxy(s *conformance.Stream) *esProxy {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.proxies[s.Name]; p != nil {
		return p
	}
	if h.proxies == nil {
		h.proxies = map[string]*esProxy{}
	}
	// A stream's index is its topic; left over from an earlier run, it
	// would count old documents.
	deleteIndex(h.t, strings.ToLower(s.Topic))
	p := newESProxy(h.t)
	h.proxies[s.Name] = p
	return p
}

func (h *esSink) Config(s *conformance.Stream) map[string]string {
	p := h.proxy(s)
	return map[string]string{
		"connection.url":   p.URL(),
		"retry.backoff.ms": "50",
		"max.retries":      "3",
		"read.timeout.ms":  "10000",
		"linger.ms":        "5",
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
	hits, err := allDocs(ctx, strings.ToLower(s.Topic))
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

func (h *esSink) Down(_ context.Context, s *conformance.Stream) error { return h.proxy(s).Down() }
func (h *esSink) Up(_ context.Context, s *conformance.Stream) error   { return h.proxy(s).Up() }

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
