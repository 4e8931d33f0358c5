package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// memStore is an in-memory Store for the unit tests; the real backends
// run the same Task against versitygw and HDFS in their services tests.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
	ends  map[string]int64
	down  bool
}

func newMem() *memStore { return &memStore{files: map[string][]byte{}, ends: map[string]int64{}} }

var errDown = errors.New("store down")

func (m *memStore) Commit(_ context.Context, p string, data []byte, end int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	m.files[p] = append([]byte(nil), data...)
	m.ends[p] = end
	return nil
}

func (m *memStore) List(_ context.Context, dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, errDown
	}
	var out []string
	for p := range m.files {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *memStore) EndOffset(_ context.Context, p string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ends[p], nil
}

func (m *memStore) ReadMarker(_ context.Context, p string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[p]
	return b, ok, nil
}

func (m *memStore) WriteMarker(ctx context.Context, p string, data []byte) error {
	return m.Commit(ctx, p, data, 0)
}

func (m *memStore) Recover(context.Context, string, plugins.TopicPartition) error { return nil }
func (m *memStore) Close() error                                                  { return nil }

type fakeCtx struct {
	commits atomic.Int32
	mu      sync.Mutex
	resets  []map[plugins.TopicPartition]int64 // every Offset call, in order
}

func (c *fakeCtx) Offset(offs map[plugins.TopicPartition]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets = append(c.resets, maps.Clone(offs))
}

func (*fakeCtx) Assignment() []plugins.TopicPartition               { return nil }
func (*fakeCtx) Pause(...plugins.TopicPartition)                    {}
func (*fakeCtx) Resume(...plugins.TopicPartition)                   {}
func (c *fakeCtx) RequestCommit()                                   { c.commits.Add(1) }
func (*fakeCtx) ErrantRecordReporter() func(*plugins.Record, error) { return nil }

var testDef = ConfigDef([]string{"JsonFormat"}, "JsonFormat")

// testBackend builds the tests' JSON backend on st; withEnd names files
// with their end offset (HDFS's naming), without it as S3 names them.
func testBackend(name string, st Store, withEnd bool) func(plugins.Config) (*Backend, error) {
	return func(c plugins.Config) (*Backend, error) {
		p, err := testDef.Parse(c)
		if err != nil {
			return nil, err
		}
		s, err := Parse(p, map[string]func(*plugins.ParsedConfig, bool) (Format, error){"JsonFormat": JSONFormat}, false)
		if err != nil {
			return nil, err
		}
		return &Backend{Name: name, Store: st, Settings: s, Naming: Naming{TopicsDir: s.TopicsDir, DirDelim: "/", FileDelim: "+", WithEnd: withEnd}}, nil
	}
}

func newTask(t *testing.T, st Store, cfg plugins.Config) *Task {
	t.Helper()
	// Streamed files are named as S3 names them (no end offset).
	_, streams := st.(Streamer)
	return newTaskNaming(t, st, cfg, !streams)
}

// newTaskNaming is newTask with the naming chosen: withEnd as HDFS names
// files.
func newTaskNaming(t *testing.T, st Store, cfg plugins.Config, withEnd bool) *Task {
	t.Helper()
	if cfg["flush.size"] == "" {
		cfg["flush.size"] = "3"
	}
	task := &Task{NewBackend: testBackend("test", st, withEnd)}
	task.syncCommits = true
	if err := task.Start(&fakeCtx{}, cfg); err != nil {
		t.Fatal(err)
	}
	return task
}

var tp0 = plugins.TopicPartition{Topic: "t", Partition: 0}

func recs(from, to int64, ts func(int64) time.Time) []plugins.Record {
	var out []plugins.Record
	for o := from; o < to; o++ {
		r := plugins.Record{Topic: "t", Partition: 0, Offset: o, Value: fmt.Sprintf("r%d", o), ValueSchema: plugins.StringSchema}
		if ts != nil {
			r.Timestamp = ts(o)
		}
		out = append(out, r)
	}
	return out
}

func names(m *memStore) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.files {
		if !strings.Contains(p, "+clean") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func TestFlushSizeNamingAndPreCommit(t *testing.T) {
	st := newMem()
	task := newTask(t, st, plugins.Config{"flush.size": "3"})
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 7, nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{"topics/t/partition=0/t+0+0000000000+0000000002.json", "topics/t/partition=0/t+0+0000000003+0000000005.json"}
	if got := names(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if got := string(st.files[want[0]]); got != "\"r0\"\n\"r1\"\n\"r2\"\n" {
		t.Fatalf("file content %q", got)
	}
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 7})
	if err != nil || safe[tp0] != 6 {
		t.Fatalf("PreCommit = %v, %v; want 6 (record 6 is in an open file)", safe, err)
	}
}

// A crash after files were committed but before the offsets were: the
// records come again and none is written twice.
func TestRecoveryDropsStoredRecords(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	a := newTask(t, st, plugins.Config{"flush.size": "3"})
	a.Open([]plugins.TopicPartition{tp0})
	if err := a.Put(ctx, recs(0, 8, nil)); err != nil {
		t.Fatal(err)
	}
	// a "crashes": no PreCommit, no Stop. b gets everything again.
	b := newTask(t, st, plugins.Config{"flush.size": "3"})
	b.Open([]plugins.TopicPartition{tp0})
	if err := b.Put(ctx, recs(0, 9, nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"topics/t/partition=0/t+0+0000000000+0000000002.json",
		"topics/t/partition=0/t+0+0000000003+0000000005.json",
		"topics/t/partition=0/t+0+0000000006+0000000008.json",
	}
	if got := names(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

// A failed commit is retried, and the redelivered batch is not doubled.
func TestStoreDownIsRetriable(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	task := newTask(t, st, plugins.Config{"flush.size": "3"})
	task.Open([]plugins.TopicPartition{tp0})
	st.down = true
	err := task.Put(ctx, recs(0, 4, nil))
	var re *plugins.Retriable
	if !errors.As(err, &re) {
		t.Fatalf("Put with the store down = %v, want a retriable error", err)
	}
	st.down = false
	if err := task.Put(ctx, recs(0, 4, nil)); err != nil {
		t.Fatal(err)
	}
	if err := task.Put(ctx, recs(4, 6, nil)); err != nil {
		t.Fatal(err)
	}
	got := names(st)
	want := []string{"topics/t/partition=0/t+0+0000000000+0000000002.json", "topics/t/partition=0/t+0+0000000003+0000000005.json"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestTimeBasedAcrossDaysAndRecordTimeRotation(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	day := time.Date(2026, 3, 30, 22, 0, 0, 0, time.UTC)
	task := newTask(t, st, plugins.Config{
		"flush.size": "100", "partitioner.class": "TimeBasedPartitioner", "path.format": "'year'=YYYY/'month'=MM/'day'=dd",
		"partition.duration.ms": "86400000", "timezone": "UTC", "timestamp.extractor": "Record", "locale": "en",
	})
	task.Open([]plugins.TopicPartition{tp0})
	// One record per hour for 4 hours: 22:00, 23:00 on the 30th, 00:00, 01:00 on the 31st.
	if err := task.Put(ctx, recs(0, 4, func(o int64) time.Time { return day.Add(time.Duration(o) * time.Hour) })); err != nil {
		t.Fatal(err)
	}
	task.mu.Lock()
	for _, f := range task.parts[tp0].open {
		f.due = true
	}
	task.mu.Unlock()
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 4}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"topics/t/year=2026/month=03/day=30/t+0+0000000000+0000000001.json",
		"topics/t/year=2026/month=03/day=31/t+0+0000000002+0000000003.json",
	}
	if got := names(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestRotateIntervalByRecordTime(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	task := newTask(t, st, plugins.Config{"flush.size": "100", "rotate.interval.ms": "60000"})
	task.Open([]plugins.TopicPartition{tp0})
	// Records 20 s apart: a file spans less than a minute of record time.
	if err := task.Put(ctx, recs(0, 7, func(o int64) time.Time { return base.Add(time.Duration(o) * 20 * time.Second) })); err != nil {
		t.Fatal(err)
	}
	want := []string{"topics/t/partition=0/t+0+0000000000+0000000002.json", "topics/t/partition=0/t+0+0000000003+0000000005.json"}
	if got := names(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestIdleFileCommitted(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	task := newTask(t, st, plugins.Config{"flush.size": "100", "rotate.interval.ms": "300"})
	defer task.Stop()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 2, func(int64) time.Time { return time.Unix(1, 0) })); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if task.tctx.(*fakeCtx).commits.Load() == 0 {
		t.Fatal("the idle timer did not ask for a commit")
	}
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 2})
	if err != nil || safe[tp0] != 2 {
		t.Fatalf("PreCommit = %v, %v", safe, err)
	}
	if got := names(st); len(got) != 1 || !strings.HasSuffix(got[0], "t+0+0000000000+0000000001.json") {
		t.Fatalf("files %v", got)
	}
}

// After a clean stop, offsets moved back (KIP-875 PATCH) win over the
// positions in storage; without the move, storage still wins.
func TestCleanStopLetsMovedOffsetsWin(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	a := newTask(t, st, plugins.Config{"flush.size": "2"})
	a.Open([]plugins.TopicPartition{tp0})
	if err := a.Put(ctx, recs(0, 4, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 4}); err != nil {
		t.Fatal(err)
	}
	a.OffsetsCommitted(map[plugins.TopicPartition]int64{tp0: 4})
	a.Close([]plugins.TopicPartition{tp0})
	a.Stop()
	b := newTask(t, st, plugins.Config{"flush.size": "2"})
	b.Open([]plugins.TopicPartition{tp0})
	if err := b.Put(ctx, recs(2, 4, nil)); err != nil { // the group was moved to 2
		t.Fatal(err)
	}
	if n := len(names(st)); n != 2 {
		t.Fatalf("%d files; the re-read overwrote the file at 2, want 2 files", n)
	}
	// A crash of b before its offsets were committed: the group is
	// still at 2 and the same files are written again under the same
	// names (overwritten, not doubled).
	c := newTask(t, st, plugins.Config{"flush.size": "2"})
	c.Open([]plugins.TopicPartition{tp0})
	if err := c.Put(ctx, recs(2, 4, nil)); err != nil {
		t.Fatal(err)
	}
	if n := len(names(st)); n != 2 {
		t.Fatalf("%d files after the second re-read, want 2", n)
	}
	// Without a clean stop and with the group where storage is, storage
	// wins: records already stored are dropped.
	d := newTask(t, st, plugins.Config{"flush.size": "2"})
	d.Open([]plugins.TopicPartition{tp0})
	if err := d.Put(ctx, recs(4, 6, nil)); err != nil {
		t.Fatal(err)
	}
	e := newTask(t, st, plugins.Config{"flush.size": "2"})
	e.Open([]plugins.TopicPartition{tp0})
	if err := e.Put(ctx, recs(0, 8, nil)); err != nil {
		t.Fatal(err)
	}
	if got := names(st); len(got) != 4 || !strings.HasSuffix(got[3], "t+0+0000000006+0000000007.json") {
		t.Fatalf("after a crash records were written twice or lost: %v", got)
	}
}

func TestJodaFormat(t *testing.T) {
	toks, err := parseJoda("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH")
	if err != nil {
		t.Fatal(err)
	}
	if got := formatJoda(toks, time.Date(2026, 2, 3, 4, 0, 0, 0, time.UTC)); got != "year=2026/month=02/day=03/hour=04" {
		t.Fatal(got)
	}
	if _, err := parseJoda("EEEE"); err == nil {
		t.Fatal("unsupported letters accepted")
	}
}

// A stop whose final offset commit failed (a rebalance in progress) is
// not clean: the group is behind storage and storage wins, so the
// records since the last successful commit are not written twice.
func TestFailedFinalCommitIsNotClean(t *testing.T) {
	st := newMem()
	ctx := context.Background()
	a := newTask(t, st, plugins.Config{"flush.size": "2"})
	a.Open([]plugins.TopicPartition{tp0})
	if err := a.Put(ctx, recs(0, 2, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 2}); err != nil {
		t.Fatal(err)
	}
	a.OffsetsCommitted(map[plugins.TopicPartition]int64{tp0: 2})
	if err := a.Put(ctx, recs(2, 5, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 5}); err != nil {
		t.Fatal(err)
	}
	// The final commit of 4 failed: no OffsetsCommitted.
	a.Close([]plugins.TopicPartition{tp0})
	a.Stop()
	b := newTask(t, st, plugins.Config{"flush.size": "1"})
	b.Open([]plugins.TopicPartition{tp0})
	if err := b.Put(ctx, recs(2, 5, nil)); err != nil { // the group is still at 2
		t.Fatal(err)
	}
	got := names(st)
	want := []string{
		"topics/t/partition=0/t+0+0000000000+0000000001.json",
		"topics/t/partition=0/t+0+0000000002+0000000003.json",
		"topics/t/partition=0/t+0+0000000004+0000000004.json",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v (records 2 and 3 once)", got, want)
	}
}

// A change of the value schema starts a new file, as Confluent's
// schema.compatibility decides; the boundaries follow the records only.
func TestSchemaCompatibilityRollsFile(t *testing.T) {
	v := func(n int) *plugins.Schema {
		return &plugins.Schema{Type: plugins.TypeStruct, Name: "order", Version: n,
			Fields: []plugins.Field{{Name: "id", Index: 0, Schema: plugins.Int64Schema}}}
	}
	mk := func(versions ...int) []plugins.Record {
		var out []plugins.Record
		for i, n := range versions {
			s := v(n)
			st := plugins.NewStruct(s)
			if err := st.Put("id", int64(i)); err != nil {
				t.Fatal(err)
			}
			out = append(out, plugins.Record{Topic: "t", Partition: 0, Offset: int64(i), ValueSchema: s, Value: st})
		}
		return out
	}
	for _, tc := range []struct {
		compat   string
		versions []int
		want     []string // start+end of each committed file
	}{
		{"NONE", []int{1, 1, 2, 2, 1, 1}, []string{"0+1", "2+3", "4+5"}},
		{"BACKWARD", []int{1, 1, 2, 2, 1, 1}, []string{"0+1", "2+5"}},
		{"FULL", []int{1, 2, 1, 3}, []string{"0+0", "1+2", "3+3"}},
		{"FORWARD", []int{2, 2, 3, 1, 1}, []string{"0+2", "3+4"}},
	} {
		t.Run(tc.compat, func(t *testing.T) {
			st := newMem()
			ctx := context.Background()
			task := newTask(t, st, plugins.Config{"flush.size": "100", "schema.compatibility": tc.compat})
			defer task.Stop()
			task.Open([]plugins.TopicPartition{tp0})
			if err := task.Put(ctx, mk(tc.versions...)); err != nil {
				t.Fatal(err)
			}
			// Close the last file by rotating on a record-less commit.
			task.mu.Lock()
			for _, f := range task.parts[tp0].open {
				f.due = true
			}
			task.mu.Unlock()
			if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: int64(len(tc.versions))}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range names(st) {
				b := n[strings.LastIndex(n, "/")+1:]
				b = strings.TrimSuffix(strings.TrimPrefix(b, "t+0+"), ".json")
				s, e, _ := strings.Cut(b, "+")
				got = append(got, strings.TrimLeft(s, "0")+"+"+strings.TrimLeft(e, "0"))
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				s, e, _ := strings.Cut(w, "+")
				want[i] = strings.TrimLeft(s, "0") + "+" + strings.TrimLeft(e, "0")
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("schema versions %v under %s: files %v, want %v", tc.versions, tc.compat, got, want)
			}
		})
	}
}

// A partition's next file starts with a buffer as large as its last file
// needed (bufHint), even when none of the stored files' buffers is free
// to reuse.
func TestNextFileBufferSizedByLastFile(t *testing.T) {
	st := newMem()
	task := newTask(t, st, plugins.Config{"flush.size": "3"})
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	rs := recs(0, 4, nil)
	for i := range rs {
		rs[i].Value = strings.Repeat("x", 100_000) // files far past bytes.Buffer's first allocation
	}
	if err := task.Put(ctx, rs[:3]); err != nil {
		t.Fatal(err)
	}
	size := len(st.files["topics/t/partition=0/t+0+0000000000+0000000002.json"])
	if size == 0 {
		t.Fatal("the first file was not stored")
	}
	task.free = nil // as if every free buffer were in use
	if err := task.Put(ctx, rs[3:]); err != nil {
		t.Fatal(err)
	}
	f := task.parts[tp0].open["partition=0"]
	if f == nil {
		t.Fatalf("no open file after record 3: %v", task.parts[tp0].open)
	}
	if f.buf.Cap() < size {
		t.Fatalf("the second file's buffer holds %d bytes, the first file needed %d", f.buf.Cap(), size)
	}
}
