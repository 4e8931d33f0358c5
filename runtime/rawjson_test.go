package runtime

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

// rawSink (class io.weir.test.RawJSONSink) takes RawJSON values when
// "accept.raw" is true and keeps, per connector, one line per record: the
// value's JSON as the storage sinks' JsonFormat writes it, and whether it
// came as RawJSON. A record whose offset is 2 mod 5 is reported errant.
type rawSink struct{ cfg plugins.Config }

var rawSinkDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "accept.raw", Type: plugins.ConfigBoolean, Default: "true"})

func (s *rawSink) ConfigDef() *plugins.ConfigDef { return rawSinkDef }
func (s *rawSink) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	s.cfg = cfg
	return nil
}
func (s *rawSink) TaskConfigs(n int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(s.cfg, 1), nil
}
func (s *rawSink) Stop() error               { return nil }
func (s *rawSink) Version() string           { return "test" }
func (s *rawSink) NewTask() plugins.SinkTask { return &rawSinkTask{} }

type rawLine struct {
	offset      int64
	rawKey, raw bool
	key, line   string
}

var rawLines sync.Map // connector name -> *rawLog

type rawLog struct {
	mu    sync.Mutex
	lines []rawLine
}

type rawSinkTask struct {
	cfg    plugins.Config
	tctx   plugins.SinkTaskContext
	format *jsonconv.JSONConverter
	log    *rawLog
}

func (t *rawSinkTask) Start(tctx plugins.SinkTaskContext, cfg plugins.Config) error {
	t.cfg, t.tctx = cfg, tctx
	t.format = jsonconv.NewJSONConverter()
	if err := t.format.Configure(plugins.Config{"schemas.enable": "false"}, false); err != nil {
		return err
	}
	v, _ := rawLines.LoadOrStore(cfg["name"], &rawLog{})
	t.log = v.(*rawLog)
	return nil
}

func (t *rawSinkTask) AcceptsRawJSON() bool { return t.cfg["accept.raw"] != "false" }

func (t *rawSinkTask) Put(_ context.Context, recs []plugins.Record) error {
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		if r.Offset%5 == 2 {
			t.tctx.ErrantRecordReporter()(r, fmt.Errorf("offset %d refused", r.Offset))
			continue
		}
		_, rawKey := r.Key.(plugins.RawJSON)
		_, raw := r.Value.(plugins.RawJSON)
		k, err := t.format.FromConnect(r.Topic, r.KeySchema, r.Key)
		if err != nil {
			return err
		}
		b, err := t.format.FromConnect(r.Topic, r.ValueSchema, r.Value)
		if err != nil {
			return err
		}
		t.log.lines = append(t.log.lines, rawLine{r.Offset, rawKey, raw, string(k), string(b)})
	}
	return nil
}

func (t *rawSinkTask) Open([]plugins.TopicPartition) error  { return nil }
func (t *rawSinkTask) Close([]plugins.TopicPartition) error { return nil }
func (t *rawSinkTask) Stop() error                          { return nil }
func (t *rawSinkTask) PreCommit(_ context.Context, cur map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	return cur, nil
}

func init() {
	plugins.Register(plugins.Registration{Class: "io.weir.test.RawJSONSink", Type: plugins.PluginSink, New: func() any { return &rawSink{} }})
}

// TestSinkRawJSONPassThrough: with the JsonConverter and no transforms, a
// task that accepts RawJSON gets canonical keys and values as their
// text, which is what the decoded ones encode to; with a transform in the chain (a
// Filter whose predicate never matches), or when the task declines, it
// gets decoded values, and the lines are the same. Errant records reach
// the DLQ with the bytes they were read from either way.
func TestSinkRawJSONPassThrough(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	in := c.topic("raw-in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := w.ensureDataTopic(context.Background(), in, -1); err != nil {
		t.Fatal(err)
	}
	s := plugins.StructSchema("r", plugins.Field{Name: "id", Schema: plugins.Int64Schema},
		plugins.Field{Name: "text", Schema: plugins.OptionalStringSchema}, plugins.Field{Name: "x", Schema: plugins.Float64Schema})
	conv := jsonconv.NewJSONConverter() // writes keys and values as the worker's converters read them
	const n = 30
	var recs []*kgo.Record
	for i := range n {
		st := plugins.NewStruct(s)
		_ = st.Put("id", int64(i))
		_ = st.Put("text", fmt.Sprintf("t%d \"q\" ünï\t✓", i))
		_ = st.Put("x", float64(i)/4)
		v, err := conv.FromConnect(in, s, st)
		if err != nil {
			t.Fatal(err)
		}
		if i == 8 { // not as converters write it: decoded
			v = []byte(strings.Replace(string(v), `"payload":{"id":8,`, `"payload":{ "id":8,`, 1))
		}
		k, err := conv.FromConnect(in, plugins.StringSchema, fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: in, Key: k, Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"connector.class": "io.weir.test.RawJSONSink", "topics": in,
		"key.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter": "org.apache.kafka.connect.json.JsonConverter",
		"errors.tolerance": "all"}
	conns := map[string]map[string]any{
		"raw":       {},
		"declined":  {"accept.raw": "false"},
		"transform": {"transforms": "f", "transforms.f.type": "Filter", "transforms.f.predicate": "p", "predicates": "p", "predicates.p.type": "TopicNameMatches", "predicates.p.pattern": "no-such-topic"},
	}
	for name, extra := range conns {
		rawLines.Delete(name)
		cfg := map[string]any{"errors.deadletterqueue.topic.name": c.topic("dlq-" + name)}
		for k, v := range base {
			cfg[k] = v
		}
		for k, v := range extra {
			cfg[k] = v
		}
		expectCode(t, call(t, "PUT", w.url+"/connectors/"+name+"/config", cfg), http.StatusCreated, "create "+name)
	}
	got := map[string][]rawLine{}
	for name := range conns {
		eventually(t, 30*time.Second, name+" lines", func() (bool, string) {
			v, ok := rawLines.Load(name)
			if !ok {
				return false, "none"
			}
			l := v.(*rawLog)
			l.mu.Lock()
			defer l.mu.Unlock()
			got[name] = append([]rawLine(nil), l.lines...)
			return len(l.lines) == n-n/5, fmt.Sprint(len(l.lines))
		})
	}
	raws := 0
	for i, l := range got["raw"] {
		if l.raw {
			raws++
		}
		// The first record (the converter learns its schema) and the
		// one with a space are decoded.
		if want := l.offset != 0 && l.offset != 8; l.raw != want {
			t.Errorf("record %d: RawJSON %v, want %v", l.offset, l.raw, want)
		}
		if want := l.offset != 0; l.rawKey != want {
			t.Errorf("record %d: RawJSON key %v, want %v", l.offset, l.rawKey, want)
		}
		for _, other := range []string{"declined", "transform"} {
			o := got[other][i]
			if o.raw || o.rawKey || o.offset != l.offset || o.line != l.line || o.key != l.key {
				t.Errorf("record %d: %s got %+v, raw got %+v", l.offset, other, o, l)
			}
		}
	}
	if raws < n-n/5-2 {
		t.Errorf("%d records as RawJSON", raws)
	}
	for name := range conns {
		dl := consumeAll(t, c.addr, c.topic("dlq-"+name), n/5, 20*time.Second)
		if len(dl) != n/5 {
			t.Fatalf("%s: DLQ has %d records", name, len(dl))
		}
		for _, r := range dl {
			if want := recs[r.Offset*5+2]; string(r.Value) != string(want.Value) || string(r.Key) != string(want.Key) {
				t.Errorf("%s: DLQ record %s=%s, want %s=%s", name, r.Key, r.Value, want.Key, want.Value)
			}
		}
	}
}
