//go:build services

package file_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/plugins"
)

// The acceptance kit against FileStreamSource and FileStreamSink. For a
// file the external system going away is the source file (or the sink's
// directory) renamed away and back; the poison is a record the configured
// converter or transform cannot handle.

func kitOptions() conformance.Options {
	return conformance.Options{Records: 4000, Outage: 3 * time.Second}
}

func TestFileStreamSourceKit(t *testing.T) {
	conformance.Run(t, sourceHarness{}, kitOptions())
}

func TestFileStreamSinkKit(t *testing.T) {
	conformance.Run(t, sinkHarness{}, kitOptions())
}

// ---- source ----

// sourceHarness writes lines into a file the source tails. Lines are
// numbers (base + i): the poison scenario casts them to int64, which
// a non-number cannot survive.
type sourceHarness struct{}

const idBase = 100_000_000

func (sourceHarness) Class() string {
	return "org.apache.kafka.connect.file.FileStreamSourceConnector"
}
func (sourceHarness) Guarantee() conformance.Guarantee { return conformance.AtLeastOnce }
func (sourceHarness) Carries() conformance.Fields {
	return conformance.Values | conformance.Schemas
}

func srcFile(s *conformance.Stream) string { return filepath.Join(s.Dir, "in.txt") }

func (sourceHarness) Config(s *conformance.Stream) map[string]string {
	return map[string]string{"file": srcFile(s), "topic": s.Topic, "batch.size": "500"}
}

func (sourceHarness) Record(i int) plugins.Record {
	return plugins.Record{Value: strconv.Itoa(idBase + i), ValueSchema: plugins.StringSchema}
}

func (sourceHarness) ID(r plugins.Record) (int, bool) { return lineID(r.Value) }

// lineID reads the number of a line, or of a line the poison scenario
// cast to int64.
func lineID(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x) - idBase, x >= idBase
	case string:
		n, err := strconv.Atoi(x)
		return n - idBase, err == nil && n >= idBase
	}
	return 0, false
}

func (sourceHarness) Write(_ context.Context, s *conformance.Stream, from, to int) error {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(strconv.Itoa(idBase + i))
		b.WriteByte('\n')
	}
	return appendFile(srcFile(s), b.String())
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Poison writes a line that is no number: under PoisonConfig's Cast to
// int64 the pipeline cannot handle it.
func (sourceHarness) Poison(_ context.Context, s *conformance.Stream) error {
	return appendFile(srcFile(s), "poison: not a number\n")
}

func (sourceHarness) PoisonConfig() map[string]string {
	return map[string]string{
		"transforms":          "num",
		"transforms.num.type": "org.apache.kafka.connect.transforms.Cast$Value",
		"transforms.num.spec": "int64",
	}
}

func (sourceHarness) Down(_ context.Context, s *conformance.Stream) error {
	return os.Rename(srcFile(s), srcFile(s)+".away")
}

func (sourceHarness) Up(_ context.Context, s *conformance.Stream) error {
	return os.Rename(srcFile(s)+".away", srcFile(s))
}

// ---- sink ----

// sinkHarness reads back the lines the sink appends to out/sink.txt. The
// kit produces keys, headers and timestamps too; a file keeps only the
// value's text.
type sinkHarness struct{}

func (sinkHarness) Class() string {
	return "org.apache.kafka.connect.file.FileStreamSinkConnector"
}
func (sinkHarness) Guarantee() conformance.Guarantee { return conformance.AtLeastOnce }
func (sinkHarness) Carries() conformance.Fields      { return conformance.Values }

func sinkDir(s *conformance.Stream) string { return filepath.Join(s.Dir, "out") }

func (sinkHarness) Config(s *conformance.Stream) map[string]string {
	if err := os.MkdirAll(sinkDir(s), 0o755); err != nil {
		panic(err)
	}
	return map[string]string{"file": filepath.Join(sinkDir(s), "sink.txt")}
}

var kitEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (sinkHarness) Record(i int) plugins.Record {
	return plugins.Record{
		Key: fmt.Sprintf("k%d", i), KeySchema: plugins.StringSchema,
		// Quotes, a backslash, a tab and non-ASCII text survive JSON and the file.
		Value: fmt.Sprintf("v%08d \"quoted\" back\\slash\ttab ünïcødé ✓", i), ValueSchema: plugins.StringSchema,
		Headers:   []plugins.Header{{Key: "kit-id", Value: strconv.Itoa(i), Schema: plugins.StringSchema}},
		Timestamp: kitEpoch.Add(time.Duration(i) * time.Millisecond),
	}
}

func (sinkHarness) ID(r plugins.Record) (int, bool) {
	s, _ := r.Value.(string)
	if len(s) < 9 || s[0] != 'v' {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:9])
	return n, err == nil
}

func (sinkHarness) Read(_ context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	b, err := os.ReadFile(filepath.Join(sinkDir(s), "sink.txt"))
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(sinkDir(s)); derr == nil {
			return nil, nil // not created yet
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	var out []plugins.Record
	// Only complete lines: the last one may still be being written.
	rest := string(b)
	for {
		line, more, ok := strings.Cut(rest, "\n")
		if !ok {
			break
		}
		out = append(out, plugins.Record{Value: line})
		rest = more
	}
	return out, nil
}

func (sinkHarness) Down(_ context.Context, s *conformance.Stream) error {
	return os.Rename(sinkDir(s), sinkDir(s)+".away")
}

func (sinkHarness) Up(_ context.Context, s *conformance.Stream) error {
	return os.Rename(sinkDir(s)+".away", sinkDir(s))
}

// The throughput hook for make bench (bench-connectors): one row per
// connector, records/s and MB/s end to end through weir serve.
func BenchmarkFileStreamSourceKit(b *testing.B) {
	benchKit(b, sourceHarness{})
}

func BenchmarkFileStreamSinkKit(b *testing.B) {
	benchKit(b, sinkHarness{})
}

func benchKit(b *testing.B, h conformance.Harness) {
	n := 200_000
	if s := os.Getenv("WEIR_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	var r conformance.Result
	for b.Loop() {
		r = conformance.Throughput(b, h, n, conformance.Options{})
	}
	b.ReportMetric(r.RecordsPerSec(), "records/s")
	b.ReportMetric(r.MBPerSec(), "MB/s")
	b.Logf("%s: %s", h.Class(), r)
}
