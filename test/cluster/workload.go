package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopic creates topic with partitions and replication factor rf and
// waits until every partition has a leader.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int32, rf int16, configs map[string]*string) error {
	cl, err := kgo.NewClient(c.ClientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s (%d partitions, rf %d): %w", topic, partitions, rf, err)
	}
	for p := int32(0); p < partitions; p++ {
		if _, _, err := c.WaitLeader(ctx, topic, p, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// Workload is Jepsen's "safe" Kafka client profile: idempotent acks=all
// producers that record every acknowledged write, and (when started) a
// committing consumer group that records every committed offset.
type Workload struct {
	c     *Cluster
	topic string
	prods []*kgo.Client
	seq   []atomic.Int64
	first int // producer i writes Value(first+i, …)

	mu      sync.Mutex
	acks    []Ack
	commits []Commit
	errs    map[string]int // produce errors by text: timeouts are not failures, but worth seeing

	group string
}

// producerNumbers hands out the producer numbers of every Workload.
var producerNumbers atomic.Int64

// NewWorkload makes producers idempotent acks=all producers of topic (one
// client each).
func NewWorkload(c *Cluster, topic string, producers int) *Workload {
	return NewWorkloadAcks(c, topic, producers, kgo.AllISRAcks())
}

// NewWorkloadAcks is NewWorkload with other acks (acks=1 and acks=0
// producers are not idempotent: Kafka's idempotence needs acks=all) and
// more client options.
func NewWorkloadAcks(c *Cluster, topic string, producers int, acks kgo.Acks, more ...kgo.Opt) *Workload {
	// Producer numbers are unique in the process, so the values of several
	// workloads on one topic never collide.
	first := int(producerNumbers.Add(int64(producers))) - producers
	w := &Workload{c: c, topic: topic, seq: make([]atomic.Int64, producers), first: first, errs: map[string]int{}}
	for i := 0; i < producers; i++ {
		opts := []kgo.Opt{
			kgo.RequiredAcks(acks), // with acks=all, idempotence: kgo's default
			kgo.DefaultProduceTopic(topic),
			kgo.RecordDeliveryTimeout(20 * time.Second),
			kgo.ProduceRequestTimeout(5 * time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			kgo.MetadataMinAge(50 * time.Millisecond),
		}
		if acks != kgo.AllISRAcks() {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		w.prods = append(w.prods, c.Client(append(opts, more...)...))
	}
	return w
}

// Produce writes n records from every producer, each awaited, and returns
// how many were acknowledged.
func (w *Workload) Produce(ctx context.Context, n int) int {
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i := range w.prods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n && ctx.Err() == nil; j++ {
				if w.produceOne(ctx, i) == nil {
					acked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(acked.Load())
}

// Run produces from every producer, window records in flight each, until
// ctx ends.
func (w *Workload) Run(ctx context.Context, window int) {
	var wg sync.WaitGroup
	for i := range w.prods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem := make(chan struct{}, window)
			var inner sync.WaitGroup
			for ctx.Err() == nil {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					continue
				}
				inner.Add(1)
				w.produceAsync(context.WithoutCancel(ctx), i, func(error) { <-sem; inner.Done() })
			}
			inner.Wait()
		}()
	}
	wg.Wait()
}

func (w *Workload) produceOne(ctx context.Context, i int) error {
	done := make(chan error, 1)
	w.produceAsync(ctx, i, func(err error) { done <- err })
	return <-done
}

func (w *Workload) produceAsync(ctx context.Context, i int, then func(error)) {
	v := Value(w.first+i, int(w.seq[i].Add(1)-1))
	r := &kgo.Record{Key: []byte(v), Value: []byte(v)}
	w.prods[i].Produce(ctx, r, func(r *kgo.Record, err error) {
		w.mu.Lock()
		if err == nil {
			w.acks = append(w.acks, Ack{Partition: r.Partition, Offset: r.Offset, Value: v, At: time.Now()})
		} else {
			w.errs[errText(err)]++
		}
		w.mu.Unlock()
		then(err)
	})
}

func errText(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrRecordTimeout) {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// Acked is how many writes were acknowledged so far.
func (w *Workload) Acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// Errors returns produce errors by kind.
func (w *Workload) Errors() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.errs {
		out[k] = v
	}
	return out
}

// AcksSince returns the acknowledgements that arrived after t.
func (w *Workload) AcksSince(t time.Time) []Ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Ack
	for _, a := range w.acks {
		if a.At.After(t) {
			out = append(out, a)
		}
	}
	return out
}

// Consume runs a consumer group member of group on the topic until ctx
// ends: it polls, commits what it polled synchronously, and records each
// commit that succeeded.
func (w *Workload) Consume(ctx context.Context, group string) error {
	w.group = group
	cl, err := kgo.NewClient(append(w.c.ClientOpts(),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(w.topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(10*time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		next := map[int32]int64{}
		for _, r := range recs {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.CommitRecords(cctx, recs...)
		cancel()
		if err == nil {
			w.mu.Lock()
			for p, o := range next {
				w.commits = append(w.commits, Commit{Group: group, Partition: p, Offset: o})
			}
			w.mu.Unlock()
		}
	}
	return nil
}

// FetchCommitted records the group's committed offsets as the cluster
// reports them now (an observation the checker orders after the
// workload's own commits).
func (w *Workload) FetchCommitted(ctx context.Context) error {
	if w.group == "" {
		return nil
	}
	cl, err := kgo.NewClient(w.c.ClientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	os, err := kadm.NewClient(cl).FetchOffsets(ctx, w.group)
	if err == nil {
		err = os.Error()
	}
	if err != nil {
		return fmt.Errorf("fetch committed offsets of %s: %w", w.group, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == w.topic {
			w.commits = append(w.commits, Commit{Group: w.group, Partition: o.Partition, Offset: o.At})
		}
	})
	return nil
}

// History returns what the workload observed, without reads.
func (w *Workload) History() History {
	w.mu.Lock()
	defer w.mu.Unlock()
	return History{Acks: append([]Ack(nil), w.acks...), Commits: append([]Commit(nil), w.commits...)}
}

// ReadAll reads topic's partition from its current leader, from the log
// start to the high watermark as of the start of the read.
func (c *Cluster) ReadAll(ctx context.Context, topic string, partition int32, source string) (Read, error) {
	rd := Read{Source: source, Partition: partition, Start: time.Now()}
	cl, err := kgo.NewClient(append(c.ClientOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return rd, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Right after an election the new leader answers OFFSET_NOT_AVAILABLE
	// until its high watermark caught up (KIP-207); that, like a moving
	// leader, is retried.
	var ends, starts kadm.ListedOffsets
	err = retry(ctx, 30*time.Second, func() error {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
		if err == nil {
			if starts, err = adm.ListStartOffsets(ctx, topic); err == nil {
				err = starts.Error()
			}
		}
		return err
	})
	if err != nil {
		return rd, fmt.Errorf("start and end offsets of %s: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, partition)
	if !ok {
		return rd, fmt.Errorf("no end offset for %s/%d", topic, partition)
	}
	start, _ := starts.Lookup(topic, partition)
	next := start.Offset
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for next < end.Offset {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			return rd, fmt.Errorf("read %s/%d from %s: at %d of %d: %w", topic, partition, source, next, end.Offset, rctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			rd.Records = append(rd.Records, Rec{Offset: r.Offset, Value: string(r.Value)})
			next = r.Offset + 1
		})
	}
	return rd, nil
}

// retry calls f until it succeeds or within has passed.
func retry(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ReadReplica reads topic's partition from node n's own log: a consumer
// Fetch sent to that broker, which a follower answers up to its own high
// watermark (KIP-392), from offset 0 until that high watermark reached end
// (the leader's end offset once the writers stopped) and every record
// below end was read. It is how the checker compares the replicas'
// logs offset by offset without moving leadership.
func (c *Cluster) ReadReplica(ctx context.Context, n *Node, topic string, partition int32, end int64, source string) (Read, error) {
	rd := Read{Source: source, Partition: partition, Start: time.Now()}
	cl, err := kgo.NewClient(c.Only(n).ClientOpts()...)
	if err != nil {
		return rd, err
	}
	defer cl.Close()
	sb := cl.SeedBrokers()[0]
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	var id [16]byte
	if err := retry(ctx, 30*time.Second, func() error {
		resp, err := sb.Request(ctx, mreq)
		if err != nil {
			return err
		}
		m := resp.(*kmsg.MetadataResponse)
		if len(m.Topics) != 1 {
			return fmt.Errorf("metadata of %s from n%d: %d topics", topic, n.ID, len(m.Topics))
		}
		id = m.Topics[0].TopicID
		return kerr.ErrorForCode(m.Topics[0].ErrorCode)
	}); err != nil {
		return rd, fmt.Errorf("read %s/%d from replica n%d: %w", topic, partition, n.ID, err)
	}
	next, hw := int64(0), int64(-1)
	var last error
	deadline := time.Now().Add(60 * time.Second)
	for next < end {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return rd, fmt.Errorf("read %s/%d from replica n%d: at %d of %d, its high watermark %d (last error %v)", topic, partition, n.ID, next, end, hw, last)
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.ReplicaState.ID = -1, -1
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 100, 1, 16<<20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = partition, next, -1, -1, 4<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := sb.Request(ctx, req)
		if err != nil {
			last = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			last = fmt.Errorf("fetch answered %v with %d topics", kerr.ErrorForCode(fr.ErrorCode), len(fr.Topics))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: next, Topic: topic, Partition: partition},
			&fr.Topics[0].Partitions[0], kgo.DefaultDecompressor(), nil)
		hw = fp.HighWatermark
		if fp.Err != nil {
			last = fp.Err
			if errors.Is(fp.Err, kerr.OffsetOutOfRange) {
				return rd, fmt.Errorf("read %s/%d from replica n%d at %d: %w", topic, partition, n.ID, next, fp.Err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, r := range fp.Records {
			if r.Offset >= end {
				break
			}
			rd.Records = append(rd.Records, Rec{Offset: r.Offset, Value: string(r.Value)})
			next = r.Offset + 1
		}
		if len(fp.Records) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return rd, nil
}
