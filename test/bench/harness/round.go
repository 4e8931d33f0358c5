package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Step names: the keys of measurement.Steps.
const (
	stepProduce       = "produce"         // franz-go defaults, unlimited rate
	stepConsume       = "consume"         // franz-go defaults, the produce topic
	stepPerfProduce   = "perf_produce"    // kafka-producer-perf-test, unlimited rate
	stepPerfConsume   = "perf_consume"    // kafka-consumer-perf-test, the perf_produce topic
	stepLatency       = "latency"         // franz-go defaults at -latency-rate
	stepLatencyLinger = "latency_linger0" // franz-go with linger 0 at -latency-rate
	stepPerfLatency   = "perf_latency"    // kafka-producer-perf-test at -latency-rate
)

// throughputSteps are the runs whose broker CPU is summed into the overall
// CPU-seconds per GB.
var throughputSteps = []string{stepProduce, stepConsume, stepPerfProduce, stepPerfConsume}

// step is one measured run of one client against one broker.
type step struct {
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	MBs        float64 `json:"mb_per_sec"`
	RecsPerSec float64 `json:"records_per_sec"`
	P50Ms      float64 `json:"p50_ms,omitempty"`
	P99Ms      float64 `json:"p99_ms,omitempty"`
	P999Ms     float64 `json:"p999_ms,omitempty"`
	// BrokerCPU is user+system seconds of the broker process over the
	// client's whole run (start-up included); ClientCPU the client's.
	BrokerCPU float64 `json:"broker_cpu_seconds"`
	BrokerSys float64 `json:"broker_system_cpu_seconds"` // of BrokerCPU
	ClientCPU float64 `json:"client_cpu_seconds"`
	// FetchMBs is kafka-consumer-perf-test's fetch.MB.sec: its MB/s
	// without the time the consumer group took to form.
	FetchMBs float64 `json:"fetch_mb_per_sec,omitempty"`
}

// cpuPerGB is the broker's CPU-seconds per GB (2^30 bytes) moved.
func (s *step) cpuPerGB() float64 {
	if s == nil || s.Bytes == 0 {
		return 0
	}
	return s.BrokerCPU / (float64(s.Bytes) / (1 << 30))
}

// sysPerGB is the kernel's part of cpuPerGB.
func (s *step) sysPerGB() float64 {
	if s == nil || s.Bytes == 0 {
		return 0
	}
	return s.BrokerSys / (float64(s.Bytes) / (1 << 30))
}

// measurement is one round's figures for one broker; zero means not measured.
type measurement struct {
	Round       int              `json:"round"`
	Position    int              `json:"position_in_round"`
	LoadAvg     string           `json:"loadavg_at_start"`
	LoadAvg1m   float64          `json:"loadavg_1m_at_start"`
	LoadAvgEnd  float64          `json:"loadavg_1m_at_end"`
	ColdStartMs float64          `json:"cold_start_ms"`
	Steps       map[string]*step `json:"steps"`
	PeakRSSMB   float64          `json:"peak_rss_mb"`
	Errors      []string         `json:"errors,omitempty"`
}

// cpuPerGB sums broker CPU and bytes over the throughput runs.
func (m measurement) cpuPerGB() float64 {
	return m.sumPerGB(func(s *step) float64 { return s.BrokerCPU })
}

// sysPerGB is the kernel's part of cpuPerGB.
func (m measurement) sysPerGB() float64 {
	return m.sumPerGB(func(s *step) float64 { return s.BrokerSys })
}

func (m measurement) sumPerGB(cpu func(*step) float64) float64 {
	var c float64
	var bytes int64
	for _, k := range throughputSteps {
		if s := m.Steps[k]; s != nil && s.Bytes > 0 {
			c += cpu(s)
			bytes += s.Bytes
		}
	}
	if bytes == 0 {
		return 0
	}
	return c / (float64(bytes) / (1 << 30))
}

func measureRound(ctx context.Context, c config, name string, b broker, r, pos int) measurement {
	m := measurement{Round: r, Position: pos, Steps: map[string]*step{}}
	fail := func(what string, err error) {
		progress("%s round %d: %s failed: %v", name, r, what, err)
		m.Errors = append(m.Errors, what+": "+err.Error())
	}
	if c.dropCaches {
		if err := dropCaches(); err != nil {
			fail("drop caches", err)
		}
	}
	m.LoadAvg = loadAvg()
	m.LoadAvg1m = loadAvg1m()
	defer func() {
		m.LoadAvgEnd = loadAvg1m()
		if err := b.stop(); err != nil {
			fail("stop", err)
		}
	}()
	progress("%s round %d/%d: cold start (load %s)", name, r, c.rounds, m.LoadAvg)
	cold, total, err := b.start(ctx, r)
	if err != nil {
		fail("cold start", err)
		return m
	}
	m.ColdStartMs = ms(cold)
	progress("%s round %d: cold start %.0f ms (incl. start script %.0f ms)", name, r, ms(cold), ms(total))
	pid, err := b.pid()
	if err != nil {
		fail("broker pid", err)
		return m
	}
	addr := b.addr()
	part := strconv.Itoa(c.partitions)
	size := strconv.Itoa(c.recordSize)
	n := c.records(c.mb)

	// run measures one client run and the broker's CPU across it.
	run := func(key string, client func() (*step, error)) *step {
		if ctx.Err() != nil {
			return nil
		}
		u0, s0, err := cpuSplit(pid)
		if err != nil {
			fail(key, err)
			return nil
		}
		s, err := client()
		if err != nil {
			fail(key, err)
			return nil
		}
		u1, s1, err := cpuSplit(pid)
		if err != nil {
			fail(key, err)
			return nil
		}
		s.BrokerCPU, s.BrokerSys = (u1-u0)+(s1-s0), s1-s0
		m.Steps[key] = s
		progress("%s round %d: %-16s %7.1f MB/s  p99 %7.2f ms  broker %.2f CPU-s/GB (system %.2f)  client %.1f CPU-s",
			name, r, key, s.MBs, s.P99Ms, s.cpuPerGB(), s.sysPerGB(), s.ClientCPU)
		return s
	}

	if c.warmupMB > 0 {
		// Produce and consume, the latter in a group: the JIT has seen both
		// paths and __consumer_offsets exists before consumer-perf-test
		// joins its group, on both brokers alike.
		progress("%s round %d: warm-up, produce and consume %d MB (not measured)", name, r, c.warmupMB)
		wt, wn := fmt.Sprintf("bench-warmup-%d", r), strconv.Itoa(c.records(c.warmupMB))
		if _, err := weirBench(ctx, c, "produce", "-b", addr, "--topic", wt, "--records", wn,
			"--record-size", size, "--partitions", part); err != nil {
			fail("warm-up produce", err)
		} else if _, err := weirBench(ctx, c, "consume", "-b", addr, "--topic", wt, "--records", wn,
			"--group", "bench-warmup"); err != nil {
			fail("warm-up consume", err)
		}
	}

	topic := fmt.Sprintf("bench-franz-%d", r)
	prod := run(stepProduce, func() (*step, error) {
		return weirBench(ctx, c, "produce", "-b", addr, "--topic", topic, "--records", strconv.Itoa(n),
			"--record-size", size, "--partitions", part)
	})
	if prod != nil {
		run(stepConsume, func() (*step, error) {
			return weirBench(ctx, c, "consume", "-b", addr, "--topic", topic, "--records", strconv.Itoa(n))
		})
	}
	if c.java {
		jt := fmt.Sprintf("bench-java-%d", r)
		if err := createTopic(ctx, c, addr, jt); err != nil {
			fail(stepPerfProduce, err)
		} else if run(stepPerfProduce, func() (*step, error) { return javaProduce(ctx, c, addr, jt, n, -1) }) != nil {
			run(stepPerfConsume, func() (*step, error) { return javaConsume(ctx, c, addr, jt, n) })
		}
	}

	latN := strconv.Itoa(c.latencyRate * c.latencySecs)
	rate := strconv.Itoa(c.latencyRate)
	run(stepLatency, func() (*step, error) {
		return weirBench(ctx, c, "produce", "-b", addr, "--topic", fmt.Sprintf("bench-lat-%d", r), "--records", latN,
			"--record-size", size, "--partitions", part, "--throughput", rate, "--warmup", "2s")
	})
	run(stepLatencyLinger, func() (*step, error) {
		return weirBench(ctx, c, "produce", "-b", addr, "--topic", fmt.Sprintf("bench-lat0-%d", r), "--records", latN,
			"--record-size", size, "--partitions", part, "--throughput", rate, "--warmup", "2s", "--linger", "0s")
	})
	if c.java {
		jt := fmt.Sprintf("bench-java-lat-%d", r)
		if err := createTopic(ctx, c, addr, jt); err != nil {
			fail(stepPerfLatency, err)
		} else {
			run(stepPerfLatency, func() (*step, error) {
				return javaProduce(ctx, c, addr, jt, c.latencyRate*c.latencySecs, c.latencyRate)
			})
		}
	}

	if rss, err := vmHWM(pid); err != nil {
		fail("peak RSS", err)
	} else {
		m.PeakRSSMB = rss
		progress("%s round %d: peak RSS %.0f MB, broker %.2f CPU-s/GB over the throughput runs", name, r, rss, m.cpuPerGB())
	}
	return m
}

// durable is one round of the durable-mode comparison: weir serve --fsync
// under many concurrent acks=all producers against what the disk does for
// one sequential writer that syncs once, and against the same producers
// and weir without --fsync (the page cache): what the clients and the
// broker reach on this machine when no fsync is waited for. On 2 CPUs the
// 16 franz-go producers alone cost about 6 CPU-s/GB, so the page-cache
// run, not the disk, is the ceiling of the fsync run; the CPU figures say
// where the time went.
type durable struct {
	Round      int     `json:"round"`
	LoadAvg1m  float64 `json:"loadavg_1m_at_start"`
	DDMBs      float64 `json:"dd_fdatasync_mb_per_sec"`
	FsyncMBs   float64 `json:"weir_fsync_mb_per_sec"`
	FsyncP99Ms float64 `json:"weir_fsync_p99_ms"`
	// PageCacheMBs is the same producers against weir without --fsync.
	PageCacheMBs float64 `json:"weir_page_cache_mb_per_sec"`
	// Broker and client CPU-seconds per GB of the --fsync run.
	FsyncBrokerCPUPerGB float64  `json:"weir_fsync_broker_cpu_seconds_per_gb"`
	FsyncClientCPUPerGB float64  `json:"weir_fsync_client_cpu_seconds_per_gb"`
	FsyncPeakRSSMB      float64  `json:"weir_fsync_peak_rss_mb"`
	Producers           int      `json:"producers"`
	Errors              []string `json:"errors,omitempty"`
}

func measureDurable(ctx context.Context, c config, r int) durable {
	d := durable{Round: r, Producers: c.fsyncProds}
	fail := func(what string, err error) {
		progress("durable round %d: %s failed: %v", r, what, err)
		d.Errors = append(d.Errors, what+": "+err.Error())
	}
	if c.dropCaches {
		if err := dropCaches(); err != nil {
			fail("drop caches", err)
		}
	}
	d.LoadAvg1m = loadAvg1m()
	runDD := func() {
		mbs, err := ddFdatasync(ctx, c, c.fsyncMB)
		if err != nil {
			fail("dd", err)
			return
		}
		d.DDMBs = mbs
		progress("durable round %d: dd bs=1M conv=fdatasync %d MB: %.1f MB/s", r, c.fsyncMB, mbs)
	}
	produce := func(fsync bool) {
		extra, tag, what := []string{"--fsync"}, "fsync", "weir serve --fsync"
		if !fsync {
			extra, tag, what = nil, "pagecache", "weir serve (page cache)"
		}
		w := &weirBroker{c: c, addr_: c.weirAddr, extra: extra, tag: tag}
		defer w.stop()
		if _, _, err := w.start(ctx, r); err != nil {
			fail(what, err)
			return
		}
		pid, err := w.pid()
		if err != nil {
			fail(what, err)
			return
		}
		cpu0, _ := cpuSeconds(pid)
		s, err := weirBench(ctx, c, "produce", "-b", c.weirAddr, "--topic", fmt.Sprintf("bench-%s-%d", tag, r),
			"--records", strconv.Itoa(c.records(c.fsyncMB)), "--record-size", strconv.Itoa(c.recordSize),
			"--partitions", strconv.Itoa(c.partitions), "--producers", strconv.Itoa(c.fsyncProds))
		if err != nil {
			fail(what+" produce", err)
			return
		}
		cpu1, _ := cpuSeconds(pid)
		if !fsync {
			d.PageCacheMBs = s.MBs
			progress("durable round %d: %s, %d producers: %.1f MB/s", r, what, c.fsyncProds, s.MBs)
			return
		}
		d.FsyncMBs, d.FsyncP99Ms = s.MBs, s.P99Ms
		if rss, err := vmHWM(pid); err == nil {
			d.FsyncPeakRSSMB = rss
		}
		if gb := float64(s.Bytes) / (1 << 30); gb > 0 {
			d.FsyncBrokerCPUPerGB, d.FsyncClientCPUPerGB = (cpu1-cpu0)/gb, s.ClientCPU/gb
		}
		progress("durable round %d: %s, %d producers: %.1f MB/s, p99 %.1f ms; CPU-s/GB broker %.2f, clients %.2f; peak RSS %.0f MB",
			r, what, c.fsyncProds, s.MBs, s.P99Ms, d.FsyncBrokerCPUPerGB, d.FsyncClientCPUPerGB, d.FsyncPeakRSSMB)
	}
	runWeir := func() {
		produce(true)
		produce(false)
	}
	if r%2 == 1 {
		runDD()
		runWeir()
	} else {
		runWeir()
		runDD()
	}
	return d
}

// floor is what the kernel charges one thread to write into a page cache
// that was just dropped: the part of every broker's produce CPU that no
// broker can avoid (on a VM that hands freed memory back to its host it is
// far above the cost of the copy alone).
type floor struct {
	Round    int     `json:"round"`
	CPUPerGB float64 `json:"cpu_seconds_per_gb"`
	MBs      float64 `json:"mb_per_sec"`
}

func measureFloor(c config, r int) floor {
	f := floor{Round: r}
	if c.dropCaches {
		if err := dropCaches(); err != nil {
			return f
		}
	}
	cpu, secs, err := writeFresh(filepath.Join(c.workDir, "floor.tmp"), 256<<20)
	if err != nil {
		progress("page-cache floor: %v", err)
		return f
	}
	f.CPUPerGB = cpu / 0.25
	f.MBs = 256 / secs
	progress("round %d: writing 256 MB into the dropped page cache: %.2f CPU-s/GB (%.0f MB/s)", r, f.CPUPerGB, f.MBs)
	return f
}

// writeFresh writes n random bytes to a new file in 1 MiB writes, on one
// locked OS thread, and returns that thread's CPU-seconds and the wall time.
func writeFresh(path string, n int) (cpu, secs float64, err error) {
	src := make([]byte, 64<<20)
	rand.Read(src)
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	t0 := time.Now()
	for off := 0; off < n; off += 1 << 20 {
		o := off % len(src)
		if _, err := f.Write(src[o : o+1<<20]); err != nil {
			return 0, 0, err
		}
	}
	return threadCPU() - c0, time.Since(t0).Seconds(), nil
}

// threadCPU is the calling thread's CPU-seconds so far, from
// CLOCK_THREAD_CPUTIME_ID (nanoseconds, unlike the tick-based rusage).
func threadCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Nano()) / 1e9
}
