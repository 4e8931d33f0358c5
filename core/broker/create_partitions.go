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
			fail(kerr.UnknownTopicOrPartition, fmt.Sprintf("topic '%s' does not exist", rt.Topic))
		case t.Internal:
			fail(kerr.InvalidTopicException, fmt.Sprintf("cannot add partitions to internal topic '%s'", rt.Topic))
		case int(rt.Count) == len(t.Partitions):
			fail(kerr.InvalidPartitions, fmt.Sprintf("topic '%s' already has %d partitions", rt.Topic, len(t.Partitions)))
		case int(rt.Count) < len(t.Partitions):
			fail(kerr.InvalidPartitions, fmt.Sprintf("topic '%s' has %d partitions, more than the requested %d: partitions can be added, never removed", rt.Topic, len(t.Partitions), rt.Count))
		case rt.Count > b.cfg.MaxPartitionsPerTopic:
			fail(kerr.InvalidPartitions, fmt.Sprintf("%d partitions requested, but at most %d are allowed per topic (--max-partitions-per-topic)", rt.Count, b.cfg.MaxPartitionsPerTopic))
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count)-len(t.Partitions):
			fail(kerr.InvalidReplicaAssignment, fmt.Sprintf("assignment lists %d partitions, but going from %d to %d partitions adds %d", len(rt.Assignment), len(t.Partitions), rt.Count, int(rt.Count)-len(t.Partitions)))
		default:
			assign := b.assignment(rt.Topic, int32(len(t.Partitions)), rt.Count-int32(len(t.Partitions)), len(t.Partitions[0].Replicas), false)
			for i, a := range rt.Assignment {
				p := len(t.Partitions) + i
				if msg := badAssignment(p, int32(p), a.Replicas, len(t.Partitions[0].Replicas), state.Brokers); msg != "" {
					fail(kerr.InvalidReplicaAssignment, msg)
					break
				}
				assign[i] = a.Replicas
			}
			if st.ErrorCode != 0 || req.ValidateOnly {
				break
			}
			res, err := b.ctl.Propose(rc.ctx, &cluster.Command{Op: cluster.OpCreatePartitions, Topic: rt.Topic, Assignment: assign})
			if err != nil {
				perr := proposeErr(err)
				fail(kerrOf(perr), "add partitions to topic '"+rt.Topic+"': "+reason(perr))
			} else if res.Err != nil {
				fail(res.Err, "add partitions to topic '"+rt.Topic+"': "+res.Err.Message)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
