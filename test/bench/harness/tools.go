package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchResult mirrors the JSON printed by `weir bench ... --json`.
type benchResult struct {
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyMs     *struct {
		P50, P95, P99, P999, Max float64
	} `json:"latency_ms"`
	FirstError string `json:"first_error"`
}

// clientCPU is user+system seconds of a finished child and the children it
// waited for (kafka-cli.sh execs the JVM, so that is the JVM).
func clientCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// weirBench runs `weir bench KIND --json ARGS...`: franz-go at its defaults
// except for the flags in args.
func weirBench(ctx context.Context, c config, kind string, args ...string) (*step, error) {
	ctx, cancel := context.WithTimeout(ctx, c.stepTimeout)
	defer cancel()
	args = append([]string{"bench", kind, "--json", "--progress-interval", "5s"}, args...)
	cmd := exec.CommandContext(ctx, c.weirBin, args...)
	pw := prefixWriter("    weir bench | ")
	defer pw.Close()
	cmd.Stderr = pw
	out, err := cmd.Output()
	var res benchResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		if err == nil {
			err = fmt.Errorf("parse %q: %w", out, jerr)
		}
		return nil, fmt.Errorf("weir %s: %w", strings.Join(args, " "), err)
	}
	if err != nil {
		return nil, fmt.Errorf("weir %s: %w (%s)", strings.Join(args, " "), err, res.FirstError)
	}
	s := &step{Bytes: res.Bytes, Seconds: res.Seconds, MBs: res.MBPerSec, RecsPerSec: res.RecordsPerSec, ClientCPU: clientCPU(cmd)}
	if l := res.LatencyMs; l != nil {
		s.P50Ms, s.P99Ms, s.P999Ms = l.P50, l.P99, l.P999
	}
	return s, nil
}

func createTopic(ctx context.Context, c config, addr, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.weirBin, "topic", "create", topic, "-b", addr,
		"--partitions", strconv.Itoa(c.partitions), "--if-not-exists").CombinedOutput()
	if err != nil {
		return fmt.Errorf("create topic %s: %v: %s", topic, err, out)
	}
	return nil
}

var javaLine = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th`)

// javaProduce runs kafka-producer-perf-test with the Java producer's
// defaults (acks=all is one of them in Kafka 3+; it is passed anyway).
func javaProduce(ctx context.Context, c config, addr, topic string, records, rate int) (*step, error) {
	ctx, cancel := context.WithTimeout(ctx, c.stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kafkaCLI(), "kafka-producer-perf-test", "--bootstrap-server", addr,
		"--topic", topic, "--num-records", strconv.Itoa(records), "--record-size", strconv.Itoa(c.recordSize),
		"--throughput", strconv.Itoa(rate), "--command-property", "acks=all")
	pw := prefixWriter("    perf-test | ")
	defer pw.Close()
	cmd.Stderr = pw
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	s, perr := parseJavaProduce(last, c.recordSize)
	if err != nil || perr != nil {
		return nil, fmt.Errorf("kafka-producer-perf-test: %v; last line %q", errors.Join(err, perr), last)
	}
	s.ClientCPU = clientCPU(cmd)
	return s, nil
}

// parseJavaProduce reads kafka-producer-perf-test's final summary line.
func parseJavaProduce(line string, recordSize int) (*step, error) {
	mm := javaLine.FindStringSubmatch(strings.TrimSpace(line))
	if mm == nil {
		return nil, errors.New("not a kafka-producer-perf-test summary line")
	}
	f := func(i int) float64 { v, _ := strconv.ParseFloat(mm[i], 64); return v }
	n := int64(f(1))
	s := &step{Bytes: n * int64(recordSize), RecsPerSec: f(2), MBs: f(3), P50Ms: f(6), P99Ms: f(8), P999Ms: f(9)}
	if s.RecsPerSec > 0 {
		s.Seconds = float64(n) / s.RecsPerSec
	}
	return s, nil
}

// javaConsume runs kafka-consumer-perf-test with the Java consumer's and
// the tool's defaults (a new consumer group, from the earliest offset).
func javaConsume(ctx context.Context, c config, addr, topic string, records int) (*step, error) {
	ctx, cancel := context.WithTimeout(ctx, c.stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.kafkaCLI(), "kafka-consumer-perf-test", "--bootstrap-server", addr,
		"--topic", topic, "--num-records", strconv.Itoa(records), "--timeout", "60000")
	pw := prefixWriter("    consumer-perf | ")
	defer pw.Close()
	cmd.Stderr = pw
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	s, n, perr := parseJavaConsume(last)
	if err != nil || perr != nil {
		return nil, fmt.Errorf("kafka-consumer-perf-test: %v; last line %q", errors.Join(err, perr), last)
	}
	if n < int64(records) {
		return nil, fmt.Errorf("kafka-consumer-perf-test read too little: %q", last)
	}
	s.ClientCPU = clientCPU(cmd)
	return s, nil
}

// parseJavaConsume reads kafka-consumer-perf-test's result line:
// start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
// nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec.
func parseJavaConsume(line string) (s *step, records int64, err error) {
	f := strings.Split(line, ",")
	if len(f) < 10 {
		return nil, 0, errors.New("not a kafka-consumer-perf-test result line")
	}
	num := func(i int) (float64, error) { return strconv.ParseFloat(strings.TrimSpace(f[i]), 64) }
	var v [10]float64
	for i := 2; i < 10; i++ {
		x, err := num(i)
		if err != nil {
			return nil, 0, fmt.Errorf("field %d: %w", i+1, err)
		}
		v[i] = x
	}
	s = &step{Bytes: int64(v[2] * (1 << 20)), MBs: v[3], RecsPerSec: v[5], FetchMBs: v[8]}
	if v[3] > 0 {
		s.Seconds = v[2] / v[3]
	}
	return s, int64(v[4]), nil
}

var ddLine = regexp.MustCompile(`^(\d+) bytes .* copied, ([\d.]+) s,`)

// ddFdatasync writes mb MB of random bytes (from a file in the page cache,
// so the source costs nothing) with `dd bs=1M conv=fdatasync`: the disk's
// bandwidth for one sequential writer that syncs once at the end.
func ddFdatasync(ctx context.Context, c config, mb int) (float64, error) {
	src := filepath.Join(c.workDir, "dd.src")
	dst := filepath.Join(c.workDir, "dd.out")
	defer os.Remove(src)
	defer os.Remove(dst)
	buf := make([]byte, 1<<20)
	f, err := os.Create(src)
	if err != nil {
		return 0, err
	}
	for i := 0; i < mb; i++ {
		rand.Read(buf)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, c.stepTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dd", "if="+src, "of="+dst, "bs=1M", "conv=fdatasync").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dd: %v: %s", err, out)
	}
	return parseDD(string(out))
}

// parseDD turns dd's summary into MB/s, MB being 2^20 bytes (dd's own
// figure uses 10^6).
func parseDD(out string) (float64, error) {
	for _, line := range strings.Split(out, "\n") {
		if mm := ddLine.FindStringSubmatch(strings.TrimSpace(line)); mm != nil {
			n, _ := strconv.ParseFloat(mm[1], 64)
			secs, _ := strconv.ParseFloat(mm[2], 64)
			if secs <= 0 {
				return 0, fmt.Errorf("dd took %v s", secs)
			}
			return n / (1 << 20) / secs, nil
		}
	}
	return 0, fmt.Errorf("no summary in dd's output %q", out)
}

// prefixWriter copies a child's progress lines to stderr, indented.
func prefixWriter(prefix string) *io.PipeWriter {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(os.Stderr, prefix+sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	return pw
}
