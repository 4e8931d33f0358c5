package storagetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/plugins"
)

// File is one committed file as a harness lists it: its path (or object
// key) and a version tag that changes when it is written again.
type File struct{ Path, Tag string }

// TopicsDir is a topics.dir unique to one stream of one run, so files of
// earlier runs (the bucket or file system persists) are never recovered
// into this one.
func TopicsDir(s *conformance.Stream) string {
	h := fnv.New64a()
	h.Write([]byte(s.Dir))
	return "kit/" + strconv.FormatUint(h.Sum64(), 36)
}

// KitRecords is how many records RoundTrip, Crash and Rebalance carry:
// the 200,000 in make test-long (WEIR_TEST_LONG=1), 20,000 in
// make test (still dozens of files per partition at flush.size 300),
// and how long the kit waits for them.
func KitRecords() (int, time.Duration) {
	if os.Getenv("WEIR_TEST_LONG") != "" {
		return 200_000, 5 * time.Minute
	}
	return 20_000, 0
}

// Kit is the part of the S3 and HDFS sinks' kit harnesses that does not
// depend on the store: the records, their ids, and reading JSON-lines
// files with the checks of exactly-once naming. A harness embeds it and
// adds Class, Config, Read (listing its store, then ReadFiles), Down, Up
// and BadValues.
type Kit struct {
	Pad string // appended to every value (bench: ~1 KiB records)

	mu         sync.Mutex
	disorder   []string // files whose records are not in ascending order
	rewritten  []string // names written again with other records (stream: name)
	seen       map[string]*version
	superseded map[string][]plugins.Record // per stream: records of files written again since
}

type version struct {
	tag  string
	recs []plugins.Record
}

func (*Kit) Guarantee() conformance.Guarantee { return conformance.ExactlyOnce }
func (*Kit) Carries() conformance.Fields      { return conformance.Values }

var kitEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (k *Kit) Record(i int) plugins.Record {
	return plugins.Record{
		Key: fmt.Sprintf("k%d", i), KeySchema: plugins.StringSchema,
		Value: fmt.Sprintf("v%08d \"quoted\" back\\slash\ttab ünïcødé ✓", i) + k.Pad, ValueSchema: plugins.StringSchema,
		Timestamp: kitEpoch.Add(time.Duration(i) * time.Millisecond),
	}
}

func (*Kit) ID(r plugins.Record) (int, bool) {
	s, _ := r.Value.(string)
	if len(s) < 9 || s[0] != 'v' {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:9])
	return n, err == nil
}

// ReadFiles parses every JSON line of a stream's files (get fetches one;
// name is how a file is named in a failure). A file written again (a new
// tag under the same path: offsets moved back on purpose) keeps its
// earlier records counted too, so it returns every record the sink ever
// wrote; unchanged files come from a cache.
func (k *Kit) ReadFiles(s *conformance.Stream, files []File, get func(path string) ([]byte, error), name func(path string) string) ([]plugins.Record, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen == nil {
		k.seen, k.superseded = map[string]*version{}, map[string][]plugins.Record{}
	}
	var out []plugins.Record
	for _, f := range files {
		v := k.seen[f.Path]
		if v == nil || v.tag != f.Tag {
			b, err := get(f.Path)
			if err != nil {
				return nil, err
			}
			recs, err := k.parse(f.Path, name(f.Path), b)
			if err != nil {
				return nil, err
			}
			if v != nil {
				k.superseded[s.Name] = append(k.superseded[s.Name], v.recs...)
				if s.Name != "kit-lifecycle" && !k.sameRecords(v.recs, recs) {
					k.rewritten = append(k.rewritten, s.Name+": "+f.Path)
				}
			}
			v = &version{tag: f.Tag, recs: recs}
			k.seen[f.Path] = v
		}
		out = append(out, v.recs...)
	}
	return append(out, k.superseded[s.Name]...), nil
}

func (k *Kit) parse(p, name string, b []byte) ([]plugins.Record, error) {
	var out []plugins.Record
	last := -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		v, err := LineValue(sc.Bytes(), k.Pad != "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		r := plugins.Record{Value: v}
		if id, ok := k.ID(r); ok {
			if id <= last {
				k.disorder = append(k.disorder, name)
			}
			last = id
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// sameRecords reports whether two versions of a file hold the same
// records in the same order.
func (k *Kit) sameRecords(a, b []plugins.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, okx := k.ID(a[i])
		y, oky := k.ID(b[i])
		if okx != oky || x != y {
			return false
		}
	}
	return true
}

// Check fails t for files written again under the same name with other
// records (Confluent's deterministic naming: a name denotes one set of
// records, or a reader that saw the first version and one that saw the
// second disagree; only Lifecycle moves offsets back on purpose), and for
// files whose records are out of offset order. what names the files
// ("objects", "files").
func (k *Kit) Check(t testing.TB, what string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.rewritten) > 0 {
		t.Errorf("%d %s written again under the same name with other records: %s", len(k.rewritten), what, strings.Join(k.rewritten[:min(len(k.rewritten), 10)], ", "))
	}
	if len(k.disorder) > 0 {
		t.Errorf("%s with records out of offset order: %s", what, strings.Join(k.disorder[:min(len(k.disorder), 10)], ", "))
	}
}

// BenchFlush is the flush.size of the throughput rows: 5000 records of
// about 1 KiB, files of about 5 MB (the raw rows write objects of that
// size).
const BenchFlush = 5000

// BenchParts is the number of Kafka partitions of the throughput rows;
// the task keeps one file of each in flight at once (the raw rows write
// that many objects at once too).
const BenchParts = 4

// BenchConfig is the rotation of the throughput rows, what a user who
// wants throughput and exactly-once sets: files closed by flush.size,
// and rotate.interval.ms (record time, exactly-once) of ten minutes,
// which also closes the file of a topic idle that long. No wall-clock
// rotate.schedule.interval.ms: it is not exactly-once, and its boundary
// (once a second, as the rows had) left the stream's last files waiting
// up to a second inside the measured window.
func BenchConfig() map[string]string {
	return map[string]string{"flush.size": strconv.Itoa(BenchFlush), "rotate.interval.ms": "600000"}
}

// BenchRecords is how many records a throughput row carries:
// WEIR_BENCH_RECORDS (50,000 by default) rounded up to whole files of
// every partition (60,000), so every file closes by flush.size, as in a
// stream that goes on, rather than waiting for an idle close the stream's
// end would trigger.
func BenchRecords() int {
	n := 50_000
	if s := os.Getenv("WEIR_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const whole = BenchFlush * BenchParts
	return max(1, (n+whole-1)/whole) * whole
}

// Throughput is a sink's throughput row of make bench: BenchRecords
// records end to end through weir serve over BenchParts partitions
// (config BenchConfig), reported as records/s and MB/s.
func Throughput(b *testing.B, h conformance.SinkHarness, label string) {
	n := BenchRecords()
	var r conformance.Result
	for b.Loop() {
		r = conformance.Throughput(b, &whole{SinkHarness: h, want: n}, n, conformance.Options{Partitions: BenchParts})
	}
	b.ReportMetric(r.RecordsPerSec(), "records/s")
	b.ReportMetric(r.MBPerSec(), "MB/s")
	b.Logf("%s: %s", label, r)
}

// whole hands the kit's observer the records of a throughput row only
// once all want of them are there (or every few seconds, so a row that
// never completes still says what arrived). The kit rebuilds its tally
// from every record at each read, five times a second; that, and
// checking the tally twenty times a second, took the bench's process
// more CPU than the sink it measured, on the same two cores. The
// harness still reads every file (each once) while the row runs, and
// the tally still checks every record once at the end.
type whole struct {
	conformance.SinkHarness
	want int
	last time.Time
}

var errIncomplete = errors.New("not all records yet")

func (w *whole) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	recs, err := w.SinkHarness.Read(ctx, s)
	if err != nil || len(recs) >= w.want || time.Since(w.last) > 5*time.Second {
		w.last = time.Now()
		return recs, err
	}
	return nil, errIncomplete
}
