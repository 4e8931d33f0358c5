package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
	"github.com/weirlog/weir/core/group"
)

// TestConfigValidateNamesFlag: an out-of-range setting is an error naming
// the setting and its flag, never clamped to the default (issue 8, item 11).
func TestConfigValidateNamesFlag(t *testing.T) {
	base := broker.Config{DataDir: t.TempDir()}
	for _, tc := range []struct {
		mut  func(*broker.Config)
		flag string
	}{
		{func(c *broker.Config) { c.DefaultPartitions = -2 }, "--num-partitions"},
		{func(c *broker.Config) { c.OffsetsTopicPartitions = -1 }, "--offsets-topic-partitions"},
		{func(c *broker.Config) { c.MaxRequestBytes = -1 }, "--max-request-bytes"},
		{func(c *broker.Config) { c.MaxConnections = -1 }, "--max-connections"},
		{func(c *broker.Config) { c.MaxConnectionsPerIP = -3 }, "--max-connections-per-ip"},
		{func(c *broker.Config) { c.MaxRequestBytes = 8 << 20; c.QueuedMaxRequestBytes = 1 << 20 }, "--queued-max-request-bytes"},
		{func(c *broker.Config) { c.Group = group.Config{MinSessionTimeout: -time.Second} }, "group.min.session.timeout.ms"},
		{func(c *broker.Config) { c.TopicDefaults = map[string]string{"retention.ms": "soon"} }, "retention.ms"},
	} {
		cfg := base
		tc.mut(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("Validate() = %v, want an error naming %s", err, tc.flag)
		}
		if _, err := broker.New(cfg, nil); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("New() = %v, want an error naming %s", err, tc.flag)
		}
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
}

// TestDataDirLockedInProcess: a second broker on a data directory in use is
// refused at New, saying which process holds it; once the first closes,
// the directory is free again (issue 8, item 14; test/crash checks two real
// processes).
func TestDataDirLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	b1, err := broker.New(broker.Config{DataDir: dir, KafkaAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = broker.New(broker.Config{DataDir: dir, KafkaAddr: "127.0.0.1:0"}, nil)
	if !errors.Is(err, broker.ErrDataDirLocked) || !strings.Contains(err.Error(), "another weir process is using "+dir) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second New on the same dir: %v", err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := broker.New(broker.Config{DataDir: dir, KafkaAddr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatalf("New after the first closed: %v", err)
	}
	b2.Close()
}

// gauge returns the value of the series of name whose labels include
// every pair in want, and whether it exists.
func gauge(t *testing.T, b *broker.Broker, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := b.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// TestPartitionAndLagMetrics: per-partition log end offset and size, and
// consumer-group lag as kafka_exporter names it; request series only for
// APIs that were called (issue 8, item 18).
func TestPartitionAndLagMetrics(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "lagged", 2, nil)
	for i := range 10 {
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "lagged", Partition: 0, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctxT(t), "lag-group", offs); err != nil {
		t.Fatal(err)
	}
	p0 := map[string]string{"topic": "lagged", "partition": "0"}
	if v, ok := gauge(t, b, "weir_log_end_offset", p0); !ok || v != 10 {
		t.Errorf("weir_log_end_offset = %v (%v), want 10", v, ok)
	}
	if v, ok := gauge(t, b, "weir_log_size_bytes", p0); !ok || v <= 0 {
		t.Errorf("weir_log_size_bytes = %v (%v)", v, ok)
	}
	if v, ok := gauge(t, b, "weir_log_end_offset", map[string]string{"topic": "lagged", "partition": "1"}); !ok || v != 0 {
		t.Errorf("empty partition end offset = %v (%v)", v, ok)
	}
	if v, ok := gauge(t, b, "weir_consumergroup_lag", map[string]string{"group": "lag-group", "topic": "lagged", "partition": "0"}); !ok || v != 6 {
		t.Errorf("weir_consumergroup_lag = %v (%v), want 6", v, ok)
	}
	if v, ok := gauge(t, b, "weir_consumergroup_members", map[string]string{"group": "lag-group", "state": "Empty"}); !ok || v != 0 {
		t.Errorf("weir_consumergroup_members{lag-group,Empty} = %v (%v)", v, ok)
	}
	if _, ok := gauge(t, b, "weir_broker_request_duration_seconds", map[string]string{"api": "Metadata"}); !ok {
		t.Error("no latency series for Metadata, which was called")
	}
	for _, api := range []string{"DeleteRecords", "CreatePartitions", "OffsetForLeaderEpoch"} {
		if _, ok := gauge(t, b, "weir_broker_request_duration_seconds", map[string]string{"api": api}); ok {
			t.Errorf("a latency series for %s, which was never called", api)
		}
		if _, ok := gauge(t, b, "weir_broker_requests_total", map[string]string{"api": api}); ok {
			t.Errorf("a request counter for %s, which was never called", api)
		}
	}
}
