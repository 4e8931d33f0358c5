package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicLog is a compacted topic read from the beginning into memory and
// written through a shared producer: Kafka Connect's KafkaBasedLog. Every
// worker keeps a full copy of each of its three state topics this way.
//
// apply is called for every record, in offset order per partition, from
// the log's reader goroutine only. readToEnd returns once every record that
// was in the topic when it was called has been applied: this is how a
// writer knows its own write is visible ("read your writes").
type topicLog struct {
	topic string
	cl    *kgo.Client // reader, no group
	prod  *kgo.Client
	adm   *kadm.Client
	apply func(*kgo.Record)
	log   *slog.Logger

	mu   sync.Mutex
	cond *sync.Cond
	pos  map[int32]int64 // next offset to apply, per partition
	err  error           // fatal reader error
	done chan struct{}
}

func newTopicLog(seeds []string, topic string, prod *kgo.Client, adm *kadm.Client, log *slog.Logger, apply func(*kgo.Record)) (*topicLog, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("weir-connect-"+topic),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(defaultFetchMaxWait),
		// Exactly-once source tasks write offsets in transactions: read
		// only committed ones, and see the markers so positions reach the
		// end offset.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return nil, fmt.Errorf("reader for %s: %w", topic, err)
	}
	l := &topicLog{topic: topic, cl: cl, prod: prod, adm: adm, apply: apply, log: log, pos: map[int32]int64{}, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	return l, nil
}

// run reads until ctx is cancelled.
func (l *topicLog) run(ctx context.Context) {
	defer close(l.done)
	for {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			l.mu.Lock()
			l.err = errors.New("state topic reader stopped")
			l.cond.Broadcast()
			l.mu.Unlock()
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			l.log.Warn("reading state topic", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				l.apply(r)
			}
			l.mu.Lock()
			l.pos[r.Partition] = r.Offset + 1
			l.mu.Unlock()
		})
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// endOffsets returns the topic's end offsets. Retriable errors (no leader
// yet on a fresh cluster or after a broker died, a topic not known to
// every broker yet) are retried with backoff, logged, until ctx ends.
func (l *topicLog) endOffsets(ctx context.Context) (kadm.ListedOffsets, error) {
	backoff := 100 * time.Millisecond
	var failing time.Time
	var logged time.Time
	for {
		ends, err := l.adm.ListEndOffsets(ctx, l.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			if !failing.IsZero() {
				l.log.Info("state topic readable again", "topic", l.topic, "after", time.Since(failing).Round(time.Millisecond))
			}
			return ends, nil
		}
		if !stateRetriable(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", l.topic, err)
		}
		if failing.IsZero() {
			failing = time.Now()
		}
		if time.Since(logged) >= 5*time.Second {
			logged = time.Now()
			l.log.Warn("state topic not readable yet (no leader?); retrying", "topic", l.topic, "err", err, "for", time.Since(failing).Round(time.Millisecond))
		}
		if serr := sleepCtx(ctx, backoff); serr != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", l.topic, err)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// readToEnd waits until everything written before the call was applied.
func (l *topicLog) readToEnd(ctx context.Context) error {
	ends, err := l.endOffsets(ctx)
	if err != nil {
		return err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		caught := true
		for p, end := range want {
			if l.pos[p] < end {
				caught = false
				break
			}
		}
		if caught {
			return nil
		}
		if l.err != nil {
			return l.err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s to its end: %w", l.topic, err)
		}
		l.cond.Wait()
	}
}

// send writes one record and waits for the log to acknowledge it. A nil
// value is a tombstone.
func (l *topicLog) send(ctx context.Context, key string, value []byte) error {
	r := &kgo.Record{Topic: l.topic, Key: []byte(key), Value: value}
	if err := l.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("write %s to %s: %w", key, l.topic, err)
	}
	return nil
}

func (l *topicLog) close() {
	l.cl.Close()
}

// ensureTopic creates a compacted state topic unless it exists. rf -1 is
// min(3, brokers the cluster lists): Kafka Connect's default of 3 where
// there are that many, so that the runtime's state survives the loss of
// a broker. Retriable errors are retried with backoff, logged, until ctx
// ends.
func ensureTopic(ctx context.Context, adm *kadm.Client, log *slog.Logger, topic string, partitions int32, rf int16) error {
	cfg := map[string]*string{"cleanup.policy": ptr("compact")}
	backoff := 100 * time.Millisecond
	auto, legacy := rf == -1, false
	for attempt := 1; ; attempt++ {
		if auto && !legacy {
			// Counted afresh each attempt: a broker that was just
			// restarted may be listed a moment before it can take replicas.
			rf = -1
			if bs, err := adm.ListBrokers(ctx); err == nil && len(bs) > 0 {
				rf = int16(min(3, len(bs)))
			}
		}
		resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
		if err == nil {
			err = resp.Err
		}
		retry := stateRetriable(err) || (auto && !legacy && attempt < 10 && errors.Is(err, kerr.InvalidReplicationFactor))
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			return nil
		case rf == -1 && (errors.Is(err, kerr.InvalidReplicationFactor) || errors.Is(err, kerr.InvalidRequest) || errors.Is(err, kerr.UnsupportedVersion)):
			rf, legacy = 1, true // brokers before KIP-464 need an explicit factor
			continue
		case retry && ctx.Err() == nil:
			log.Warn("create state topic: retrying", "topic", topic, "replication_factor", rf, "err", err)
			if sleepCtx(ctx, backoff) != nil {
				return fmt.Errorf("create topic %s: %w", topic, err)
			}
			backoff = min(2*backoff, 2*time.Second)
		default:
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
}

// stateRetriable reports whether an error reaching a state topic is worth
// retrying: a retriable Kafka error (no leader yet, not the controller…) or
// any failure to reach a broker (one that just died is still named leader
// until the cluster fences it; kgo leaves dial errors to its callers). A
// Kafka error that is not retriable, or the caller giving up, ends the
// wait.
func stateRetriable(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return kerr.IsRetriable(ke)
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed)
}

func ptr[T any](v T) *T { return &v }
