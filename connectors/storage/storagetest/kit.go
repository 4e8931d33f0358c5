package storagetest

import (
	"bufio"
	"bytes"
	"context"
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

// KitRecords is how many records RoundTrip, Crash and Rebalance carry,
// in make test as in make test-long: the 200,000 over 4
// partitions (about 170 files per partition at flush.size 300; the S3
// kit takes about 95 s, each HDFS kit about 125 s on 2 cores), and how
// long the kit waits for them.
func KitRecords() (int, time.Duration) {
	return 200_000, 5 * time.Minute
}

// Kit is the part of the S3 and HDFS sinks' kit harnesses that does not
// depend on the store: the records, their ids, and reading JSON-lines
// files with the checks of exactly-once naming. A harness embeds it and
// adds Class, Config, Read (listing its store, then ReadFiles), Down, Up
// and BadValues.
type Kit struct {
	Pad string // appended to every value (bench: ~1 KiB records)
	// Parse reads a file of another format than the kit's JSON lines
	// (Parquet, Avro), and IDOf names the id of a record it returned;
	// nil: JSON lines and Kit.ID. Either way ReadFiles checks the
	// records' order and a file written again.
	Parse func(b []byte) ([]plugins.Record, error)
	IDOf  func(plugins.Record) (int, bool)

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
	out, err := k.records(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	last := -1
	for _, r := range out {
		if id, ok := k.id(r); ok {
			if id <= last {
				k.disorder = append(k.disorder, name)
				break
			}
			last = id
		}
	}
	return out, nil
}

// records reads one file's records: Parse's, or the JSON lines'.
func (k *Kit) records(b []byte) ([]plugins.Record, error) {
	if k.Parse != nil {
		return k.Parse(b)
	}
	var out []plugins.Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		v, err := LineValue(sc.Bytes())
		if err != nil {
			return nil, err
		}
		out = append(out, plugins.Record{Value: v})
	}
	return out, sc.Err()
}

func (k *Kit) id(r plugins.Record) (int, bool) {
	if k.IDOf != nil {
		return k.IDOf(r)
	}
	return k.ID(r)
}

// sameRecords reports whether two versions of a file hold the same
// records in the same order.
func (k *Kit) sameRecords(a, b []plugins.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, okx := k.id(a[i])
		y, oky := k.id(b[i])
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
//
// WEIR_BENCH_TASKS sets tasks.max (1 by default, Confluent's default, as
// the kit's): a user after throughput runs one task per partition, which
// on a machine with cores to spare overlaps the partitions' uploads.
func BenchConfig() map[string]string {
	c := map[string]string{"flush.size": strconv.Itoa(BenchFlush), "rotate.interval.ms": "600000"}
	if n := os.Getenv("WEIR_BENCH_TASKS"); n != "" {
		c["tasks.max"] = n
	}
	return c
}

// BenchRecords is how many records a throughput row carries:
// WEIR_BENCH_RECORDS (1,000,000 by default, about 1.1 GB of Kafka keys and
// values, 200 files of 5,000 records) rounded up to whole files of every
// partition, so every file closes by flush.size, as in a stream that goes
// on, rather than waiting for an idle close the stream's end would
// trigger.
//
// The count is what keeps a row's fixed costs (connector start, group
// join, the first files filling before any upload, the last files
// uploading with nothing else to do) a few percent of it, as they are of
// the raw limit's passes. At 200,000 records (227 MB, 40 files; the
// default until the sink got faster) a preloaded row lasted 0.7 s into
// S3 and 1.3 s into HDFS, and those costs were a sixth (S3, about 0.1 s)
// to two fifths (HDFS, about 0.5 s) of it: 313 against 367 MB/s into S3
// and 171 against 281 into HDFS at 1,000,000, with one task.
func BenchRecords() int {
	n := 1_000_000
	if s := os.Getenv("WEIR_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const whole = BenchFlush * BenchParts
	return max(1, (n+whole-1)/whole) * whole
}

// Lister is a kit harness that can list a stream's committed files (S3
// objects, HDFS files outside +tmp) without reading them.
type Lister interface {
	conformance.SinkHarness
	Files(ctx context.Context, s *conformance.Stream) ([]File, error)
}

// Throughput is a sink's throughput row of make bench: BenchRecords
// records end to end through weir serve (Kafka fetch, converter, the
// sink's task, the store) over BenchParts partitions (config
// BenchConfig), reported as records/s and MB/s of their Kafka keys and
// values.
//
// The clock stops when the stream's last file is listed: every file
// holds exactly BenchFlush records (flush.size; the records' time spans
// less than rotate.interval.ms), so the count of committed files says
// how many records landed, and nothing is read back while the clock
// runs. Then every file is read and every record checked: all there,
// intact, none twice (exactly-once); a row that fails the check fails.
//
// preload false (the live row): the clock starts once the connector is
// RUNNING, and this process produces the records (in chunks of 10,000,
// acks=all) while the sink consumes them, on the same cores. preload
// true: the records are in the topic before the connector is created and
// the clock starts at its creation (the usual measure of a sink: it
// drains a backlog; connector start and group join are inside the
// clock).
func Throughput(b *testing.B, h Lister, label string, preload bool) {
	n := BenchRecords()
	var r conformance.Result
	for b.Loop() {
		l := &landed{Lister: h}
		r = conformance.Throughput(b, l, n, conformance.Options{Partitions: BenchParts, Preload: preload})
		// A row stores about 1.1 GB: kept, a make bench run filled the
		// disk under the services (70 GB in versitygw and HDFS).
		if rm, ok := h.(Remover); ok && l.last != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			if err := rm.RemoveFiles(ctx, l.last); err != nil {
				b.Errorf("remove the row's files: %v", err)
			}
			cancel()
		}
	}
	b.ReportMetric(r.RecordsPerSec(), "records/s")
	b.ReportMetric(r.MBPerSec(), "MB/s")
	if preload {
		b.Logf("%s: %s (RUNNING %s after its creation)", label, r, r.Running.Round(time.Millisecond))
	} else {
		b.Logf("%s: %s", label, r)
	}
}

// Remover is a Lister that can delete a stream's files once a
// throughput row checked them.
type Remover interface {
	RemoveFiles(ctx context.Context, s *conformance.Stream) error
}

// landed counts a throughput row's records by its files
// (conformance.Landed), and remembers the row's stream.
type landed struct {
	Lister
	last *conformance.Stream
}

func (l *landed) Landed(ctx context.Context, s *conformance.Stream) (int, error) {
	l.last = s
	fs, err := l.Files(ctx, s)
	return len(fs) * BenchFlush, err
}
