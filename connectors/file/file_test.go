package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

type offsets map[string]map[string]any

func (o offsets) Offset(p map[string]any) (map[string]any, error) {
	name, _ := p[FilenameField].(string)
	return o[name], nil
}

type taskCtx struct{ o offsets }

func (c taskCtx) Offsets() plugins.OffsetReader { return c.o }

func init() { pollWait = 20 * time.Millisecond }

func startSource(t *testing.T, cfg plugins.Config, o offsets) *SourceTask {
	t.Helper()
	c, err := plugins.Default.NewSourceConnector("org.apache.kafka.connect.file.FileStreamSourceConnector")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(nil, cfg); err != nil {
		t.Fatal(err)
	}
	tcs, err := c.TaskConfigs(4)
	if err != nil || len(tcs) != 1 {
		t.Fatalf("TaskConfigs = %v, %v", tcs, err)
	}
	task := c.NewTask().(*SourceTask)
	if err := task.Start(taskCtx{o}, tcs[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

type line struct {
	text string
	pos  int64
}

func poll(t *testing.T, task *SourceTask) []line {
	t.Helper()
	recs, err := task.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []line
	for _, r := range recs {
		if r.Topic != "lines" || r.ValueSchema != plugins.StringSchema || r.Partition != -1 {
			t.Fatalf("unexpected record %+v", r)
		}
		if r.SourcePartition[FilenameField] != task.filename {
			t.Fatalf("source partition %v", r.SourcePartition)
		}
		out = append(out, line{r.Value.(string), r.SourceOffset[PositionField].(int64)})
	}
	return out
}

func eq(a, b []line) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSourceReadsLinesAndHoldsPartialOnes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	task := startSource(t, plugins.Config{"file": path, "topic": "lines"}, nil)

	// The file does not exist yet: Poll waits and returns nothing.
	if got := poll(t, task); len(got) != 0 {
		t.Fatalf("poll before file exists = %v", got)
	}
	appendFile(t, path, "alpha\nbeta\r\ngam")
	if got, want := poll(t, task), []line{{"alpha", 6}, {"beta", 12}}; !eq(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := poll(t, task); len(got) != 0 {
		t.Fatalf("partial line emitted: %v", got)
	}
	appendFile(t, path, "ma\r")
	if got := poll(t, task); len(got) != 0 {
		t.Fatalf("line ending in a lone CR emitted before we know no LF follows: %v", got)
	}
	appendFile(t, path, "\ndelta\rε\n")
	if got, want := poll(t, task), []line{{"gamma", 19}, {"delta", 25}, {"ε", 28}}; !eq(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSourceBatchSizeAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	var sb strings.Builder
	for i := range 5 {
		sb.WriteString(strings.Repeat("x", i) + "\n")
	}
	appendFile(t, path, sb.String()) // lines of 1,2,3,4,5 bytes with \n
	task := startSource(t, plugins.Config{"file": path, "topic": "lines", "batch.size": "2"}, nil)
	got := poll(t, task)
	if want := []line{{"", 1}, {"x", 3}}; !eq(got, want) {
		t.Fatalf("first batch %v, want %v", got, want)
	}
	got = poll(t, task)
	if want := []line{{"xx", 6}, {"xxx", 10}}; !eq(got, want) {
		t.Fatalf("second batch %v, want %v", got, want)
	}
	task.Stop()

	// A new task resumes from the committed offset, whatever numeric type
	// the offset store hands back.
	for _, pos := range []any{int64(6), float64(6), "6"} {
		task2 := startSource(t, plugins.Config{"file": path, "topic": "lines"}, offsets{path: {PositionField: pos}})
		if got, want := poll(t, task2), []line{{"xxx", 10}, {"xxxx", 15}}; !eq(got, want) {
			t.Fatalf("resume at %v: got %v, want %v", pos, got, want)
		}
		task2.Stop()
	}

	// An offset past the end (the file was truncated) restarts at 0.
	task3 := startSource(t, plugins.Config{"file": path, "topic": "lines"}, offsets{path: {PositionField: int64(1 << 20)}})
	if got := poll(t, task3); len(got) != 5 || got[0] != (line{"", 1}) {
		t.Fatalf("after truncation: %v", got)
	}
}

func TestSourceStopWakesPoll(t *testing.T) {
	old := pollWait
	pollWait = time.Hour
	defer func() { pollWait = old }()
	task := startSource(t, plugins.Config{"file": filepath.Join(t.TempDir(), "none"), "topic": "lines"}, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		task.Poll(context.Background())
	}()
	time.Sleep(10 * time.Millisecond)
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Poll did not return after Stop")
	}
}

func TestSourceConfigValidation(t *testing.T) {
	c := &SourceConnector{}
	for _, tc := range []struct {
		cfg plugins.Config
		err string
	}{
		{plugins.Config{"file": "x"}, `Missing required configuration "topic"`},
		{plugins.Config{"file": "x", "topic": "a,b"}, "single topic"},
		{plugins.Config{"file": "x", "topic": "a", "batch.size": "0"}, "at least 1"},
	} {
		if err := c.Start(nil, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Start(%v) = %v, want %q", tc.cfg, err, tc.err)
		}
	}
	for _, alias := range []string{"FileStreamSource", "FileStreamSourceConnector", "file-source", "FileStreamSink", "org.apache.kafka.connect.file.FileStreamSinkConnector"} {
		if _, ok := plugins.Lookup(alias); !ok {
			t.Errorf("alias %s not registered", alias)
		}
	}
}

type sinkCtx struct{}

func (sinkCtx) Assignment() []plugins.TopicPartition                       { return nil }
func (sinkCtx) Pause(...plugins.TopicPartition)                            {}
func (sinkCtx) Resume(...plugins.TopicPartition)                           {}
func (sinkCtx) RequestCommit()                                             {}
func (sinkCtx) Offset(map[plugins.TopicPartition]int64)                    {}
func (sinkCtx) ErrantRecordReporter() func(rec *plugins.Record, err error) { return nil }

func TestSinkAppendsAndFlushesOnPreCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	appendFile(t, path, "existing\n")
	c, err := plugins.Default.NewSinkConnector("FileStreamSink")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(nil, plugins.Config{"file": path, "topics": "a"}); err != nil {
		t.Fatal(err)
	}
	tcs, _ := c.TaskConfigs(2)
	if len(tcs) != 2 {
		t.Fatalf("TaskConfigs(2) gave %d configs", len(tcs))
	}
	task := c.NewTask()
	if err := task.Start(sinkCtx{}, tcs[0]); err != nil {
		t.Fatal(err)
	}
	tp := plugins.TopicPartition{Topic: "a", Partition: 0}
	st := plugins.StructBuilder().Field("n", plugins.Int32Schema).MustBuild()
	recs := []plugins.Record{
		{Topic: "a", Value: "plain"},
		{Topic: "a", Value: int64(7)},
		{Topic: "a", Value: nil},
		{Topic: "a", Value: plugins.NewStruct(st).MustPut("n", int32(1)), ValueSchema: st},
	}
	if err := task.Open([]plugins.TopicPartition{tp}); err != nil {
		t.Fatal(err)
	}
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	cur := map[plugins.TopicPartition]int64{tp: 4}
	got, err := task.PreCommit(context.Background(), cur)
	if err != nil || got[tp] != 4 {
		t.Fatalf("PreCommit = %v, %v", got, err)
	}
	b, _ := os.ReadFile(path)
	if want := "existing\nplain\n7\nnull\nStruct{n=1}\n"; string(b) != want {
		t.Fatalf("file = %q, want %q", b, want)
	}
	if err := task.Put(context.Background(), []plugins.Record{{Value: "last"}}); err != nil {
		t.Fatal(err)
	}
	if err := task.Stop(); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !strings.HasSuffix(string(b), "Struct{n=1}\nlast\n") {
		t.Fatalf("Stop did not flush: %q", b)
	}
	if err := task.Put(context.Background(), []plugins.Record{{Value: "x"}}); err == nil {
		t.Fatal("Put after Stop succeeded")
	}
}

// TestSinkLinesVisibleAfterPut pins Kafka's behaviour: a reader of the
// output file (tail -f) sees a batch's lines as soon as Put returns, not
// only at the next offset commit.
func TestSinkLinesVisibleAfterPut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	task := &SinkTask{}
	if err := task.Start(sinkCtx{}, plugins.Config{"file": path, "topics": "a"}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	if err := task.Put(context.Background(), []plugins.Record{{Value: "one"}, {Value: "two"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Fatalf("after Put the file holds %q", b)
	}
}

// Source and sink together: what the source reads, the sink writes back
// byte for byte (for \n-terminated input).
func TestSourceToSinkRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	content := "one\ntwo\n\nfour with spaces \n"
	appendFile(t, in, content)
	src := startSource(t, plugins.Config{"file": in, "topic": "lines"}, nil)
	sink := &SinkTask{}
	if err := sink.Start(sinkCtx{}, plugins.Config{"file": out}); err != nil {
		t.Fatal(err)
	}
	recs, err := src.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := sink.Stop(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if string(b) != content {
		t.Fatalf("out = %q, want %q", b, content)
	}
}
