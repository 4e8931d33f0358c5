package conformance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/plugins"
	_ "github.com/weirlog/weir/plugins/builtin" // the converters the kit decodes with
)

// converters are the key and value converters of a connector config, so
// the kit reads and writes the topic exactly as the worker does.
type converters struct {
	key, value plugins.Converter
}

func newConverters(cfg map[string]string) (*converters, error) {
	mk := func(side string, isKey bool) (plugins.Converter, error) {
		class := cfg[side]
		c, err := plugins.Default.NewConverter(class)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", side, class, err)
		}
		if err := c.Configure(plugins.WithPrefix(plugins.Config(cfg), side+"."), isKey); err != nil {
			return nil, fmt.Errorf("configure %s %q: %w", side, class, err)
		}
		return c, nil
	}
	k, err := mk("key.converter", true)
	if err != nil {
		return nil, err
	}
	v, err := mk("value.converter", false)
	if err != nil {
		return nil, err
	}
	return &converters{key: k, value: v}, nil
}

// decode turns a Kafka record into a Connect record.
func (c *converters) decode(r *kgo.Record) (plugins.Record, error) {
	out := plugins.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
	var err error
	if out.KeySchema, out.Key, err = c.key.ToConnect(r.Topic, r.Key); err != nil {
		return out, fmt.Errorf("key converter: %w", err)
	}
	if out.ValueSchema, out.Value, err = c.value.ToConnect(r.Topic, r.Value); err != nil {
		return out, fmt.Errorf("value converter: %w", err)
	}
	for _, h := range r.Headers {
		var v any
		if h.Value != nil {
			v = string(h.Value)
		}
		out.Headers = append(out.Headers, plugins.Header{Key: h.Key, Value: v, Schema: plugins.OptionalStringSchema})
	}
	return out, nil
}

// encode turns a Connect record into a Kafka record for topic.
func (c *converters) encode(topic string, r plugins.Record) (*kgo.Record, error) {
	k, err := c.key.FromConnect(topic, r.KeySchema, r.Key)
	if err != nil {
		return nil, fmt.Errorf("key converter: %w", err)
	}
	v, err := c.value.FromConnect(topic, r.ValueSchema, r.Value)
	if err != nil {
		return nil, fmt.Errorf("value converter: %w", err)
	}
	out := &kgo.Record{Topic: topic, Key: k, Value: v, Timestamp: r.Timestamp, Partition: -1}
	for _, h := range r.Headers {
		var hv []byte
		if h.Value != nil {
			hv = []byte(plugins.ValueString(h.Value))
		}
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: h.Key, Value: hv})
	}
	return out, nil
}

// compare reports how got differs from want in the parts f names.
func compare(got, want plugins.Record, f Fields) error {
	var errs []string
	if f&Keys != 0 {
		if !plugins.ValuesEqual(got.Key, want.Key) {
			errs = append(errs, fmt.Sprintf("key %s, want %s", plugins.ValueString(got.Key), plugins.ValueString(want.Key)))
		}
		if f&Schemas != 0 && !got.KeySchema.Equal(want.KeySchema) {
			errs = append(errs, fmt.Sprintf("key schema %v, want %v", got.KeySchema, want.KeySchema))
		}
	}
	if f&Values != 0 {
		if !plugins.ValuesEqual(got.Value, want.Value) {
			errs = append(errs, fmt.Sprintf("value %.200s, want %.200s", plugins.ValueString(got.Value), plugins.ValueString(want.Value)))
		}
		if f&Schemas != 0 && !got.ValueSchema.Equal(want.ValueSchema) {
			errs = append(errs, fmt.Sprintf("value schema %v, want %v", got.ValueSchema, want.ValueSchema))
		}
	}
	if f&Headers != 0 {
		g, w := headerStrings(got.Headers), headerStrings(want.Headers)
		if g != w {
			errs = append(errs, fmt.Sprintf("headers %s, want %s", g, w))
		}
	}
	if f&Timestamps != 0 && !want.Timestamp.IsZero() && got.Timestamp.UnixMilli() != want.Timestamp.UnixMilli() {
		errs = append(errs, fmt.Sprintf("timestamp %s, want %s", got.Timestamp.UTC().Format(time.RFC3339Nano), want.Timestamp.UTC().Format(time.RFC3339Nano)))
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

func headerStrings(hs []plugins.Header) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, h.Key+"="+plugins.ValueString(h.Value))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// tally counts the kit's records as they arrive: how often each number
// was seen, records that came back damaged, and a time series of the
// total for the in-flight bound.
type tally struct {
	mu      sync.Mutex
	h       Harness
	check   bool // compare every record with h.Record
	counts  map[int]int
	first   map[int]time.Time // when each number was first seen (kept across replace)
	total   int
	foreign int
	damaged []string
	samples []sample
}

type sample struct {
	at       time.Time
	total    int
	distinct int
}

func newTally(h Harness, check bool) *tally {
	return &tally{h: h, check: check, counts: map[int]int{}, first: map[int]time.Time{}}
}

func (t *tally) add(r plugins.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addLocked(r)
}

func (t *tally) addLocked(r plugins.Record) {
	id, ok := t.h.ID(r)
	if !ok {
		t.foreign++
		if len(t.damaged) < 10 {
			t.damaged = append(t.damaged, fmt.Sprintf("unrecognised record %.200s", plugins.ValueString(r.Value)))
		}
		return
	}
	t.counts[id]++
	t.total++
	if _, ok := t.first[id]; !ok {
		t.first[id] = time.Now()
	}
	if t.check {
		if err := compare(r, t.h.Record(id), t.h.Carries()); err != nil && len(t.damaged) < 10 {
			t.damaged = append(t.damaged, fmt.Sprintf("record %d: %v", id, err))
		}
	}
}

// replace resets the tally to recs (a sink harness re-reads everything)
// in one step: a check running meanwhile sees the old counts or the new
// ones, never a half-built tally (that showed as records "lost" from the
// objects listed last, e.g. a whole Kafka partition of a storage sink).
func (t *tally) replace(recs []plugins.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts, t.total, t.foreign, t.damaged = map[int]int{}, 0, 0, nil
	for _, r := range recs {
		t.addLocked(r)
	}
	t.samples = append(t.samples, sample{time.Now(), t.total, len(t.counts)})
}

func (t *tally) mark() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, sample{time.Now(), t.total, len(t.counts)})
}

// distinctAt is the number of different records seen at time at.
func (t *tally) distinctAt(at time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.samples), func(i int) bool { return t.samples[i].at.After(at) })
	if i == 0 {
		return 0
	}
	return t.samples[i-1].distinct
}

// firstSince counts the numbers in [0, upto) first seen after since, or
// not seen at all.
func (t *tally) firstSince(upto int, since time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for i := 0; i < upto; i++ {
		if f, ok := t.first[i]; !ok || f.After(since) {
			n++
		}
	}
	return n
}

// missing lists the numbers in [from, to) not seen yet.
func (t *tally) missing(from, to int) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var m []int
	for i := from; i < to; i++ {
		if t.counts[i] == 0 {
			m = append(m, i)
		}
	}
	return m
}

// complete reports whether every number in [from, to) has arrived,
// stopping at the first missing one (waitAll asks 20 times a second;
// missing builds the whole list, 100,000 map lookups a time in the
// benchmarks).
func (t *tally) complete(from, to int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := from; i < to; i++ {
		if t.counts[i] == 0 {
			return false
		}
	}
	return true
}

// dups is the number of extra copies of numbers in [from, to).
func (t *tally) dups(from, to int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := 0
	for i := from; i < to; i++ {
		if c := t.counts[i]; c > 1 {
			d += c - 1
		}
	}
	return d
}

func (t *tally) count(i int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[i]
}

func (t *tally) problems() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.damaged...)
}

// snapshot returns a copy of the counts.
func (t *tally) snapshot() map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := make(map[int]int, len(t.counts))
	for k, v := range t.counts {
		m[k] = v
	}
	return m
}

func fmtIDs(ids []int) string {
	if len(ids) > 20 {
		return fmt.Sprintf("%v … (%d in all)", ids[:20], len(ids))
	}
	return fmt.Sprint(ids)
}

// topicReader consumes a topic from its start for the whole scenario,
// feeding a tally; it survives the broker being killed and restarted.
type topicReader struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func readTopic(addrs []string, topic string, conv *converters, t *tally, raw func(*kgo.Record)) (*topicReader, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &topicReader{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			fs := cl.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) {
				if raw != nil {
					raw(r)
				}
				if t == nil {
					return
				}
				rec, err := conv.decode(r)
				if err != nil {
					t.mu.Lock()
					if len(t.damaged) < 10 {
						t.damaged = append(t.damaged, fmt.Sprintf("offset %d: %v", r.Offset, err))
					}
					t.mu.Unlock()
					return
				}
				t.add(rec)
			})
			if t != nil {
				select {
				case <-tick.C:
					t.mark()
				default:
				}
			}
		}
	}()
	return tr, nil
}

func (tr *topicReader) close() {
	tr.cancel()
	<-tr.done
	tr.cl.Close()
}
