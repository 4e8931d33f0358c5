// Command harness runs weir's side-by-side benchmark (`make bench`, via
// test/bench/run.sh): the same measurements against `weir serve` and against
// Apache Kafka (test/services/kafka.sh), each started fresh per round on the
// same disk, then prints medians, ratios weir/Kafka and the targets, and
// writes everything to bench-results/bench-<time>.json.
//
// Per round and per broker:
//
//	cold start    process start → first acknowledged produce (acks=all) of a
//	              freshly started broker with an empty data dir, including
//	              creating the topic; polled every 10 ms by a franz-go client
//	produce       `weir bench produce` 1 KiB records, acks=all, unlimited rate
//	latency       `weir bench produce` at a fixed rate (default 20k rec/s): p99
//	consume       `weir bench consume` of the produce topic from the start
//	java          kafka-producer-perf-test (the Java client), same settings as
//	              produce, if test/services/kafka-cli.sh exists
//	peak RSS      VmHWM of the broker process after all of the above
//
// Only 127.0.0.1 is contacted; every wait is bounded in time.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	repo         string
	weirBin      string
	workDir      string
	outDir       string
	rounds       int
	records      int
	recordSize   int
	partitions   int
	latencyRate  int
	latencySecs  int
	warmRecords  int
	linger       time.Duration
	latLinger    time.Duration
	targets      string
	java         bool
	weirAddr     string
	weirHTTP     string
	weirArgs     string
	kafkaAddr    string
	startTimeout time.Duration
	stepTimeout  time.Duration
}

// measurement is one round's figures for one broker; zero means not measured.
type measurement struct {
	Round            int      `json:"round"`
	ColdStartMs      float64  `json:"cold_start_ms"`
	ColdStartTotalMs float64  `json:"cold_start_incl_script_ms,omitempty"`
	ProduceMBs       float64  `json:"produce_mb_per_sec"`
	ProduceRecs      float64  `json:"produce_records_per_sec"`
	ProduceP99Ms     float64  `json:"produce_unlimited_p99_ms"`
	LatencyP50Ms     float64  `json:"latency_p50_ms"`
	LatencyP99Ms     float64  `json:"latency_p99_ms"`
	LatencyP999Ms    float64  `json:"latency_p999_ms"`
	LatencyRate      float64  `json:"latency_achieved_records_per_sec"`
	ConsumeMBs       float64  `json:"consume_mb_per_sec"`
	ConsumeRecs      float64  `json:"consume_records_per_sec"`
	JavaProduceMBs   float64  `json:"java_produce_mb_per_sec,omitempty"`
	JavaProduceP99Ms float64  `json:"java_produce_p99_ms,omitempty"`
	JavaLatencyP99Ms float64  `json:"java_latency_p99_ms,omitempty"`
	PeakRSSMB        float64  `json:"peak_rss_mb"`
	LoadAvg1m        float64  `json:"loadavg_1m_at_start"`
	Errors           []string `json:"errors,omitempty"`
}

type report struct {
	Started  time.Time                     `json:"started"`
	Finished time.Time                     `json:"finished"`
	Host     map[string]string             `json:"host"`
	Config   map[string]any                `json:"config"`
	Runs     map[string][]measurement      `json:"runs"`
	Medians  map[string]map[string]float64 `json:"medians"`
	Ratios   map[string]float64            `json:"ratios_weir_over_kafka"`
	Targets  map[string]string             `json:"targets"`
}

func main() {
	var c config
	flag.StringVar(&c.repo, "repo", ".", "repository root")
	flag.StringVar(&c.weirBin, "weir", "bin/weir", "weir binary (client for both brokers, and the weir broker)")
	flag.StringVar(&c.workDir, "workdir", "/tmp/weir-bench", "scratch dir for data dirs (same disk for both brokers)")
	flag.StringVar(&c.outDir, "out", "bench-results", "where to write the JSON results")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds per broker; medians are reported")
	flag.IntVar(&c.records, "records", 300_000, "records for the throughput runs")
	flag.IntVar(&c.recordSize, "record-size", 1024, "record value size in bytes")
	flag.IntVar(&c.partitions, "partitions", 3, "partitions of each benchmark topic")
	flag.IntVar(&c.latencyRate, "latency-rate", 20_000, "records/s for the latency run")
	flag.IntVar(&c.latencySecs, "latency-seconds", 10, "length of the latency run (the first second is warm-up, left out of the percentiles)")
	flag.DurationVar(&c.linger, "linger", 5*time.Millisecond, "producer linger for the throughput runs (Kafka 4's linger.ms default)")
	flag.DurationVar(&c.latLinger, "latency-linger", 0, "producer linger for the fixed-rate latency runs (0: measure the broker, not batching)")
	flag.IntVar(&c.warmRecords, "warmup-records", 100_000, "records produced (unmeasured) after each cold start, so a JIT-compiled broker is measured warm")
	flag.StringVar(&c.targets, "targets", "weir,kafka", "brokers to measure")
	flag.BoolVar(&c.java, "java", true, "also run kafka-producer-perf-test if test/services/kafka-cli.sh exists")
	flag.StringVar(&c.weirAddr, "weir-addr", "127.0.0.1:24092", "Kafka listener of the benchmarked weir")
	flag.StringVar(&c.weirHTTP, "weir-http", "127.0.0.1:24083", "HTTP listener of the benchmarked weir")
	flag.StringVar(&c.weirArgs, "weir-args", "", "extra arguments for `weir serve`, space separated")
	flag.StringVar(&c.kafkaAddr, "kafka-addr", "127.0.0.1:24192", "where the benchmarked Kafka listens (its controller: the next port); not 19092, so a developer's Kafka can keep running")
	flag.DurationVar(&c.startTimeout, "start-timeout", 3*time.Minute, "longest wait for a broker to take its first produce")
	flag.DurationVar(&c.stepTimeout, "step-timeout", 5*time.Minute, "longest any single benchmark step may run")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(c config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, a := range []string{c.weirAddr, c.kafkaAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			return fmt.Errorf("%s: the harness only talks to 127.0.0.1", a)
		}
	}
	var err error
	if c.repo, err = filepath.Abs(c.repo); err != nil {
		return err
	}
	if !filepath.IsAbs(c.weirBin) {
		c.weirBin = filepath.Join(c.repo, c.weirBin)
	}
	if !filepath.IsAbs(c.outDir) {
		c.outDir = filepath.Join(c.repo, c.outDir)
	}
	targets := strings.Split(c.targets, ",")
	brokers := map[string]broker{}
	for _, t := range targets {
		switch t {
		case "weir":
			brokers[t] = &weirBroker{c: c}
		case "kafka":
			kb := &kafkaBroker{c: c}
			if _, err := os.Stat(kb.script()); err != nil {
				progress("kafka: %s is missing; measuring weir only", kb.script())
				continue
			}
			brokers[t] = kb
		default:
			return fmt.Errorf("unknown target %q (want weir, kafka)", t)
		}
	}
	if len(brokers) == 0 {
		return errors.New("nothing to measure")
	}
	rep := &report{
		Started: time.Now().UTC(),
		Host:    hostInfo(),
		Config: map[string]any{
			"rounds": c.rounds, "records": c.records, "record_size": c.recordSize, "partitions": c.partitions,
			"latency_rate": c.latencyRate, "latency_seconds": c.latencySecs, "acks": "all",
			"linger": c.linger.String(), "latency_linger": c.latLinger.String(), "warmup_records": c.warmRecords,
			"weir_addr": c.weirAddr, "kafka_addr": c.kafkaAddr, "workdir": c.workDir,
		},
		Runs: map[string][]measurement{},
	}
	if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return err
	}
	defer func() {
		for name, b := range brokers {
			if err := b.stop(); err != nil {
				progress("%s: stop: %v", name, err)
			}
		}
	}()

	// Round 0 warms caches (jar downloads, page cache) and is not recorded.
	for _, name := range targets {
		b, ok := brokers[name]
		if !ok {
			continue
		}
		progress("%s: warm-up start (not measured)", name)
		if _, _, err := b.start(ctx, 0); err != nil {
			progress("%s: warm-up failed, skipping this broker: %v", name, err)
			b.stop()
			delete(brokers, name)
			continue
		}
		if err := b.stop(); err != nil {
			return fmt.Errorf("%s: stop after warm-up: %w", name, err)
		}
	}
	for r := 1; r <= c.rounds; r++ {
		order := slices.Clone(targets)
		if r%2 == 0 { // alternate who goes first, so drift hits both alike
			slices.Reverse(order)
		}
		for _, name := range order {
			b, ok := brokers[name]
			if !ok {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m := measureRound(ctx, c, name, b, r)
			rep.Runs[name] = append(rep.Runs[name], m)
		}
	}
	rep.Finished = time.Now().UTC()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.Host["loadavg_at_end"] = strings.TrimSpace(string(b))
	}
	if len(brokers) == 0 {
		return errors.New("no broker could be started; see the messages above")
	}
	summarize(rep)
	printTable(os.Stdout, c, rep)
	warnIfBusy(os.Stdout, rep)
	if err := os.MkdirAll(c.outDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(c.outDir, "bench-"+rep.Started.Format("20060102-150405")+".json")
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s\n", path)
	return nil
}

func measureRound(ctx context.Context, c config, name string, b broker, r int) measurement {
	m := measurement{Round: r, LoadAvg1m: loadAvg1m()}
	fail := func(step string, err error) {
		progress("%s round %d: %s failed: %v", name, r, step, err)
		m.Errors = append(m.Errors, step+": "+err.Error())
	}
	defer func() {
		if err := b.stop(); err != nil {
			fail("stop", err)
		}
	}()
	progress("%s round %d/%d: cold start", name, r, c.rounds)
	cold, total, err := b.start(ctx, r)
	if err != nil {
		fail("cold start", err)
		return m
	}
	m.ColdStartMs, m.ColdStartTotalMs = ms(cold), ms(total)
	progress("%s round %d: cold start %.0f ms (incl. start script %.0f ms)", name, r, m.ColdStartMs, m.ColdStartTotalMs)
	addr := b.addr()

	if c.warmRecords > 0 {
		progress("%s round %d: warm-up produce of %d records (not measured)", name, r, c.warmRecords)
		if _, err := benchCmd(ctx, c, name, "produce", "-b", addr, "--topic", fmt.Sprintf("bench-warmup-%d", r),
			"--records", strconv.Itoa(c.warmRecords), "--record-size", strconv.Itoa(c.recordSize),
			"--throughput", "-1", "--acks", "all", "--partitions", strconv.Itoa(c.partitions)); err != nil {
			fail("warm-up", err)
		}
	}

	topic := fmt.Sprintf("bench-tput-%d", r)
	progress("%s round %d: produce %d x %d B, acks=all, unlimited rate", name, r, c.records, c.recordSize)
	if res, err := benchCmd(ctx, c, name, "produce", "-b", addr, "--topic", topic,
		"--records", strconv.Itoa(c.records), "--record-size", strconv.Itoa(c.recordSize),
		"--throughput", "-1", "--acks", "all", "--partitions", strconv.Itoa(c.partitions),
		"--linger", c.linger.String()); err != nil {
		fail("produce", err)
	} else {
		m.ProduceMBs, m.ProduceRecs, m.ProduceP99Ms = res.MBPerSec, res.RecordsPerSec, res.LatencyMs.P99
		progress("%s round %d: produce %.1f MB/s (%.0f rec/s), p99 %.1f ms", name, r, res.MBPerSec, res.RecordsPerSec, res.LatencyMs.P99)
	}

	lt := fmt.Sprintf("bench-lat-%d", r)
	progress("%s round %d: latency at %d rec/s for %d s", name, r, c.latencyRate, c.latencySecs)
	if res, err := benchCmd(ctx, c, name, "produce", "-b", addr, "--topic", lt,
		"--records", strconv.Itoa(c.latencyRate*c.latencySecs), "--record-size", strconv.Itoa(c.recordSize),
		"--throughput", strconv.Itoa(c.latencyRate), "--acks", "all", "--partitions", strconv.Itoa(c.partitions),
		"--linger", c.latLinger.String(), "--warmup", "1s"); err != nil {
		fail("latency", err)
	} else {
		m.LatencyP50Ms, m.LatencyP99Ms, m.LatencyP999Ms, m.LatencyRate = res.LatencyMs.P50, res.LatencyMs.P99, res.LatencyMs.P999, res.RecordsPerSec
		progress("%s round %d: latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms (%.0f rec/s achieved)",
			name, r, res.LatencyMs.P50, res.LatencyMs.P99, res.LatencyMs.P999, res.RecordsPerSec)
	}

	if m.ProduceMBs > 0 {
		progress("%s round %d: consume %d records", name, r, c.records)
		if res, err := benchCmd(ctx, c, name, "consume", "-b", addr, "--topic", topic,
			"--records", strconv.Itoa(c.records)); err != nil {
			fail("consume", err)
		} else {
			m.ConsumeMBs, m.ConsumeRecs = res.MBPerSec, res.RecordsPerSec
			progress("%s round %d: consume %.1f MB/s (%.0f rec/s)", name, r, res.MBPerSec, res.RecordsPerSec)
		}
	}

	if c.java {
		if cli := filepath.Join(c.repo, "test/services/kafka-cli.sh"); fileExists(cli) {
			jt := fmt.Sprintf("bench-java-%d", r)
			progress("%s round %d: kafka-producer-perf-test %d x %d B, acks=all", name, r, c.records, c.recordSize)
			if mbs, p99, err := javaPerf(ctx, c, cli, addr, jt, c.records, -1, c.linger); err != nil {
				fail("java produce", err)
			} else {
				m.JavaProduceMBs, m.JavaProduceP99Ms = mbs, p99
				progress("%s round %d: java produce %.1f MB/s, p99 %.0f ms", name, r, mbs, p99)
			}
			progress("%s round %d: kafka-producer-perf-test at %d rec/s for %d s", name, r, c.latencyRate, c.latencySecs)
			if _, p99, err := javaPerf(ctx, c, cli, addr, jt+"-lat", c.latencyRate*c.latencySecs, c.latencyRate, c.latLinger); err != nil {
				fail("java latency", err)
			} else {
				m.JavaLatencyP99Ms = p99
				progress("%s round %d: java latency p99 %.0f ms", name, r, p99)
			}
		}
	}

	if rss, err := b.peakRSS(); err != nil {
		fail("peak RSS", err)
	} else {
		m.PeakRSSMB = rss
		progress("%s round %d: peak RSS %.0f MB", name, r, rss)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// benchResult mirrors the JSON printed by `weir bench ... --json`.
type benchResult struct {
	Records       int64   `json:"records"`
	Errors        int64   `json:"errors"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyMs     struct {
		P50, P95, P99, P999, Max float64
	} `json:"latency_ms"`
	FirstError string `json:"first_error"`
}

func benchCmd(ctx context.Context, c config, name, kind string, args ...string) (*benchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.stepTimeout)
	defer cancel()
	args = append([]string{"bench", kind, "--json", "--progress-interval", "5s"}, args...)
	cmd := exec.CommandContext(ctx, c.weirBin, args...)
	pw := prefixWriter("    " + name + " | ")
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
		return nil, fmt.Errorf("weir bench %s: %w (%s)", kind, err, res.FirstError)
	}
	return &res, nil
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

var javaLine = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th`)

func javaPerf(ctx context.Context, c config, cli, addr, topic string, records, rate int, linger time.Duration) (mbs, p99 float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.stepTimeout)
	defer cancel()
	create := exec.CommandContext(ctx, c.weirBin, "topic", "create", topic, "-b", addr,
		"--partitions", strconv.Itoa(c.partitions), "--if-not-exists")
	if out, err := create.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("create %s: %v: %s", topic, err, out)
	}
	cmd := exec.CommandContext(ctx, cli, "kafka-producer-perf-test", "--topic", topic,
		"--num-records", strconv.Itoa(records), "--record-size", strconv.Itoa(c.recordSize),
		"--throughput", strconv.Itoa(rate), "--producer-props", "bootstrap.servers="+addr, "acks=all",
		"linger.ms="+strconv.FormatInt(linger.Milliseconds(), 10))
	pw := prefixWriter("    java | ")
	defer pw.Close()
	cmd.Stderr = pw
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	mbs, p99, perr := parseJavaPerf(last)
	if err != nil || perr != nil {
		return 0, 0, fmt.Errorf("kafka-producer-perf-test: %v; last line %q", errors.Join(err, perr), last)
	}
	return mbs, p99, nil
}

// parseJavaPerf reads MB/s and the p99 from kafka-producer-perf-test's
// final summary line.
func parseJavaPerf(line string) (mbs, p99 float64, err error) {
	mm := javaLine.FindStringSubmatch(line)
	if mm == nil {
		return 0, 0, errors.New("not a kafka-producer-perf-test summary line")
	}
	mbs, _ = strconv.ParseFloat(mm[3], 64)
	p99, _ = strconv.ParseFloat(mm[8], 64)
	return mbs, p99, nil
}

// waitFirstAck polls until a produce with acks=all is acknowledged,
// creating the topic first; every attempt uses a fresh client so no client
// backoff hides the moment the broker becomes ready.
func waitFirstAck(ctx context.Context, addr string, timeout time.Duration, alive func() error) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if err := alive(); err != nil {
			return time.Time{}, err
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		if err := tryProduce(ctx, addr); err == nil {
			return time.Now(), nil
		} else {
			lastErr = err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no acknowledged produce within %s: %v", timeout, lastErr)
}

func tryProduce(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DialTimeout(time.Second), kgo.ProducerLinger(0), kgo.RetryTimeout(2*time.Second),
		kgo.RecordDeliveryTimeout(3*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	r, err := adm.CreateTopic(ctx, 1, -1, nil, "bench-cold-start")
	if err == nil {
		err = r.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic: %w", err)
	}
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "bench-cold-start", Value: []byte("first")}).FirstErr()
}

// broker is one system under test.
type broker interface {
	// start launches a fresh instance and returns process start → first
	// ack, and launch command start → first ack.
	start(ctx context.Context, round int) (cold, total time.Duration, err error)
	addr() string
	peakRSS() (mb float64, err error)
	stop() error
}

type weirBroker struct {
	c    config
	cmd  *exec.Cmd
	dir  string
	done chan error
}

func (w *weirBroker) addr() string { return w.c.weirAddr }

func (w *weirBroker) start(ctx context.Context, round int) (time.Duration, time.Duration, error) {
	if portOpen(w.c.weirAddr) {
		return 0, 0, fmt.Errorf("%s is already in use; stop that process or pass -weir-addr", w.c.weirAddr)
	}
	w.dir = filepath.Join(w.c.workDir, fmt.Sprintf("weir-data-%d", round))
	os.RemoveAll(w.dir)
	logf, err := os.Create(filepath.Join(w.c.workDir, fmt.Sprintf("weir-%d.log", round)))
	if err != nil {
		return 0, 0, err
	}
	args := []string{"serve", "--data-dir", w.dir, "--kafka-addr", w.c.weirAddr, "--http-addr", w.c.weirHTTP}
	args = append(args, strings.Fields(w.c.weirArgs)...)
	w.cmd = exec.Command(w.c.weirBin, args...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := w.cmd.Start(); err != nil {
		logf.Close()
		return 0, 0, fmt.Errorf("start %s: %w", w.c.weirBin, err)
	}
	w.done = make(chan error, 1)
	go func() { w.done <- w.cmd.Wait(); logf.Close() }()
	t1, err := waitFirstAck(ctx, w.c.weirAddr, w.c.startTimeout, func() error {
		select {
		case err := <-w.done:
			w.done <- err
			return fmt.Errorf("weir serve exited (%v); see %s", err, logf.Name())
		default:
			return nil
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return t1.Sub(t0), t1.Sub(t0), nil
}

func (w *weirBroker) peakRSS() (float64, error) {
	if w.cmd == nil || w.cmd.Process == nil {
		return 0, errors.New("not running")
	}
	return vmHWM(w.cmd.Process.Pid)
}

func (w *weirBroker) stop() error {
	if w.cmd == nil || w.cmd.Process == nil {
		return nil
	}
	defer func() { w.cmd = nil; os.RemoveAll(w.dir) }()
	select {
	case <-w.done:
		return nil
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
	}
	return nil
}

type kafkaBroker struct {
	c       config
	svcDir  string
	started bool
}

func (k *kafkaBroker) addr() string   { return k.c.kafkaAddr }
func (k *kafkaBroker) script() string { return filepath.Join(k.c.repo, "test/services/kafka.sh") }

// env gives each round its own services dir: fresh data and PID file, and
// no interference with a Kafka another engineer started in the default dir.
func (k *kafkaBroker) env() []string {
	port, _ := strconv.Atoi(portOf(k.c.kafkaAddr))
	return append(os.Environ(), "WEIR_SERVICES_DIR="+k.svcDir,
		"WEIR_KAFKA_PORT="+strconv.Itoa(port), "WEIR_KAFKA_CONTROLLER_PORT="+strconv.Itoa(port+1),
		"WEIR_KAFKA_DATA_DIR="+filepath.Join(k.svcDir, "data"))
}

func (k *kafkaBroker) start(ctx context.Context, round int) (time.Duration, time.Duration, error) {
	if portOpen(k.c.kafkaAddr) {
		return 0, 0, fmt.Errorf("%s is already in use (a Kafka started elsewhere?); stop it with `test/services/kafka.sh stop`", k.c.kafkaAddr)
	}
	k.svcDir = filepath.Join(k.c.workDir, fmt.Sprintf("kafka-%d", round))
	os.RemoveAll(k.svcDir)
	ctx, cancel := context.WithTimeout(ctx, k.c.startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.script(), "start")
	cmd.Env = k.env()
	pw := prefixWriter("    kafka.sh | ")
	defer pw.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, pw
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	k.started = true
	scriptDone := make(chan error, 1)
	go func() { scriptDone <- cmd.Wait() }()
	var scriptErr error
	t1, err := waitFirstAck(ctx, k.c.kafkaAddr, k.c.startTimeout, func() error {
		select {
		case err := <-scriptDone:
			scriptErr = err
			scriptDone <- err
			if err != nil {
				return fmt.Errorf("kafka.sh start failed: %v", err)
			}
		default:
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if err := <-scriptDone; err != nil && scriptErr == nil {
		return 0, 0, fmt.Errorf("kafka.sh start: %w", err)
	}
	pid, err := listenerPID(k.c.kafkaAddr)
	if err != nil {
		return 0, 0, err
	}
	started, err := processStart(pid)
	if err != nil {
		return 0, 0, err
	}
	return t1.Sub(started), t1.Sub(t0), nil
}

func (k *kafkaBroker) peakRSS() (float64, error) {
	pid, err := listenerPID(k.c.kafkaAddr)
	if err != nil {
		return 0, err
	}
	return vmHWM(pid)
}

func (k *kafkaBroker) stop() error {
	if !k.started {
		return nil
	}
	k.started = false
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.script(), "stop")
	cmd.Env = k.env()
	pw := prefixWriter("    kafka.sh | ")
	defer pw.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, pw
	err := cmd.Run()
	if err == nil {
		os.RemoveAll(k.svcDir)
	}
	return err
}

func portOpen(addr string) bool {
	out, _ := exec.Command("ss", "-Hltn", "sport = :"+portOf(addr)).Output()
	return strings.TrimSpace(string(out)) != ""
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

var ssPID = regexp.MustCompile(`pid=(\d+)`)

// listenerPID finds the process listening on addr: the broker itself, not
// whatever wrapper script launched it.
func listenerPID(addr string) (int, error) {
	out, err := exec.Command("ss", "-Hltnp", "sport = :"+portOf(addr)).Output()
	if err != nil {
		return 0, fmt.Errorf("ss: %w", err)
	}
	m := ssPID.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no process listens on %s", addr)
	}
	return strconv.Atoi(string(m[1]))
}

func vmHWM(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// processStart is when pid started, from its age in clock ticks (10 ms
// resolution on Linux).
func processStart(pid int) (time.Time, error) {
	now := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, err
	}
	// Field 22 (starttime) counts from after the parenthesised command name.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ticks, err := strconv.ParseFloat(f[19], 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	uptime, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return time.Time{}, err
	}
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on every Linux we run on
	age := time.Duration((uptime - ticks/clkTck) * float64(time.Second))
	return now.Add(-age), nil
}

func hostInfo() map[string]string {
	h := map[string]string{"go": runtime.Version(), "cpus": strconv.Itoa(runtime.NumCPU()), "os": runtime.GOOS + "/" + runtime.GOARCH}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		h["git"] = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h["loadavg_at_start"] = strings.TrimSpace(string(b))
	}
	return h
}

// metric describes one row of the summary table.
type metric struct {
	key, label, unit string
	get              func(measurement) float64
	target           string // on weir/Kafka
	pass             func(ratio float64) bool
}

var metrics = []metric{
	{"produce_mb_per_sec", "produce throughput, acks=all", "MB/s", func(m measurement) float64 { return m.ProduceMBs }, ">= 1.5", func(r float64) bool { return r >= 1.5 }},
	{"latency_p99_ms", "produce p99 latency @ fixed rate", "ms", func(m measurement) float64 { return m.LatencyP99Ms }, "<= 0.5", func(r float64) bool { return r <= 0.5 }},
	{"consume_mb_per_sec", "consume throughput", "MB/s", func(m measurement) float64 { return m.ConsumeMBs }, "", nil},
	{"peak_rss_mb", "broker peak RSS (VmHWM)", "MB", func(m measurement) float64 { return m.PeakRSSMB }, "<= 0.25", func(r float64) bool { return r <= 0.25 }},
	{"cold_start_ms", "cold start to first ack", "ms", func(m measurement) float64 { return m.ColdStartMs }, "<= 0.1", func(r float64) bool { return r <= 0.1 }},
	{"java_produce_mb_per_sec", "Java perf-test produce, acks=all", "MB/s", func(m measurement) float64 { return m.JavaProduceMBs }, "", nil},
	{"java_produce_p99_ms", "Java perf-test produce p99 (unlimited)", "ms", func(m measurement) float64 { return m.JavaProduceP99Ms }, "", nil},
	{"java_latency_p99_ms", "Java perf-test p99 @ fixed rate", "ms", func(m measurement) float64 { return m.JavaLatencyP99Ms }, "", nil},
	{"produce_unlimited_p99_ms", "franz-go produce p99 (unlimited)", "ms", func(m measurement) float64 { return m.ProduceP99Ms }, "", nil},
	{"cold_start_incl_script_ms", "cold start incl. start script", "ms", func(m measurement) float64 { return m.ColdStartTotalMs }, "", nil},
}

// median of the measured (non-zero) values; NaN if none.
func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if x > 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func summarize(rep *report) {
	rep.Medians = map[string]map[string]float64{}
	rep.Ratios = map[string]float64{}
	rep.Targets = map[string]string{}
	for name, runs := range rep.Runs {
		rep.Medians[name] = map[string]float64{}
		for _, mt := range metrics {
			var xs []float64
			for _, r := range runs {
				xs = append(xs, mt.get(r))
			}
			if v := median(xs); !math.IsNaN(v) {
				rep.Medians[name][mt.key] = v
			}
		}
	}
	for _, mt := range metrics {
		w, wok := rep.Medians["weir"][mt.key]
		k, kok := rep.Medians["kafka"][mt.key]
		if wok && kok && k > 0 {
			rep.Ratios[mt.key] = w / k
		}
		if mt.target != "" {
			rep.Targets[mt.key] = mt.target
		}
	}
}

func printTable(out io.Writer, c config, rep *report) {
	fmt.Fprintf(out, "\nweir vs Apache Kafka: medians of %d rounds, %d B records, acks=all, %d partitions, latency at %d rec/s\n\n",
		c.rounds, c.recordSize, c.partitions, c.latencyRate)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	width := 0
	for _, mt := range metrics {
		width = max(width, len(mt.label))
	}
	// AlignRight suits the numbers; padding the labels keeps them left-aligned.
	fmt.Fprintf(tw, "%-*s\tunit\tweir\tKafka\tweir/Kafka\ttarget\t\t\n", width, "metric")
	cell := func(name, key string) string {
		if v, ok := rep.Medians[name][key]; ok {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return "-"
	}
	for _, mt := range metrics {
		ratio, verdict := "-", ""
		if r, ok := rep.Ratios[mt.key]; ok {
			ratio = strconv.FormatFloat(r, 'f', 2, 64)
			if mt.pass != nil {
				verdict = "MISS"
				if mt.pass(r) {
					verdict = "ok"
				}
			}
		}
		target := mt.target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, mt.label, mt.unit, cell("weir", mt.key), cell("kafka", mt.key), ratio, target, verdict)
	}
	tw.Flush()
	for name, runs := range rep.Runs {
		for _, r := range runs {
			for _, e := range r.Errors {
				fmt.Fprintf(out, "note: %s round %d: %s\n", name, r.Round, e)
			}
		}
	}
}

// warnIfBusy flags runs on a machine whose load already exceeded its CPUs: the
// brokers then compete with other work and the ratios say little.
func warnIfBusy(out io.Writer, rep *report) {
	// Only the load before we started counts: during the run the brokers,
	// clients and JVMs are the load.
	for _, k := range []string{"loadavg_at_start"} {
		f := strings.Fields(rep.Host[k])
		if len(f) == 0 {
			continue
		}
		if l1, err := strconv.ParseFloat(f[0], 64); err == nil && l1 > float64(runtime.NumCPU()) {
			fmt.Fprintf(out, "warning: load average %s was %.1f on %d CPUs: other work competed with the brokers; rerun on a quiet machine before trusting the ratios\n",
				strings.TrimPrefix(k, "loadavg_"), l1, runtime.NumCPU())
		}
	}
}

func loadAvg1m() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l
}
