package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2
//
// Behavior:
// * Offset -1 means the high watermark; an offset above the high
//   watermark or below 0 is OFFSET_OUT_OF_RANGE.
// * Moves the log start offset (core/log DeleteRecordsBefore); whole
//   segments below it are removed by the log. LowWatermark is the new log
//   start offset.

func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			p, ok := b.partition(rt.Topic, rp.Partition)
			tp, _ := b.lookup(rt.Topic)
			switch {
			case !ok || p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case tp.meta.Internal:
				sp.ErrorCode = kerr.InvalidTopicException.Code
			default:
				hw := p.highWatermark()
				off := rp.Offset
				if off == -1 {
					off = hw
				}
				if off < 0 || off > hw {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
					break
				}
				start, err := p.log.DeleteRecordsBefore(off)
				if err != nil {
					sp.ErrorCode = errCode(err)
					break
				}
				sp.LowWatermark = start
				p.wake() // fetchers see the new log start offset
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
