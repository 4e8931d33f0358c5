package cluster

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// clean is a two-producer history on two partitions, read back twice
// (leader and replica), with commits that only advance.
func clean() History {
	var h History
	for p := int32(0); p < 2; p++ {
		var recs []Rec
		for i := 0; i < 4; i++ {
			v := Value(int(p), i)
			h.Acks = append(h.Acks, Ack{Partition: p, Offset: int64(i), Value: v, At: t0.Add(time.Duration(i) * time.Millisecond)})
			recs = append(recs, Rec{Offset: int64(i), Value: v})
		}
		// An unacknowledged write may be present: a timeout is not a failure.
		recs = append(recs, Rec{Offset: 4, Value: Value(int(p), 4)})
		for _, src := range []string{"leader n1", "replica n2"} {
			h.Reads = append(h.Reads, Read{Source: src, Partition: p, Start: t0.Add(time.Second), Records: append([]Rec(nil), recs...)})
		}
	}
	h.Commits = []Commit{{"g", 0, 1}, {"g", 0, 3}, {"g", 1, 2}, {"g", 0, 3}, {"g", 1, 5}}
	return h
}

func TestCheckClean(t *testing.T) {
	res := Check(clean())
	var b strings.Builder
	res.Print(&b)
	t.Log("\n" + b.String())
	if !res.OK() || res.Total.Acknowledged != 8 || res.Total.Present != 8 || res.Total.Reads != 4 {
		t.Fatalf("clean history judged %+v", res.Total)
	}
	if !strings.Contains(b.String(), "checker: OK") {
		t.Fatalf("table does not say OK:\n%s", b.String())
	}
}

// Each anomaly, injected alone into the clean history, must be counted in
// its own column and make the verdict fail.
func TestCheckFindsAnomalies(t *testing.T) {
	recs := func(h *History, i int) *[]Rec { return &h.Reads[i].Records }
	cases := []struct {
		name   string
		break_ func(h *History)
		want   func(r Row) int
		count  int
	}{
		{"lost on one replica", func(h *History) {
			rs := recs(h, 1) // p0 replica n2 lacks offset 2
			*rs = append(append([]Rec{}, (*rs)[:2]...), (*rs)[3:]...)
		}, func(r Row) int { return r.Lost }, 1},
		{"lost everywhere", func(h *History) {
			for i := 0; i < 2; i++ {
				rs := recs(h, i)
				*rs = (*rs)[:3] // offset 3 (acked) and 4 gone from both
			}
		}, func(r Row) int { return r.Lost }, 1},
		{"moved", func(h *History) {
			for i := 0; i < 2; i++ {
				rs := recs(h, i)
				(*rs)[3].Value, (*rs)[4].Value = (*rs)[4].Value, (*rs)[3].Value
			}
		}, func(r Row) int { return r.Moved }, 1},
		{"duplicated", func(h *History) {
			rs := recs(h, 0)
			*rs = append(*rs, Rec{Offset: 5, Value: Value(0, 1)})
		}, func(r Row) int { return r.Duplicated }, 1},
		{"reordered ack", func(h *History) {
			h.Acks[1].Offset, h.Acks[2].Offset = 2, 1 // seq 1 acked after seq 2's offset
		}, func(r Row) int { return r.Reordered }, 1},
		{"divergent replicas", func(h *History) {
			rs := recs(h, 1)
			cp := append([]Rec{}, *rs...)
			cp[4].Value = Value(9, 9) // unacked tail differs between replicas
			*rs = cp
		}, func(r Row) int { return r.Divergent }, 1},
		{"unexpected record", func(h *History) {
			rs := recs(h, 2)
			*rs = append(append([]Rec{}, *rs...), Rec{Offset: 5, Value: "garbage"})
		}, func(r Row) int { return r.Unexpected }, 1},
		{"commit regression", func(h *History) {
			h.Commits = append(h.Commits, Commit{"g", 0, 2})
		}, func(r Row) int { return r.Regressions }, 1},
		{"offset acknowledged twice", func(h *History) {
			h.Acks = append(h.Acks, Ack{Partition: 1, Offset: 3, Value: Value(7, 0), At: t0})
		}, func(r Row) int { return r.Divergent }, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := clean()
			c.break_(&h)
			res := Check(h)
			var b strings.Builder
			res.Print(&b)
			if res.OK() {
				t.Fatalf("checker passed a broken history:\n%s", b.String())
			}
			if got := c.want(res.Total); got != c.count {
				t.Fatalf("counted %d, want %d:\n%s", got, c.count, b.String())
			}
			if !strings.Contains(b.String(), "checker: ANOMALIES") || len(res.Details) == 0 {
				t.Fatalf("table does not explain the anomaly:\n%s", b.String())
			}
		})
	}
}

// A read that began before an ack need not hold it (it reflects an earlier
// high watermark), but one that began after must.
func TestCheckReadsBeforeAck(t *testing.T) {
	h := History{
		Acks: []Ack{{Partition: 0, Offset: 0, Value: Value(1, 0), At: t0}, {Partition: 0, Offset: 1, Value: Value(1, 1), At: t0.Add(time.Second)}},
		Reads: []Read{
			{Source: "early", Partition: 0, Start: t0.Add(time.Millisecond), Records: []Rec{{0, Value(1, 0)}}},
			{Source: "final", Partition: 0, Start: t0.Add(2 * time.Second), Records: []Rec{{0, Value(1, 0)}, {1, Value(1, 1)}}},
		},
	}
	if res := Check(h); !res.OK() {
		t.Fatalf("prefix read judged an anomaly: %+v %v", res.Total, res.Details)
	}
	h.Reads[1].Records = h.Reads[1].Records[:1]
	if res := Check(h); res.OK() || res.Total.Lost != 1 {
		t.Fatalf("a final read without the second ack passed: %+v", res.Total)
	}
}

func TestValueRoundTrip(t *testing.T) {
	p, s, ok := ParseValue(Value(12, 345))
	if !ok || p != 12 || s != 345 {
		t.Fatalf("ParseValue(Value(12,345)) = %d %d %v", p, s, ok)
	}
	for _, bad := range []string{"", "w", "x1-2", "w1", "w-3", "wx-1"} {
		if _, _, ok := ParseValue(bad); ok {
			t.Errorf("ParseValue(%q) accepted", bad)
		}
	}
}
