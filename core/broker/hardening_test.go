package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/core/broker"
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
