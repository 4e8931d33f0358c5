package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
)

// sourceTask drives one SourceTask: Poll → transforms → converters →
// produce, and commits each source partition's offset once every record
// of that partition submitted before it has been acknowledged by the log
// (Kafka Connect's SubmittedRecords). Delivery is at-least-once: a crash
// between the acknowledgement and the offset commit redelivers.
//
// Backpressure: the task's producer buffers a bounded number of records;
// when the log is slower than the source, Produce blocks and so does the
// next Poll.
type sourceTask struct {
	w       *Worker
	id      taskID
	rt      *runTask
	cc      *connectorConfig
	connCfg map[string]string
	cfg     map[string]string
	task    plugins.SourceTask
	log     *slog.Logger

	conv  *converters
	chain *transformChain
	eh    *errorHandler
	prod  *kgo.Client
	lbl   []string

	// Metric children resolved once per run (no per-record label lookups).
	mPolled, mWritten, mProduceErr prometheus.Counter
	mBatch, mCommit                prometheus.Observer

	// promise is the one produce callback of every record (its state is
	// the record's *sendItem, carried in kgo.Record.Context).
	promise func(*kgo.Record, error)
	// fillFn encodes an errant record's key and value, only when reported.
	fillFn func(*errantRecord)

	// The offsets-topic key of the last source partition seen (the task
	// goroutine only): consecutive records of one partition marshal it once.
	lastPart    map[string]any
	lastPartKey string
	havePart    bool

	// txn: exactly-once (KIP-618): each poll's records and their offsets
	// are written in one transaction of the task's transactional producer.
	txn bool
	// life serialises the plugin's Stop with its Start (Kafka's
	// WorkerSourceTask: stop() only flags a stop requested before start()
	// returned, and the task thread itself calls task.stop() afterwards).
	life struct {
		sync.Mutex
		started  bool // Start returned; Stop may be called from any goroutine
		stopReq  bool // a Stop was requested while Start was running
		stopped  bool // the plugin's Stop was called (at most once)
		startRan bool // Start was called at all
	}

	mu       sync.Mutex
	queues   map[string]*partQueue
	asyncErr error
	// txnDone: in a transaction, the records whose CommitRecord waits for
	// the commit (an aborted transaction must not acknowledge upstream).
	txnDone []*plugins.Record
}

type submitted struct {
	acked  atomic.Bool
	offset map[string]any
}

// sendItem is one record in flight: the context kgo sees (it may carry the
// record's explicit partition) plus what its acknowledgement needs.
type sendItem struct {
	context.Context
	sub  *submitted
	orig *plugins.Record // as polled, before transforms, for CommitRecord
}

type partQueue struct {
	partition map[string]any
	items     []*submitted
}

type manualPartitionKey struct{}

// connectPartitioner honours a record's explicit partition and hashes keys
// like Kafka's default partitioner otherwise.
type connectPartitioner struct{ def kgo.Partitioner }

func (p connectPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return connectTopicPartitioner{p.def.ForTopic(t)}
}

type connectTopicPartitioner struct{ def kgo.TopicPartitioner }

func (p connectTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return p.def.RequiresConsistency(r)
}

func (p connectTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Context != nil {
		if v, ok := r.Context.Value(manualPartitionKey{}).(int32); ok && int(v) < n {
			return int(v)
		}
	}
	return p.def.Partition(r, n)
}

type sourceCtx struct{ s *sourceTask }

func (c sourceCtx) Offsets() plugins.OffsetReader { return c }

func (c sourceCtx) Offset(partition map[string]any) (map[string]any, error) {
	o, _ := c.s.w.offsets.get(c.s.id.Connector, partition)
	return o, nil
}

func (s *sourceTask) run(ctx context.Context) (err error) {
	s.lbl = []string{s.id.Connector, strconv.Itoa(s.id.Task)}
	s.queues = map[string]*partQueue{}
	s.mPolled = s.w.m.polled.WithLabelValues(s.lbl...)
	s.mWritten = s.w.m.written.WithLabelValues(s.lbl...)
	s.mProduceErr = s.w.m.errors.WithLabelValues(s.id.Connector, s.lbl[1], string(stageKafkaProduce))
	s.mBatch = s.w.m.batch.WithLabelValues(s.id.Connector, s.lbl[1], "source")
	s.mCommit = s.w.m.commit.WithLabelValues(s.lbl...)
	s.promise = s.produced
	s.fillFn = s.fillErrant
	s.eh = &errorHandler{cc: s.cc, connector: s.id.Connector, task: s.id.Task, log: s.log, m: s.w.m, secrets: s.w.secrets, sleep: sleepCtx}
	reg := s.w.cfg.Plugins
	if s.conv, err = newConverters(reg, s.w.cfg, s.connCfg); err != nil {
		return err
	}
	if s.chain, err = buildChain(reg, s.connCfg); err != nil {
		return err
	}
	defer s.chain.close()
	if s.txn, err = s.w.exactlyOnce(ctx, s.connCfg, s.log); err != nil {
		return err
	}
	popts := []kgo.Opt{
		kgo.SeedBrokers(s.w.cfg.BootstrapServers...),
		kgo.ClientID(fmt.Sprintf("connector-producer-%s", s.id)),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Room for several full batches (ProducerBatchMaxBytes, ~1 MB) so
		// that produce requests pipeline; 8192 records of ~100 bytes were
		// less than one batch, leaving one request in flight at a time.
		// Bounded by bytes like Kafka's buffer.memory (32 MiB).
		kgo.MaxBufferedRecords(65536),
		kgo.MaxBufferedBytes(32 << 20),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(connectPartitioner{kgo.StickyKeyPartitioner(nil)}),
	}
	over, _, err := clientOverrides(s.connCfg, true)
	if err != nil {
		return err
	}
	popts = append(popts, over...)
	if s.txn {
		// Kafka's transactional id for source tasks: <group>-<connector>-<task>;
		// a restarted or moved task fences its zombie predecessor.
		cluster := s.w.cfg.GroupID
		if cluster == "" {
			cluster = "connect-standalone"
		}
		popts = append(popts, kgo.TransactionalID(fmt.Sprintf("%s-%s-%d", cluster, s.id.Connector, s.id.Task)),
			kgo.TransactionTimeout(time.Minute))
	}
	s.prod, err = kgo.NewClient(popts...)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer s.prod.Close()
	if s.cc.dlqTopic != "" {
		s.eh.prod = s.prod
		if err := s.w.ensureDataTopic(ctx, s.cc.dlqTopic, s.cc.dlqRF); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, stateTopicReadLimit)
	err = s.w.offsetLog.readToEnd(rctx)
	cancel()
	if err != nil {
		return fmt.Errorf("read committed offsets: %w", err)
	}
	if !s.beginStart() {
		return nil
	}
	serr := s.task.Start(sourceCtx{s}, plugins.Config(s.cfg))
	// From here on the plugin's Stop runs once, whoever asks first: the
	// herder (to unblock Poll) or this goroutine when run returns.
	defer s.stopPlugin()
	if !s.endStart() {
		return nil
	}
	if serr != nil {
		return fmt.Errorf("start source task: %w", serr)
	}
	defer func() {
		// Flush what is in flight and commit it, even when stopping.
		fctx, cancel := context.WithTimeout(context.Background(), s.w.cfg.OffsetFlushTimeout)
		defer cancel()
		_ = s.prod.Flush(fctx)
		if cerr := s.commit(fctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	state := stateRunning
	if s.rt.paused {
		state = statePaused
	}
	s.w.putTaskStatus(s.id, state, nil)
	s.log.Info("source task started")
	lastCommit := time.Now()
	backoff := initialBackof
	retrying := false
	for ctx.Err() == nil {
		ok := s.rt.waitWhilePaused(ctx, func() {
			_ = s.commit(ctx)
			s.w.putTaskStatus(s.id, statePaused, nil)
		}, func() { s.w.putTaskStatus(s.id, stateRunning, nil) })
		if !ok {
			break
		}
		if err := s.failure(); err != nil {
			return err
		}
		start := time.Now()
		recs, err := s.task.Poll(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			s.w.m.errors.WithLabelValues(s.id.Connector, strconv.Itoa(s.id.Task), string(stageTaskPoll)).Inc()
			var re *plugins.Retriable
			if !errors.As(err, &re) {
				return fmt.Errorf("poll: %w", err)
			}
			s.w.m.retries.WithLabelValues(s.lbl...).Inc()
			s.log.Warn("retriable error from poll", "err", err, "backoff", backoff)
			if !retrying {
				retrying = true
				s.w.putTaskStatus(s.id, stateRunning, retryingErr("poll", err))
			}
			if sleepCtx(ctx, backoff) != nil {
				break
			}
			backoff = min(backoff*2, s.cc.retryDelayMax)
			continue
		}
		if retrying {
			retrying = false
			s.w.putTaskStatus(s.id, stateRunning, nil)
		}
		backoff = initialBackof
		if len(recs) > 0 {
			s.mPolled.Add(float64(len(recs)))
			if s.txn {
				if err := s.prod.BeginTransaction(); err != nil {
					return fmt.Errorf("begin transaction: %w", err)
				}
			}
			if err := s.sendBatch(ctx, recs); err != nil {
				s.abort()
				return err
			}
			if s.txn {
				if err := s.commitTransaction(ctx); err != nil {
					return err
				}
			}
			s.mBatch.Observe(time.Since(start).Seconds())
		}
		if !s.txn && time.Since(lastCommit) >= s.w.cfg.OffsetFlushInterval {
			if err := s.commit(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("committing source offsets", "err", err)
			}
			lastCommit = time.Now()
		}
	}
	return s.failure()
}

// beginStart reports whether Start may be called: false when a stop was
// requested before the task got that far.
func (s *sourceTask) beginStart() bool {
	s.life.Lock()
	defer s.life.Unlock()
	if s.life.stopReq {
		return false
	}
	s.life.startRan = true
	return true
}

// endStart marks Start as returned and reports whether the task should go
// on polling: false when a stop was requested meanwhile (the deferred
// stopPlugin then calls the plugin's Stop, after its Start).
func (s *sourceTask) endStart() bool {
	s.life.Lock()
	defer s.life.Unlock()
	s.life.started = true
	return !s.life.stopReq
}

// requestStop is the herder's stop: the plugin's Stop now when Start has
// returned (it must unblock Poll), otherwise only a note for the task
// goroutine, which calls Stop once Start returns.
func (s *sourceTask) requestStop() {
	s.life.Lock()
	s.life.stopReq = true
	call := s.life.started && !s.life.stopped
	if call {
		s.life.stopped = true
	}
	s.life.Unlock()
	if call {
		_ = s.task.Stop()
	}
}

// stopPlugin calls the plugin's Stop unless someone already did; only
// after Start was called and returned.
func (s *sourceTask) stopPlugin() {
	s.life.Lock()
	call := s.life.startRan && s.life.started && !s.life.stopped
	if call {
		s.life.stopped = true
	}
	s.life.Unlock()
	if call {
		_ = s.task.Stop()
	}
}

func (s *sourceTask) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asyncErr
}

// trackBatch registers the source offsets of one poll's records as
// submitted, not yet acknowledged, in poll order, under one lock. subs[i]
// is nil for a record without source partition and offset, or whose
// partition cannot be encoded.
func (s *sourceTask) trackBatch(recs []plugins.Record) []*submitted {
	subs := make([]*submitted, len(recs))
	backing := make([]submitted, len(recs))
	keys := make([]string, len(recs))
	for i := range recs {
		rec := &recs[i]
		if rec.SourcePartition == nil && rec.SourceOffset == nil {
			continue
		}
		k, ok := s.partitionKey(rec.SourcePartition)
		if !ok {
			continue
		}
		backing[i].offset = rec.SourceOffset
		subs[i], keys[i] = &backing[i], k
	}
	s.mu.Lock()
	var q *partQueue
	var qk string
	for i, sub := range subs {
		if sub == nil {
			continue
		}
		if q == nil || keys[i] != qk {
			qk = keys[i]
			if q = s.queues[qk]; q == nil {
				q = &partQueue{partition: recs[i].SourcePartition}
				s.queues[qk] = q
			}
		}
		q.items = append(q.items, sub)
	}
	s.mu.Unlock()
	return subs
}

// partitionKey is offsetKey for this task's connector, reusing the last
// key while consecutive records name an equal partition.
func (s *sourceTask) partitionKey(part map[string]any) (string, bool) {
	if s.havePart && samePartition(part, s.lastPart) {
		return s.lastPartKey, true
	}
	k, err := offsetKey(s.id.Connector, part)
	if err != nil {
		return "", false
	}
	// A copy: a task may reuse and modify the map it returned.
	s.lastPart, s.lastPartKey, s.havePart = maps.Clone(part), string(k), true
	return s.lastPartKey, true
}

// samePartition reports whether a and b hold the same keys with equal
// scalar values (anything else counts as different: the caller then
// marshals the key afresh).
func samePartition(a, b map[string]any) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok {
			return false
		}
		switch x := v.(type) {
		case nil:
			if w != nil {
				return false
			}
		case string:
			if y, ok := w.(string); !ok || x != y {
				return false
			}
		case bool, int, int32, int64, float64:
			if v != w { // v's type is comparable: no panic
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (s *sourceTask) ack(sub *submitted) {
	if sub == nil {
		return
	}
	sub.acked.Store(true)
}

func (s *sourceTask) errant(rec *plugins.Record) *errantRecord {
	er := &errantRecord{topic: rec.Topic, partition: rec.Partition, offset: -1, rec: rec}
	enc := func(c plugins.Converter, sch *plugins.Schema, v any) []byte {
		if v == nil {
			return nil
		}
		if c != nil {
			if b, err := c.FromConnect(rec.Topic, sch, v); err == nil {
				return b
			}
		}
		if b, err := json.Marshal(v); err == nil {
			return b
		}
		return []byte(fmt.Sprint(v))
	}
	if s.conv != nil {
		er.key = enc(s.conv.key, rec.KeySchema, rec.Key)
		er.value = enc(s.conv.value, rec.ValueSchema, rec.Value)
	}
	return er
}

// sendBatch sends one poll's records in order.
func (s *sourceTask) sendBatch(ctx context.Context, recs []plugins.Record) error {
	subs := s.trackBatch(recs)
	// The records as polled, for CommitRecord and the dead letter queue:
	// transforms may change a record in place and a task may reuse the
	// slice Poll returned, so keep copies (one allocation per poll).
	origs := append([]plugins.Record(nil), recs...)
	items := make([]sendItem, len(recs))
	krs := make([]kgo.Record, len(recs))
	var topicOK string // ensured and noted during this batch
	for i := range recs {
		it := &items[i]
		it.sub, it.orig = subs[i], &origs[i]
		if err := s.send(ctx, &recs[i], it, &krs[i], &topicOK); err != nil {
			return err
		}
	}
	return nil
}

// fillErrant encodes er.rec's key and value for the dead letter queue.
func (s *sourceTask) fillErrant(er *errantRecord) {
	e := s.errant(er.rec)
	er.key, er.value = e.key, e.value
}

// send transforms, converts and produces one record.
func (s *sourceTask) send(ctx context.Context, rec *plugins.Record, it *sendItem, kr *kgo.Record, topicOK *string) error {
	orig := it.orig
	var out *plugins.Record
	var class string
	err := s.eh.execute(ctx, stageTransformation, "", nil, func() error {
		var err error
		out, class, err = s.chain.apply(rec)
		return err
	})
	if err != nil && !errors.Is(err, errTolerated) {
		return err
	}
	if errors.Is(err, errTolerated) {
		// execute had no record to report before the failing class was known.
		s.deadLetterSource(ctx, stageTransformation, class, orig)
		s.dropped(it)
		return nil
	}
	if out == nil { // dropped by a transform: its offset still counts
		s.dropped(it)
		return nil
	}
	var key, value []byte
	er := &errantRecord{topic: out.Topic, partition: out.Partition, offset: -1, rec: out, fill: s.fillFn}
	if err := s.eh.execute(ctx, stageKeyConverter, s.conv.keyClass, er, func() (err error) {
		key, err = s.conv.key.FromConnect(out.Topic, out.KeySchema, out.Key)
		return err
	}); err != nil {
		return s.tolerated(err, it)
	}
	if err := s.eh.execute(ctx, stageValueConverter, s.conv.valClass, er, func() (err error) {
		value, err = s.conv.value.FromConnect(out.Topic, out.ValueSchema, out.Value)
		return err
	}); err != nil {
		return s.tolerated(err, it)
	}
	var headers []kgo.RecordHeader
	if err := s.eh.execute(ctx, stageHeaderConverter, "SimpleHeaderConverter", er, func() error {
		for _, h := range out.Headers {
			b, err := headerToBytes(h)
			if err != nil {
				return fmt.Errorf("header %s: %w", h.Key, err)
			}
			headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: b})
		}
		return nil
	}); err != nil {
		return s.tolerated(err, it)
	}
	if out.Topic == "" {
		return fmt.Errorf("source record without a topic (connector %s)", s.id.Connector)
	}
	if out.Topic != *topicOK {
		if err := s.w.ensureDataTopic(ctx, out.Topic, -1); err != nil {
			return err
		}
		s.w.noteActiveTopic(s.id, out.Topic)
		*topicOK = out.Topic
	}
	it.Context = context.Background()
	if out.Partition >= 0 {
		it.Context = context.WithValue(it.Context, manualPartitionKey{}, out.Partition)
	}
	*kr = kgo.Record{Topic: out.Topic, Key: key, Value: value, Headers: headers, Timestamp: out.Timestamp, Context: it}
	s.prod.Produce(ctx, kr, s.promise)
	return nil
}

// produced is the produce callback: kr.Context is the record's *sendItem.
func (s *sourceTask) produced(kr *kgo.Record, err error) {
	it := kr.Context.(*sendItem)
	if err != nil {
		s.mProduceErr.Inc()
		if s.cc.tolerateAll {
			s.log.Error("record not produced; skipped (errors.tolerance=all)", "topic", kr.Topic, "err", err)
			s.dropped(it)
			return
		}
		s.mu.Lock()
		if s.asyncErr == nil {
			s.asyncErr = fmt.Errorf("produce to %s: %w", kr.Topic, err)
		}
		s.mu.Unlock()
		return
	}
	s.mWritten.Inc()
	s.ack(it.sub)
	s.commitRecord(it.orig)
}

// commitRecord calls the task's CommitRecord now, or, in a transaction,
// once the transaction is committed: with exactly-once a record is in the
// log only then (KIP-618), and a source acknowledging upstream (STOMP)
// must not lose a message to an aborted transaction.
func (s *sourceTask) commitRecord(rec *plugins.Record) {
	if s.txn {
		s.mu.Lock()
		s.txnDone = append(s.txnDone, rec)
		s.mu.Unlock()
		return
	}
	if cerr := s.task.CommitRecord(rec); cerr != nil {
		s.log.Warn("CommitRecord", "err", cerr)
	}
}

// dropped finishes a record that will never reach the log (filtered by a
// transform, or skipped under errors.tolerance=all): its offset counts and,
// as Kafka Connect's recordDropped does, the task's CommitRecord is called,
// so a source that acknowledges messages upstream (STOMP, JMS) does not
// hold them unacknowledged forever.
func (s *sourceTask) dropped(it *sendItem) {
	s.ack(it.sub)
	s.commitRecord(it.orig)
}

// tolerated turns a skipped record into "carry on" and anything else into
// the task's failure.
func (s *sourceTask) tolerated(err error, it *sendItem) error {
	if errors.Is(err, errTolerated) {
		s.dropped(it)
		return nil
	}
	return err
}

// deadLetterSource reports a record that failed in a transformation.
func (s *sourceTask) deadLetterSource(ctx context.Context, st stage, class string, rec *plugins.Record) {
	if s.eh.prod == nil || s.cc.dlqTopic == "" {
		return
	}
	if err := s.eh.deadLetter(ctx, st, class, s.errant(rec), fmt.Errorf("transformation %s failed", class)); err != nil {
		s.log.Error("writing to the dead letter queue", "err", err)
	}
}

func (s *sourceTask) abort() {
	if !s.txn {
		return
	}
	s.mu.Lock()
	s.txnDone = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	_ = s.prod.AbortBufferedRecords(ctx)
	_ = s.prod.EndTransaction(ctx, kgo.TryAbort)
}

// commitTransaction flushes this poll's records, writes their offsets into
// the same transaction and commits it (transaction.boundary=poll).
func (s *sourceTask) commitTransaction(ctx context.Context) error {
	start := time.Now()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	if err := s.prod.Flush(cctx); err != nil {
		s.abort()
		return fmt.Errorf("flush transaction: %w", err)
	}
	if err := s.failure(); err != nil {
		s.abort()
		return err
	}
	recs, _ := s.takeOffsets()
	for _, r := range recs {
		r.Context = context.Background()
	}
	if len(recs) > 0 {
		if err := s.prod.ProduceSync(cctx, recs...).FirstErr(); err != nil {
			s.abort()
			return fmt.Errorf("write offsets in the transaction: %w", err)
		}
	}
	if err := s.prod.EndTransaction(cctx, kgo.TryCommit); err != nil {
		s.abort()
		return fmt.Errorf("commit transaction: %w", err)
	}
	s.mCommit.Observe(time.Since(start).Seconds())
	s.mu.Lock()
	done := s.txnDone
	s.txnDone = nil
	s.mu.Unlock()
	for _, rec := range done {
		if cerr := s.task.CommitRecord(rec); cerr != nil {
			s.log.Warn("CommitRecord", "err", cerr)
		}
	}
	if err := s.task.Commit(); err != nil {
		s.log.Warn("source task Commit", "err", err)
	}
	return nil
}

// takeOffsets removes the acknowledged prefix of every source partition's
// queue and returns one offsets-topic record per partition (its newest
// acknowledged offset) with the entries taken.
func (s *sourceTask) takeOffsets() ([]*kgo.Record, []*submitted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []*kgo.Record
	var taken []*submitted
	for k, q := range s.queues {
		n := 0
		for n < len(q.items) && q.items[n].acked.Load() {
			n++
		}
		if n == 0 {
			continue
		}
		last := q.items[n-1].offset
		taken = append(taken, q.items[n-1])
		q.items = q.items[n:]
		var v []byte
		if last != nil {
			v, _ = json.Marshal(last)
		}
		recs = append(recs, &kgo.Record{Topic: s.w.cfg.OffsetTopic, Key: []byte(k), Value: v})
	}
	return recs, taken
}

// commit writes the offsets of every acknowledged prefix and tells the task.
func (s *sourceTask) commit(ctx context.Context) error {
	if s.txn {
		return nil // committed with each transaction
	}
	start := time.Now()
	recs, taken := s.takeOffsets()
	if len(recs) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.w.cfg.OffsetFlushTimeout)
	defer cancel()
	if err := s.w.prod.ProduceSync(cctx, recs...).FirstErr(); err != nil {
		// Put the newest committed entry back at the head of its queue so
		// the next commit writes it again (or a newer one).
		s.mu.Lock()
		for i, r := range recs {
			q := s.queues[string(r.Key)]
			q.items = append([]*submitted{taken[i]}, q.items...)
		}
		s.mu.Unlock()
		return fmt.Errorf("write source offsets: %w", err)
	}
	s.mCommit.Observe(time.Since(start).Seconds())
	s.mu.Lock()
	done := s.txnDone
	s.txnDone = nil
	s.mu.Unlock()
	for _, rec := range done {
		if cerr := s.task.CommitRecord(rec); cerr != nil {
			s.log.Warn("CommitRecord", "err", cerr)
		}
	}
	if err := s.task.Commit(); err != nil {
		s.log.Warn("source task Commit", "err", err)
	}
	return nil
}
