// Command connectbench times one FileStreamSource → topic → FileStreamSink
// pipeline on any Kafka Connect-compatible REST API (weir's runtime or
// Apache Kafka's connect-standalone); test/bench/connect.sh runs it once per
// round and side.
//
// It creates the sink connector, then the source connector (the clock starts
// just before the first POST), and then polls every -poll interval: the
// topic's end offset (franz-go) and the output file's line count (reading
// only the bytes appended since the last poll). It prints one JSON object
// with the times at which the topic reached -lines records (source), the
// file reached 99% of -lines, and the file reached -lines (end to end), then
// deletes both connectors. Every wait is bounded by -timeout; a connector
// or task in state FAILED ends the run early with its trace.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type opts struct {
	rest, bootstrap, name, in, out, topic, label string
	lines, batchSize                             int64
	timeout, poll                                time.Duration
}

type result struct {
	Label          string  `json:"label"`
	Name           string  `json:"name"`
	Lines          int64   `json:"lines"`
	InputBytes     int64   `json:"input_bytes"`
	CreateMs       float64 `json:"create_ms"`
	SourceMs       float64 `json:"source_ms"`
	Sink99Ms       float64 `json:"sink99_ms"`
	SinkMs         float64 `json:"sink_ms"`
	RecordsPerSec  float64 `json:"records_per_sec"`
	SourceRecsSec  float64 `json:"source_records_per_sec"`
	Sink99RecsSec  float64 `json:"sink99_records_per_sec"`
	OutputLines    int64   `json:"output_lines"`
	TopicEndOffset int64   `json:"topic_end_offset"`
}

func main() {
	var o opts
	flag.StringVar(&o.rest, "rest", "", "Kafka Connect REST base URL, e.g. http://127.0.0.1:41083")
	flag.StringVar(&o.bootstrap, "bootstrap", "", "broker host:port (for the topic's end offset)")
	flag.StringVar(&o.name, "name", "", "connector name prefix (-source and -sink are appended)")
	flag.StringVar(&o.label, "label", "", "label copied into the result")
	flag.StringVar(&o.in, "in", "", "input file (FileStreamSource file)")
	flag.StringVar(&o.out, "out", "", "output file (FileStreamSink file); must not exist yet")
	flag.StringVar(&o.topic, "topic", "", "topic between source and sink (should exist, 1 partition)")
	flag.Int64Var(&o.lines, "lines", 0, "lines in the input file")
	flag.Int64Var(&o.batchSize, "batch-size", 2000, "FileStreamSource batch.size")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest the pipeline may take")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "poll interval")
	flag.Parse()
	if o.rest == "" || o.bootstrap == "" || o.name == "" || o.in == "" || o.out == "" || o.topic == "" || o.lines <= 0 {
		fmt.Fprintln(os.Stderr, "connectbench: -rest, -bootstrap, -name, -in, -out, -topic and -lines are required")
		os.Exit(2)
	}
	if !strings.HasPrefix(o.bootstrap, "127.0.0.1:") || !strings.HasPrefix(o.rest, "http://127.0.0.1:") {
		fmt.Fprintln(os.Stderr, "connectbench: loopback (127.0.0.1) only")
		os.Exit(2)
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connectbench:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

var httpc = &http.Client{Timeout: 60 * time.Second}

func call(method, url string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, nil
}

func create(o opts, name string, cfg map[string]string) error {
	code, b, err := call(http.MethodPost, o.rest+"/connectors", map[string]any{"name": name, "config": cfg})
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return fmt.Errorf("create %s: HTTP %d: %s", name, code, bytes.TrimSpace(b))
	}
	return nil
}

// failed returns a non-nil error when the connector or one of its tasks is FAILED.
func failed(o opts, name string) error {
	code, b, err := call(http.MethodGet, o.rest+"/connectors/"+name+"/status", nil)
	if err != nil || code != http.StatusOK {
		return nil // transient; the overall timeout still bounds the run
	}
	var st struct {
		Connector struct{ State, Trace string }
		Tasks     []struct {
			ID           int
			State, Trace string
		}
	}
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	if st.Connector.State == "FAILED" {
		return fmt.Errorf("connector %s FAILED: %s", name, st.Connector.Trace)
	}
	for _, t := range st.Tasks {
		if t.State == "FAILED" {
			return fmt.Errorf("task %s-%d FAILED: %s", name, t.ID, t.Trace)
		}
	}
	return nil
}

// lineCounter counts '\n' in a growing file, reading only new bytes.
type lineCounter struct {
	path  string
	f     *os.File
	buf   []byte
	lines int64
}

func (c *lineCounter) update() error {
	if c.f == nil {
		f, err := os.Open(c.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		c.f = f
	}
	for {
		n, err := c.f.Read(c.buf)
		c.lines += int64(bytes.Count(c.buf[:n], []byte{'\n'}))
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func run(o opts) (*result, error) {
	st, err := os.Stat(o.in)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(o.out); err == nil {
		return nil, fmt.Errorf("%s already exists", o.out)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.bootstrap), kgo.DialTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	conv := map[string]string{
		"tasks.max":       "1",
		"key.converter":   "org.apache.kafka.connect.storage.StringConverter",
		"value.converter": "org.apache.kafka.connect.storage.StringConverter",
	}
	sinkCfg := map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
		"topics":          o.topic,
		"file":            o.out,
	}
	srcCfg := map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
		"topic":           o.topic,
		"file":            o.in,
		"batch.size":      fmt.Sprint(o.batchSize),
	}
	for k, v := range conv {
		sinkCfg[k], srcCfg[k] = v, v
	}
	sink, src := o.name+"-sink", o.name+"-source"
	defer func() {
		for _, n := range []string{src, sink} {
			if code, b, err := call(http.MethodDelete, o.rest+"/connectors/"+n, nil); err != nil || code >= 300 {
				fmt.Fprintf(os.Stderr, "connectbench: delete %s: %v HTTP %d %s\n", n, err, code, bytes.TrimSpace(b))
			}
		}
	}()

	res := &result{Label: o.label, Name: o.name, Lines: o.lines, InputBytes: st.Size()}
	start := time.Now()
	if err := create(o, sink, sinkCfg); err != nil {
		return nil, err
	}
	if err := create(o, src, srcCfg); err != nil {
		return nil, err
	}
	res.CreateMs = ms(time.Since(start))

	lc := &lineCounter{path: o.out, buf: make([]byte, 1<<20)}
	defer func() {
		if lc.f != nil {
			lc.f.Close()
		}
	}()
	deadline := start.Add(o.timeout)
	var srcDone, sink99Done, sinkDone time.Duration
	lastStatus, lastProgress := start, start
	for {
		now := time.Now()
		if now.After(deadline) {
			return nil, fmt.Errorf("timeout after %s: topic end offset %d, output lines %d of %d",
				o.timeout, res.TopicEndOffset, lc.lines, o.lines)
		}
		if srcDone == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			offs, err := adm.ListEndOffsets(ctx, o.topic)
			cancel()
			if err == nil {
				var end int64
				offs.Each(func(l kadm.ListedOffset) {
					if l.Err == nil {
						end += l.Offset
					}
				})
				res.TopicEndOffset = end
				if end >= o.lines {
					srcDone = time.Since(start)
				}
			}
		}
		if err := lc.update(); err != nil {
			return nil, err
		}
		el := time.Since(start)
		if sink99Done == 0 && lc.lines*100 >= o.lines*99 {
			sink99Done = el
		}
		if lc.lines >= o.lines {
			sinkDone = el
			if srcDone == 0 {
				srcDone = el
			}
			break
		}
		if now.Sub(lastStatus) >= time.Second {
			lastStatus = now
			for _, n := range []string{src, sink} {
				if err := failed(o, n); err != nil {
					return nil, err
				}
			}
		}
		if now.Sub(lastProgress) >= 5*time.Second {
			lastProgress = now
			fmt.Fprintf(os.Stderr, "%s    %s: %.0fs topic %d, file %d of %d lines\n",
				now.Format("15:04:05"), o.label, el.Seconds(), res.TopicEndOffset, lc.lines, o.lines)
		}
		time.Sleep(o.poll)
	}
	res.OutputLines = lc.lines
	res.SourceMs, res.Sink99Ms, res.SinkMs = ms(srcDone), ms(sink99Done), ms(sinkDone)
	n := float64(o.lines)
	res.RecordsPerSec = n / sinkDone.Seconds()
	res.SourceRecsSec = n / srcDone.Seconds()
	res.Sink99RecsSec = 0.99 * n / sink99Done.Seconds()
	return res, nil
}
