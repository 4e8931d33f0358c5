// Command harness runs weir's side-by-side benchmark (`make bench`, via
// test/bench/run.sh): the same measurements against `weir serve` and against
// Apache Kafka (test/services/kafka.sh), each started fresh per round on the
// same disk, then prints per-round figures, medians, ratios weir/Kafka and
// the targets, and writes everything to bench-results/bench-<time>.json.
//
// It is written for a sceptic: both brokers run with their own defaults, the
// clients with theirs (every exception is listed in the printed header and
// in the JSON), and next to throughput and latency it reports what the
// broker spent: CPU-seconds (user+system of the broker process, from
// /proc/<pid>/stat, before and after each step) per GB moved, and its peak
// RSS (VmHWM). On a small machine the clients take much of the CPU, so
// throughput ratios understate a broker's efficiency; CPU per GB does not
// depend on the client.
//
// Every round, for each broker in turn (the order alternates between rounds
// so drift on the machine hits both alike), after `sync` and dropping the page
// cache (/proc/sys/vm/drop_caches):
//
//	cold start    process start → first acknowledged produce (acks=all) of a
//	              fresh broker with an empty data dir, including creating a topic
//	warm-up       -warmup-mb produced and consumed (in a group) through
//	              franz-go, not measured: a JIT-compiled broker is measured
//	              warm, and __consumer_offsets exists on both
//	produce       `weir bench produce` (franz-go at its defaults) -mb MB
//	consume       `weir bench consume` (franz-go at its defaults) of that topic
//	perf-test     kafka-producer-perf-test -mb MB (Java client defaults)
//	consumer-perf kafka-consumer-perf-test of that topic (Java client defaults)
//	latency       franz-go at -latency-rate rec/s: at its defaults (linger
//	              10 ms) and with linger 0 (what the broker adds); and
//	              kafka-producer-perf-test at the same rate (linger.ms 5)
//	peak RSS      VmHWM of the broker process after all of the above
//
// then, once per round, the durable mode: -fsync-producers concurrent
// acks=all franz-go producers against `weir serve --fsync` next to `dd bs=1M
// conv=fdatasync` on the same disk, and the kernel's own cost of writing into
// a dropped page cache (the floor under every broker's produce CPU).
//
// Only 127.0.0.1 is contacted, on ports apart from the shared services;
// every wait is bounded in time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type config struct {
	repo         string
	weirBin      string
	workDir      string
	outDir       string
	rounds       int
	mb           int
	warmupMB     int
	recordSize   int
	partitions   int
	latencyRate  int
	latencySecs  int
	fsyncMB      int
	fsyncProds   int
	durableOnly  bool
	targets      string
	java         bool
	dropCaches   bool
	weirAddr     string
	weirHTTP     string
	weirArgs     string
	kafkaAddr    string
	kafkaHeap    string
	startTimeout time.Duration
	stepTimeout  time.Duration
	settle       time.Duration
}

// records is how many records of recordSize make mb MB (2^20 bytes).
func (c config) records(mb int) int { return mb << 20 / max(1, c.recordSize) }

func main() {
	var c config
	flag.StringVar(&c.repo, "repo", ".", "repository root")
	flag.StringVar(&c.weirBin, "weir", "bin/weir", "weir binary (franz-go client for both brokers, and the weir broker)")
	flag.StringVar(&c.workDir, "workdir", "/tmp/weir-bench", "scratch dir for the data dirs (one disk for both brokers)")
	flag.StringVar(&c.outDir, "out", "bench-results", "where to write the JSON results")
	flag.IntVar(&c.rounds, "rounds", 3, "interleaved rounds; medians are reported")
	flag.IntVar(&c.mb, "mb", 500, "MB (2^20 bytes) of record values per throughput run")
	flag.IntVar(&c.warmupMB, "warmup-mb", 200, "MB produced and consumed unmeasured after each cold start")
	flag.IntVar(&c.recordSize, "record-size", 1024, "record value size in bytes")
	flag.IntVar(&c.partitions, "partitions", 6, "partitions of each benchmark topic")
	flag.IntVar(&c.latencyRate, "latency-rate", 5000, "records/s of the latency runs")
	flag.IntVar(&c.latencySecs, "latency-seconds", 15, "length of each latency run (its first 2 s are left out of the percentiles)")
	flag.IntVar(&c.fsyncMB, "fsync-mb", 500, "MB for the --fsync and dd runs (0: skip)")
	flag.IntVar(&c.fsyncProds, "fsync-producers", 16, "concurrent producers against weir serve --fsync")
	flag.BoolVar(&c.durableOnly, "durable-only", false, "run only the durable-mode rows (dd, weir --fsync, weir page cache), -rounds times")
	flag.StringVar(&c.targets, "targets", "weir,kafka", "brokers to measure")
	flag.BoolVar(&c.java, "java", true, "also run Kafka's perf-test tools (test/services/kafka-cli.sh)")
	flag.BoolVar(&c.dropCaches, "drop-caches", true, "sync and drop the page cache before every broker start (needs root)")
	flag.StringVar(&c.weirAddr, "weir-addr", "127.0.0.1:24092", "Kafka listener of the benchmarked weir")
	flag.StringVar(&c.weirHTTP, "weir-http", "127.0.0.1:24083", "HTTP listener of the benchmarked weir")
	flag.StringVar(&c.weirArgs, "weir-args", "", "extra arguments for `weir serve`, space separated")
	flag.StringVar(&c.kafkaAddr, "kafka-addr", "127.0.0.1:24192", "where the benchmarked Kafka listens (its controller: the next port); not the shared 19092")
	flag.StringVar(&c.kafkaHeap, "kafka-heap", "-Xmx1G -Xms1G", "KAFKA_HEAP_OPTS of the benchmarked Kafka (kafka-server-start.sh's default)")
	flag.DurationVar(&c.startTimeout, "start-timeout", 3*time.Minute, "longest wait for a broker to take its first produce")
	flag.DurationVar(&c.stepTimeout, "step-timeout", 5*time.Minute, "longest any single benchmark step may run")
	flag.DurationVar(&c.settle, "settle", 2*time.Minute, "longest wait, before the first measurement, for the 1-minute load average to fall below 1 (run.sh's own go build leaves it near 3); 0: start at once")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// settle waits up to max for the 1-minute load average to fall below 1,
// so that the first round does not measure the build that came before it
// (the report still gives the load at every broker start).
func settle(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for l := loadAvg1m(); l >= 1 && time.Now().Before(deadline); l = loadAvg1m() {
		progress("load average %.2f: waiting for it to fall below 1 before measuring (up to %s more; -settle 0 skips)", l, time.Until(deadline).Round(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
	return nil
}

func run(c config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, a := range []string{c.weirAddr, c.weirHTTP, c.kafkaAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			return fmt.Errorf("%s: the harness only talks to 127.0.0.1", a)
		}
	}
	if c.rounds < 1 || c.mb < 1 {
		return errors.New("-rounds and -mb must be positive")
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
	if c.java && !fileExists(c.kafkaCLI()) {
		progress("%s is missing: no Java perf-test rows", c.kafkaCLI())
		c.java = false
	}
	if c.dropCaches {
		if err := dropCaches(); err != nil {
			progress("cannot drop the page cache (%v): rounds will start warm; run as root for the figures the README describes", err)
			c.dropCaches = false
		}
	}
	if err := settle(ctx, c.settle); err != nil {
		return err
	}
	if c.durableOnly {
		return runDurable(ctx, c)
	}
	targets := strings.Split(c.targets, ",")
	brokers := map[string]broker{}
	for _, t := range targets {
		switch t {
		case "weir":
			brokers[t] = &weirBroker{c: c, addr_: c.weirAddr}
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
	rep := newReport(c)
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

	// Round 0 only starts and stops each broker: jar downloads, the first
	// exec of each binary and the formatting tool's JIT are not measured.
	for _, name := range targets {
		b, ok := brokers[name]
		if !ok {
			continue
		}
		progress("%s: trial start (not measured)", name)
		if _, _, err := b.start(ctx, 0); err != nil {
			progress("%s: trial start failed, skipping this broker: %v", name, err)
			b.stop()
			delete(brokers, name)
			continue
		}
		if err := b.stop(); err != nil {
			return fmt.Errorf("%s: stop after the trial start: %w", name, err)
		}
	}
	if len(brokers) == 0 {
		return errors.New("no broker could be started; see the messages above")
	}
	for r := 1; r <= c.rounds; r++ {
		order := slices.Clone(targets)
		if r%2 == 0 { // alternate who goes first, so drift hits both alike
			slices.Reverse(order)
		}
		for i, name := range order {
			b, ok := brokers[name]
			if !ok {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m := measureRound(ctx, c, name, b, r, i+1)
			rep.Runs[name] = append(rep.Runs[name], m)
		}
		if c.fsyncMB > 0 && brokers["weir"] != nil {
			rep.Durable = append(rep.Durable, measureDurable(ctx, c, r))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Floor = append(rep.Floor, measureFloor(c, r))
	}
	rep.finish()
	rep.print(os.Stdout)
	if err := os.MkdirAll(c.outDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(c.outDir, "bench-"+rep.Started.Format("20060102-150405")+".json")
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s (%.1f min)\n", path, rep.Finished.Sub(rep.Started).Minutes())
	return nil
}

// runDurable is -durable-only: the durable-mode rows alone, for working on
// --fsync without a whole run.
func runDurable(ctx context.Context, c config) error {
	if c.fsyncMB <= 0 {
		return errors.New("-durable-only needs -fsync-mb > 0")
	}
	if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return err
	}
	rep := newReport(c)
	for r := 1; r <= c.rounds && ctx.Err() == nil; r++ {
		rep.Durable = append(rep.Durable, measureDurable(ctx, c, r))
	}
	rep.finish()
	rep.print(os.Stdout)
	return ctx.Err()
}

func (c config) kafkaCLI() string { return filepath.Join(c.repo, "test/services/kafka-cli.sh") }

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dropCaches writes back dirty pages and empties the page cache, so every
// round starts from the same state: nothing of the last round in memory,
// nothing of it still being written back.
func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}
