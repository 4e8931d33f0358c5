package broker

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs: v0-4
//
// Behavior:
// * Topics: every supported topic config (configs.go) with its value and
//   source: dynamic topic config, the broker's static default override,
//   or Kafka's default. Synonyms (v1+) list each level that has a value;
//   documentation (v3+) on request.
// * Brokers: the broker's static settings, read-only.

func init() { register(kmsg.DescribeConfigs, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		want := func(name string) bool { return rr.ConfigNames == nil || slices.Contains(rr.ConfigNames, name) }
		var why string
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := b.ctl.State().Topics[rr.ResourceName]
			if !ok {
				sr.ErrorCode, why = kerr.UnknownTopicOrPartition.Code, "topic '"+rr.ResourceName+"' does not exist"
				break
			}
			for _, tc := range topicConfigs {
				if !want(tc.name) {
					continue
				}
				sr.Configs = append(sr.Configs, b.describeTopicConfig(req, &tc, t.Configs))
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				sr.ErrorCode, why = kerr.InvalidRequest.Code, fmt.Sprintf("broker '%s' is not this broker (node %d)", rr.ResourceName, b.cfg.NodeID)
				break
			}
			for _, kv := range b.brokerConfigs() {
				if !want(kv[0]) {
					continue
				}
				c := kmsg.NewDescribeConfigsResponseResourceConfig()
				v := kv[1]
				c.Name, c.Value, c.ReadOnly, c.Source, c.ConfigType = kv[0], &v, true, kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigTypeString
				if req.IncludeSynonyms {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					syn.Name, syn.Value, syn.Source = kv[0], &v, kmsg.ConfigSourceStaticBrokerConfig
					c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
				}
				sr.Configs = append(sr.Configs, c)
			}
		default:
			sr.ErrorCode, why = kerr.InvalidRequest.Code, fmt.Sprintf("resource type %d has no configs in weir: only topics (2) and brokers (4)", rr.ResourceType)
		}
		if sr.ErrorCode != 0 {
			sr.ErrorMessage = &why
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) describeTopicConfig(req *kmsg.DescribeConfigsRequest, tc *topicConfig, dynamic map[string]string) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	v, src := b.effectiveConfig(dynamic, tc.name)
	c.Name, c.Value, c.Source, c.ConfigType = tc.name, &v, src, tc.typ
	c.IsDefault = src == kmsg.ConfigSourceDefaultConfig
	if req.IncludeDocumentation {
		doc := tc.doc
		c.Documentation = &doc
	}
	if req.IncludeSynonyms {
		add := func(val string, s kmsg.ConfigSource) {
			syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			syn.Name, syn.Value, syn.Source = tc.name, &val, s
			c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
		}
		if dv, ok := dynamic[tc.name]; ok {
			add(dv, kmsg.ConfigSourceDynamicTopicConfig)
		}
		if bv, ok := b.cfg.TopicDefaults[tc.name]; ok {
			add(bv, kmsg.ConfigSourceStaticBrokerConfig)
		}
		add(tc.def, kmsg.ConfigSourceDefaultConfig)
	}
	return c
}

// brokerConfigs are the broker-level settings DescribeConfigs reports.
func (b *Broker) brokerConfigs() [][2]string {
	return [][2]string{
		{"auto.create.topics.enable", strconv.FormatBool(b.cfg.AutoCreateTopics)},
		{"broker.id", strconv.Itoa(int(b.cfg.NodeID))},
		{"default.replication.factor", "1"},
		{"log.dirs", b.cfg.DataDir},
		{"num.partitions", strconv.Itoa(int(b.cfg.DefaultPartitions))},
		{"offsets.topic.num.partitions", strconv.Itoa(int(b.cfg.OffsetsTopicPartitions))},
		{"socket.request.max.bytes", strconv.Itoa(int(b.cfg.MaxRequestBytes))},
	}
}
