package conformance

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/plugins"
)

// numbered is a minimal harness for the kit's own unit tests.
type numbered struct{ carries Fields }

func (numbered) Class() string                    { return "test" }
func (numbered) Guarantee() Guarantee             { return AtLeastOnce }
func (h numbered) Carries() Fields                { return h.carries }
func (numbered) Config(*Stream) map[string]string { return nil }
func (numbered) Record(i int) plugins.Record {
	return plugins.Record{Key: "k" + strconv.Itoa(i), KeySchema: plugins.StringSchema,
		Value: "v" + strconv.Itoa(i), ValueSchema: plugins.StringSchema,
		Headers:   []plugins.Header{{Key: "h", Value: strconv.Itoa(i)}},
		Timestamp: time.UnixMilli(int64(1000 + i))}
}
func (numbered) ID(r plugins.Record) (int, bool) {
	s, _ := r.Value.(string)
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	return n, err == nil && strings.HasPrefix(s, "v")
}
func (numbered) Down(context.Context, *Stream) error { return nil }
func (numbered) Up(context.Context, *Stream) error   { return nil }

// TestCompareOnlyCarriedParts: a difference in a part the system does
// not carry is not damage; one in a carried part is, and says which.
func TestCompareOnlyCarriedParts(t *testing.T) {
	h := numbered{}
	want := h.Record(7)
	got := want
	got.Key, got.Headers, got.Timestamp = nil, nil, time.Time{}
	if err := compare(got, want, Values|Schemas); err != nil {
		t.Fatalf("value-only system: %v", err)
	}
	for _, tc := range []struct {
		f    Fields
		want string
	}{
		{Keys, "key"}, {Headers, "headers"}, {Timestamps, "timestamp"},
	} {
		err := compare(got, want, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compare with %s lost = %v, want an error naming it", tc.want, err)
		}
	}
	got = want
	got.ValueSchema = plugins.OptionalStringSchema
	if err := compare(got, want, Values); err != nil {
		t.Errorf("schemas not carried, yet compared: %v", err)
	}
	if err := compare(got, want, Values|Schemas); err == nil {
		t.Error("a changed value schema passed with Schemas carried")
	}
}

// TestTallyCounts: lost, duplicates, damage and the in-flight bound.
func TestTallyCounts(t *testing.T) {
	h := numbered{carries: Values}
	ta := newTally(h, true)
	for i := range 10 {
		ta.add(h.Record(i))
	}
	start := time.Now()
	time.Sleep(5 * time.Millisecond)
	ta.add(h.Record(3))
	ta.add(h.Record(3))
	ta.add(h.Record(12))
	bad := h.Record(5)
	bad.Value = "v5 changed"
	ta.add(bad)
	ta.add(plugins.Record{Value: "not ours"})
	if m := ta.missing(0, 15); len(m) != 4 || m[0] != 10 {
		t.Errorf("missing = %v, want [10 11 13 14]", m)
	}
	if d := ta.dups(0, 15); d != 2 {
		t.Errorf("dups = %d, want 2", d)
	}
	if p := ta.problems(); len(p) != 2 || !strings.Contains(p[1], "unrecognised record not ours") {
		t.Errorf("problems = %v, want the two records without an ID", p)
	}
	// Records 0..9 were first seen before start; 10, 11 never; 12 after.
	if n := ta.firstSince(13, start); n != 3 {
		t.Errorf("firstSince(13) = %d, want 3 (10, 11 unseen; 12 after)", n)
	}
	// A sink's Read replaces the tally but keeps first-seen times.
	ta.replace([]plugins.Record{h.Record(1), h.Record(1)})
	if d, m := ta.dups(0, 2), ta.missing(0, 2); d != 1 || len(m) != 1 {
		t.Errorf("after replace: dups %d missing %v", d, m)
	}
	if n := ta.firstSince(10, start); n != 0 {
		t.Errorf("first-seen times lost on replace: firstSince = %d", n)
	}
}

// TestTallyReplaceIsAtomic: a check that runs while a sink harness's
// Read replaces the tally sees every record (the Crash scenario of the S3
// sink reported records of the last-listed partitions lost in a round and
// found them again later: missing ran inside replace).
func TestTallyReplaceIsAtomic(t *testing.T) {
	h := numbered{carries: Values}
	const n = 5000
	recs := make([]plugins.Record, n)
	for i := range recs {
		recs[i] = h.Record(i)
	}
	ta := newTally(h, false)
	ta.replace(recs)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				ta.replace(recs)
			}
		}
	}()
	deadline := time.Now().Add(300 * time.Millisecond)
	torn := 0
	for time.Now().Before(deadline) {
		if m := ta.missing(0, n); len(m) > 0 {
			torn++
		}
	}
	close(stop)
	<-done
	if torn > 0 {
		t.Errorf("%d checks saw a half-replaced tally (records missing that every Read returned)", torn)
	}
}

// TestTallyDamage: a recognised record that differs in a carried part is
// reported with its number.
func TestTallyDamage(t *testing.T) {
	h := numbered{carries: Keys | Values}
	ta := newTally(h, true)
	r := h.Record(4)
	r.Key = "other"
	ta.add(r)
	if p := ta.problems(); len(p) != 1 || !strings.Contains(p[0], "record 4") || !strings.Contains(p[0], "key") {
		t.Errorf("problems = %v", p)
	}
}

// TestConvertersRoundTrip: what the kit produces for a sink decodes to
// the same Connect record, through the worker's default converters.
func TestConvertersRoundTrip(t *testing.T) {
	c, err := newConverters(map[string]string{
		"key.converter":   "org.apache.kafka.connect.json.JsonConverter",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter",
	})
	if err != nil {
		t.Fatal(err)
	}
	h := numbered{}
	want := h.Record(9)
	kr, err := c.encode("t", want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.decode(&kgo.Record{Topic: "t", Key: kr.Key, Value: kr.Value, Headers: kr.Headers, Timestamp: kr.Timestamp})
	if err != nil {
		t.Fatal(err)
	}
	if err := compare(got, want, Keys|Values|Headers|Timestamps|Schemas); err != nil {
		t.Fatal(err)
	}
}
