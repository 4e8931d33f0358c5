package storagetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/internal/testutil"
)

// RawFiles is how many files a raw row writes per pass (about 200 MB).
// With the warm-up and RawReps passes of each mode a row stores about
// 1.4 GB of new files, as much as a sink row (BenchRecords) does: every
// file of a row gets a name of its own (RawBench), so the store keeps
// taking new space, as it does under the sink.
const RawFiles = 40

// RawBody is one file of the JSON throughput rows as the sink writes it:
// the JSON lines of BenchFlush of the kit's 1 KiB records (Kit{Pad:
// Padding}), so the raw rows move the same bytes in files of the same
// size.
func RawBody() []byte {
	k := &Kit{Pad: Padding}
	var out []byte
	for i := range BenchFlush {
		b, err := json.Marshal(k.Record(i).Value)
		if err != nil {
			panic(err)
		}
		out = append(append(out, b...), '\n')
	}
	return out
}

// RawReps is how many times a raw row writes its files in each mode; the
// median counts. A single pass of HDFS's raw write ranged from 94 to 324
// MB/s between runs on the shared machine, and the ratios of every row
// of its round were divided by it.
const RawReps = 3

// RawBench is the physical limit of a store next to the sink's rows:
// RawFiles files of body written by write (name is the file's number
// in the row, never given twice: a store that rewrote the same files
// would reuse the memory they had just freed, which the sink never does),
// straight from memory, once one at a time and once BenchParts at a
// time (the sink's task stores up to that many files at once, one per
// partition). A warm-up pass (BenchParts files, not counted) comes first
// (connections, the servers' first allocations), then RawReps passes of
// each mode, alternating; it reports the faster of the two modes' median
// MB/s, so the limit is neither one pass's noise nor one the sink's own
// concurrency beats by construction.
func RawBench(b *testing.B, body []byte, write func(ctx context.Context, name int, body []byte) error) {
	ctx := context.Background()
	named := 0 // the files named so far in the row
	run := func(files, conc int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, files)
		next := make(chan int, files)
		for range files {
			next <- named
			named++
		}
		close(next)
		for range conc {
			wg.Go(func() {
				for i := range next {
					if err := write(ctx, i, body); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	mb := float64(RawFiles*len(body)) / 1e6
	rate := func(d time.Duration) float64 { return mb / d.Seconds() }
	var seq, par []float64
	for b.Loop() {
		run(BenchParts, BenchParts)
		seq, par = seq[:0], par[:0]
		for range RawReps {
			seq = append(seq, rate(run(RawFiles, 1)))
			par = append(par, rate(run(RawFiles, BenchParts)))
		}
	}
	ms, mp := testutil.Median(seq), testutil.Median(par)
	b.ReportMetric(max(ms, mp), "MB/s")
	b.Logf("raw: %d files of %.2f MB, medians of %d: one at a time %.1f MB/s %.1f, %d at a time %.1f MB/s %.1f",
		RawFiles, float64(len(body))/1e6, RawReps, ms, seq, BenchParts, mp, par)
}
