// Package brokertest starts an in-process weir broker for tests: a temp
// data directory, a random loopback port, auto-created topics, and
// shutdown registered with t.Cleanup.
package brokertest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/weirlog/weir/core/broker"
)

// Start starts a broker with test defaults (auto topic creation on, 3
// offsets-topic partitions so startup stays fast).
func Start(t testing.TB) *broker.Broker {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with a hook to adjust the Config; DataDir may be set
// by the hook to reuse a directory (restart tests).
func StartWith(t testing.TB, configure func(*broker.Config)) *broker.Broker {
	t.Helper()
	cfg := broker.Config{
		DataDir:                t.TempDir(),
		KafkaAddr:              "127.0.0.1:0",
		AutoCreateTopics:       true,
		OffsetsTopicPartitions: 3,
	}
	if configure != nil {
		configure(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(cfg, logger)
	if err != nil {
		t.Fatalf("brokertest: new: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		b.Close()
		t.Fatalf("brokertest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("brokertest: close: %v", err)
		}
	})
	return b
}

// testWriter sends log lines to t.Log so they show with the failing test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
