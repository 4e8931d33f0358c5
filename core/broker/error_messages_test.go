package broker_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker/brokertest"
)

// Admin errors carry the reason, not only the code's canned text: what a
// user needs to fix the request.
func TestAdminErrorMessagesSayWhy(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "three", 3, nil)
	str := func(s string) *string { return &s }

	type answer struct {
		code int16
		msg  *string
	}
	createTopics := func(mod func(*kmsg.CreateTopicsRequestTopic)) answer {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "fresh", 1, 1
		mod(&rt)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage}
	}
	createPartitions := func(topic string, count int32, assign ...[]int32) answer {
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for _, a := range assign {
			ra := kmsg.NewCreatePartitionsRequestTopicAssignment()
			ra.Replicas = a
			rt.Assignment = append(rt.Assignment, ra)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage}
	}
	alterConfigs := func(topic, name, value string) answer {
		req := kmsg.NewPtrAlterConfigsRequest()
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = name, &value
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage}
	}
	incAlter := func(topic, name, value string, op kmsg.IncrementalAlterConfigOp) answer {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = name, &value, op
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage}
	}
	deleteTopic := func(topic string) answer {
		req := kmsg.NewPtrDeleteTopicsRequest()
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = &topic
		req.Topics, req.TopicNames = append(req.Topics, rt), []string{topic}
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return answer{resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage}
	}

	for _, tc := range []struct {
		name string
		got  answer
		want *kerr.Error
		says []string
	}{
		{"CreateTopics: illegal character", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) { rt.Topic = "bad/name" }),
			kerr.InvalidTopicException, []string{`'/'`, "position 3"}},
		{"CreateTopics: name too long", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) { rt.Topic = strings.Repeat("x", 250) }),
			kerr.InvalidTopicException, []string{"249"}},
		{"CreateTopics: replication factor too big", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) { rt.ReplicationFactor = 3 }),
			kerr.InvalidReplicationFactor, []string{"replication factor 3", "1 broker"}},
		{"CreateTopics: zero partitions", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) { rt.NumPartitions = 0 }),
			kerr.InvalidPartitions, []string{"got 0"}},
		{"CreateTopics: too many partitions", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) { rt.NumPartitions = 20000 }),
			kerr.InvalidPartitions, []string{"20000", "10000"}},
		{"CreateTopics: unknown config", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = "retention.msx", str("1")
			rt.Configs = append(rt.Configs, c)
		}), kerr.InvalidConfig, []string{`"retention.msx"`, "did you mean retention.ms"}},
		{"CreateTopics: bad config value", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = "cleanup.policy", str("shred")
			rt.Configs = append(rt.Configs, c)
		}), kerr.InvalidConfig, []string{`"shred"`, "cleanup.policy", "delete and/or compact"}},
		{"CreateTopics: assignment on a missing broker", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) {
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Replicas = []int32{7}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}), kerr.InvalidReplicaAssignment, []string{"broker 7"}},
		{"CreateTopics: exists", createTopics(func(rt *kmsg.CreateTopicsRequestTopic) { rt.Topic = "three" }),
			kerr.TopicAlreadyExists, []string{"'three' already exists"}},

		{"CreatePartitions: shrinking", createPartitions("three", 2), kerr.InvalidPartitions, []string{"has 3 partitions", "requested 2", "never removed"}},
		{"CreatePartitions: same count", createPartitions("three", 3), kerr.InvalidPartitions, []string{"already has 3"}},
		{"CreatePartitions: unknown topic", createPartitions("nope", 5), kerr.UnknownTopicOrPartition, []string{"'nope' does not exist"}},
		{"CreatePartitions: assignment count", createPartitions("three", 5, []int32{1}), kerr.InvalidReplicaAssignment, []string{"lists 1", "adds 2"}},
		{"CreatePartitions: assignment broker", createPartitions("three", 4, []int32{9}), kerr.InvalidReplicaAssignment, []string{"broker 9"}},

		{"AlterConfigs: unknown config", alterConfigs("three", "segment.bites", "1"), kerr.InvalidConfig, []string{`"segment.bites"`, "did you mean segment.bytes"}},
		{"AlterConfigs: bad value", alterConfigs("three", "retention.ms", "soon"), kerr.InvalidConfig, []string{`"soon"`, "retention.ms", "not an integer"}},
		{"AlterConfigs: out of range", alterConfigs("three", "min.cleanable.dirty.ratio", "2"), kerr.InvalidConfig, []string{`"2"`, "[0, 1]"}},
		{"AlterConfigs: unknown topic", alterConfigs("nope", "retention.ms", "1"), kerr.UnknownTopicOrPartition, []string{"'nope' does not exist"}},

		{"IncrementalAlterConfigs: unknown config", incAlter("three", "compresion.type", "lz4", kmsg.IncrementalAlterConfigOpSet), kerr.InvalidConfig, []string{"did you mean compression.type"}},
		{"IncrementalAlterConfigs: bad value", incAlter("three", "compression.type", "brotli", kmsg.IncrementalAlterConfigOpSet), kerr.InvalidConfig, []string{`"brotli"`, "want one of"}},
		{"IncrementalAlterConfigs: append to a scalar", incAlter("three", "retention.ms", "1", kmsg.IncrementalAlterConfigOpAppend), kerr.InvalidConfig, []string{"retention.ms is not a list config"}},
		{"IncrementalAlterConfigs: unknown op", incAlter("three", "retention.ms", "1", 9), kerr.InvalidConfig, []string{"unknown operation 9"}},

		{"DeleteTopics: unknown topic", deleteTopic("nope"), kerr.UnknownTopicOrPartition, []string{"'nope' does not exist"}},
	} {
		msg := ""
		if tc.got.msg != nil {
			msg = *tc.got.msg
		}
		if tc.got.code != tc.want.Code {
			t.Errorf("%s: code %d (%q), want %s", tc.name, tc.got.code, msg, tc.want)
			continue
		}
		if msg == tc.want.Message || msg == tc.want.Error() {
			t.Errorf("%s: only the canned text %q", tc.name, msg)
		}
		for _, s := range tc.says {
			if !strings.Contains(msg, s) {
				t.Errorf("%s: message %q does not say %q", tc.name, msg, s)
			}
		}
	}
}
