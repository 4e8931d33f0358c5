package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// CreateTopics: v0-7
//
// Behavior:
// * NumPartitions -1 (v4+) means DefaultPartitions; ReplicationFactor must
//   be -1 or at most the number of brokers (1 here): INVALID_REPLICATION_FACTOR.
// * Manual ReplicaAssignment is accepted when every replica list names
//   existing brokers.
// * Configs are validated against the supported topic configs
//   (configs.go): unknown names or bad values are INVALID_CONFIG.
// * Names differing only by '.' versus '_' collide (INVALID_TOPIC_EXCEPTION),
//   as in Kafka.
// * ValidateOnly (v1+) validates and creates nothing.
// * v5+ returns the topic's configs, partitions and replication factor;
//   v7 its topic ID.

func init() { register(kmsg.CreateTopics, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			if msg != "" {
				st.ErrorMessage = &msg
			}
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		n := rt.NumPartitions
		if n == -1 {
			n = b.cfg.DefaultPartitions
		}
		brokers := liveBrokers(b.ctl.State())
		switch {
		case seen[rt.Topic] > 1:
			fail(kerr.InvalidRequest, fmt.Sprintf("topic '%s' is named %d times in the request", rt.Topic, seen[rt.Topic]))
		case validTopicName(rt.Topic) != nil:
			fail(kerr.InvalidTopicException, validTopicName(rt.Topic).Error())
		case len(rt.ReplicaAssignment) > 0 && (rt.NumPartitions != -1 || rt.ReplicationFactor != -1):
			fail(kerr.InvalidRequest, "both replica assignment and partitions/replication factor given")
		case len(rt.ReplicaAssignment) == 0 && n <= 0:
			fail(kerr.InvalidPartitions, fmt.Sprintf("number of partitions must be at least 1 (or -1 for num.partitions), got %d", rt.NumPartitions))
		case n > b.cfg.MaxPartitionsPerTopic || len(rt.ReplicaAssignment) > int(b.cfg.MaxPartitionsPerTopic):
			fail(kerr.InvalidPartitions, fmt.Sprintf("%d partitions requested, but at most %d are allowed per topic (--max-partitions-per-topic)",
				max(n, int32(len(rt.ReplicaAssignment))), b.cfg.MaxPartitionsPerTopic))
		case len(rt.ReplicaAssignment) == 0 && rt.ReplicationFactor != -1 && rt.ReplicationFactor <= 0:
			fail(kerr.InvalidReplicationFactor, fmt.Sprintf("replication factor must be at least 1 (or -1 for the default), got %d", rt.ReplicationFactor))
		case len(rt.ReplicaAssignment) == 0 && int(rt.ReplicationFactor) > len(brokers):
			fail(kerr.InvalidReplicationFactor, fmt.Sprintf("replication factor %d is larger than the %d broker(s) available", rt.ReplicationFactor, len(brokers)))
		default:
			if err := validateConfigs(configs); err != nil {
				fail(kerr.InvalidConfig, err.Error())
				break
			}
			if len(rt.ReplicaAssignment) > 0 {
				n = int32(len(rt.ReplicaAssignment))
				for i, a := range rt.ReplicaAssignment {
					if msg := badAssignment(i, a.Partition, a.Replicas, len(rt.ReplicaAssignment[0].Replicas), brokers); msg != "" {
						fail(kerr.InvalidReplicaAssignment, msg)
						break
					}
				}
				if st.ErrorCode != 0 {
					break
				}
			}
			if _, exists := b.lookup(rt.Topic); exists {
				fail(kerr.TopicAlreadyExists, "topic '"+rt.Topic+"' already exists")
				break
			}
			if other := b.collidingTopic(rt.Topic); other != "" {
				// Metric names replace '.' with '_', so Kafka refuses both.
				fail(kerr.InvalidTopicException, "topic '"+rt.Topic+"' collides with existing topic '"+other+"'")
				break
			}
			if req.ValidateOnly {
				break
			}
			assign := b.assignment(rt.Topic, 0, n, int(rt.ReplicationFactor), false)
			if len(rt.ReplicaAssignment) > 0 && b.multi() {
				assign = make([][]int32, len(rt.ReplicaAssignment))
				for i, a := range rt.ReplicaAssignment {
					assign[i] = a.Replicas
				}
			}
			if err := b.createTopicAssigned(rc.ctx, rt.Topic, assign, configs, false); err != nil {
				var ke *kerr.Error
				if !errors.As(err, &ke) {
					ke = kerr.UnknownServerError
				}
				fail(ke, reason(err))
			}
		}
		if st.ErrorCode == 0 {
			st.NumPartitions, st.ReplicationFactor = n, 1
			if t, ok := b.ctl.State().Topics[rt.Topic]; ok {
				st.TopicID = t.ID
				st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
			} else if rt.ReplicationFactor > 0 {
				st.ReplicationFactor = rt.ReplicationFactor // validate only
			}
			if req.Version >= 5 {
				for _, tc := range topicConfigs {
					v, src := b.effectiveConfig(configs, tc.name)
					c := kmsg.NewCreateTopicsResponseTopicConfig()
					c.Name, c.Value, c.Source = tc.name, &v, int8(src)
					st.Configs = append(st.Configs, c)
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// liveBrokers are the registered brokers not fenced.
func liveBrokers(st *cluster.State) map[int32]cluster.Broker {
	out := make(map[int32]cluster.Broker, len(st.Brokers))
	for id, br := range st.Brokers {
		if !br.Fenced {
			out[id] = br
		}
	}
	return out
}
