package main

// weir bench: load generators in the spirit of kafka-producer-perf-test and
// kafka-consumer-perf-test, built on franz-go, so the same client can be
// pointed at weir and at Apache Kafka for a like-for-like comparison.
//
// Produce latency is measured per record from the moment it is handed to
// the client to the moment its acknowledgement arrives, as the Java tool
// does; at an unlimited rate it therefore includes time spent waiting for
// buffer space. MB means 2^20 bytes (as in the Java tools).
//
// Both commands run a franz-go client at franz-go's own defaults: a flag
// changes the client only when it is given on the command line. Every record
// carries different random bytes (a walk through a 64 MiB random pool), so
// the client's default snappy compression finds nothing to shrink and
// batches travel uncompressed, as they would with real, dense payloads; a
// single repeated payload would compress to almost nothing and measure a
// different thing.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

func newBenchCmd() *cobra.Command {
	var co clusterOpts
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and latency against any Kafka-compatible cluster",
		Example: `  weir bench produce --topic bench --records 1000000 --record-size 1024 --throughput -1 --acks all
  weir bench produce --topic bench --records 200000 --throughput 20000 --json
  weir bench consume --topic bench --records 1000000`,
	}
	co.register(cmd)
	cmd.AddCommand(newBenchProduceCmd(&co), newBenchConsumeCmd(&co))
	return cmd
}

// latencyStats are in milliseconds.
type latencyStats struct {
	Avg  float64 `json:"avg"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// benchResult is the --json output of both bench commands.
type benchResult struct {
	Kind          string        `json:"kind"`
	Topic         string        `json:"topic"`
	Records       int64         `json:"records"`
	Errors        int64         `json:"errors"`
	RecordSize    int           `json:"record_size,omitempty"`
	Bytes         int64         `json:"bytes"`
	Seconds       float64       `json:"seconds"`
	RecordsPerSec float64       `json:"records_per_sec"`
	MBPerSec      float64       `json:"mb_per_sec"`
	TargetRate    float64       `json:"target_rate,omitempty"`
	Producers     int           `json:"producers,omitempty"`
	Acks          string        `json:"acks,omitempty"`
	LatencyMs     *latencyStats `json:"latency_ms,omitempty"`
	FirstRecordMs float64       `json:"first_record_ms,omitempty"`
	FirstError    string        `json:"first_error,omitempty"`
}

// percentiles summarizes latencies given in microseconds; it sorts lat.
func percentiles(lat []uint32) *latencyStats {
	if len(lat) == 0 {
		return &latencyStats{}
	}
	slices.Sort(lat)
	var sum float64
	for _, l := range lat {
		sum += float64(l)
	}
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i]) / 1000
	}
	return &latencyStats{
		Avg: sum / float64(len(lat)) / 1000, P50: at(0.50), P95: at(0.95), P99: at(0.99), P999: at(0.999),
		Max: float64(lat[len(lat)-1]) / 1000,
	}
}

func newBenchProduceCmd(co *clusterOpts) *cobra.Command {
	var (
		ps          producerSettings
		topic       string
		records     int64
		size        int
		rate        float64
		producers   int
		partitions  int32
		maxBuffered int
		asJSON      bool
		every       time.Duration
		warmup      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce fixed-size records as fast as allowed and report throughput and acknowledged latency",
		Long: `Produce --records records of --record-size random bytes, at --throughput
records/s overall (-1: unlimited), from --producers independent clients, and
report records/s, MB/s and per-record acknowledgement latency (avg, p50, p95,
p99, p99.9, max; records sent during --warmup are left out of the latency
figures but not of the throughput). The topic is created with --partitions if it does not exist.
The client runs at franz-go's defaults: a flag changes it only when given.
Every record carries different random bytes, so compression cannot shrink
a repeated payload.
Progress goes to stderr every --progress-interval; with --json the final
result is one JSON object on stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			defer interruptible(cmd)()
			if topic == "" {
				return errors.New("--topic is required")
			}
			if records <= 0 || size < 0 || producers <= 0 {
				return errors.New("--records and --producers must be positive, --record-size not negative")
			}
			opts, err := ps.optsFor(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			opts = append(opts, kgo.DefaultProduceTopic(topic))
			if cmd.Flags().Changed("max-buffered-records") {
				opts = append(opts, kgo.MaxBufferedRecords(maxBuffered))
			}
			if err := ensureTopic(cmd.Context(), co, topic, partitions); err != nil {
				return err
			}
			res, err := benchProduce(cmd, co, opts, topic, records, size, rate, producers, every, warmup)
			if res == nil {
				return err
			}
			res.Acks = ps.acks
			if perr := printBench(cmd, res, asJSON); perr != nil {
				return perr
			}
			if err != nil {
				return err
			}
			if res.Errors > 0 {
				return fmt.Errorf("%d of %d records failed; first error: %s", res.Errors, records, res.FirstError)
			}
			return nil
		},
	}
	// Shown with franz-go's defaults, which apply until a flag is given.
	ps.register(cmd, "snappy")
	cmd.Flags().Lookup("compression").Usage += " (franz-go sends a batch uncompressed when compressing does not shrink it)"
	cmd.Flags().Lookup("linger").DefValue = "10ms"
	cmd.Flags().Lookup("batch-max-bytes").DefValue = "1000012"
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic to write (created if missing)")
	cmd.Flags().Int64VarP(&records, "records", "n", 1_000_000, "number of records to produce")
	cmd.Flags().IntVarP(&size, "record-size", "s", 1024, "value size in bytes")
	cmd.Flags().Float64Var(&rate, "throughput", -1, "target records/s over all producers (-1: unlimited)")
	cmd.Flags().IntVar(&producers, "producers", 1, "number of independent producer clients")
	cmd.Flags().Int32Var(&partitions, "partitions", 1, "partitions when creating the topic")
	cmd.Flags().IntVar(&maxBuffered, "max-buffered-records", 50_000, "records a producer may buffer before Produce blocks (franz-go's default)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	cmd.Flags().DurationVar(&every, "progress-interval", 5*time.Second, "how often to print progress to stderr (0: never)")
	cmd.Flags().DurationVar(&warmup, "warmup", 0, "leave records sent in this first stretch out of the latency figures")
	return cmd
}

func ensureTopic(ctx context.Context, co *clusterOpts, topic string, partitions int32) error {
	adm, err := co.newAdmin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := co.withTimeout(ctx)
	defer cancel()
	r, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return explain(fmt.Sprintf("create topic %q", topic), err)
	}
	return nil
}

func benchProduce(cmd *cobra.Command, co *clusterOpts, opts []kgo.Opt, topic string,
	records int64, size int, rate float64, producers int, every, warmup time.Duration) (*benchResult, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	pool := payloadPool(size)

	clients := make([]*kgo.Client, producers)
	for i := range clients {
		cl, err := co.newClient(ctx, opts...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return nil, err
		}
		defer cl.Close()
		clients[i] = cl
	}

	var (
		lat                  = make([]uint32, records)
		acked, failed        atomic.Int64
		winAcked             atomic.Int64
		winLatSum, winLatMax atomic.Int64
		firstErr             atomic.Value
	)
	start := time.Now()
	warmEnd := start.Add(warmup)
	done := make(chan struct{})
	var progWG sync.WaitGroup
	if every > 0 {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			tk := time.NewTicker(every)
			defer tk.Stop()
			last := time.Now()
			for {
				select {
				case <-done:
					return
				case now := <-tk.C:
					n := winAcked.Swap(0)
					sum, mx := winLatSum.Swap(0), winLatMax.Swap(0)
					secs := now.Sub(last).Seconds()
					last = now
					avg := 0.0
					if n > 0 {
						avg = float64(sum) / float64(n) / 1000
					}
					stderrf(cmd, "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency (%d/%d total)\n",
						n, float64(n)/secs, float64(n)*float64(size)/secs/(1<<20), avg, float64(mx)/1000, acked.Load(), records)
				}
			}
		}()
	}

	var wg sync.WaitGroup
	per := records / int64(producers)
	for i, cl := range clients {
		lo := int64(i) * per
		hi := lo + per
		if i == producers-1 {
			hi = records
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var interval time.Duration
			if rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(producers) / rate)
			}
			pstart := time.Now()
			for j := lo; j < hi; j++ {
				if ctx.Err() != nil {
					return
				}
				if interval > 0 {
					// Absolute schedule: falling behind is caught up, never accumulated.
					if d := time.Until(pstart.Add(time.Duration(j-lo) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				idx := j
				sent := time.Now()
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: pool.value(j)}, func(_ *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						return
					}
					us := time.Since(sent).Microseconds()
					if sent.After(warmEnd) {
						// 0 marks "not counted" (failed or warm-up), so store at least 1.
						lat[idx] = uint32(max(1, min(us, math.MaxUint32)))
					}
					acked.Add(1)
					winAcked.Add(1)
					winLatSum.Add(us)
					for {
						m := winLatMax.Load()
						if us <= m || winLatMax.CompareAndSwap(m, us) {
							break
						}
					}
				})
			}
			cl.Flush(ctx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	progWG.Wait()

	n := acked.Load()
	// Failed and warm-up records left zeros in lat.
	kept := lat[:0]
	for _, l := range lat {
		if l > 0 {
			kept = append(kept, l)
		}
	}
	res := &benchResult{
		Kind: "produce", Topic: topic, Records: n, Errors: failed.Load(), RecordSize: size,
		Bytes: n * int64(size), Seconds: elapsed.Seconds(), Producers: producers, TargetRate: max(rate, 0),
		LatencyMs: percentiles(kept),
	}
	res.RecordsPerSec = float64(n) / elapsed.Seconds()
	res.MBPerSec = float64(res.Bytes) / elapsed.Seconds() / (1 << 20)
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("interrupted after %d records", n)
	}
	return res, nil
}

// payloads hands out record values: consecutive slices of one random pool,
// so no two records within 64 MiB of each other share bytes and no batch
// compresses, without paying for random bytes per record on a client that
// shares the CPUs with the broker it measures.
type payloads struct {
	pool []byte
	size int
	n    int64 // distinct values in the pool
}

const payloadPoolBytes = 64 << 20

func payloadPool(size int) *payloads {
	p := &payloads{size: size, n: 1}
	if size == 0 {
		return p
	}
	p.n = max(1, payloadPoolBytes/int64(size))
	p.pool = make([]byte, p.n*int64(size))
	rand.Read(p.pool)
	return p
}

// value is record i's value; callers must not modify it.
func (p *payloads) value(i int64) []byte {
	off := (i % p.n) * int64(p.size)
	return p.pool[off : off+int64(p.size) : off+int64(p.size)]
}

func printBench(cmd *cobra.Command, r *benchResult, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		return enc.Encode(r)
	}
	fmt.Fprintf(out, "%d records %s, %.1f records/sec (%.2f MB/sec)", r.Records,
		map[string]string{"produce": "sent", "consume": "consumed"}[r.Kind], r.RecordsPerSec, r.MBPerSec)
	if l := r.LatencyMs; l != nil {
		fmt.Fprintf(out, ", %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th",
			l.Avg, l.Max, l.P50, l.P95, l.P99, l.P999)
	}
	if r.Kind == "consume" {
		fmt.Fprintf(out, ", first record after %.1f ms", r.FirstRecordMs)
	}
	fmt.Fprintln(out, ".")
	return nil
}

func newBenchConsumeCmd(co *clusterOpts) *cobra.Command {
	var (
		topic    string
		records  int64
		idle     time.Duration
		fetchMax int32
		partMax  int32
		group    string
		asJSON   bool
		every    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the beginning and report throughput",
		Long: `Read --records records from the start of every partition of --topic (in
no consumer group unless --group is given) and report records/s and MB/s from client start to the last
record, and how long the first record took. Stops early, with an error, when
nothing arrives for --idle-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			defer interruptible(cmd)()
			if topic == "" {
				return errors.New("--topic is required")
			}
			var opts []kgo.Opt
			if cmd.Flags().Changed("fetch-max-bytes") {
				opts = append(opts, kgo.FetchMaxBytes(fetchMax))
			}
			if cmd.Flags().Changed("fetch-max-partition-bytes") {
				opts = append(opts, kgo.FetchMaxPartitionBytes(partMax))
			}
			if group != "" {
				opts = append(opts, kgo.ConsumerGroup(group))
			}
			res, err := benchConsume(cmd, co, topic, records, idle, opts, every)
			if res != nil {
				if perr := printBench(cmd, res, asJSON); perr != nil {
					return perr
				}
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic to read")
	cmd.Flags().Int64VarP(&records, "records", "n", 1_000_000, "number of records to read")
	cmd.Flags().DurationVar(&idle, "idle-timeout", 15*time.Second, "give up when no record arrives for this long")
	cmd.Flags().Int32Var(&fetchMax, "fetch-max-bytes", 50<<20, "fetch.max.bytes (franz-go's default)")
	cmd.Flags().Int32Var(&partMax, "fetch-max-partition-bytes", 1<<20, "max.partition.fetch.bytes (franz-go's default)")
	cmd.Flags().StringVar(&group, "group", "", "consume as a member of this consumer group (default: no group, every partition from its start)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	cmd.Flags().DurationVar(&every, "progress-interval", 5*time.Second, "how often to print progress to stderr (0: never)")
	return cmd
}

func benchConsume(cmd *cobra.Command, co *clusterOpts, topic string, records int64,
	idle time.Duration, opts []kgo.Opt, every time.Duration) (*benchResult, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	opts = append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl, err := co.newClient(ctx, opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if _, err := checkTopicExists(ctx, co, cl, topic); err != nil {
		return nil, err
	}
	var (
		n, bytes  int64
		first     time.Duration
		last      = time.Now()
		lastPrint = time.Now()
		winN      int64
		runErr    error
	)
	for n < records {
		pctx, cancel := context.WithDeadline(ctx, last.Add(idle))
		fs := cl.PollRecords(pctx, 10_000)
		cancel()
		if ctx.Err() != nil {
			runErr = fmt.Errorf("interrupted after %d records", n)
			break
		}
		fs.EachError(func(t string, p int32, e error) {
			if !errors.Is(e, context.DeadlineExceeded) && runErr == nil {
				runErr = explain(fmt.Sprintf("fetch %s[%d]", t, p), e)
			}
		})
		if runErr != nil {
			break
		}
		got := int64(0)
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value) + len(r.Key))
		})
		now := time.Now()
		if got == 0 {
			if now.Sub(last) >= idle {
				runErr = fmt.Errorf("only %d of %d records after waiting %s for more (is the topic that full?)", n, records, idle)
				break
			}
			continue
		}
		if n == 0 {
			first = now.Sub(start)
		}
		n += got
		winN += got
		last = now
		if every > 0 && now.Sub(lastPrint) >= every {
			stderrf(cmd, "%d records consumed, %.1f records/sec (%d/%d total)\n", winN,
				float64(winN)/now.Sub(lastPrint).Seconds(), n, records)
			winN, lastPrint = 0, now
		}
	}
	elapsed := last.Sub(start)
	res := &benchResult{Kind: "consume", Topic: topic, Records: n, Bytes: bytes, Seconds: elapsed.Seconds(),
		FirstRecordMs: float64(first.Microseconds()) / 1000}
	if elapsed > 0 {
		res.RecordsPerSec = float64(n) / elapsed.Seconds()
		res.MBPerSec = float64(bytes) / elapsed.Seconds() / (1 << 20)
	}
	if runErr != nil {
		res.FirstError = runErr.Error()
	}
	return res, runErr
}
