package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// CreatePartitions: v0-3
//
// Behavior:
// * Count is the new total; it must exceed the current count
//   (INVALID_PARTITIONS). Manual assignments must name existing brokers.
// * ValidateOnly validates and changes nothing.

func init() { register(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			st.ErrorMessage = &msg
		}
		state := b.ctl.State()
		t, ok := state.Topics[rt.Topic]
		switch {
		case !ok:
			fail(kerr.UnknownTopicOrPartition, "unknown topic")
		case t.Internal:
			fail(kerr.InvalidTopicException, "cannot add partitions to an internal topic")
		case int(rt.Count) <= len(t.Partitions):
			fail(kerr.InvalidPartitions, fmt.Sprintf("topic has %d partitions; the new count must be larger", len(t.Partitions)))
		case rt.Count > b.cfg.MaxPartitionsPerTopic:
			fail(kerr.InvalidPartitions, fmt.Sprintf("at most %d partitions per topic", b.cfg.MaxPartitionsPerTopic))
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count)-len(t.Partitions):
			fail(kerr.InvalidReplicaAssignment, "assignment must list exactly the new partitions")
		default:
			assign := b.assignment(rt.Count - int32(len(t.Partitions)))
			for i, a := range rt.Assignment {
				for _, r := range a.Replicas {
					if _, exists := state.Brokers[r]; !exists {
						fail(kerr.InvalidReplicaAssignment, fmt.Sprintf("unknown broker %d", r))
					}
				}
				if len(a.Replicas) > 0 {
					assign[i] = a.Replicas
				}
			}
			if st.ErrorCode != 0 || req.ValidateOnly {
				break
			}
			res, err := b.ctl.Propose(rc.ctx, &cluster.Command{Op: cluster.OpCreatePartitions, Topic: rt.Topic, Assignment: assign})
			if err != nil {
				st.ErrorCode = errCode(proposeErr(err))
			} else if res.Err != nil {
				st.ErrorCode = res.Err.Code
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
