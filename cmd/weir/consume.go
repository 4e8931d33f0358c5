package main

// weir consume: print records of a topic, like kafka-console-consumer.sh,
// with kcat-style format strings.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() { rootCmd.AddCommand(newConsumeCmd()) }

const formatHelp = `Output format: "text" (the value only), "json" (one object per line with
topic, partition, offset, timestamp, key, value and headers; non-UTF-8 keys and
values as key_base64/value_base64), or a template where
  %t topic   %p partition   %o offset   %T timestamp (Unix ms)   %d timestamp (RFC 3339)
  %k key     %v value       %h headers (k=v,k=v)   %K key length   %V value length
  %% a percent sign,  \n \t escapes.  A newline ends each record.`

func newConsumeCmd() *cobra.Command {
	var (
		co          clusterOpts
		fromBegin   bool
		offset      string
		fromTime    string
		group       string
		partition   int32
		maxMessages int64
		idle        time.Duration
		format      string
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Print records of a topic to stdout until interrupted, --max-messages records
were printed, or no record arrived for --idle-timeout.

Without --group, reads every partition directly, starting at the end unless
--from-beginning, --offset or --from-time says otherwise. With --group, joins
the consumer group and commits the offsets of the records printed; the start
flags then apply only to partitions the group has no committed offset for.

` + formatHelp,
		Example: `  weir consume orders --from-beginning
  weir consume orders --offset -10 --idle-timeout 2s          # the last 10 of each partition
  weir consume orders --from-time 2026-01-02T15:04:05Z --format '%p/%o %k=%v'
  weir consume orders --group billing --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer interruptible(cmd)()
			topic := args[0]
			f, err := parseFormat(format)
			if err != nil {
				return err
			}
			start := kgo.NewOffset().AtEnd()
			nStart := 0
			if fromBegin {
				start = kgo.NewOffset().AtStart()
				nStart++
			}
			if offset != "" {
				nStart++
				switch offset {
				case "earliest", "beginning":
					start = kgo.NewOffset().AtStart()
				case "latest", "end":
					start = kgo.NewOffset().AtEnd()
				default:
					n, err := strconv.ParseInt(offset, 10, 64)
					if err != nil {
						return fmt.Errorf("--offset %q: want earliest, latest, an offset, or -N for N before the end", offset)
					}
					if n < 0 {
						start = kgo.NewOffset().AtEnd().Relative(n)
					} else {
						start = kgo.NewOffset().At(n)
					}
				}
			}
			if fromTime != "" {
				nStart++
				t, err := parseTime(fromTime)
				if err != nil {
					return fmt.Errorf("--from-time: %w", err)
				}
				start = kgo.NewOffset().AfterMilli(t.UnixMilli())
			}
			if nStart > 1 {
				return errors.New("give only one of --from-beginning, --offset and --from-time")
			}
			if group != "" && partition >= 0 {
				return errors.New("--partition cannot be used with --group (the group assigns partitions)")
			}
			opts := []kgo.Opt{kgo.ConsumeResetOffset(start)}
			switch {
			case group != "":
				opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
			case partition >= 0:
				opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: start}}))
			default:
				opts = append(opts, kgo.ConsumeTopics(topic))
			}
			cl, err := co.newClient(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			nparts, err := checkTopicExists(cmd.Context(), &co, cl, topic)
			if err != nil {
				return err
			}
			if partition >= int32(nparts) {
				return fmt.Errorf("topic %q has no partition %d (it has %d: 0..%d)", topic, partition, nparts, nparts-1)
			}
			n, err := consumeLoop(cmd, cl, f, group != "", maxMessages, idle)
			if group != "" {
				// Leave the group promptly so a following `weir group` sees it empty.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				cl.LeaveGroupContext(ctx)
				cancel()
			}
			if err == nil && maxMessages > 0 && n < maxMessages && idle > 0 {
				stderrf(cmd, "stopped after %d of %d messages: nothing new for %s\n", n, maxMessages, idle)
			}
			return err
		},
	}
	co.register(cmd)
	cmd.Flags().BoolVar(&fromBegin, "from-beginning", false, "start at the earliest offset")
	cmd.Flags().StringVar(&offset, "offset", "", "start offset: earliest, latest, N, or -N (N before the end)")
	cmd.Flags().StringVar(&fromTime, "from-time", "", "start at the first record at or after this time (RFC 3339 or Unix ms)")
	cmd.Flags().StringVarP(&group, "group", "g", "", "consume as this consumer group and commit printed offsets")
	cmd.Flags().Int32VarP(&partition, "partition", "p", -1, "read only this partition (-1: all)")
	cmd.Flags().Int64VarP(&maxMessages, "max-messages", "n", 0, "exit after printing this many records (0: no limit)")
	cmd.Flags().DurationVar(&idle, "idle-timeout", 0, "exit when no record arrives for this long (0: wait forever)")
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text, json, or a template such as '%k %v %p %o %T'")
	return cmd
}

// checkTopicExists fails fast on a typo instead of waiting forever; it
// returns the topic's partition count.
func checkTopicExists(ctx context.Context, co *clusterOpts, cl *kgo.Client, topic string) (int, error) {
	ctx, cancel := co.withTimeout(ctx)
	defer cancel()
	tds, err := newAdminFrom(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, explain("look up topic "+strconv.Quote(topic), err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		var e error = kerr.UnknownTopicOrPartition
		if ok {
			e = asKerr(td.Err)
		}
		return 0, explain(fmt.Sprintf("consume %q", topic), e)
	}
	return len(td.Partitions), nil
}

func consumeLoop(cmd *cobra.Command, cl *kgo.Client, f recordFormatter, commit bool, max int64, idle time.Duration) (int64, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	w := bufio.NewWriter(cmd.OutOrStdout())
	defer w.Flush()
	var (
		n       int64
		lastRec = time.Now()
		buf     []byte
	)
	for max <= 0 || n < max {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, lastRec.Add(idle))
		}
		fs := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil || fs.IsClientClosed() {
			return n, nil // interrupted: a normal way to stop
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			fetchErr = explain(fmt.Sprintf("fetch %s[%d]", t, p), err)
		})
		if fetchErr != nil {
			return n, fetchErr
		}
		var printed []*kgo.Record
		iter := fs.RecordIter()
		for !iter.Done() && (max <= 0 || n < max) {
			r := iter.Next()
			buf = f(buf[:0], r)
			buf = append(buf, '\n')
			if _, err := w.Write(buf); err != nil {
				return n, err
			}
			printed = append(printed, r)
			n++
		}
		if len(printed) > 0 {
			lastRec = time.Now()
			if err := w.Flush(); err != nil {
				return n, err
			}
			if commit {
				cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cl.CommitRecords(cctx, printed...)
				ccancel()
				if err != nil {
					return n, explain("commit offsets", err)
				}
			}
		} else if idle > 0 && time.Since(lastRec) >= idle {
			return n, nil
		}
	}
	return n, nil
}

// recordFormatter appends one formatted record (without the newline) to dst.
type recordFormatter func(dst []byte, r *kgo.Record) []byte

func parseFormat(s string) (recordFormatter, error) {
	switch s {
	case "text", "":
		return func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Value...) }, nil
	case "json":
		return formatJSON, nil
	}
	if !strings.Contains(s, "%") {
		return nil, fmt.Errorf("--format %q: want text, json, or a template with %%-verbs such as '%%k %%v'", s)
	}
	// Compile the template into a list of appenders once.
	var parts []recordFormatter
	lit := func(b string) recordFormatter {
		return func(dst []byte, _ *kgo.Record) []byte { return append(dst, b...) }
	}
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, lit(cur.String()))
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				cur.WriteByte('\n')
				i++
				continue
			case 't':
				cur.WriteByte('\t')
				i++
				continue
			case '\\':
				cur.WriteByte('\\')
				i++
				continue
			}
		}
		if c != '%' {
			cur.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("--format %q: ends with a lone %%", s)
		}
		i++
		var p recordFormatter
		switch s[i] {
		case '%':
			cur.WriteByte('%')
			continue
		case 't':
			p = func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Topic...) }
		case 'p':
			p = func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(r.Partition), 10) }
		case 'o':
			p = func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Offset, 10) }
		case 'T':
			p = func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10) }
		case 'd':
			p = func(dst []byte, r *kgo.Record) []byte { return r.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano) }
		case 'k':
			p = func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Key...) }
		case 'v':
			p = func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Value...) }
		case 'K':
			p = func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(len(r.Key)), 10) }
		case 'V':
			p = func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(len(r.Value)), 10) }
		case 'h':
			p = func(dst []byte, r *kgo.Record) []byte {
				for j, h := range r.Headers {
					if j > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, h.Key...)
					dst = append(dst, '=')
					dst = append(dst, h.Value...)
				}
				return dst
			}
		default:
			return nil, fmt.Errorf("--format %q: unknown verb %%%c (want one of %%t %%p %%o %%T %%d %%k %%v %%h %%K %%V %%%%)", s, s[i])
		}
		flush()
		parts = append(parts, p)
	}
	flush()
	return func(dst []byte, r *kgo.Record) []byte {
		for _, p := range parts {
			dst = p(dst, r)
		}
		return dst
	}, nil
}

// jsonRecord is the --format json shape; field names follow kcat -J.
type jsonRecord struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Timestamp   int64             `json:"timestamp"`
	Key         *string           `json:"key"`
	KeyBase64   string            `json:"key_base64,omitempty"`
	Value       *string           `json:"value"`
	ValueBase64 string            `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

func bytesField(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func formatJSON(dst []byte, r *kgo.Record) []byte {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	j.Key, j.KeyBase64 = bytesField(r.Key)
	j.Value, j.ValueBase64 = bytesField(r.Value)
	if len(r.Headers) > 0 {
		j.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			j.Headers[h.Key] = string(h.Value)
		}
	}
	b, err := json.Marshal(j)
	if err != nil { // cannot happen for these field types
		return fmt.Appendf(dst, `{"error":%q}`, err.Error())
	}
	return append(dst, b...)
}
