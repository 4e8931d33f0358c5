package conformance

import (
	"fmt"
	"testing"
	"time"
)

// Result is one throughput measurement: records carried end to end (into
// the external system for a sink, into the topic for a source) and the
// bytes of their keys and values as they sit in Kafka.
type Result struct {
	Records int
	Bytes   int64
	Elapsed time.Duration
}

// RecordsPerSec is the record rate.
func (r Result) RecordsPerSec() float64 { return float64(r.Records) / r.Elapsed.Seconds() }

// MBPerSec is the rate in MB (10^6 bytes) of Kafka keys and values.
func (r Result) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%d records, %.1f MB in %s: %.0f records/s, %.1f MB/s",
		r.Records, float64(r.Bytes)/1e6, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec(), r.MBPerSec())
}

// Throughput is the kit's hook for make bench (not a test): it starts one
// weir serve, runs h's connector, puts n records in at once and measures
// until the last has arrived where the harness looks. The clock starts
// with the first write, after the connector is RUNNING, so it measures
// the pipeline rather than process start-up.
func Throughput(tb testing.TB, h Harness, n int, o Options) Result {
	tb.Helper()
	o = o.withDefaults()
	o.Timeout = max(o.Timeout, 5*time.Minute)
	k := &kit{h: h, o: o}
	switch hh := h.(type) {
	case SourceHarness:
		k.src = hh
	case SinkHarness:
		k.sink = hh
	default:
		tb.Fatalf("conformance: %T is neither a SourceHarness nor a SinkHarness", h)
	}
	e := k.newEnv(tb)
	e.stream("throughput", nil)
	e.observe(false)
	e.create()
	start := time.Now()
	const chunk = 10000
	for i := 0; i < n; i += chunk {
		e.write(i, min(i+chunk, n))
	}
	e.waitAll(0, n, "Throughput")
	el := time.Since(start)
	// The figure is taken: the observer (e.bytes is final once a source's
	// reader stopped; a sink's keeps polling the external system) and the
	// worker stop now, not when the benchmark ends, so they do not load
	// the machine under the next figure of the same benchmark.
	e.stopObs()
	for _, w := range e.workers {
		w.kill()
	}
	return Result{Records: n, Bytes: e.bytes, Elapsed: el}
}
