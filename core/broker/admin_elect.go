package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// ElectLeaders: v0-2
//
// Behavior:
// * Each election is core/cluster's OpElectLeader through the metadata
//   quorum (reassign.go there has the rules).
// * PREFERRED (0; v0 is always preferred) makes the first replica leader
//   if it is in the ISR and not fenced: ELECTION_NOT_NEEDED when it leads
//   already, PREFERRED_LEADER_NOT_AVAILABLE otherwise.
// * UNCLEAN (1) elects only for a partition without a live leader: an ISR
//   member if one is alive, else any live replica when the topic's
//   unclean.leader.election.enable is true (the ISR becomes that replica;
//   what only the others held is lost), else ELIGIBLE_LEADERS_NOT_AVAILABLE.
// * Null topics means every partition; as Kafka does, the partitions that
//   need no election are then left out of the response.
// * The metadata is read as the metadata leader has it (a read barrier).
// * The call returns once this broker serves the new leadership.

func init() { register(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

func handleElectLeaders(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	election := req.ElectionType
	if req.Version == 0 {
		election = cluster.ElectPreferred
	}
	if election != cluster.ElectPreferred && election != cluster.ElectUnclean {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	ctx, cancel := requestContext(rc, req.TimeoutMillis)
	defer cancel()
	// The partitions to elect and the "led by its preferred replica
	// already" answers come from the leader's metadata, not a lagging copy
	// (a reorder that another broker just applied).
	b.readBarrier(ctx)
	all := req.Topics == nil
	topics := req.Topics
	if all {
		st := b.ctl.State()
		for _, name := range st.TopicNames() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = name
			for i := range st.Topics[name].Partitions {
				rt.Partitions = append(rt.Partitions, int32(i))
			}
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		out := kmsg.NewElectLeadersResponseTopic()
		out.Topic = rt.Topic
		for _, part := range rt.Partitions {
			e := b.electLeader(ctx, rt.Topic, part, election)
			if all && e == kerr.ElectionNotNeeded {
				continue
			}
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = part
			if e != nil {
				rp.ErrorCode = e.Code
				msg := electMessage(e, rt.Topic, part)
				rp.ErrorMessage = &msg
			}
			out.Partitions = append(out.Partitions, rp)
		}
		if !all || len(out.Partitions) > 0 {
			resp.Topics = append(resp.Topics, out)
		}
	}
	return resp
}

// electLeader runs one election; nil means a new leader was elected.
func (b *Broker) electLeader(ctx context.Context, topic string, part int32, election int8) *kerr.Error {
	t, ok := b.ctl.State().Topics[topic]
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition
	}
	// Most partitions of an all-partitions request are led by their
	// preferred replica already: answer those without a proposal.
	if p := t.Partitions[part]; election == cluster.ElectPreferred && len(p.Replicas) > 0 && p.Leader == p.Replicas[0] {
		return kerr.ElectionNotNeeded
	}
	unclean, _ := b.effectiveConfig(t.Configs, "unclean.leader.election.enable")
	res, err := b.ctl.Propose(ctx, &cluster.Command{Op: cluster.OpElectLeader, Topic: topic, Partition: part,
		Election: election, Unclean: unclean == "true"})
	if err != nil {
		return kerrOf(proposeErr(err))
	}
	return res.Err
}

func electMessage(e *kerr.Error, topic string, part int32) string {
	switch e {
	case kerr.ElectionNotNeeded:
		return fmt.Sprintf("%s-%d: the chosen leader leads it already", topic, part)
	case kerr.PreferredLeaderNotAvailable:
		return fmt.Sprintf("%s-%d: its preferred leader (first replica) is not in the ISR or not alive", topic, part)
	case kerr.EligibleLeadersNotAvailable:
		return fmt.Sprintf("%s-%d: no live replica may lead it (set unclean.leader.election.enable=true on the topic to elect one outside the ISR, losing data)", topic, part)
	case kerr.UnknownTopicOrPartition:
		return fmt.Sprintf("%s-%d does not exist", topic, part)
	}
	return fmt.Sprintf("%s-%d: %s", topic, part, e.Message)
}
