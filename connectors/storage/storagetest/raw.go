package storagetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// RawFiles is how many files a raw row writes per round (about 200 MB,
// as much as the sink rows move).
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

// RawBench is the physical limit of a store next to the sink's rows:
// RawFiles files of body written by write (name is the file's number),
// straight from memory, once one at a time and once BenchParts at a
// time (the sink's task stores up to that many files at once, one per
// partition). It reports the faster of the two as MB/s, so the limit is
// never one the sink's own concurrency beats by construction.
func RawBench(b *testing.B, body []byte, write func(ctx context.Context, name int, body []byte) error) {
	ctx := context.Background()
	run := func(conc int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, RawFiles)
		next := make(chan int, RawFiles)
		for i := range RawFiles {
			next <- i
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
	var seq, par time.Duration
	for b.Loop() {
		seq, par = run(1), run(BenchParts)
	}
	mb := float64(RawFiles*len(body)) / 1e6
	rate := func(d time.Duration) float64 { return mb / d.Seconds() }
	b.ReportMetric(max(rate(seq), rate(par)), "MB/s")
	b.Logf("raw: %d files of %.2f MB: one at a time %.1f MB/s, %d at a time %.1f MB/s", RawFiles, float64(len(body))/1e6, rate(seq), BenchParts, rate(par))
}
