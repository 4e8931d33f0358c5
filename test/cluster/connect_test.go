//go:build cluster

package cluster

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	connect "github.com/weirlog/weir/runtime"
	"github.com/weirlog/weir/test/compat/harness"
)

// The Connect runtime started while its state topics have no leader (their
// only replica's broker is down, as on a fresh cluster still electing)
// waits, logging, instead of giving up after its 30 s read limit with
// "end offsets of …: LEADER_NOT_AVAILABLE"; it starts once the leader is
// back. State topics it creates itself get min(3, brokers) replicas, so on
// a cluster they do not go leaderless with one broker.
func TestClusterConnectWaitsForStateTopicLeaders(t *testing.T) {
	c := Start(t, Config{Nodes: 3, Args: noConnect})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prefix := harness.Name("wait")
	cfg := connect.Config{
		BootstrapServers: c.Seeds()[:2], // not the victim's
		ConfigTopic:      prefix + "-configs", OffsetTopic: prefix + "-offsets", StatusTopic: prefix + "-status",
		OffsetTopicPartitions: 2, StatusTopicPartitions: 2,
	}
	// The state topics exist already, one replica each, on node 3.
	victim := c.Node(3)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	for name, parts := range map[string]int{cfg.ConfigTopic: 1, cfg.OffsetTopic: 2, cfg.StatusTopic: 2} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for p := 0; p < parts; p++ {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(p), []int32{victim.ID}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
		cc := kmsg.NewCreateTopicsRequestTopicConfig()
		cc.Name, cc.Value = "cleanup.policy", kmsg.StringPtr("compact")
		rt.Configs = append(rt.Configs, cc)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, c.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			t.Fatalf("create %s: %v", rt.Topic, err)
		}
	}
	for p := int32(0); p < 2; p++ {
		if _, _, err := c.WaitLeader(ctx, cfg.StatusTopic, p, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	victim.Kill()
	w, err := connect.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	started := make(chan error, 1)
	t0 := time.Now()
	go func() { started <- w.Start(ctx) }()
	// Longer than the runtime's 30 s state topic read limit, which ended
	// the start before.
	select {
	case err := <-started:
		t.Fatalf("the worker's start ended after %v while its state topics had no leader: %v", time.Since(t0).Round(time.Millisecond), err)
	case <-time.After(35 * time.Second):
	}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("the worker's start failed once the leader was back: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not start within 60 s of its state topics' leader coming back")
	}
	t.Logf("the worker waited %v for its state topics' leader and started %v after it came back",
		back.Sub(t0).Round(time.Millisecond), time.Since(back).Round(time.Millisecond))

	// Topics it creates itself on this cluster get three replicas, once
	// the cluster counts all three brokers live again.
	if err := c.WaitBrokers(ctx, 3, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	p2 := harness.Name("rf")
	cfg2.ConfigTopic, cfg2.OffsetTopic, cfg2.StatusTopic = p2+"-configs", p2+"-offsets", p2+"-status"
	cfg2.BootstrapServers = c.Seeds()
	w2, err := connect.New(cfg2, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{cfg2.ConfigTopic, cfg2.OffsetTopic, cfg2.StatusTopic} {
		st, err := c.Describe(ctx, nil, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, s := range st {
			if len(s.Replicas) != 3 {
				t.Errorf("%s/%d: replicas %v, want 3 of them", topic, p, s.Replicas)
			}
		}
	}
}
