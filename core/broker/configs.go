package broker

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	wlog "github.com/weirlog/weir/core/log"
)

// topicConfig is one supported topic config: its Kafka name, default (as
// Kafka documents it), type for DescribeConfigs, validation, and how it maps
// onto the partition log's Config. Configs the log does not use
// (min.insync.replicas, compression.type, …) have a nil apply.
type topicConfig struct {
	name  string
	def   string
	typ   kmsg.ConfigType
	doc   string
	check func(v string) error
	apply func(c *wlog.Config, v string)
}

var topicConfigs = []topicConfig{
	{"cleanup.policy", "delete", kmsg.ConfigTypeList, "delete, compact or both: how old segments are cleaned up.", checkCleanupPolicy, func(c *wlog.Config, v string) { c.CleanupPolicy = parseCleanupPolicy(v) }},
	{"compression.type", "producer", kmsg.ConfigTypeString, "Codec of the stored batches; \"producer\" keeps the producer's, others recompress on produce.", checkOneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"), nil},
	{"delete.retention.ms", "86400000", kmsg.ConfigTypeLong, "How long delete tombstones are kept on compacted topics.", checkInt(0, math.MaxInt64), func(c *wlog.Config, v string) { c.DeleteRetentionMs = ms(v) }},
	{"file.delete.delay.ms", "60000", kmsg.ConfigTypeLong, "Delay before a deleted segment's files are removed.", checkInt(0, math.MaxInt64), func(c *wlog.Config, v string) { c.FileDeleteDelay = ms(v) }},
	{"flush.messages", "9223372036854775807", kmsg.ConfigTypeLong, "fsync after this many messages.", checkInt(1, math.MaxInt64), func(c *wlog.Config, v string) { c.FlushMessages = num(v) }},
	{"flush.ms", "9223372036854775807", kmsg.ConfigTypeLong, "fsync at least this often.", checkInt(0, math.MaxInt64), func(c *wlog.Config, v string) { c.FlushMs = ms(v) }},
	{"follower.replication.throttled.replicas", "", kmsg.ConfigTypeList, "Accepted so kafka-reassign-partitions can set and clear it; weir does not throttle replication.", checkThrottledReplicas, nil},
	{"index.interval.bytes", "4096", kmsg.ConfigTypeInt, "Bytes between offset index entries.", checkInt(0, math.MaxInt32), func(c *wlog.Config, v string) { c.IndexIntervalBytes = int(num(v)) }},
	{"leader.replication.throttled.replicas", "", kmsg.ConfigTypeList, "Accepted so kafka-reassign-partitions can set and clear it; weir does not throttle replication.", checkThrottledReplicas, nil},
	{"max.message.bytes", "1048588", kmsg.ConfigTypeInt, "Largest record batch the topic accepts.", checkInt(0, math.MaxInt32), func(c *wlog.Config, v string) { c.MaxMessageBytes = int(num(v)) }},
	{"message.timestamp.type", "CreateTime", kmsg.ConfigTypeString, "CreateTime or LogAppendTime.", checkOneOf("CreateTime", "LogAppendTime"), func(c *wlog.Config, v string) {
		c.TimestampType = wlog.CreateTime
		if v == "LogAppendTime" {
			c.TimestampType = wlog.LogAppendTime
		}
	}},
	{"message.timestamp.after.max.ms", "3600000", kmsg.ConfigTypeLong, "How far in the future (ms, by the broker's clock) a CreateTime record's timestamp may be.", checkInt(0, math.MaxInt64), nil},
	{"message.timestamp.before.max.ms", "9223372036854775807", kmsg.ConfigTypeLong, "How far in the past (ms, by the broker's clock) a CreateTime record's timestamp may be.", checkInt(0, math.MaxInt64), nil},
	{"message.timestamp.difference.max.ms", "9223372036854775807", kmsg.ConfigTypeLong, "Deprecated (Kafka 3.6): bounds before.max.ms and after.max.ms where those are not set.", checkInt(0, math.MaxInt64), nil},
	{"min.cleanable.dirty.ratio", "0.5", kmsg.ConfigTypeDouble, "Dirty ratio above which the log is compacted.", checkFloat(0, 1), func(c *wlog.Config, v string) { c.MinCleanableRatio, _ = strconv.ParseFloat(v, 64) }},
	{"min.compaction.lag.ms", "0", kmsg.ConfigTypeLong, "Minimum age of a message before it may be compacted.", checkInt(0, math.MaxInt64), func(c *wlog.Config, v string) { c.MinCompactionLagMs = ms(v) }},
	{"min.insync.replicas", "1", kmsg.ConfigTypeInt, "Replicas that must acknowledge an acks=all produce.", checkInt(1, math.MaxInt32), nil},
	{"retention.bytes", "-1", kmsg.ConfigTypeLong, "Maximum partition size before old segments are deleted; -1 is unlimited.", checkInt(-1, math.MaxInt64), func(c *wlog.Config, v string) { c.RetentionBytes = num(v) }},
	{"retention.ms", "604800000", kmsg.ConfigTypeLong, "Maximum age of a segment before it is deleted; -1 is unlimited.", checkInt(-1, math.MaxInt64), func(c *wlog.Config, v string) { c.RetentionMs = ms(v) }},
	{"segment.bytes", "1073741824", kmsg.ConfigTypeInt, "Segment file size.", checkInt(14, math.MaxInt32), func(c *wlog.Config, v string) { c.SegmentBytes = num(v) }},
	{"segment.index.bytes", "10485760", kmsg.ConfigTypeInt, "Offset index size per segment.", checkInt(4, math.MaxInt32), func(c *wlog.Config, v string) { c.SegmentIndexBytes = int(num(v)) }},
	{"segment.ms", "604800000", kmsg.ConfigTypeLong, "Roll a new segment after this long.", checkInt(1, math.MaxInt64), func(c *wlog.Config, v string) { c.SegmentMs = ms(v) }},
	{"unclean.leader.election.enable", "false", kmsg.ConfigTypeBoolean, "Lets ElectLeaders with election type UNCLEAN pick a leader outside the ISR when no ISR member is alive (what only the ISR held is lost); automatic elections never leave the ISR.", checkOneOf("true", "false"), nil},
}

// unknownConfig names the supported config closest to name, if one is
// close: most unknown names are typos of real ones.
func unknownConfig(name string) error {
	best, bestD := "", 4
	for _, tc := range topicConfigs {
		if d := editDistance(name, tc.name); d < bestD {
			best, bestD = tc.name, d
		}
	}
	if best != "" {
		return fmt.Errorf("unknown topic config %q (did you mean %s?)", name, best)
	}
	return fmt.Errorf("unknown topic config %q: weir supports %s", name, strings.Join(topicConfigNames(), ", "))
}

func topicConfigNames() []string {
	names := make([]string, len(topicConfigs))
	for i, tc := range topicConfigs {
		names[i] = tc.name
	}
	return names
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func lookupTopicConfig(name string) (*topicConfig, bool) {
	i := slices.IndexFunc(topicConfigs, func(c topicConfig) bool { return c.name == name })
	if i < 0 {
		return nil, false
	}
	return &topicConfigs[i], true
}

// validateConfigs checks names and values; the error text goes to the
// client as the ErrorMessage of INVALID_CONFIG.
func validateConfigs(cfgs map[string]string) error {
	for k, v := range cfgs {
		tc, ok := lookupTopicConfig(k)
		if !ok {
			return unknownConfig(k)
		}
		if err := tc.check(v); err != nil {
			return fmt.Errorf("invalid value %q for %s: %w", v, k, err)
		}
	}
	return nil
}

// effectiveConfig returns the value of name for a topic: dynamic, then the
// broker's default override, then Kafka's default.
func (b *Broker) effectiveConfig(dynamic map[string]string, name string) (value string, source kmsg.ConfigSource) {
	if v, ok := dynamic[name]; ok {
		return v, kmsg.ConfigSourceDynamicTopicConfig
	}
	if v, ok := b.cfg.TopicDefaults[name]; ok {
		return v, kmsg.ConfigSourceStaticBrokerConfig
	}
	tc, _ := lookupTopicConfig(name)
	return tc.def, kmsg.ConfigSourceDefaultConfig
}

// logConfig builds the partition log's Config for a topic's dynamic configs.
func (b *Broker) logConfig(dynamic map[string]string) wlog.Config {
	c := wlog.DefaultConfig()
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if tc.apply == nil {
			continue
		}
		v, src := b.effectiveConfig(dynamic, tc.name)
		if src == kmsg.ConfigSourceDefaultConfig {
			continue // the log's own defaults are Kafka's
		}
		tc.apply(&c, v)
	}
	c.SyncOnAppend = b.cfg.SyncOnAppend
	return c
}

// minInsyncReplicas is the topic's min.insync.replicas.
func (b *Broker) minInsyncReplicas(dynamic map[string]string) int {
	v, _ := b.effectiveConfig(dynamic, "min.insync.replicas")
	n, _ := strconv.Atoi(v)
	return n
}

func num(v string) int64 { n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64); return n }

// ms converts a Kafka millisecond config; negative (-1) means infinite,
// which the log expresses as a duration <= 0.
func ms(v string) time.Duration {
	n := num(v)
	if n < 0 {
		return -1
	}
	if n > int64(math.MaxInt64/time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * time.Millisecond
}

func checkInt(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		if n < lo || n > hi {
			return fmt.Errorf("out of range [%d, %d]", lo, hi)
		}
		return nil
	}
}

func checkFloat(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < lo || f > hi {
			return fmt.Errorf("want a number in [%g, %g]", lo, hi)
		}
		return nil
	}
}

func checkOneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, v) {
			return fmt.Errorf("want one of %s", strings.Join(vals, ", "))
		}
		return nil
	}
}

func checkCleanupPolicy(v string) error {
	parts := splitList(v)
	if len(parts) == 0 {
		return fmt.Errorf("empty")
	}
	for _, p := range parts {
		if p != "delete" && p != "compact" {
			return fmt.Errorf("want delete and/or compact")
		}
	}
	return nil
}

func parseCleanupPolicy(v string) wlog.CleanupPolicy {
	var p wlog.CleanupPolicy
	for _, s := range splitList(v) {
		switch s {
		case "delete":
			p |= wlog.CleanupDelete
		case "compact":
			p |= wlog.CleanupCompact
		}
	}
	return p
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
