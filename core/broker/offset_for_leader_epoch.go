package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v0-4
//
// Behavior:
// * For a requested leader epoch, the end offset of the largest epoch <=
//   it (the log's epoch checkpoint); for the current epoch, the log end
//   offset. Unknown: UNDEFINED_EPOCH (-1) and offset -1.
// * CurrentLeaderEpoch (v2+) is checked.
// * Consumer requests (ReplicaID -1, v3+) and follower requests get the
//   same answer; followers are not tracked yet.

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			p, ok := b.partition(rt.Topic, rp.Partition)
			if !ok || p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			e := p.epoch()
			switch cle := rp.CurrentLeaderEpoch; {
			case req.Version >= 2 && cle >= 0 && cle < e:
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case req.Version >= 2 && cle > e:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch == e:
				sp.LeaderEpoch, sp.EndOffset = e, p.log.EndOffset()
			case rp.LeaderEpoch > e:
				// a future epoch: unknown to this leader
			default:
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
