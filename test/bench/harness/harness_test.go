package main

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMedianIgnoresMissingRuns(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 0, 1, 2}, 2}, // 0 = not measured
		{[]float64{1, 2}, 1.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median([]float64{0, 0})) {
		t.Error("median of nothing measured should be NaN")
	}
}

func TestParseJavaProduce(t *testing.T) {
	line := "512000 records sent, 97370.983447 records/sec (95.09 MB/sec), 240.43 ms avg latency, 547.00 ms max latency, 235 ms 50th, 431 ms 95th, 502 ms 99th, 542 ms 99.9th."
	s, err := parseJavaProduce(line, 1024)
	if err != nil || s.MBs != 95.09 || s.P99Ms != 502 || s.P50Ms != 235 || s.P999Ms != 542 || s.Bytes != 512000*1024 {
		t.Fatalf("parseJavaProduce = %+v, %v", s, err)
	}
	if _, err := parseJavaProduce("12345 records sent, 2469.0 records/sec (2.41 MB/sec), 1.2 ms avg latency, 30.0 ms max latency.", 1024); err == nil {
		t.Error("a progress line is not a summary line")
	}
}

func TestParseJavaConsume(t *testing.T) {
	line := "2026-12-01 20:41:07:435, 2026-12-01 20:41:12:533, 500.0000, 98.0777, 512000, 100431.5418, 3016, 2082, 240.1537, 245917.3871"
	s, n, err := parseJavaConsume(line)
	if err != nil || n != 512000 || s.MBs != 98.0777 || s.FetchMBs != 240.1537 || s.Bytes != 500<<20 {
		t.Fatalf("parseJavaConsume = %+v, %d, %v", s, n, err)
	}
	if _, _, err := parseJavaConsume("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"); err == nil {
		t.Error("the header is not a result line")
	}
}

func TestParseDD(t *testing.T) {
	out := "200+0 records in\n200+0 records out\n209715200 bytes (210 MB, 200 MiB) copied, 1.25 s, 168 MB/s\n"
	got, err := parseDD(out)
	if err != nil || math.Abs(got-160) > 1e-9 {
		t.Fatalf("parseDD = %v, %v", got, err)
	}
	if _, err := parseDD("dd: failed to open"); err == nil {
		t.Error("no summary should be an error")
	}
}

func TestCPUPerGB(t *testing.T) {
	m := measurement{Steps: map[string]*step{
		stepProduce:     {Bytes: 1 << 30, BrokerCPU: 1, BrokerSys: 0.75},
		stepConsume:     {Bytes: 1 << 30, BrokerCPU: 0.5},
		stepLatency:     {Bytes: 1 << 30, BrokerCPU: 100}, // not a throughput run
		stepPerfProduce: {Bytes: 2 << 30, BrokerCPU: 2.5},
	}}
	if got := m.Steps[stepProduce].cpuPerGB(); got != 1 {
		t.Errorf("produce CPU/GB = %v", got)
	}
	if got := m.cpuPerGB(); got != 1 {
		t.Errorf("overall CPU/GB = %v, want (1+0.5+2.5)/4", got)
	}
	if got := m.sysPerGB(); got != 0.75/4 {
		t.Errorf("overall system CPU/GB = %v", got)
	}
}

func TestSummarizeAndPrint(t *testing.T) {
	run := func(mbs, rss float64) measurement {
		return measurement{Steps: map[string]*step{stepProduce: {MBs: mbs, Bytes: 1 << 30, BrokerCPU: 1}}, PeakRSSMB: rss}
	}
	rep := &report{Host: map[string]string{}, Runs: map[string][]measurement{
		"weir":  {run(300, 50), run(200, 60), run(250, 40)},
		"kafka": {run(100, 800), run(120, 0), run(110, 400)},
	}, Durable: []durable{{DDMBs: 100, FsyncMBs: 80, PageCacheMBs: 80}, {DDMBs: 120, FsyncMBs: 70, PageCacheMBs: 100}}}
	rep.finish()
	if got := rep.Ratios["produce_mbs"]; math.Abs(got-250.0/110) > 1e-9 {
		t.Errorf("produce ratio = %v", got)
	}
	if got := rep.Ratios["peak_rss_mb"]; got != 50.0/600 {
		t.Errorf("RSS ratio = %v", got)
	}
	if _, ok := rep.Ratios["cold_start_ms"]; ok {
		t.Error("ratio for a metric nobody measured")
	}
	// Each round against its own dd (80/100, 70/120), not the medians
	// against each other (75/110).
	if got := rep.Ratios["fsync_over_dd"]; math.Abs(got-(0.8+70.0/120)/2) > 1e-9 {
		t.Errorf("fsync/dd = %v", got)
	}
	var b bytes.Buffer
	rep.print(&b)
	for _, want := range []string{"produce, franz-go defaults", "2.27", "weir --fsync", "0.69 of dd", "MISS", "page cache 90.0", "0.85 of it"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printed table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestProcStats(t *testing.T) {
	start, err := processStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if age := time.Since(start); age < -time.Second || age > time.Hour {
		t.Errorf("this process started %v ago?", age)
	}
	if mb, err := vmHWM(os.Getpid()); err != nil || mb <= 0 {
		t.Errorf("vmHWM = %v, %v", mb, err)
	}
	c0, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for t0 := time.Now(); time.Since(t0) < 300*time.Millisecond; {
	}
	if c1, _ := cpuSeconds(os.Getpid()); c1-c0 < 0.01 {
		t.Errorf("300 ms of spinning cost %.2f CPU-s", c1-c0)
	}
}

func TestWriteFresh(t *testing.T) {
	cpu, secs, err := writeFresh(t.TempDir()+"/f", 8<<20)
	if err != nil || cpu <= 0 || secs <= 0 {
		t.Fatalf("writeFresh = %v, %v, %v", cpu, secs, err)
	}
}
