package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v1-8
//
// Behavior:
// * A leader whose high watermark has not reached its epoch's start offset
//   yet (just elected) answers -1 and timestamps it cannot place below the
//   HW with OFFSET_NOT_AVAILABLE, retriable, as Kafka does (KIP-207).
// * -1 latest: the high watermark (read_uncommitted) or the last stable
//   offset (read_committed, v2+).
// * -2 earliest and -4 earliest-local (v8; no tiered storage, so the same):
//   the log start offset.
// * -3 max timestamp (v7): the offset of the record with the largest
//   timestamp.
// * t >= 0: the first offset whose timestamp is >= t (time index), or -1
//   with timestamp -1 when none is.
// * CurrentLeaderEpoch (v4+) is checked; LeaderEpoch is this leader's.

func init() { register(kmsg.ListOffsets, 1, 8, handleListOffsets) }

func handleListOffsets(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			p, ok := b.partition(rt.Topic, rp.Partition)
			if !ok || p == nil {
				sp.ErrorCode = b.partitionCode(rt.Topic, rp.Partition)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			e := p.epoch()
			if cle := rp.CurrentLeaderEpoch; cle >= 0 && cle < e {
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			} else if cle > e {
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			} else {
				sp.LeaderEpoch = e
				hw := p.highWatermark()
				behind := req.ReplicaID < 0 && p.hwBehindEpochStart()
				switch ts := rp.Timestamp; {
				case ts == -1 && behind:
					sp.ErrorCode = kerr.OffsetNotAvailable.Code
				case ts == -1:
					sp.Offset = hw
					if req.IsolationLevel == 1 {
						sp.Offset = p.log.LastStableOffset(hw)
					}
				case ts == -2 || ts == -4:
					sp.Offset = p.log.StartOffset()
				case ts == -3:
					off, t := p.log.MaxTimestamp()
					if off >= hw {
						off, t = -1, -1
					}
					sp.Offset, sp.Timestamp = off, t
				case ts < 0:
					sp.ErrorCode = kerr.InvalidRequest.Code
				default:
					off, t, found, err := p.log.OffsetForTimestamp(ts)
					switch {
					case err != nil:
						sp.ErrorCode = errCode(err)
					case found && off < hw:
						sp.Offset, sp.Timestamp = off, t
					case behind: // the record may lie between the HW and the epoch's start
						sp.ErrorCode = kerr.OffsetNotAvailable.Code
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
