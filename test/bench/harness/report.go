package main

import (
	"debug/buildinfo"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weirlog/weir/internal/testutil"
)

type report struct {
	Started  time.Time                     `json:"started"`
	Finished time.Time                     `json:"finished"`
	Host     map[string]string             `json:"host"`
	Settings []string                      `json:"settings"`
	Runs     map[string][]measurement      `json:"runs"`
	Durable  []durable                     `json:"durable,omitempty"`
	Floor    []floor                       `json:"page_cache_floor,omitempty"`
	Medians  map[string]map[string]float64 `json:"medians"`
	Ratios   map[string]float64            `json:"ratios_weir_over_kafka"`
	Targets  map[string]string             `json:"targets"`
}

func newReport(c config) *report {
	h := map[string]string{"go": runtime.Version(), "cpus": strconv.Itoa(runtime.NumCPU()), "os": runtime.GOOS + "/" + runtime.GOARCH,
		"loadavg_at_start": loadAvg()}
	if out, err := exec.Command("git", "-C", c.repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		h["git"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		h["kernel"] = strings.TrimSpace(string(out))
	}
	franz, kafka := franzVersion(c.weirBin), kafkaVersion(c.repo)
	h["franz_go"], h["kafka"] = franz, kafka
	cache := "dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every broker start"
	if !c.dropCaches {
		cache = "NOT dropped (not root?): rounds start with a warm page cache"
	}
	java := "kafka-producer-perf-test / kafka-consumer-perf-test (Kafka " + kafka + " tools, Java 17): their defaults; set: --bootstrap-server, --topic, --num-records, --record-size, --throughput, acks=all (the producer's default since Kafka 3.0), the consumer tool's --timeout 60000 (ms without records before it gives up)"
	if !c.java {
		java = "Kafka's perf-test tools: not run (-java=false or kafka-cli.sh missing)"
	}
	return &report{
		Started: time.Now().UTC(),
		Host:    h,
		Settings: []string{
			fmt.Sprintf("%d MB per throughput run (%d records of %d B), %d partitions, acks=all, %d rounds interleaved (order alternates), medians of the rounds",
				c.mb, c.records(c.mb), c.recordSize, c.partitions, c.rounds),
			fmt.Sprintf("fresh data dirs under %s for every broker and round, one disk; page cache %s", c.workDir, cache),
			fmt.Sprintf("weir serve: its defaults (Go GC at GOGC=200 unless GOGC is set, core/gctune); set: --data-dir, --kafka-addr %s, --http-addr %s %s", c.weirAddr, c.weirHTTP, c.weirArgs),
			fmt.Sprintf("Apache Kafka %s: KRaft single node from test/services/kafka.sh (Kafka's defaults but listeners, log.dirs, single-node replication factors, group.initial.rebalance.delay.ms=0), KAFKA_HEAP_OPTS=%q, on %s", kafka, c.kafkaHeap, c.kafkaAddr),
			fmt.Sprintf("franz-go %s (`weir bench`): its defaults (acks=all, idempotent, linger 10ms, snappy only where it shrinks a batch, 1 MB batches, 50000 buffered records, fetch 50 MiB / 1 MiB per partition); set: seed broker, client id, dial timeout 5s, the topic, consume from the start; every record a different random value, so nothing compresses", franz),
			java,
			fmt.Sprintf("warm-up %d MB produced and consumed (franz-go, in a group) after each start, not measured; latency: %d rec/s for %d s, the first 2 s left out; 'linger 0' is the one non-default run: it shows what the broker adds", c.warmupMB, c.latencyRate, c.latencySecs),
			"broker CPU-s/GB: user+system seconds of the broker process (/proc/<pid>/stat, system shown apart: the kernel's copies) across the client's run, per GB (2^30 B) of values moved; MB = 2^20 B; peak RSS = VmHWM after all runs",
		},
		Runs: map[string][]measurement{},
	}
}

// franzVersion is the franz-go module version bin/weir was built with.
func franzVersion(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/twmb/franz-go" {
			return d.Version
		}
	}
	return "?"
}

var pomVersion = regexp.MustCompile(`<kafka.version>([^<]+)</kafka.version>`)

func kafkaVersion(repo string) string {
	b, err := os.ReadFile(filepath.Join(repo, "test/services/kafka/pom.xml"))
	if err != nil {
		return "?"
	}
	if m := pomVersion.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return "?"
}

// metric is one row of the summary table.
type metric struct {
	key, label, unit string
	get              func(measurement) float64
	target           string // on weir/Kafka
	pass             func(ratio float64) bool
}

func stepField(name string, f func(*step) float64) func(measurement) float64 {
	return func(m measurement) float64 {
		if s := m.Steps[name]; s != nil {
			return f(s)
		}
		return 0
	}
}

func mbs(s *step) float64                  { return s.MBs }
func p99(s *step) float64                  { return s.P99Ms }
func perGB(s *step) float64                { return s.cpuPerGB() }
func atLeast(x float64) func(float64) bool { return func(r float64) bool { return r >= x } }
func atMost(x float64) func(float64) bool  { return func(r float64) bool { return r <= x } }

var metrics = []metric{
	{"cpu_per_gb", "broker CPU-s/GB, all four throughput runs", "s/GB", measurement.cpuPerGB, "<= 0.33", atMost(0.33)},
	{"sys_per_gb", "  of which system (kernel) CPU-s/GB", "s/GB", measurement.sysPerGB, "", nil},
	{"produce_mbs", "produce, franz-go defaults", "MB/s", stepField(stepProduce, mbs), ">= 2", atLeast(2)},
	{"produce_cpu", "  broker CPU-s/GB", "s/GB", stepField(stepProduce, perGB), "", nil},
	{"produce_sys", "  of which system", "s/GB", stepField(stepProduce, func(s *step) float64 { return s.sysPerGB() }), "", nil},
	{"perf_produce_mbs", "produce, kafka-producer-perf-test", "MB/s", stepField(stepPerfProduce, mbs), ">= 1.5", atLeast(1.5)},
	{"perf_produce_cpu", "  broker CPU-s/GB", "s/GB", stepField(stepPerfProduce, perGB), "", nil},
	{"consume_mbs", "consume, franz-go defaults", "MB/s", stepField(stepConsume, mbs), ">= 1.3", atLeast(1.3)},
	{"consume_cpu", "  broker CPU-s/GB", "s/GB", stepField(stepConsume, perGB), "", nil},
	{"perf_consume_mbs", "consume, kafka-consumer-perf-test", "MB/s", stepField(stepPerfConsume, mbs), ">= 1.3", atLeast(1.3)},
	{"perf_consume_fetch_mbs", "  fetch.MB.sec (without group join)", "MB/s", stepField(stepPerfConsume, func(s *step) float64 { return s.FetchMBs }), "", nil},
	{"perf_consume_cpu", "  broker CPU-s/GB", "s/GB", stepField(stepPerfConsume, perGB), "", nil},
	{"latency_linger0_p99", "p99 @ rate, franz-go linger 0", "ms", stepField(stepLatencyLinger, p99), "<= 0.2", atMost(0.2)},
	{"latency_p99", "p99 @ rate, franz-go defaults (linger 10ms)", "ms", stepField(stepLatency, p99), "", nil},
	{"perf_latency_p99", "p99 @ rate, perf-test (linger.ms 5)", "ms", stepField(stepPerfLatency, p99), "", nil},
	{"produce_p99", "p99 unlimited rate, franz-go defaults", "ms", stepField(stepProduce, p99), "", nil},
	{"peak_rss_mb", "broker peak RSS (VmHWM)", "MB", func(m measurement) float64 { return m.PeakRSSMB }, "<= 0.25", atMost(0.25)},
	{"cold_start_ms", "cold start to first ack", "ms", func(m measurement) float64 { return m.ColdStartMs }, "", nil},
}

// median of the measured (positive) values; NaN if none.
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
	return testutil.Median(v)
}

func (rep *report) finish() {
	rep.Finished = time.Now().UTC()
	rep.Host["loadavg_at_end"] = loadAvg()
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
	if len(rep.Durable) > 0 {
		// The ratios are the median of each round's own ratio: dd and
		// weir ran minutes apart at most, on a disk whose bandwidth here
		// moves 3x between rounds, so a ratio of medians would compare a
		// round's weir with another round's dd.
		var dd, ws, pc, overDD, overPC []float64
		for _, d := range rep.Durable {
			dd = append(dd, d.DDMBs)
			ws = append(ws, d.FsyncMBs)
			pc = append(pc, d.PageCacheMBs)
			if d.DDMBs > 0 && d.FsyncMBs > 0 {
				overDD = append(overDD, d.FsyncMBs/d.DDMBs)
			}
			if d.PageCacheMBs > 0 && d.FsyncMBs > 0 {
				overPC = append(overPC, d.FsyncMBs/d.PageCacheMBs)
			}
		}
		rep.Medians["durable"] = map[string]float64{}
		if v := median(dd); !math.IsNaN(v) {
			rep.Medians["durable"]["dd_mbs"] = v
		}
		if v := median(ws); !math.IsNaN(v) {
			rep.Medians["durable"]["weir_fsync_mbs"] = v
		}
		if v := median(pc); !math.IsNaN(v) && v > 0 {
			rep.Medians["durable"]["weir_page_cache_mbs"] = v
		}
		if v := median(overDD); !math.IsNaN(v) {
			rep.Ratios["fsync_over_dd"] = v
		}
		if v := median(overPC); !math.IsNaN(v) {
			rep.Ratios["fsync_over_page_cache"] = v
		}
		rep.Targets["fsync_over_dd"] = ">= 0.70"
	}
	var fl []float64
	for _, f := range rep.Floor {
		fl = append(fl, f.CPUPerGB)
	}
	if v := median(fl); !math.IsNaN(v) {
		rep.Medians["page_cache_floor"] = map[string]float64{"cpu_per_gb": v}
	}
}

func num(v float64, prec int) string {
	if v == 0 || math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func (rep *report) print(out io.Writer) {
	fmt.Fprintf(out, "\nweir vs Apache Kafka on %s CPUs (kernel %s, git %s), %s UTC, load average at start %s, at end %s\n",
		rep.Host["cpus"], rep.Host["kernel"], rep.Host["git"], rep.Started.Format("2006-01-02 15:04"), rep.Host["loadavg_at_start"], rep.Host["loadavg_at_end"])
	for _, s := range rep.Settings {
		fmt.Fprintln(out, "  - "+s)
	}

	fmt.Fprintln(out, "\nper round (MB/s; broker CPU-s/GB; p99 ms; load = 1-minute load average when the broker started):")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "broker\tround\tload\tfranz prod\tcpu/GB\tfranz cons\tcpu/GB\tperf prod\tcpu/GB\tperf cons\tcpu/GB\tall cpu/GB\tof it sys\tp99 l0\tp99 dflt\tp99 perf\tRSS MB\tcold ms\t")
	for _, name := range []string{"weir", "kafka"} {
		for _, m := range rep.Runs[name] {
			st := func(k string) *step {
				if s := m.Steps[k]; s != nil {
					return s
				}
				return &step{}
			}
			fmt.Fprintf(tw, "%s\t%d.%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, m.Round, m.Position, m.LoadAvg1m,
				num(st(stepProduce).MBs, 1), num(st(stepProduce).cpuPerGB(), 2),
				num(st(stepConsume).MBs, 1), num(st(stepConsume).cpuPerGB(), 2),
				num(st(stepPerfProduce).MBs, 1), num(st(stepPerfProduce).cpuPerGB(), 2),
				num(st(stepPerfConsume).MBs, 1), num(st(stepPerfConsume).cpuPerGB(), 2),
				num(m.cpuPerGB(), 2), num(m.sysPerGB(), 2),
				num(st(stepLatencyLinger).P99Ms, 2), num(st(stepLatency).P99Ms, 2), num(st(stepPerfLatency).P99Ms, 0),
				num(m.PeakRSSMB, 0), num(m.ColdStartMs, 0))
		}
	}
	tw.Flush()
	if len(rep.Durable) > 0 {
		fmt.Fprintln(out, "\ndurable mode per round: dd bs=1M conv=fdatasync vs weir serve --fsync with concurrent acks=all franz-go producers (MB/s),")
		fmt.Fprintln(out, "and the same producers against weir without --fsync (page cache: the ceiling the clients' and broker's CPU leave):")
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "round\tload\tdd\tweir --fsync\tof dd\tpage cache\tfsync/page cache\tproducers\tp99 ms\tbroker CPU-s/GB\tclients CPU-s/GB\tRSS MB\t")
		for _, d := range rep.Durable {
			ratio, pcRatio := "-", "-"
			if d.DDMBs > 0 && d.FsyncMBs > 0 {
				ratio = num(d.FsyncMBs/d.DDMBs, 2)
			}
			if d.PageCacheMBs > 0 && d.FsyncMBs > 0 {
				pcRatio = num(d.FsyncMBs/d.PageCacheMBs, 2)
			}
			fmt.Fprintf(tw, "%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", d.Round, d.LoadAvg1m, num(d.DDMBs, 1), num(d.FsyncMBs, 1), ratio,
				num(d.PageCacheMBs, 1), pcRatio, d.Producers, num(d.FsyncP99Ms, 1), num(d.FsyncBrokerCPUPerGB, 2), num(d.FsyncClientCPUPerGB, 2), num(d.FsyncPeakRSSMB, 0))
		}
		tw.Flush()
	}
	if len(rep.Floor) > 0 {
		fmt.Fprint(out, "\nkernel floor, one thread writing 256 MB into the dropped page cache (CPU-s/GB):")
		for _, f := range rep.Floor {
			fmt.Fprintf(out, " round %d %s (%s MB/s);", f.Round, num(f.CPUPerGB, 2), num(f.MBs, 0))
		}
		fmt.Fprintln(out)
	}

	fmt.Fprintf(out, "\nmedians of %d rounds, ratio weir/Kafka:\n\n", max(len(rep.Runs["weir"]), len(rep.Durable)))
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	width := 0
	for _, mt := range metrics {
		width = max(width, len(mt.label))
	}
	// AlignRight suits the numbers; padding the labels keeps them left-aligned.
	fmt.Fprintf(tw, "%-*s\tunit\tweir\tKafka\tweir/Kafka\ttarget\t\t\n", width, "metric")
	for _, mt := range metrics {
		if len(rep.Runs) == 0 {
			break // -durable-only
		}
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
		prec := 1
		if mt.unit == "s/GB" || mt.unit == "ms" {
			prec = 2
		}
		cell := func(name string) string {
			if v, ok := rep.Medians[name][mt.key]; ok {
				return num(v, prec)
			}
			return "-"
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, mt.label, mt.unit, cell("weir"), cell("kafka"), ratio, target, verdict)
	}
	if d := rep.Medians["durable"]; d != nil {
		ratio, verdict := "-", ""
		if r, ok := rep.Ratios["fsync_over_dd"]; ok {
			ratio, verdict = num(r, 2), "MISS"
			if r >= 0.70 {
				verdict = "ok"
			}
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, "weir --fsync (vs dd conv=fdatasync)", "MB/s",
			num(d["weir_fsync_mbs"], 1), "dd "+num(d["dd_mbs"], 1), ratio+" of dd", ">= 0.70", verdict)
		if r, ok := rep.Ratios["fsync_over_page_cache"]; ok {
			fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, "weir --fsync (vs the same producers, no fsync)", "MB/s",
				num(d["weir_fsync_mbs"], 1), "page cache "+num(d["weir_page_cache_mbs"], 1), num(r, 2)+" of it", "", "")
		}
	}
	tw.Flush()
	if rep.Medians["durable"] != nil {
		fmt.Fprintln(out, "(the --fsync ratios are the median of each round's own ratio, weir against the dd and page-cache runs of its round)")
	}
	for _, name := range []string{"weir", "kafka"} {
		for _, r := range rep.Runs[name] {
			for _, e := range r.Errors {
				fmt.Fprintf(out, "note: %s round %d: %s\n", name, r.Round, e)
			}
		}
	}
	for _, d := range rep.Durable {
		for _, e := range d.Errors {
			fmt.Fprintf(out, "note: durable round %d: %s\n", d.Round, e)
		}
	}
	if f := strings.Fields(rep.Host["loadavg_at_start"]); len(f) > 0 {
		if l1, err := strconv.ParseFloat(f[0], 64); err == nil && l1 > float64(runtime.NumCPU())/2 {
			fmt.Fprintf(out, "warning: the load average was %.1f on %d CPUs before the run: other work competed with the brokers; rerun on a quiet machine before trusting MB/s and latency (CPU-s/GB suffers less)\n",
				l1, runtime.NumCPU())
		}
	}
}
