package main

import (
	"math"
	"os"
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

func TestParseJavaPerf(t *testing.T) {
	line := "300000 records sent, 97370.983447 records/sec (95.09 MB/sec), 240.43 ms avg latency, 547.00 ms max latency, 235 ms 50th, 431 ms 95th, 502 ms 99th, 542 ms 99.9th."
	mbs, p99, err := parseJavaPerf(line)
	if err != nil || mbs != 95.09 || p99 != 502 {
		t.Fatalf("parseJavaPerf = %v, %v, %v", mbs, p99, err)
	}
	if _, _, err := parseJavaPerf("12345 records sent, 2469.0 records/sec (2.41 MB/sec), 1.2 ms avg latency, 30.0 ms max latency."); err == nil {
		t.Error("a progress line is not a summary line")
	}
}

func TestSummarizeRatios(t *testing.T) {
	rep := &report{Runs: map[string][]measurement{
		"weir":  {{ProduceMBs: 300, PeakRSSMB: 50}, {ProduceMBs: 200, PeakRSSMB: 60}, {ProduceMBs: 250, PeakRSSMB: 40}},
		"kafka": {{ProduceMBs: 100, PeakRSSMB: 800}, {ProduceMBs: 120, PeakRSSMB: 0}, {ProduceMBs: 110, PeakRSSMB: 400}},
	}}
	summarize(rep)
	if got := rep.Ratios["produce_mb_per_sec"]; math.Abs(got-250.0/110) > 1e-9 {
		t.Errorf("produce ratio = %v", got)
	}
	if got := rep.Ratios["peak_rss_mb"]; got != 50.0/600 {
		t.Errorf("RSS ratio = %v", got)
	}
	if _, ok := rep.Ratios["cold_start_ms"]; ok {
		t.Error("ratio for a metric nobody measured")
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
}
