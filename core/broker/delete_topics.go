package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// DeleteTopics: v0-6
//
// Behavior:
// * By name, or by topic ID (v6). The metadata change removes the
//   partition logs (reconcile).
// * Internal topics cannot be deleted: INVALID_TOPIC_EXCEPTION.

func init() { register(kmsg.DeleteTopics, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   cluster.UUID
	}
	var targets []target
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		state := b.ctl.State()
		var t *cluster.Topic
		var ok bool
		if tg.name != nil && *tg.name != "" {
			t, ok = state.Topics[*tg.name]
		} else {
			t, ok = state.TopicByID(tg.id)
		}
		switch {
		case !ok && tg.name == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case !ok:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case t.Internal:
			st.ErrorCode = kerr.InvalidTopicException.Code
		default:
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			res, err := b.ctl.Propose(rc.ctx, &cluster.Command{Op: cluster.OpDeleteTopic, Topic: t.Name})
			if err != nil {
				st.ErrorCode = errCode(proposeErr(err))
			} else if res.Err != nil {
				st.ErrorCode = res.Err.Code
			}
		}
		if st.ErrorCode != 0 && req.Version >= 5 {
			msg := kerr.ErrorForCode(st.ErrorCode).Error()
			st.ErrorMessage = &msg
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
