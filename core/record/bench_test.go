package record

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the calling thread's CPU time. On a machine shared with
// other work, wall time per op swings several-fold; the CPU the loop
// itself spent does not (benchmarks report it as cpu-ns/op).
func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkCheckBatch is the broker's validation of one produced batch
// (issue 16: varint decoding was ~16% of the broker's CPU under franz-go's
// defaults): a 1 MiB batch of 1 KiB records, what franz-go sends at its
// defaults, one of 100-byte records, where per-record costs dominate, and
// compressed ones (MB/s counts the batch as sent, compressed). Steady
// state allocates nothing per batch, whatever the codec.
//
//	go test -run '^$' -bench CheckBatch -count 10 ./core/record/ | benchstat -
//
// cpu-ns/op is the figure to compare on a busy machine.
func BenchmarkCheckBatch(b *testing.B) {
	for _, bc := range []struct {
		size  int
		codec Codec
	}{{100, CodecNone}, {1024, CodecNone}, {1024, CodecSnappy}, {1024, CodecLZ4}, {1024, CodecZstd}, {1024, CodecGzip}} {
		size := bc.size
		b.Run(fmt.Sprintf("record=%dB/%s", size, bc.codec), func(b *testing.B) {
			val := make([]byte, size)
			for i := range val {
				val[i] = byte(i * 7 / 64) // compressible, as most payloads are
			}
			var recs []Record
			for n := 0; n*(size+10) < 1<<20; n++ {
				recs = append(recs, Record{Value: val, Timestamp: now - int64(n)})
			}
			pb := Plain(recs...)
			pb.Codec = bc.codec
			batch, err := pb.AppendTo(nil)
			if err != nil {
				b.Fatal(err)
			}
			o := opts()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			cpu := threadCPU()
			for range b.N {
				if _, err := CheckBatch(batch, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(threadCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
