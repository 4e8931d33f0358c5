package log

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// The model-based test runs random appends, reads, truncations, record
// deletions, retention, compaction, clean restarts and crashes against the
// log and against a trivially correct in-memory model, and compares after
// every step.

type modelRec struct {
	off        int64
	key, value string
}

type modelBatch struct {
	base, last int64
	recs       []modelRec
}

type model struct {
	start, end int64
	batches    []modelBatch
}

func (m *model) records() []modelRec {
	var out []modelRec
	for _, b := range m.batches {
		for _, r := range b.recs {
			if r.off >= m.start {
				out = append(out, r)
			}
		}
	}
	return out
}

// logRecords reads every record at or after the log start.
func logRecords(t *testing.T, l *Log) []modelRec {
	t.Helper()
	var out []modelRec
	start := l.StartOffset()
	off := start
	for off < l.EndOffset() {
		r, err := l.Read(off, 1+rand.Intn(5000), -1)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		b, err := r.Bytes()
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("empty read at %d, end %d", off, l.EndOffset())
		}
		for len(b) > 0 {
			h, err := parseHeader(b)
			if err != nil || h.BaseOffset > off && off != start && h.BaseOffset < off {
				t.Fatalf("bad batch: %v", err)
			}
			if err := verifyBatch(b[:h.size()]); err != nil {
				t.Fatalf("corrupt batch served at %d: %v", h.BaseOffset, err)
			}
			forEachRecord(b[:h.size()], func(r *decodedRecord) bool {
				o := h.BaseOffset + int64(r.offsetDelta)
				if o >= start {
					v := "<nil>"
					if !r.valueNull {
						v = "set"
					}
					_ = v
					out = append(out, modelRec{off: o, key: string(r.key), value: valueOf(b[:h.size()], r)})
				}
				return true
			})
			b = b[h.size():]
			off = h.nextOffset()
		}
	}
	return out
}

// valueOf is a record's value as the model stores it.
func valueOf(_ []byte, r *decodedRecord) string {
	if r.valueNull {
		return "<tombstone>"
	}
	return string(r.value)
}

func TestModel(t *testing.T) {
	seeds := 6
	ops := 400
	if testing.Short() {
		seeds, ops = 2, 150
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runModel(t, int64(seed), ops) })
	}
}

func runModel(t *testing.T, seed int64, ops int) {
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	c := newClock()
	cfg := DefaultConfig()
	cfg.SegmentBytes = int64(1000 + rng.Intn(3000))
	cfg.IndexIntervalBytes = 100 + rng.Intn(400)
	compact := seed%2 == 1
	if compact {
		cfg.CleanupPolicy = CleanupCompactDelete
		cfg.DeleteRetentionMs = 1000 * time.Hour // tombstones are kept: easier to model
		cfg.MinCleanableRatio = 0.01
	}
	o := testOpts(c)
	o.FS = noSyncFS{} // crashes here are process crashes: fsync is moot
	l := mustOpen(t, dir, cfg, o)
	defer func() { l.Close() }()
	m := &model{}
	uniq := 0
	var reclaimed int64
	var trace []string
	defer func() {
		counts := map[string]int{}
		for _, tr := range trace {
			counts[strings.Fields(tr)[0]]++
		}
		t.Logf("ops %v, compaction reclaimed %d bytes", counts, reclaimed)
		if compact && reclaimed == 0 && !t.Failed() && ops >= 150 {
			t.Errorf("compaction never reclaimed anything: the test does not exercise it")
		}
	}()
	check := func() {
		t.Helper()
		if l.StartOffset() != m.start || l.EndOffset() != m.end {
			t.Fatalf("offsets [%d, %d), model [%d, %d)\ntrace: %v", l.StartOffset(), l.EndOffset(), m.start, m.end, trace)
		}
		got, want := logRecords(t, l), m.records()
		if len(got) != len(want) {
			t.Fatalf("%d records, model %d\ntrace: %v", len(got), len(want), trace)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("record %d: %+v, model %+v\ntrace: %v", i, got[i], want[i], trace)
			}
		}
	}
	for op := 0; op < ops; op++ {
		switch p := rng.Intn(100); {
		case p < 55: // append
			n := 1 + rng.Intn(5)
			var rs []rec
			var mrs []modelRec
			for i := 0; i < n; i++ {
				uniq++
				k := fmt.Sprintf("k%d", rng.Intn(12))
				v := fmt.Sprintf("v%d", uniq)
				r := rec{key: []byte(k), value: []byte(v), ts: c.ms()}
				if compact && rng.Intn(10) == 0 {
					r.value = nil
					v = "<tombstone>"
				}
				rs = append(rs, r)
				mrs = append(mrs, modelRec{key: k, value: v})
			}
			res, err := l.Append(buildBatch(t, batchSpec{records: rs, gzip: rng.Intn(4) == 0}), AppendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range mrs {
				mrs[i].off = res.BaseOffset + int64(i)
			}
			m.batches = append(m.batches, modelBatch{base: res.BaseOffset, last: res.LastOffset, recs: mrs})
			m.end = res.LogEndOffset
			trace = append(trace, fmt.Sprintf("append %d", n))
		case p < 62: // truncate
			if m.end == m.start {
				continue
			}
			off := m.start + rng.Int63n(m.end-m.start+1)
			if err := l.TruncateTo(off); err != nil {
				t.Fatal(err)
			}
			if off <= m.start {
				m.batches, m.start, m.end = nil, off, off
			} else {
				i := 0
				for i < len(m.batches) && m.batches[i].last < off {
					i++
				}
				m.batches = m.batches[:i]
				if i == 0 || m.batches[i-1].last < m.start {
					// Nothing at or after the start survives: the log
					// restarts empty at off.
					m.batches, m.start, m.end = nil, off, off
				} else {
					m.end = m.batches[i-1].last + 1
				}
			}
			trace = append(trace, fmt.Sprintf("truncate %d", off))
		case p < 67: // delete records
			if m.end == m.start {
				continue
			}
			off := m.start + rng.Int63n(m.end-m.start+1)
			if _, err := l.DeleteRecordsBefore(off); err != nil {
				t.Fatal(err)
			}
			m.start = off
			trace = append(trace, fmt.Sprintf("delete-records %d", off))
		case p < 72: // retention by bytes
			cfg.RetentionBytes = int64(rng.Intn(8000))
			l.SetConfig(cfg)
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
			cfg.RetentionBytes = -1
			l.SetConfig(cfg)
			if s := l.StartOffset(); s > m.start {
				m.start = s
			}
			trace = append(trace, "retention")
		case p < 80: // compaction
			if !compact {
				continue
			}
			before := m.records()
			n, err := l.Compact()
			if err != nil {
				t.Fatal(err)
			}
			reclaimed += n
			after := logRecords(t, l)
			verifyCompaction(t, before, after, l)
			// Adopt the compacted contents, batch structure included.
			m.batches = internalBatches(t, l)
			trace = append(trace, "compact")
		case p < 86:
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, dir, cfg, o)
			trace = append(trace, "reopen")
		case p < 92:
			if rng.Intn(2) == 0 {
				l.Flush()
			}
			crash(l)
			l = mustOpen(t, dir, cfg, o)
			trace = append(trace, "crash")
		default: // random read with an upper bound
			if m.end == m.start {
				continue
			}
			off := m.start + rng.Int63n(m.end-m.start)
			hw := off + rng.Int63n(m.end-off+1)
			r, err := l.Read(off, rng.Intn(3000), hw)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := r.Bytes()
			r.Release()
			for len(b) > 0 {
				h, _ := parseHeader(b)
				if h.lastOffset() >= hw || h.lastOffset() < off {
					t.Fatalf("read(%d, hw %d) returned batch [%d, %d]", off, hw, h.BaseOffset, h.lastOffset())
				}
				b = b[h.size():]
			}
		}
		c.Advance(time.Second)
		check()
	}
}

// verifyCompaction: offsets are kept, only superseded records go, and the
// newest record of every key stays.
func verifyCompaction(t *testing.T, before, after []modelRec, l *Log) {
	t.Helper()
	newest := map[string]int64{}
	for _, r := range before {
		newest[r.key] = r.off
	}
	byOff := map[int64]modelRec{}
	for _, r := range before {
		byOff[r.off] = r
	}
	present := map[int64]bool{}
	for _, r := range after {
		if byOff[r.off] != r {
			t.Fatalf("compaction changed record at %d: %+v vs %+v", r.off, r, byOff[r.off])
		}
		present[r.off] = true
	}
	for k, off := range newest {
		if !present[off] {
			t.Fatalf("compaction dropped the newest record of %s at %d", k, off)
		}
	}
}

// internalBatches reads every batch of every segment, below the log start
// too, straight from the segment files.
func internalBatches(t *testing.T, l *Log) []modelBatch {
	t.Helper()
	var out []modelBatch
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.segs {
		err := eachBatch(s, func(h *batchHeader, b []byte) error {
			mb := modelBatch{base: h.BaseOffset, last: h.lastOffset()}
			err := forEachRecord(b, func(r *decodedRecord) bool {
				mb.recs = append(mb.recs, modelRec{off: h.BaseOffset + int64(r.offsetDelta), key: string(r.key), value: valueOf(b, r)})
				return true
			})
			out = append(out, mb)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
