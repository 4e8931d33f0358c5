package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirlog/weir/plugins"
)

// sinkTask drives one SinkTask as a member of the consumer group
// connect-<connector>: poll → converters → transforms → Put, and commits
// the group's offsets with what PreCommit says is durable. Partition
// assignment changes call Open/Close; all calls into the plugin are
// serialised by mu (the group's callbacks run on kgo's goroutine).
//
// Backpressure: records are fetched only after Put returned, and a
// retriable Put error redelivers the same batch after a backoff without
// fetching more.
type sinkTask struct {
	errant  errantRecord // convert's, for the record being converted
	w       *Worker
	id      taskID
	rt      *runTask
	cc      *connectorConfig
	connCfg map[string]string
	cfg     map[string]string
	task    plugins.SinkTask
	log     *slog.Logger

	conv  *converters
	chain *transformChain
	// rawKey and rawJSON, when set, give the task keys and values it
	// takes as JSON text (plugins.RawJSONSink) without decoding them;
	// see rawJSONConverters.
	rawKey, rawJSON plugins.RawJSONConverter
	eh              *errorHandler
	cl              *kgo.Client
	lbl             []string
	maxPoll         int

	// Metric children resolved once per run (no per-poll label lookups).
	mRead, mSent prometheus.Counter
	mLag         prometheus.Gauge
	mBatch       prometheus.Observer
	mCommit      prometheus.Observer

	mu       sync.Mutex // serialises plugin calls and guards the fields below
	assigned map[plugins.TopicPartition]bool
	current  map[plugins.TopicPartition]int64 // next offset per partition, delivered to Put
	closed   bool
	commitRq chan struct{}

	// resets are the offsets the task asked for with Offset, not applied
	// yet (resetMu: a task may ask from any goroutine).
	resetMu sync.Mutex
	resets  map[plugins.TopicPartition]int64

	// retrying is set while Put fails with retriable errors, so the
	// status shows the cause once and clears it once (task goroutine only).
	retrying bool
}

// GroupID is Kafka Connect's sink consumer group for a connector.
func sinkGroup(connector string) string { return "connect-" + connector }

type sinkCtx struct{ s *sinkTask }

func (c sinkCtx) Assignment() []plugins.TopicPartition {
	// Called from inside plugin methods, i.e. with mu held.
	out := make([]plugins.TopicPartition, 0, len(c.s.assigned))
	for tp := range c.s.assigned {
		out = append(out, tp)
	}
	return out
}

func (c sinkCtx) Pause(tps ...plugins.TopicPartition) {
	c.s.cl.PauseFetchPartitions(toKgo(tps))
}

func (c sinkCtx) Resume(tps ...plugins.TopicPartition) {
	c.s.cl.ResumeFetchPartitions(toKgo(tps))
}

func (c sinkCtx) RequestCommit() {
	select {
	case c.s.commitRq <- struct{}{}:
	default:
	}
}

func (c sinkCtx) ErrantRecordReporter() func(rec *plugins.Record, err error) {
	if c.s.cc.dlqTopic == "" && !c.s.cc.tolerateAll {
		return nil
	}
	return func(rec *plugins.Record, err error) {
		er := &errantRecord{topic: rec.Topic, partition: rec.Partition, offset: rec.Offset, rec: rec}
		if b, cerr := c.s.conv.key.FromConnect(rec.Topic, rec.KeySchema, rec.Key); cerr == nil {
			er.key = b
		}
		if b, cerr := c.s.conv.value.FromConnect(rec.Topic, rec.ValueSchema, rec.Value); cerr == nil {
			er.value = b
		}
		if ferr := c.s.eh.fail(context.Background(), stageTaskPut, fmt.Sprintf("%T", c.s.task), er, err); ferr != nil && !errors.Is(ferr, errTolerated) {
			c.s.log.Error("errant record reported", "err", ferr)
		}
	}
}

func (c sinkCtx) Offset(offsets map[plugins.TopicPartition]int64) {
	c.s.resetMu.Lock()
	defer c.s.resetMu.Unlock()
	if c.s.resets == nil {
		c.s.resets = map[plugins.TopicPartition]int64{}
	}
	maps.Copy(c.s.resets, offsets)
}

// applyResetsLocked moves the partitions the task reset (Offset) to their
// new offsets, as Kafka's WorkerSinkTask.rewind: it runs on the task's
// goroutine between plugin calls, never in a rebalance callback (kgo
// wants SetOffsets from the polling goroutine), with mu held so no
// revocation of those partitions runs meanwhile. SetOffsets drops what kgo
// buffered of them; the records of the poll in hand are the caller's to
// drop: it returns the partitions moved. The current offset becomes the
// reset one, so the next commit goes through PreCommit with it, as Kafka
// does; nothing is committed here.
func (s *sinkTask) applyResetsLocked() map[plugins.TopicPartition]bool {
	s.resetMu.Lock()
	pending := s.resets
	s.resets = nil
	s.resetMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	moved := map[plugins.TopicPartition]bool{}
	set := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range pending {
		if !s.assigned[tp] {
			s.log.Info("ignoring an offset reset of a partition not assigned to the task", "topic", tp.Topic, "partition", tp.Partition, "offset", o)
			continue
		}
		if o < 0 {
			s.log.Warn("ignoring a negative offset reset", "topic", tp.Topic, "partition", tp.Partition, "offset", o)
			continue
		}
		if set[tp.Topic] == nil {
			set[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		s.current[tp] = o
		moved[tp] = true
		s.log.Info("sink task reset the offset of a partition", "topic", tp.Topic, "partition", tp.Partition, "offset", o)
	}
	if len(set) > 0 {
		s.cl.SetOffsets(set)
	}
	return moved
}

func toKgo(tps []plugins.TopicPartition) map[string][]int32 {
	m := map[string][]int32{}
	for _, tp := range tps {
		m[tp.Topic] = append(m[tp.Topic], tp.Partition)
	}
	return m
}

func fromKgo(m map[string][]int32) []plugins.TopicPartition {
	var out []plugins.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, plugins.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

func (s *sinkTask) run(ctx context.Context) (err error) {
	s.lbl = []string{s.id.Connector, strconv.Itoa(s.id.Task)}
	s.mRead = s.w.m.read.WithLabelValues(s.lbl...)
	s.mSent = s.w.m.sent.WithLabelValues(s.lbl...)
	s.mLag = s.w.m.sinkLag.WithLabelValues(s.lbl...)
	s.mBatch = s.w.m.batch.WithLabelValues(s.id.Connector, s.lbl[1], "sink")
	s.mCommit = s.w.m.commit.WithLabelValues(s.lbl...)
	s.assigned = map[plugins.TopicPartition]bool{}
	s.current = map[plugins.TopicPartition]int64{}
	s.commitRq = make(chan struct{}, 1)
	s.eh = &errorHandler{cc: s.cc, connector: s.id.Connector, task: s.id.Task, log: s.log, m: s.w.m, secrets: s.w.secrets, sleep: sleepCtx}
	reg := s.w.cfg.Plugins
	if len(s.cc.topics) == 0 && s.cc.topicsRegex == nil {
		return fmt.Errorf("sink connector %s: set %s or %s", s.id.Connector, cfgTopics, cfgTopicsRegex)
	}
	if s.conv, err = newConverters(reg, s.w.cfg, s.connCfg); err != nil {
		return err
	}
	if s.chain, err = buildChain(reg, s.connCfg); err != nil {
		return err
	}
	defer s.chain.close()
	if s.cc.dlqTopic != "" {
		s.eh.prod = s.w.prod
		if err := s.w.ensureDataTopic(ctx, s.cc.dlqTopic, s.cc.dlqRF); err != nil {
			return err
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.w.cfg.BootstrapServers...),
		kgo.ClientID(fmt.Sprintf("connector-consumer-%s", s.id)),
		kgo.ConsumerGroup(sinkGroup(s.id.Connector)),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(defaultFetchMaxWait),
		kgo.SessionTimeout(s.w.cfg.SessionTimeout),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	}
	over, maxPoll, err := clientOverrides(s.connCfg, false)
	if err != nil {
		return err
	}
	s.maxPoll = maxPoll
	opts = append(opts, over...)
	if s.cc.topicsRegex != nil {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(s.cc.topicsRegex.String()))
	} else {
		for _, t := range s.cc.topics {
			if err := s.w.ensureDataTopic(ctx, t, -1); err != nil {
				return err
			}
		}
		opts = append(opts, kgo.ConsumeTopics(s.cc.topics...))
	}
	if err := s.task.Start(sinkCtx{s}, plugins.Config(s.cfg)); err != nil {
		return fmt.Errorf("start sink task: %w", err)
	}
	s.rawKey, s.rawJSON = s.rawJSONConverters()
	defer func() {
		if serr := s.task.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("stop sink task: %w", serr)
		}
	}()
	if s.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer func() {
		// Final commit and Close, then leave the group without the
		// revoke callback touching the task again.
		fctx, cancel := context.WithTimeout(context.Background(), s.w.cfg.OffsetFlushTimeout)
		s.mu.Lock()
		if err == nil {
			if cerr := s.commitLocked(fctx, nil); cerr != nil {
				s.log.Warn("final sink commit", "err", cerr)
			}
		}
		tps := make([]plugins.TopicPartition, 0, len(s.assigned))
		for tp := range s.assigned {
			tps = append(tps, tp)
		}
		if len(tps) > 0 {
			_ = s.task.Close(tps)
		}
		s.closed = true
		s.mu.Unlock()
		cancel()
		s.cl.Close()
	}()
	state := stateRunning
	if s.rt.paused {
		state = statePaused
	}
	s.w.putTaskStatus(s.id, state, nil)
	s.log.Info("sink task started", "group", sinkGroup(s.id.Connector))
	lastCommit := time.Now()
	for ctx.Err() == nil {
		ok := s.rt.waitWhilePaused(ctx, func() {
			s.mu.Lock()
			_ = s.commitLocked(ctx, nil)
			s.mu.Unlock()
			s.w.putTaskStatus(s.id, statePaused, nil)
		}, func() { s.w.putTaskStatus(s.id, stateRunning, nil) })
		if !ok {
			break
		}
		// A reset asked for by PreCommit, or by Open in a rebalance
		// callback, is applied before the next poll.
		s.mu.Lock()
		s.applyResetsLocked()
		s.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := s.cl.PollRecords(pctx, s.maxPoll)
		cancel()
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			s.log.Warn("fetch", "topic", t, "partition", p, "err", err)
			if errors.Is(err, kgo.ErrClientClosed) {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		if err := s.deliver(ctx, fs); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		requested := false
		select {
		case <-s.commitRq:
			requested = true
		default:
		}
		if requested || time.Since(lastCommit) >= s.w.cfg.OffsetFlushInterval {
			s.mu.Lock()
			cerr := s.commitLocked(ctx, nil)
			s.mu.Unlock()
			if cerr != nil && ctx.Err() == nil {
				s.log.Warn("committing sink offsets", "err", cerr)
			}
			// A task whose PreCommit writes (a storage sink committing an
			// idle file) shows a retriable failure there like one of Put.
			var re *plugins.Retriable
			if cerr != nil && ctx.Err() == nil && errors.As(cerr, &re) {
				if !s.retrying {
					s.retrying = true
					s.w.putTaskStatus(s.id, stateRunning, retryingErr("precommit", cerr))
				}
			} else if cerr == nil && s.retrying {
				s.retrying = false
				s.w.putTaskStatus(s.id, stateRunning, nil)
			}
			lastCommit = time.Now()
		}
	}
	return nil
}

// deliver converts and transforms one poll's records and hands them to Put.
func (s *sinkTask) deliver(ctx context.Context, fs kgo.Fetches) error {
	var lag int64
	// The next offset per partition: one past its last record in this poll.
	next := map[plugins.TopicPartition]int64{}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if n := len(p.Records); n > 0 {
			lag += p.HighWatermark - (p.Records[n-1].Offset + 1)
			next[plugins.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p.Records[n-1].Offset + 1
		}
	})
	nrec := fs.NumRecords()
	if nrec == 0 {
		return nil
	}
	s.mLag.Set(float64(lag))
	s.mRead.Add(float64(nrec))
	start := time.Now()
	// Records are converted in place into their slot of batch (its
	// capacity is the poll's record count, so slots never move).
	batch := make([]plugins.Record, 0, nrec)
	// from[i] is the partition batch[i] was read from: a transform may
	// rename the record's topic (RegexRouter), and the assignment is of
	// the partitions read.
	from := make([]plugins.TopicPartition, 0, nrec)
	var fatal error
	fs.EachRecord(func(r *kgo.Record) {
		if fatal != nil {
			return
		}
		n := len(batch)
		batch = batch[:n+1]
		rec, err := s.convert(ctx, r, &batch[n])
		if err != nil || rec == nil {
			batch[n] = plugins.Record{}
			batch = batch[:n]
			if err != nil && !errors.Is(err, errTolerated) {
				fatal = err
			}
			return
		}
		if rec != &batch[n] {
			batch[n] = *rec
		}
		from = append(from, plugins.TopicPartition{Topic: r.Topic, Partition: r.Partition})
	})
	if fatal != nil {
		return fatal
	}
	backoff := initialBackof
	// moved are the partitions the task reset since this poll: their
	// records here are from the old position and are never delivered.
	moved := map[plugins.TopicPartition]bool{}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		// A reset asked for while we converted (Open of an assignment
		// on kgo's goroutine) is applied before this Put.
		maps.Copy(moved, s.applyResetsLocked())
		// Drop records of partitions revoked while we converted, and of
		// those reset.
		kept, keptFrom := batch[:0], from[:0]
		for i, r := range batch {
			if s.assigned[from[i]] && !moved[from[i]] {
				kept, keptFrom = append(kept, r), append(keptFrom, from[i])
			}
		}
		batch, from = kept, keptFrom
		err := s.task.Put(ctx, batch)
		// A reset asked for by this Put is applied before the next
		// records: the redelivery of this batch after a retriable error
		// leaves the partition's records out.
		maps.Copy(moved, s.applyResetsLocked())
		if err == nil {
			for tp, o := range next {
				if s.assigned[tp] && !moved[tp] {
					s.current[tp] = o
				}
			}
		}
		s.mu.Unlock()
		if err == nil {
			if s.retrying {
				s.retrying = false
				s.w.putTaskStatus(s.id, stateRunning, nil)
			}
			s.mSent.Add(float64(len(batch)))
			s.mBatch.Observe(time.Since(start).Seconds())
			return nil
		}
		s.w.m.errors.WithLabelValues(s.id.Connector, strconv.Itoa(s.id.Task), string(stageTaskPut)).Inc()
		var re *plugins.Retriable
		if !errors.As(err, &re) {
			return fmt.Errorf("put: %w", err)
		}
		s.w.m.retries.WithLabelValues(s.lbl...).Inc()
		s.log.Warn("retriable error from put; redelivering the batch", "err", err, "backoff", backoff)
		if !s.retrying {
			s.retrying = true
			s.w.putTaskStatus(s.id, stateRunning, retryingErr("put", err))
		}
		if err := sleepCtx(ctx, backoff); err != nil {
			return err
		}
		backoff = min(backoff*2, s.cc.retryDelayMax)
	}
}

// convert turns a log record into a Connect record, built in *rec (nil:
// dropped by a transform).
func (s *sinkTask) convert(ctx context.Context, r *kgo.Record, rec *plugins.Record) (*plugins.Record, error) {
	// The task's one errantRecord, filled again for each record: the
	// error handler reads it only while this call runs, and an allocation
	// per record was 2% of an S3 sink's CPU.
	er := &s.errant
	*er = errantRecord{topic: r.Topic, partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value, headers: r.Headers}
	*rec = plugins.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Headers: headersFromKafka(r.Headers)}
	er.rec = rec
	if err := s.eh.execute(ctx, stageKeyConverter, s.conv.keyClass, er, func() (err error) {
		if s.rawKey != nil {
			if schema, raw, ok := s.rawKey.ToConnectRawJSON(r.Topic, r.Key); ok {
				rec.KeySchema, rec.Key = schema, raw
				return nil
			}
		}
		rec.KeySchema, rec.Key, err = s.conv.key.ToConnect(r.Topic, r.Key)
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.eh.execute(ctx, stageValueConverter, s.conv.valClass, er, func() (err error) {
		if s.rawJSON != nil {
			if schema, raw, ok := s.rawJSON.ToConnectRawJSON(r.Topic, r.Value); ok {
				rec.ValueSchema, rec.Value = schema, raw
				return nil
			}
		}
		rec.ValueSchema, rec.Value, err = s.conv.value.ToConnect(r.Topic, r.Value)
		return err
	}); err != nil {
		return nil, err
	}
	var out *plugins.Record
	var class string
	if err := s.eh.execute(ctx, stageTransformation, "", nil, func() (err error) {
		out, class, err = s.chain.apply(rec)
		return err
	}); err != nil {
		if errors.Is(err, errTolerated) && s.eh.prod != nil {
			if derr := s.eh.deadLetter(ctx, stageTransformation, class, er, fmt.Errorf("transformation %s failed", class)); derr != nil {
				return nil, derr
			}
		}
		return nil, err
	}
	return out, nil
}

// rawJSONConverters are the key and value converters as
// RawJSONConverters when keys and values may reach the task as their JSON
// text: the task takes them (asked once, after Start: a storage sink
// knows its format then), and no transform or predicate would see them
// (they read the record; predicates run only inside the chain). The
// ErrantRecordReporter writes such a key or value with the converter it
// came from, which takes its own RawJSON.
func (s *sinkTask) rawJSONConverters() (key, value plugins.RawJSONConverter) {
	rs, ok := s.task.(plugins.RawJSONSink)
	if !ok || (s.chain != nil && s.chain.c != nil && s.chain.c.Len() > 0) || !rs.AcceptsRawJSON() {
		return nil, nil
	}
	key, _ = s.conv.key.(plugins.RawJSONConverter)
	value, _ = s.conv.value.(plugins.RawJSONConverter)
	return key, value
}

// commitLocked asks the task what is durable and commits it. only, when
// non-nil, limits the commit to those partitions (revocation).
func (s *sinkTask) commitLocked(ctx context.Context, only []plugins.TopicPartition) error {
	cur := maps.Clone(s.current)
	if only != nil {
		cur = map[plugins.TopicPartition]int64{}
		for _, tp := range only {
			if o, ok := s.current[tp]; ok {
				cur[tp] = o
			}
		}
	}
	if len(cur) == 0 {
		return nil
	}
	start := time.Now()
	safe, err := s.task.PreCommit(ctx, cur)
	if err != nil {
		return fmt.Errorf("PreCommit: %w", err)
	}
	offs := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range safe {
		if _, ok := cur[tp]; !ok {
			continue
		}
		if offs[tp.Topic] == nil {
			offs[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		offs[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	if len(offs) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	var cerr error
	s.cl.CommitOffsetsSync(cctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && cerr == nil {
					cerr = fmt.Errorf("commit %s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
	})
	if cerr == nil {
		s.mCommit.Observe(time.Since(start).Seconds())
		if oc, ok := s.task.(plugins.OffsetsCommitter); ok {
			done := make(map[plugins.TopicPartition]int64, len(safe))
			for tp, o := range safe {
				if _, ok := cur[tp]; ok {
					done[tp] = o
				}
			}
			oc.OffsetsCommitted(done)
		}
	}
	return cerr
}

func (s *sinkTask) onAssigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	tps := fromKgo(m)
	for _, tp := range tps {
		s.assigned[tp] = true
	}
	if err := s.task.Open(tps); err != nil {
		s.log.Error("sink task Open", "err", err)
	}
}

func (s *sinkTask) onRevoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	tps := fromKgo(m)
	if err := s.commitLocked(ctx, tps); err != nil {
		s.log.Warn("commit on revocation", "err", err)
	}
	s.dropLocked(tps)
}

func (s *sinkTask) onLost(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.dropLocked(fromKgo(m))
}

func (s *sinkTask) dropLocked(tps []plugins.TopicPartition) {
	if err := s.task.Close(tps); err != nil {
		s.log.Warn("sink task Close", "err", err)
	}
	// A reset not applied yet was of the ownership that ends here.
	s.resetMu.Lock()
	for _, tp := range tps {
		delete(s.assigned, tp)
		delete(s.current, tp)
		delete(s.resets, tp)
	}
	s.resetMu.Unlock()
}
