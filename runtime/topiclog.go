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

// readToEnd waits until everything written before the call was applied.
func (l *topicLog) readToEnd(ctx context.Context) error {
	var ends kadm.ListedOffsets
	for {
		var err error
		ends, err = l.adm.ListEndOffsets(ctx, l.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		// A topic created a moment ago may not be known to every broker yet.
		if !kerr.IsRetriable(err) || ctx.Err() != nil {
			return fmt.Errorf("end offsets of %s: %w", l.topic, err)
		}
		if serr := sleepCtx(ctx, 100*time.Millisecond); serr != nil {
			return fmt.Errorf("end offsets of %s: %w", l.topic, err)
		}
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

// ensureTopic creates a compacted state topic unless it exists.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16) error {
	cfg := map[string]*string{"cleanup.policy": ptr("compact")}
	for {
		resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			return nil
		case rf == -1 && (errors.Is(err, kerr.InvalidReplicationFactor) || errors.Is(err, kerr.InvalidRequest) || errors.Is(err, kerr.UnsupportedVersion)):
			rf = 1 // brokers before KIP-464 need an explicit factor
			continue
		default:
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }
