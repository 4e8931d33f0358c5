package conformance

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/plugins"
)

// Scenarios are the subtests Run runs, in order. Every connector's report
// names the same ones.
var Scenarios = []string{"RoundTrip", "Crash", "ExternalDown", "PoisonRecord", "Lifecycle", "Rebalance", "Config"}

// Run runs every scenario against h as subtests of t, each against fresh
// `weir serve` processes. h must be a SourceHarness or a SinkHarness.
func Run(t *testing.T, h Harness, o Options) {
	o = o.withDefaults()
	k := &kit{h: h, o: o}
	switch hh := h.(type) {
	case SourceHarness:
		k.src = hh
	case SinkHarness:
		k.sink = hh
	default:
		t.Fatalf("conformance: %T is neither a SourceHarness nor a SinkHarness", h)
	}
	weirBinary(t) // build once, before the clocks of the scenarios start
	t.Logf("%s declares %s; carries %s", h.Class(), h.Guarantee(), fieldsString(h.Carries()))
	scen := map[string]func(*testing.T){
		"RoundTrip":    k.roundTrip,
		"Crash":        k.crash,
		"ExternalDown": k.externalDown,
		"PoisonRecord": k.poisonRecord,
		"Lifecycle":    k.lifecycle,
		"Rebalance":    k.rebalance,
		"Config":       k.config,
	}
	for _, name := range Scenarios {
		if len(o.Only) > 0 && !slices.Contains(o.Only, name) {
			// Shown as a skip, never as a pass: a connector is done only
			// when it runs every scenario.
			t.Run(name, func(t *testing.T) {
				t.Skipf("%s not run: Options.Only is %v; every connector must pass every scenario", name, o.Only)
			})
			continue
		}
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			scen[name](t)
			t.Logf("%s took %s", name, time.Since(start).Round(10*time.Millisecond))
		})
	}
}

func fieldsString(f Fields) string {
	var s []string
	for _, x := range []struct {
		f Fields
		n string
	}{{Keys, "keys"}, {Values, "values"}, {Headers, "headers"}, {Timestamps, "timestamps"}, {Schemas, "schemas"}} {
		if f&x.f != 0 {
			s = append(s, x.n)
		}
	}
	return strings.Join(s, ", ")
}

type kit struct {
	h    Harness
	src  SourceHarness
	sink SinkHarness
	o    Options
}

// env is one scenario's world: weir processes, a stream, its config.
type env struct {
	t       testing.TB
	k       *kit
	ctx     context.Context
	cwd     string
	broker  *node   // the Kafka cluster (in standalone mode also the worker)
	workers []*node // the Connect workers
	s       *Stream
	cfg     map[string]string
	conv    *converters
	tally   *tally
	reader  *topicReader
	prod    *kgo.Client
	stopObs func()
	bytes   int64 // value+key bytes seen in Kafka (throughput)
}

// newEnv starts a standalone node: broker and worker in one process.
func (k *kit) newEnv(t testing.TB) *env {
	t.Helper()
	e := k.baseEnv(t)
	n := newNode(t, e.cwd, "weir", workerArgs(k.o)...)
	n.start()
	e.broker, e.workers = n, []*node{n}
	return e
}

func (k *kit) baseEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cwd := t.TempDir()
	return &env{t: t, k: k, ctx: ctx, cwd: cwd}
}

func (e *env) rest() *restClient {
	for _, w := range e.workers {
		if w.running() {
			return newREST(w.url())
		}
	}
	e.t.Fatal("no worker is running")
	return nil
}

// stream sets up a stream named name and its connector config (not yet
// created on the worker).
func (e *env) stream(name string, extra map[string]string) {
	t := e.t
	t.Helper()
	dir := filepath.Join(e.cwd, "connect-files", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.s = &Stream{Name: "kit-" + name, Topic: "kit-" + name, Dir: dir}
	cfg := e.k.h.Config(e.s)
	full := map[string]string{
		"name":            e.s.Name,
		"connector.class": e.k.h.Class(),
		"tasks.max":       "1",
		"key.converter":   "org.apache.kafka.connect.json.JsonConverter",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter",
	}
	if e.k.sink != nil {
		full["topics"] = e.s.Topic
	}
	maps.Copy(full, cfg)
	maps.Copy(full, extra)
	e.cfg = full
	conv, err := newConverters(full)
	if err != nil {
		t.Fatalf("converters of the connector config: %v", err)
	}
	e.conv = conv
	if e.k.sink != nil {
		e.createTopic(e.s.Topic, e.k.o.Partitions)
	}
}

func (e *env) kafkaAddrs() []string { return []string{e.broker.kafka} }

func (e *env) createTopic(topic string, partitions int) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafkaAddrs()...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, int32(partitions), -1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
}

// create PUTs the connector config and waits until it and its tasks run.
func (e *env) create() {
	e.t.Helper()
	if err := e.rest().putConfig(e.ctx, e.s.Name, e.cfg); err != nil {
		e.t.Fatalf("create connector %s: %v", e.s.Name, err)
	}
	e.waitState("RUNNING")
}

// waitState waits until the connector and all its tasks are in state.
func (e *env) waitState(state string) Status {
	e.t.Helper()
	var last Status
	var lastErr error
	deadline := time.Now().Add(e.k.o.Timeout)
	for time.Now().Before(deadline) {
		st, err := e.rest().status(e.ctx, e.s.Name)
		last, lastErr = st, err
		if err == nil && st.Connector.State == state && len(st.Tasks) > 0 {
			all := true
			for _, ts := range st.Tasks {
				all = all && ts.State == state
			}
			if all {
				return st
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("connector %s not %s after %s: status %+v, err %v", e.s.Name, state, e.k.o.Timeout, last, lastErr)
	return last
}

// observe starts counting the kit's records where they arrive: the topic
// for a source, the external system for a sink.
func (e *env) observe(check bool) {
	e.t.Helper()
	e.tally = newTally(e.k.h, check)
	if e.k.src != nil {
		r, err := readTopic(e.kafkaAddrs(), e.s.Topic, e.conv, e.tally, func(r *kgo.Record) { e.bytes += int64(len(r.Key) + len(r.Value)) })
		if err != nil {
			e.t.Fatal(err)
		}
		e.reader = r
		e.stopObs = r.close
		e.t.Cleanup(r.close)
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			recs, err := e.k.sink.Read(ctx, e.s)
			if err == nil {
				e.tally.replace(recs)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	once := false
	e.stopObs = func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	e.t.Cleanup(e.stopObs)
}

// write puts records [from, to) in: into the external system for a
// source, into the topic for a sink.
func (e *env) write(from, to int) {
	e.t.Helper()
	if from >= to {
		return
	}
	if e.k.src != nil {
		if err := e.k.src.Write(e.ctx, e.s, from, to); err != nil {
			e.t.Fatalf("write records [%d, %d) into the external system: %v", from, to, err)
		}
		return
	}
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		r, err := e.conv.encode(e.s.Topic, e.k.h.Record(i))
		if err != nil {
			e.t.Fatalf("encode record %d: %v", i, err)
		}
		e.bytes += int64(len(r.Key) + len(r.Value))
		recs = append(recs, r)
	}
	e.produce(recs...)
}

// produce writes raw records to the sink's topic, retrying while the
// broker restarts.
func (e *env) produce(recs ...*kgo.Record) {
	e.t.Helper()
	if e.prod == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafkaAddrs()...), kgo.ProducerLinger(0),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			e.t.Fatal(err)
		}
		e.prod = cl
		e.t.Cleanup(cl.Close)
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.k.o.Timeout)
	defer cancel()
	if err := e.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce %d records to %s: %v", len(recs), e.s.Topic, err)
	}
}

// waitAll waits until every record in [from, to) has arrived.
func (e *env) waitAll(from, to int, what string) {
	e.t.Helper()
	deadline := time.Now().Add(e.k.o.Timeout)
	for {
		if e.tally.complete(from, to) {
			return
		}
		if time.Now().After(deadline) {
			m := e.tally.missing(from, to)
			if len(m) == 0 {
				return
			}
			st, _ := e.rest().status(e.ctx, e.s.Name)
			e.t.Fatalf("%s: %d of records [%d, %d) never arrived after %s: %s; status %+v; problems %v",
				what, len(m), from, to, e.k.o.Timeout, fmtIDs(m), st, e.tally.problems())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// intact fails the test for damaged or unknown records.
func (e *env) intact() {
	e.t.Helper()
	if p := e.tally.problems(); len(p) > 0 {
		e.t.Fatalf("records did not arrive intact:\n  %s", strings.Join(p, "\n  "))
	}
}

// ---- RoundTrip ----

func (k *kit) roundTrip(t *testing.T) {
	e := k.newEnv(t)
	e.stream("roundtrip", nil)
	e.observe(true)
	e.create()
	n := k.o.Records
	start := time.Now()
	chunk := max(n/10, 1)
	for i := 0; i < n; i += chunk {
		e.write(i, min(i+chunk, n))
	}
	e.waitAll(0, n, "RoundTrip")
	el := time.Since(start)
	e.intact()
	if d := e.tally.dups(0, n); d != 0 {
		t.Errorf("RoundTrip without faults delivered %d duplicates", d)
	}
	t.Logf("RoundTrip: %d records intact (%s) in %s", n, fieldsString(k.h.Carries()), el.Round(time.Millisecond))
}

// ---- helpers shared by the fault scenarios ----

// inFlight is the bound on duplicates one crash at time at may cause
// under AtLeastOnce, computed once the stream has caught up after it: of
// the records written before the crash (the first upto), those first
// delivered from one offset-flush interval (plus two seconds for the
// commit itself) before the crash on. Only records delivered before the
// crash whose offsets were not committed yet can come again, and those all
// lie in that window (the bound also counts records still on their way at
// the crash, which come once).
func (e *env) inFlight(at time.Time, upto int) int {
	win := e.k.o.OffsetFlushInterval + 2*time.Second
	return e.tally.firstSince(upto, at.Add(-win))
}

// checkGuarantee fails the test when the delivery guarantee does not
// hold for [0, n) given the duplicate bound.
func (e *env) checkGuarantee(what string, n, dups, bound int) {
	e.t.Helper()
	if m := e.tally.missing(0, n); len(m) > 0 {
		e.t.Errorf("%s: %d records lost: %s", what, len(m), fmtIDs(m))
	}
	switch e.k.h.Guarantee() {
	case ExactlyOnce:
		if dups != 0 {
			e.t.Errorf("%s: %d duplicates under exactly-once", what, dups)
		}
	default:
		if dups > bound {
			e.t.Errorf("%s: %d duplicates exceed the in-flight bound %d", what, dups, bound)
		}
	}
}

func recordOf(v string) plugins.Record {
	return plugins.Record{Value: v, ValueSchema: plugins.StringSchema}
}
