package log

import (
	crand "crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks (MB/s is per op's bytes):
//
//	go test -run '^$' -bench . -benchtime 2s ./core/log/
//	go test -run '^$' -bench Recovery -benchtime 3x ./core/log/
//
// Compare the fsync benchmark with `dd if=/dev/zero of=<dir>/f bs=1M
// count=1024 conv=fdatasync` on the same disk.

const benchBatch = 16 << 10

// batch16K is one 16 KiB batch of 16 records of ~1 KiB.
func batch16K(b testing.TB) []byte {
	var rs []rec
	val := make([]byte, 1000)
	for i := range val {
		val[i] = byte(i * 7)
	}
	for len(rs) < 16 {
		rs = append(rs, rec{key: []byte("key"), value: val, ts: time.Now().UnixMilli()})
	}
	out := buildBatch(b, batchSpec{records: rs})
	// Pad the last value so the batch is exactly 16 KiB.
	pad := benchBatch - len(out)
	rs[15].value = make([]byte, len(val)+pad)
	out = buildBatch(b, batchSpec{records: rs})
	if len(out) != benchBatch {
		b.Fatalf("batch is %d bytes", len(out))
	}
	return out
}

func benchDir(b *testing.B) string {
	// Benchmarks must hit the real disk, not tmpfs; WEIR_BENCH_DIR picks it.
	if d := os.Getenv("WEIR_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkAppend16KiB appends without fsync, as Kafka's default. Old
// segments are deleted as it goes (retention) so the dirty page-cache
// working set stays under 1 GiB: this measures the log, not how fast the
// kernel can write back gigabytes; see ...Sustained for that.
func BenchmarkAppend16KiB(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 128 << 20
	l := mustOpen(b, benchDir(b), cfg, Options{Logger: discardLogger()})
	defer l.Close()
	buf := batch16K(b)
	b.SetBytes(benchBatch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(buf, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		if (i+1)%(32<<10) == 0 { // every 512 MiB keep the newest 512 MiB
			if _, err := l.DeleteRecordsBefore(l.EndOffset() - 16*(32<<10)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
}

// BenchmarkAppend16KiBSustained appends without fsync and keeps everything:
// past a few GiB the kernel throttles writers to the disk's write-back rate.
func BenchmarkAppend16KiBSustained(b *testing.B) {
	l := mustOpen(b, benchDir(b), DefaultConfig(), Options{Logger: discardLogger()})
	defer l.Close()
	buf := batch16K(b)
	b.SetBytes(benchBatch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(buf, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func BenchmarkAppend16KiBFsyncPerMiB(b *testing.B) {
	l := mustOpen(b, benchDir(b), DefaultConfig(), Options{Logger: discardLogger()})
	defer l.Close()
	buf := batch16K(b)
	b.SetBytes(benchBatch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(buf, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		if (i+1)%64 == 0 {
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// fillLog writes size bytes of 16 KiB batches.
func fillLog(b *testing.B, l *Log, size int64) {
	buf := batch16K(b)
	for n := int64(0); n < size; n += benchBatch {
		if _, err := l.Append(buf, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadSequential reads a 256 MiB log front to back in 1 MiB
// fetches, sending each with WriteTo (sendfile) over a loopback TCP
// connection whose other end discards, as a fetch to a consumer would.
// (/dev/null would be no test: sendfile to it copies nothing.)
func BenchmarkReadSequential(b *testing.B) {
	l := mustOpen(b, benchDir(b), DefaultConfig(), Options{Logger: discardLogger()})
	defer l.Close()
	const size = 256 << 20
	fillLog(b, l, size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var n int64
		for off := int64(0); off < l.EndOffset(); {
			r, err := l.Read(off, 1<<20, -1)
			if err != nil {
				b.Fatal(err)
			}
			m, err := r.WriteTo(conn)
			r.Release()
			if err != nil {
				b.Fatal(err)
			}
			n += m
			off += 16 * (m / benchBatch) // 16 records per batch
		}
		if n != size {
			b.Fatalf("read %d bytes", n)
		}
	}
}

// BenchmarkReadSequentialCopy is the same through Bytes (a copy into
// memory), the path for non-socket readers.
func BenchmarkReadSequentialCopy(b *testing.B) {
	l := mustOpen(b, benchDir(b), DefaultConfig(), Options{Logger: discardLogger()})
	defer l.Close()
	const size = 256 << 20
	fillLog(b, l, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := int64(0); off < l.EndOffset(); {
			r, err := l.Read(off, 1<<20, -1)
			if err != nil {
				b.Fatal(err)
			}
			buf, err := r.Bytes()
			r.Release()
			if err != nil {
				b.Fatal(err)
			}
			off += 16 * int64(len(buf)/benchBatch)
		}
	}
}

// BenchmarkRecovery1GiB measures Open of a 1 GiB partition after kill -9
// with no recovery point (the worst case: every byte CRC-checked, indexes
// and producer state rebuilt). The data is in the page cache, as after a
// process crash.
func BenchmarkRecovery1GiB(b *testing.B) {
	dir := benchDir(b)
	cfg := DefaultConfig()
	l := mustOpen(b, dir, cfg, Options{Logger: discardLogger()})
	fillLog(b, l, 1<<30)
	crash(l)
	b.SetBytes(1 << 30)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(filepath.Join(dir, metaCheckpointName))
		b.StartTimer()
		l, err := Open(dir, cfg, Options{Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if l.EndOffset() != 16*(1<<30)/benchBatch {
			b.Fatalf("recovered end %d", l.EndOffset())
		}
		crash(l)
		b.StartTimer()
	}
}

// ddFdatasync runs `dd if=/dev/zero of=F bs=1M count=512 conv=fdatasync`
// in dir three times and returns the median bandwidth in MB/s (10^6
// bytes, as dd prints); once per benchmark process.
func ddFdatasync(b *testing.B, dir string) float64 {
	ddOnce.Do(func() {
		f := filepath.Join(dir, "dd.out")
		defer os.Remove(f)
		var runs []float64
		for i := 0; i < 3; i++ {
			start := time.Now()
			out, err := exec.Command("dd", "if=/dev/zero", "of="+f, "bs=1M", "count=512", "conv=fdatasync").CombinedOutput()
			if err != nil {
				b.Fatalf("dd: %v: %s", err, out)
			}
			runs = append(runs, float64(512<<20)/time.Since(start).Seconds()/1e6)
			os.Remove(f)
		}
		sort.Float64s(runs)
		ddMBs = runs[1]
		b.Logf("dd bs=1M count=512 conv=fdatasync: %.0f %.0f %.0f MB/s", runs[0], runs[1], runs[2])
	})
	return ddMBs
}

var (
	ddOnce sync.Once
	ddMBs  float64
)

// syncOnAppendLogs creates n SyncOnAppend logs ("bench"-0 … n-1) in a
// Manager on dir, closed when b ends; segmentBytes 0 keeps the default.
func syncOnAppendLogs(b *testing.B, dir string, n int, segmentBytes int64) []*Log {
	b.Helper()
	m, err := NewManager(dir, Options{Logger: discardLogger(), MaintenanceInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	cfg := DefaultConfig()
	cfg.SyncOnAppend = true
	if segmentBytes > 0 {
		cfg.SegmentBytes = segmentBytes
	}
	var logs []*Log
	for p := 0; p < n; p++ {
		l, err := m.Create("bench", int32(p), cfg)
		if err != nil {
			b.Fatal(err)
		}
		logs = append(logs, l)
	}
	return logs
}

// BenchmarkGroupCommit (issue 16, durable mode): 16 concurrent appenders
// with SyncOnAppend (weir serve --fsync), to one log (16 producers of one
// partition: rounds shared) and to 16 logs of one Manager (one producer
// each: concurrent commits), against dd with conv=fdatasync on the same
// disk in the same run. Each appender has one append outstanding, as a producer with one
// request in flight; a batch is 1 KiB (one record) or 64 KiB (what a
// producer's batch grows to while its previous request waits on the disk).
//
//	WEIR_BENCH_DIR=/var/tmp go test -run '^$' -bench GroupCommit -benchtime 5s ./core/log/
func BenchmarkGroupCommit(b *testing.B) {
	const appenders = 16
	for _, bs := range []int{1 << 10, 64 << 10} {
		for _, parts := range []int{1, appenders} {
			b.Run(fmt.Sprintf("batch=%dKiB/logs=%d", bs>>10, parts), func(b *testing.B) {
				dir := benchDir(b)
				logs := syncOnAppendLogs(b, dir, parts, 256<<20)
				val := make([]byte, bs-100)
				var rs []rec
				for n := 0; n < bs/(1<<10); n++ {
					rs = append(rs, rec{key: []byte("key"), value: val[:len(val)/(bs>>10)], ts: time.Now().UnixMilli()})
				}
				batch := buildBatch(b, batchSpec{records: rs})
				dd := ddFdatasync(b, dir) // before: its dirty pages must not slow the appends
				rounds := commitRounds(logs)
				var next atomic.Int64
				b.SetBytes(int64(len(batch)))
				b.SetParallelism((appenders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					l := logs[int(next.Add(1))%parts]
					buf := append([]byte(nil), batch...)
					for pb.Next() {
						if _, err := l.Append(buf, AppendOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				elapsed := time.Since(start)
				b.StopTimer()
				mbs := float64(b.N) * float64(len(batch)) / elapsed.Seconds() / 1e6
				r := commitRounds(logs) - rounds
				b.ReportMetric(mbs/dd*100, "%dd")
				b.ReportMetric(float64(b.N)/float64(max(r, 1)), "appends/round")
				b.Logf("group commit %.1f MB/s, dd bs=1M conv=fdatasync %.1f MB/s: %.0f%% (%d appends in %d rounds)", mbs, dd, mbs/dd*100, b.N, r)
			})
		}
	}
}

// BenchmarkGroupCommitBrokerShape is the durable row of make bench without
// the clients and the network: 16 producers, each appending a batch to
// every one of 6 logs of a Manager (AppendNoWait) and then waiting for
// all six group commits together (AwaitDurable), as the broker serves a
// --fsync produce request; batches of 1 KiB records with random values
// (nothing a disk could compress), 256 KiB or ~1 MiB (what franz-go's
// batches reach under that load). Against dd conv=fdatasync on the same
// disk in the same run: this is what the log can do, so a make bench
// figure below it is the clients' and the broker's CPU, not the fsyncs.
//
//	WEIR_BENCH_DIR=/var/tmp go test -run '^$' -bench GroupCommitBrokerShape -benchtime 5x ./core/log/
func BenchmarkGroupCommitBrokerShape(b *testing.B) {
	const producers, parts = 16, 6
	for _, bs := range []int{256 << 10, 1000 << 10} {
		b.Run(fmt.Sprintf("batch=%dKiB", bs>>10), func(b *testing.B) {
			dir := benchDir(b)
			logs := syncOnAppendLogs(b, dir, parts, 0)
			var batches [][]byte
			for k := 0; k < 4; k++ {
				var rs []rec
				for n := 0; n < bs>>10; n++ {
					v := make([]byte, 1000)
					crand.Read(v)
					rs = append(rs, rec{key: []byte("key"), value: v, ts: time.Now().UnixMilli()})
				}
				batches = append(batches, buildBatch(b, batchSpec{records: rs}))
			}
			dd := ddFdatasync(b, dir)
			rounds := commitRounds(logs)
			b.SetBytes(int64(parts * len(batches[0])))
			b.ResetTimer()
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for pr := 0; pr < producers; pr++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var bufs [][]byte
					for _, bt := range batches {
						bufs = append(bufs, append([]byte(nil), bt...))
					}
					ends := make([]int64, parts)
					var w sync.WaitGroup
					for i := 0; next.Add(1) <= int64(b.N); i++ {
						for p, l := range logs {
							res, pending, err := l.AppendNoWait(bufs[(i+p)%len(bufs)], AppendOptions{})
							if err != nil {
								b.Error(err)
								return
							}
							ends[p] = -1
							if pending {
								ends[p] = res.LogEndOffset
							}
						}
						for p, l := range logs {
							if ends[p] >= 0 {
								w.Add(1)
								go func() {
									defer w.Done()
									if err := l.AwaitDurable(ends[p]); err != nil {
										b.Error(err)
									}
								}()
							}
						}
						w.Wait()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			mbs := float64(b.N) * float64(parts*len(batches[0])) / elapsed.Seconds() / 1e6
			r := commitRounds(logs) - rounds
			b.ReportMetric(mbs/dd*100, "%dd")
			b.ReportMetric(float64(b.N*parts)/float64(max(r, 1)), "appends/round")
			b.Logf("%d producers x %d logs: %.1f MB/s, dd bs=1M conv=fdatasync %.1f MB/s: %.0f%% (%d appends in %d rounds)", producers, parts, mbs, dd, mbs/dd*100, b.N*parts, r)
		})
	}
}
