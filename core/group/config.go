package group

import (
	"errors"
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

// withDefaults fills zero fields from DefaultConfig. Negative values are
// left as they are: Validate refuses them rather than clamping.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = d.MinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MaxSize == 0 {
		c.MaxSize = d.MaxSize
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = d.OffsetsRetentionCheckInterval
	}
	if c.MaxMetadataSize == 0 {
		c.MaxMetadataSize = d.MaxMetadataSize
	}
	return c
}

// Validate reports a setting out of range or settings that cannot work
// together. Each error names the Kafka setting (weir serve's flag is the
// same name with dashes): a bad value is refused, never clamped.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, bad bool, v any) {
		if bad {
			errs = append(errs, fmt.Errorf("group: %s must be positive, got %v", name, v))
		}
	}
	neg("group.min.session.timeout.ms", c.MinSessionTimeout < 0, c.MinSessionTimeout)
	neg("group.max.session.timeout.ms", c.MaxSessionTimeout < 0, c.MaxSessionTimeout)
	neg("group.max.size", c.MaxSize < 0, c.MaxSize)
	neg("offsets.retention.minutes", c.OffsetsRetention < 0, c.OffsetsRetention)
	neg("offsets.retention.check.interval.ms", c.OffsetsRetentionCheckInterval < 0, c.OffsetsRetentionCheckInterval)
	neg("offset.metadata.max.bytes", c.MaxMetadataSize < 0, c.MaxMetadataSize)
	if c.InitialRebalanceDelay < 0 {
		errs = append(errs, fmt.Errorf("group: group.initial.rebalance.delay.ms must not be negative, got %v", c.InitialRebalanceDelay))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c = c.withDefaults()
	if c.MinSessionTimeout > c.MaxSessionTimeout {
		return fmt.Errorf("group: group.min.session.timeout.ms %v exceeds group.max.session.timeout.ms %v", c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	return nil
}
