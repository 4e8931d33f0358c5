package runtime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
)

// A task's record pipeline around the plugin: the transformation chain
// (with predicates) and the key, value and header converters.

// transformChain wraps the SDK's chain so the runtime knows which
// transform failed (for the __connect.errors.class.name header).
type transformChain struct{ c *plugins.TransformChain }

// subConfig returns the keys under prefix, prefix stripped.
func subConfig(cfg map[string]string, prefix string) plugins.Config {
	return plugins.WithPrefix(plugins.Config(cfg), prefix)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// buildChain instantiates and configures transforms.* and predicates.*.
func buildChain(reg *plugins.Registry, cfg map[string]string) (*transformChain, error) {
	c, err := plugins.BuildTransformChain(reg, plugins.Config(cfg))
	if err != nil {
		return nil, err
	}
	return &transformChain{c: c}, nil
}

// apply runs rec through the chain; nil means dropped. On error the
// failing transform's class is returned for the error reporters.
func (c *transformChain) apply(rec *plugins.Record) (*plugins.Record, string, error) {
	if c == nil || c.c == nil {
		return rec, "", nil
	}
	for _, s := range c.c.Stages() {
		if s.Predicate != nil && s.Predicate.Test(rec) == s.Negate {
			continue
		}
		out, err := s.Transform.Apply(rec)
		if err != nil {
			return nil, fmt.Sprintf("%T", s.Transform), fmt.Errorf("transform %s: %w", s.Alias, err)
		}
		if out == nil {
			return nil, "", nil
		}
		rec = out
	}
	return rec, "", nil
}

func (c *transformChain) close() {
	if c != nil && c.c != nil {
		_ = c.c.Close()
	}
}

// converters of one task.
type converters struct {
	key, value         plugins.Converter
	keyClass, valClass string
}

// newConverters builds key.converter and value.converter from the
// connector config, falling back to the worker's.
func newConverters(reg *plugins.Registry, w Config, cfg map[string]string) (*converters, error) {
	mk := func(side string, def string) (plugins.Converter, string, error) {
		class := cfg[side]
		props := plugins.Config{}
		if class == "" {
			class = def
			for k, v := range w.ConverterConfig {
				if rest, ok := strings.CutPrefix(k, side+"."); ok {
					props[rest] = v
				}
			}
		}
		for k, v := range subConfig(cfg, side+".") {
			props[k] = v
		}
		c, err := reg.NewConverter(class)
		if err != nil {
			return nil, class, fmt.Errorf("Invalid value %s for configuration %s: %v", class, side, err)
		}
		if err := c.Configure(props, side == cfgKeyConverter); err != nil {
			return nil, class, fmt.Errorf("configure %s %s: %w", side, class, err)
		}
		return c, class, nil
	}
	k, kc, err := mk(cfgKeyConverter, w.KeyConverter)
	if err != nil {
		return nil, err
	}
	v, vc, err := mk(cfgValueConverter, w.ValueConverter)
	if err != nil {
		return nil, err
	}
	return &converters{key: k, value: v, keyClass: kc, valClass: vc}, nil
}

// Headers travel like Kafka's SimpleHeaderConverter: strings and bytes as
// they are, everything else as JSON; on the way in, bytes become strings
// (a UTF-8 view), which is what Connect's simple converter yields for text.
func headerToBytes(h plugins.Header) ([]byte, error) {
	switch v := h.Value.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return json.Marshal(h.Value)
}

func headersFromKafka(hs []kgo.RecordHeader) []plugins.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]plugins.Header, 0, len(hs))
	for _, h := range hs {
		var v any
		if h.Value != nil {
			v = string(h.Value)
		}
		out = append(out, plugins.Header{Key: h.Key, Value: v, Schema: plugins.OptionalStringSchema})
	}
	return out
}

// clientOverrides maps the common Kafka client settings of
// consumer.override.* / producer.override.* (KIP-458) to franz-go options.
// Unknown keys are an error so a typo does not pass silently.
func clientOverrides(cfg map[string]string, producer bool) ([]kgo.Opt, int, error) {
	prefix := cfgConsumerOverride
	if producer {
		prefix = cfgProducerOverride
	}
	var opts []kgo.Opt
	maxPoll := 500
	var session, heartbeat time.Duration
	for k, v := range subConfig(cfg, prefix) {
		bad := func() ([]kgo.Opt, int, error) {
			return nil, 0, fmt.Errorf("Invalid value %s for configuration %s%s", v, prefix, k)
		}
		switch k {
		case "auto.offset.reset":
			switch v {
			case "earliest":
				opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			case "latest":
				opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
			default:
				return bad()
			}
		case "max.poll.records":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad()
			}
			maxPoll = n
		case "isolation.level":
			switch v {
			case "read_committed":
				opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			case "read_uncommitted":
			default:
				return bad()
			}
		case "linger.ms":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad()
			}
			opts = append(opts, kgo.ProducerLinger(time.Duration(n)*time.Millisecond))
		case "compression.type":
			var c kgo.CompressionCodec
			switch v {
			case "none":
				c = kgo.NoCompression()
			case "gzip":
				c = kgo.GzipCompression()
			case "snappy":
				c = kgo.SnappyCompression()
			case "lz4":
				c = kgo.Lz4Compression()
			case "zstd":
				c = kgo.ZstdCompression()
			default:
				return bad()
			}
			opts = append(opts, kgo.ProducerBatchCompression(c))
		case "acks":
			switch v {
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return bad()
			}
		case "client.id":
			opts = append(opts, kgo.ClientID(v))
		case "session.timeout.ms", "heartbeat.interval.ms":
			// A sink's consumer group member: how long the coordinator
			// waits for a member that died without leaving (kill -9)
			// before the group rebalances without it. The broker bounds
			// session.timeout.ms (group.min/max.session.timeout.ms).
			n, err := strconv.Atoi(v)
			if producer || err != nil || n < 1 {
				return bad()
			}
			d := time.Duration(n) * time.Millisecond
			if k == "session.timeout.ms" {
				session = d
				opts = append(opts, kgo.SessionTimeout(d))
			} else {
				heartbeat = d
				opts = append(opts, kgo.HeartbeatInterval(d))
			}
		default:
			return nil, 0, fmt.Errorf("%s%s is not supported by weir (supported: auto.offset.reset, max.poll.records, isolation.level, session.timeout.ms, heartbeat.interval.ms, linger.ms, compression.type, acks, client.id)", prefix, k)
		}
	}
	if session > 0 && heartbeat > 0 && heartbeat >= session {
		// Kafka's consumer refuses this too: no heartbeat would arrive
		// within a session.
		return nil, 0, fmt.Errorf("%sheartbeat.interval.ms (%d) must be lower than %ssession.timeout.ms (%d)", prefix, heartbeat.Milliseconds(), prefix, session.Milliseconds())
	}
	return opts, maxPoll, nil
}
