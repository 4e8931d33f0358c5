package main

// weir produce: one record per stdin line, like kafka-console-producer.sh.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() { rootCmd.AddCommand(newProduceCmd()) }

// producerSettings are the knobs shared by `weir produce` and `weir bench produce`.
type producerSettings struct {
	acks        string
	compression string
	linger      time.Duration
	batchBytes  int32
}

func (s *producerSettings) register(cmd *cobra.Command, defCompression string) {
	cmd.Flags().StringVar(&s.acks, "acks", "all", "acknowledgements to wait for: all (-1), 1 (leader) or 0 (none)")
	cmd.Flags().StringVar(&s.compression, "compression", defCompression, "batch compression: none, gzip, snappy, lz4 or zstd")
	cmd.Flags().DurationVar(&s.linger, "linger", 0, "how long to wait to fill a batch (like linger.ms)")
	cmd.Flags().Int32Var(&s.batchBytes, "batch-max-bytes", 1<<20, "maximum bytes in one record batch (like batch.size)")
}

func (s *producerSettings) opts() ([]kgo.Opt, error) {
	return s.optsFor(func(string) bool { return true })
}

// optsFor is opts restricted to the settings whose flag name keep accepts;
// the others are left at franz-go's defaults. `weir bench produce` passes
// only the flags given on the command line, so it measures a default client.
func (s *producerSettings) optsFor(keep func(flag string) bool) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if keep("acks") {
		switch strings.ToLower(s.acks) {
		case "all", "-1":
			opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
		case "1", "leader":
			// Idempotent writes need acks=all; without it, fall back to plain writes.
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
		case "0", "none":
			opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
		default:
			return nil, fmt.Errorf("--acks %q: want all, 1 or 0", s.acks)
		}
	}
	if keep("compression") {
		var codec kgo.CompressionCodec
		switch strings.ToLower(s.compression) {
		case "none", "":
			codec = kgo.NoCompression()
		case "gzip":
			codec = kgo.GzipCompression()
		case "snappy":
			codec = kgo.SnappyCompression()
		case "lz4":
			codec = kgo.Lz4Compression()
		case "zstd":
			codec = kgo.ZstdCompression()
		default:
			return nil, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", s.compression)
		}
		opts = append(opts, kgo.ProducerBatchCompression(codec))
	}
	if keep("linger") {
		opts = append(opts, kgo.ProducerLinger(s.linger))
	}
	if keep("batch-max-bytes") && s.batchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(s.batchBytes))
	}
	return opts, nil
}

func newProduceCmd() *cobra.Command {
	var (
		co        clusterOpts
		ps        producerSettings
		keySep    string
		headers   []string
		partition int32
		maxLine   int
		quiet     bool
		progress  time.Duration
		nulls     nullRule
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write stdin to a topic, one record per line",
		Long: `Read lines from stdin and produce each as one record. With --key-separator,
the text before the first separator is the key and the rest the value.
A key or value equal to --null-marker (or, with -Z, an empty one) is sent
as null: a value of null is a tombstone, which deletes the key from a
compacted topic.

A topic that does not exist is created by the cluster when it allows that
(auto.create.topics.enable; weir serve --auto-create-topics, on by
default), as kafka-console-producer and kcat do; otherwise create it first
with weir topic create.
Counts are printed to stderr every few seconds and at the end.`,
		Example: `  echo hello | weir produce orders
  printf 'k1:v1\nk2:v2\n' | weir produce orders --key-separator : --header source=cli
  printf 'k1:NULL\n' | weir produce users --key-separator : --null-marker NULL   # tombstone for k1
  printf 'k1:\n' | weir produce users --key-separator : -Z                      # the same, kcat style
  weir produce orders --acks 1 --compression zstd < events.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			hkvs, err := parseKVs("header", headers)
			if err != nil {
				return err
			}
			var hdrs []kgo.RecordHeader
			for _, kv := range hkvs {
				hdrs = append(hdrs, kgo.RecordHeader{Key: kv[0], Value: []byte(kv[1])})
			}
			opts, err := ps.opts()
			if err != nil {
				return err
			}
			// Ask for auto-creation in metadata requests, as the console
			// producer and kcat do; a cluster that refuses it answers
			// UNKNOWN_TOPIC_OR_PARTITION, explained in produceLines.
			opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.ProduceRequestTimeout(co.timeout),
				kgo.RecordDeliveryTimeout(co.timeout), kgo.AllowAutoTopicCreation())
			if partition >= 0 {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			cl, err := co.newClient(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			return produceLines(cmd, cl, topic, keySep, hdrs, partition, maxLine, quiet, progress, nulls)
		},
	}
	co.register(cmd)
	ps.register(cmd, "none")
	cmd.Flags().StringVar(&keySep, "key-separator", "", "split each line into key and value at the first occurrence of this string")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	cmd.Flags().Int32VarP(&partition, "partition", "p", -1, "write every record to this partition (-1: let the partitioner choose by key)")
	cmd.Flags().IntVar(&maxLine, "max-line-bytes", 16<<20, "longest accepted input line")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress or summary on stderr")
	cmd.Flags().DurationVar(&progress, "progress-interval", 2*time.Second, "how often to print counts to stderr")
	cmd.Flags().StringVar(&nulls.marker, "null-marker", "", "a key or value equal to this string is sent as null (a null value is a tombstone), like the console producer's null.marker")
	cmd.Flags().BoolVarP(&nulls.empty, "empty-as-null", "Z", false, "send an empty key or value as null (kcat -Z)")
	return cmd
}

// nullRule says which keys and values become null.
type nullRule struct {
	marker string
	empty  bool
}

func (n nullRule) apply(b []byte) []byte {
	if (n.marker != "" && string(b) == n.marker) || (n.empty && len(b) == 0) {
		return nil
	}
	return b
}

func produceLines(cmd *cobra.Command, cl *kgo.Client, topic, keySep string, hdrs []kgo.RecordHeader,
	partition int32, maxLine int, quiet bool, every time.Duration, nulls nullRule) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var (
		sent, acked, failed atomic.Int64
		firstErr            error
		errOnce             sync.Once
	)
	start := time.Now()
	done := make(chan struct{})
	var progWG sync.WaitGroup
	if !quiet && every > 0 {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			tk := time.NewTicker(every)
			defer tk.Stop()
			for {
				select {
				case <-done:
					return
				case <-tk.C:
					a := acked.Load()
					stderrf(cmd, "produced %d records to %s (%.0f/s, %d awaiting ack)\n",
						a, topic, float64(a)/time.Since(start).Seconds(), sent.Load()-a-failed.Load())
				}
			}
		}()
	}
	sc := bufio.NewScanner(cmd.InOrStdin())
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var line int64
	var readErr error
	for sc.Scan() {
		line++
		if ctx.Err() != nil {
			break
		}
		text := sc.Text()
		r := &kgo.Record{Topic: topic, Headers: hdrs, Partition: partition}
		if keySep != "" {
			k, v, ok := strings.Cut(text, keySep)
			if !ok {
				readErr = fmt.Errorf("line %d has no key separator %q (every line needs KEY%sVALUE)", line, keySep, keySep)
				break
			}
			r.Key, r.Value = nulls.apply([]byte(k)), nulls.apply([]byte(v))
		} else {
			r.Value = nulls.apply([]byte(text))
		}
		sent.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			acked.Add(1)
		})
	}
	if err := sc.Err(); err != nil && readErr == nil {
		readErr = fmt.Errorf("read stdin at line %d: %w", line+1, err)
	}
	flushErr := cl.Flush(ctx)
	close(done)
	progWG.Wait()
	if !quiet {
		stderrf(cmd, "produced %d records to %s in %s", acked.Load(), topic, time.Since(start).Round(time.Millisecond))
		if f := failed.Load(); f > 0 {
			stderrf(cmd, " (%d failed)", f)
		}
		stderrf(cmd, "\n")
	}
	var errs []error
	if readErr != nil {
		errs = append(errs, readErr)
	}
	what := fmt.Sprintf("produce to %q (%d of %d records failed)", topic, failed.Load(), sent.Load())
	if errors.Is(firstErr, kerr.UnknownTopicOrPartition) {
		errs = append(errs, fmt.Errorf("%s: topic %q does not exist and the cluster does not create topics on demand (auto.create.topics.enable=false; weir serve --auto-create-topics=false): create it first with `weir topic create %s`", what, topic, topic))
	} else if firstErr != nil {
		errs = append(errs, explain(what, firstErr))
	} else if flushErr != nil && !errors.Is(flushErr, context.Canceled) {
		errs = append(errs, explain("flush", flushErr))
	}
	return errors.Join(errs...)
}
