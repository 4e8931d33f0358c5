package group

import (
	"fmt"
	"math"
	"time"
)

// Config holds the coordinator's settings. Names follow the Kafka broker
// configs they mirror; zero fields take the default from DefaultConfig.
type Config struct {
	// MinSessionTimeout is group.min.session.timeout.ms (default 6s):
	// JoinGroup with a shorter session timeout fails with
	// INVALID_SESSION_TIMEOUT.
	MinSessionTimeout time.Duration
	// MaxSessionTimeout is group.max.session.timeout.ms (default 30m).
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long
	// the first rebalance of an empty group waits for more members. Kafka
	// defaults to 3s; weir defaults to 0 so that embedded use and tests are
	// fast. Negative means 0.
	InitialRebalanceDelay time.Duration
	// MaxSize is group.max.size (default unlimited).
	MaxSize int
	// OffsetsRetention is offsets.retention.minutes (default 7 days): how
	// long committed offsets outlive an empty group (or, for groups without
	// group management, their last commit).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms
	// (default 10m).
	OffsetsRetentionCheckInterval time.Duration
	// MaxMetadataSize is offset.metadata.max.bytes (default 4096): commits
	// with longer metadata get OFFSET_METADATA_TOO_LARGE.
	MaxMetadataSize int
}

// DefaultConfig returns Kafka's defaults, except InitialRebalanceDelay (0).
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         0,
		MaxSize:                       math.MaxInt32,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		MaxMetadataSize:               4096,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = d.MinSessionTimeout
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MaxSize <= 0 {
		c.MaxSize = d.MaxSize
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		c.OffsetsRetentionCheckInterval = d.OffsetsRetentionCheckInterval
	}
	if c.MaxMetadataSize <= 0 {
		c.MaxMetadataSize = d.MaxMetadataSize
	}
	return c
}

// Validate reports settings that cannot work together.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.MinSessionTimeout > c.MaxSessionTimeout {
		return fmt.Errorf("group: min session timeout %v exceeds max session timeout %v", c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	return nil
}
