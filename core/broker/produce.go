package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	wlog "github.com/weirlog/weir/core/log"
	"github.com/weirlog/weir/core/record"
)

// Produce: v0-11 (v0-2 answered UNSUPPORTED_VERSION per partition)
//
// Behavior:
// * v0-2 are advertised but refused, as Apache Kafka 4 does (KAFKA-18659:
//   librdkafka needs v0 in the advertised range): they can only carry
//   message formats v0/v1.
// * acks 0, 1 and -1; anything else is INVALID_REQUIRED_ACKS. acks=0 gets
//   no response at all.
// * acks=-1 checks min.insync.replicas against the partition's ISR
//   (NOT_ENOUGH_REPLICAS), then appends; the high watermark moves when
//   the append is durable per the acks policy (partition.advanceHW).
// * With --fsync (SyncOnAppend) a request appends to every partition,
//   then waits for their group commits together, off the connection's
//   handler goroutine: the connection's next requests are appended while
//   it waits, and it is answered (in request order) once durable.
// * Each partition's records must be exactly one v2 batch, validated as
//   Kafka's LogValidator does before any offset is assigned (validate.go,
//   record.CheckBatch): count and offset deltas consistent, every record
//   well formed, timestamps within message.timestamp.before/after.max.ms
//   for CreateTime topics, keys on compacted topics, a compressed batch
//   decompressed once and at most to MaxDecompressedBatchBytes (or the
//   topic's max.message.bytes if larger). A refused batch consumes no
//   offsets; v8+ answers carry the reason and the refused records.
// * core/log then checks the CRC, max.message.bytes and idempotent
//   sequences (a duplicate answers with the original offsets) and appends.
// * Produce to an internal topic is INVALID_TOPIC_EXCEPTION.
// * compression.type other than "producer" rewrites batches in a
//   different codec before the append (compression.go), from the records
//   validation already decompressed.
// * Transactions are not supported: a transactional batch is refused with
//   INVALID_TXN_STATE before it reaches the log (errNoTxnCoordinator says why).
//
// Version notes:
// * v3+: TransactionalID; v5: LogStartOffset; v8: ErrorMessage; v9 flexible.

func init() { register(kmsg.Produce, 0, 11, handleProduce) }

func handleProduce(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	reqErr := int16(0)
	switch {
	case req.Version < 3:
		reqErr = kerr.UnsupportedVersion.Code
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = kerr.InvalidRequiredAcks.Code
	}
	acksAll, timeout := req.Acks == -1, time.Duration(max(req.TimeoutMillis, 1))*time.Millisecond
	var waits []durableWait // appends still waiting for their group commit (--fsync)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		tp, tok := b.lookup(rt.Topic)
		var lim produceLimits
		if tok {
			lim = b.produceLimits(tp.meta.Configs)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			var why error
			switch {
			case reqErr != 0:
				sp.ErrorCode = reqErr
			case !tok || rp.Partition < 0 || int(rp.Partition) >= len(tp.parts):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !b.leads(tp.meta, int(rp.Partition)) || !b.leaseHolds(rt.Topic, rp.Partition, tp.meta.Partitions[rp.Partition].LeaderEpoch):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case tp.parts[rp.Partition] == nil:
				sp.ErrorCode = b.partitionCode(rt.Topic, rp.Partition)
			case tp.parts[rp.Partition].log.Offline() != nil:
				// The partition's state before the request's content, as
				// Kafka's ReplicaManager checks it.
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case tp.meta.Internal:
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case len(rp.Records) == 0:
				sp.ErrorCode = kerr.CorruptMessage.Code
			case req.Acks == -1 && len(tp.meta.Partitions[rp.Partition].ISR) < b.minInsyncReplicas(tp.meta.Configs):
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
			default:
				records, err := b.validateProduce(rp.Records, &lim)
				if err != nil {
					why = err
					sp.ErrorCode = errCode(err)
					var re *record.RecordsError
					if errors.As(err, &re) && req.Version >= 8 {
						for _, r := range re.Records {
							er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
							er.RelativeOffset, er.ErrorMessage = r.Index, &r.Message
							sp.ErrorRecords = append(sp.ErrorRecords, er)
						}
					}
					break
				}
				var res wlog.AppendResult
				var pending, synced bool
				why, res, pending, synced = b.produceTo(rc.ctx, tp.parts[rp.Partition], records, &sp, acksAll, timeout)
				if pending {
					n := len(records)
					if res.Duplicate {
						n = 0
					}
					waits = append(waits, durableWait{p: tp.parts[rp.Partition], ti: len(resp.Topics), pi: len(st.Partitions), n: n, res: res, synced: synced})
				}
			}
			if sp.ErrorCode != 0 && req.Version >= 8 {
				var msg string
				if why != nil {
					msg = reason(why)
				} else if e := kerr.ErrorForCode(sp.ErrorCode); e != nil {
					msg = e.Error()
				}
				sp.ErrorMessage = &msg
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) > 0 {
		// The records are in the logs' files now and nothing reads the
		// request frame again: hand it back before the fsync wait, so
		// the next frames reuse it (with 16 producers against --fsync,
		// 5 MiB frames held across the wait were most of the broker's
		// peak memory).
		if rc.p != nil && rc.p.buf != nil {
			putBuf(rc.p.buf)
			rc.p.buf = nil
		}
		if rc.conn != nil {
			// Wait off the connection's handler goroutine: the client's
			// next produce requests (up to 5 in flight) are appended
			// meanwhile and join the same group commits, instead of
			// waiting for this one's fsync before they reach the log
			// (one request per connection in the log capped 16
			// producers well under the disk; issue 16), and with
			// acks=all in a cluster the same replication round, instead
			// of one round trip to the followers per request. The
			// appends stay in arrival order, so idempotent sequences
			// hold, and responses go out in request order.
			rc.later = func() { b.awaitProduced(rc.ctx, req.Version, resp, waits, acksAll, timeout) }
		} else {
			b.awaitProduced(rc.ctx, req.Version, resp, waits, acksAll, timeout)
		}
	}
	if req.Acks == 0 {
		rc.p.noResponse = true
	}
	return resp
}

// durableWait is a partition of a produce request appended but not yet
// durable: resp.Topics[ti].Partitions[pi] answers it.
type durableWait struct {
	p      *partition
	ti, pi int
	n      int // bytes appended, 0 for a duplicate
	res    wlog.AppendResult
	synced bool  // nothing to fsync (no --fsync): only the acks=all wait is left
	err    error // the fsync's
	code   int16 // afterAppend's
}

// awaitProduced waits for the group commits of every partition the
// request appended to, concurrently: each log fsyncs its own files, so
// waiting partition after partition would pay one fsync latency per
// partition where the fsyncs can overlap (the file system's journal
// commits them together). Each partition then goes through afterAppend
// (HW, and with acks=all in a cluster the wait for the ISR) in the same
// goroutine, so those waits overlap too. A partition is answered only once
// durable; one whose fsync failed gets its own error.
func (b *Broker) awaitProduced(ctx context.Context, version int16, resp *kmsg.ProduceResponse, waits []durableWait, acksAll bool, timeout time.Duration) {
	wait := func(w *durableWait) {
		if !w.synced {
			w.err = w.p.log.AwaitDurable(w.res.LogEndOffset)
		}
		if w.err == nil {
			b.metrics.produced.Add(float64(w.n))
			w.code = b.afterAppend(ctx, w.p, w.res.LogEndOffset, acksAll, timeout)
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < len(waits); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait(&waits[i])
		}()
	}
	wait(&waits[0])
	wg.Wait()
	for i := range waits {
		w := &waits[i]
		sp := &resp.Topics[w.ti].Partitions[w.pi]
		switch {
		case w.err != nil:
			why := b.appendFailed(w.p, w.err, sp)
			if version >= 8 {
				msg := kerr.ErrorForCode(sp.ErrorCode).Error()
				if why != nil {
					msg = reason(why)
				}
				sp.ErrorMessage = &msg
			}
		case w.code != 0:
			sp.ErrorCode = w.code
			if version >= 8 {
				msg := kerr.ErrorForCode(w.code).Error()
				sp.ErrorMessage = &msg
			}
		default:
			sp.BaseOffset = w.res.BaseOffset
			sp.LogAppendTime = w.res.LogAppendTime
			sp.LogStartOffset = w.res.LogStartOffset
		}
	}
}

// produceTo appends and fills sp; the error, if any, is the reason sp's
// error code gives. pending means the append still has to be made
// durable (awaitProduced) before it is acknowledged: sp, the HW and the
// produced-bytes metric are left for awaitProduced. synced (with pending)
// means the append needs no fsync, only acks=all's wait for the ISR of a
// replicated partition, which awaitProduced does too.
func (b *Broker) produceTo(ctx context.Context, p *partition, records []byte, sp *kmsg.ProduceResponseTopicPartition, acksAll bool, timeout time.Duration) (why error, res wlog.AppendResult, pending, synced bool) {
	res, pending, err := p.log.AppendNoWait(records, wlog.AppendOptions{LeaderEpoch: p.epoch(), Origin: wlog.OriginClient})
	if err != nil {
		return b.appendFailed(p, err, sp), res, false, false
	}
	if pending {
		return nil, res, true, false
	}
	if acksAll && b.multi() {
		return nil, res, true, true
	}
	if !res.Duplicate {
		b.metrics.produced.Add(float64(len(records)))
	}
	if code := b.afterAppend(ctx, p, res.LogEndOffset, acksAll, timeout); code != 0 {
		sp.ErrorCode = code
		return nil, res, false, false
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	return nil, res, false, false
}

// appendFailed sets sp's error code for a failed append (or fsync) and
// returns the reason to give, nil when the partition was deleted meanwhile.
func (b *Broker) appendFailed(p *partition, err error, sp *kmsg.ProduceResponseTopicPartition) error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		b.logger.Error("append", "topic", p.topic, "partition", p.index, "err", err)
	}
	sp.ErrorCode = errCode(err)
	if p.deleted.Load() {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return nil
	}
	return err
}
