package broker

import (
	"context"
	"errors"
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
			case !b.leads(tp.meta, int(rp.Partition)):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case tp.parts[rp.Partition] == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
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
				why = b.produceTo(rc.ctx, tp.parts[rp.Partition], records, &sp, req.Acks == -1, time.Duration(max(req.TimeoutMillis, 1))*time.Millisecond)
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
	if req.Acks == 0 {
		rc.p.noResponse = true
	}
	return resp
}

// produceTo appends and fills sp; the error, if any, is the reason sp's
// error code gives.
func (b *Broker) produceTo(ctx context.Context, p *partition, records []byte, sp *kmsg.ProduceResponseTopicPartition, acksAll bool, timeout time.Duration) error {
	res, err := p.log.Append(records, wlog.AppendOptions{LeaderEpoch: p.epoch(), Origin: wlog.OriginClient})
	if err != nil {
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
	if !res.Duplicate {
		b.metrics.produced.Add(float64(len(records)))
	}
	if code := b.afterAppend(ctx, p, res.LogEndOffset, acksAll, timeout); code != 0 {
		sp.ErrorCode = code
		return nil
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	return nil
}
