package broker

import (
	"encoding/base64"
	"fmt"

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
		var why string
		switch {
		case !ok && tg.name == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
			why = "no topic has ID " + base64.RawURLEncoding.EncodeToString(tg.id[:])
		case !ok:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			why = fmt.Sprintf("topic '%s' does not exist", *tg.name)
		case t.Internal:
			st.ErrorCode = kerr.InvalidTopicException.Code
			why = fmt.Sprintf("internal topic '%s' cannot be deleted", t.Name)
		default:
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			res, err := b.ctl.Propose(rc.ctx, &cluster.Command{Op: cluster.OpDeleteTopic, Topic: t.Name})
			if err != nil {
				perr := proposeErr(err)
				st.ErrorCode, why = errCode(perr), "delete topic '"+name+"': "+reason(perr)
			} else if res.Err != nil {
				st.ErrorCode, why = res.Err.Code, "delete topic '"+name+"': "+res.Err.Message
			}
		}
		if st.ErrorCode != 0 && req.Version >= 5 {
			st.ErrorMessage = &why
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
