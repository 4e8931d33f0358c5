package broker

import (
	"cmp"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// Metadata: v0-12
//
// Behavior:
// * Brokers, cluster ID and controller come from the metadata state:
//   fenced brokers are left out, the controller is the raft leader.
// * Null topics (v1+) or an empty list (v0) mean all topics.
// * Missing topics are auto-created with the broker's DefaultPartitions
//   when auto.create.topics.enable is on and the request allows it
//   (always, before v4). The new topic is served as soon as the metadata
//   change is applied, so the answer already describes it;
//   LEADER_NOT_AVAILABLE only if creation failed.
// * Topics may be named by ID (v10+); an unknown ID is UNKNOWN_TOPIC_ID.
// * Authorized operations (cluster: v8-10, topics: v8+) when the request
//   asks: every operation the resource supports, as Kafka answers without
//   an authorizer (authorized_ops.go); INT32_MIN when not asked, and for
//   topics answered with an error.

func init() { register(kmsg.Metadata, 0, 12, handleMetadata) }

func handleMetadata(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	st := b.ctl.State()

	for _, br := range sortedBrokers(st) {
		if br.Fenced {
			continue // not serving: clients must not be sent there
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = br.NodeID, br.Host, br.Port, br.Rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	cid := st.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = b.ctl.LeaderID()
	resp.AuthorizedOperations = authorizedOps(req.IncludeClusterAuthorizedOperations && req.Version <= 10, clusterAuthorizedOps)
	topicOps := authorizedOps(req.IncludeTopicAuthorizedOperations, topicAuthorizedOps)

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range st.TopicNames() {
			resp.Topics = append(resp.Topics, b.metadataTopic(st.Topics[name], topicOps))
		}
		return resp
	}
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	created := 0 // auto-created by this request (bounded: topics.go)
	for _, rt := range req.Topics {
		var t *cluster.Topic
		var ok bool
		switch {
		case rt.Topic != nil && *rt.Topic != "":
			t, ok = st.Topics[*rt.Topic]
		case rt.TopicID != [16]byte{}:
			t, ok = st.TopicByID(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.AuthorizedOperations = noAuthorizedOps
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = rt.Topic
			mt.AuthorizedOperations = noAuthorizedOps
			name := ""
			if rt.Topic != nil {
				name = *rt.Topic
			}
			switch {
			case validTopicName(name) != nil || b.collidingTopic(name) != "":
				mt.ErrorCode = kerr.InvalidTopicException.Code
			case !autoCreate:
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				err := b.autoCreate(rc.ctx, name, &created)
				if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
					b.warnLimited("auto-create topic", "topic", name, "err", err)
					mt.ErrorCode = kerr.LeaderNotAvailable.Code
					break
				}
				if t, ok = b.ctl.State().Topics[name]; !ok {
					mt.ErrorCode = kerr.LeaderNotAvailable.Code
				}
			}
			if !ok {
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t, topicOps))
	}
	return resp
}

func (b *Broker) metadataTopic(t *cluster.Topic, ops int32) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = ops
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.Partitions))
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		} else if code := b.partitionErrorCode(t.Name, i); code != 0 {
			mp.ErrorCode = code // its log did not open, or went offline
			mp.OfflineReplicas = p.Replicas
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func sortedBrokers(st *cluster.State) []cluster.Broker {
	out := slices.Collect(maps.Values(st.Brokers))
	slices.SortFunc(out, func(a, b cluster.Broker) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
