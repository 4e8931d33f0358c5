package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/cluster"
)

func freeRaftAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCluster starts nVoters voters and nBrokers non-voter brokers in
// this process, each with its own data directory and ports.
func startCluster(t *testing.T, nVoters, nBrokers int) []*broker.Broker {
	t.Helper()
	total := nVoters + nBrokers
	addrs := make([]string, total)
	var voters []cluster.Voter
	for i := range addrs {
		addrs[i] = freeRaftAddr(t)
		if i < nVoters {
			voters = append(voters, cluster.Voter{NodeID: int32(i + 1), Addr: addrs[i]})
		}
	}
	dir := t.TempDir()
	bs := make([]*broker.Broker, total)
	errc := make(chan error, total)
	for i := range bs {
		rack := fmt.Sprintf("rack-%d", i%2)
		b, err := broker.New(broker.Config{
			DataDir: filepath.Join(dir, fmt.Sprint(i+1)), KafkaAddr: "127.0.0.1:0", NodeID: int32(i + 1),
			ControllerVoters: voters, RaftAddr: addrs[i], BrokerRack: rack,
			AutoCreateTopics: true, OffsetsTopicPartitions: 6,
			HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: time.Second,
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = b
		t.Cleanup(func() { b.Close() })
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errc <- b.Start(ctx)
		}()
	}
	for range bs {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	return bs
}

// A cluster of three voters and a non-voter broker: Metadata lists all
// four, topics spread their leaders and replicas over them, clients
// produce and consume (through a group, whose coordinator is the leader of
// its offsets partition) against the leaders, and a broker that shuts down
// is fenced and leaves the metadata.
func TestClusterMembershipPlacementAndShutdown(t *testing.T) {
	bs := startCluster(t, 3, 1)
	cl := client(t, bs[3])
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)

	var md kadm.Metadata
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		md, err = adm.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(md.Brokers) != 4 {
		t.Fatalf("metadata lists %d brokers, want 4: %v", len(md.Brokers), md.Brokers)
	}
	for _, b := range md.Brokers {
		if b.Rack == nil {
			t.Fatalf("broker %d without its rack", b.NodeID)
		}
	}

	resp, err := adm.CreateTopic(ctx, 8, 1, nil, "spread")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	resp, err = adm.CreateTopic(ctx, 4, 3, nil, "triple")
	if err != nil || resp.Err != nil {
		t.Fatalf("create rf=3: %v %v", err, resp.Err)
	}
	md, err = adm.Metadata(ctx, "spread", "triple")
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for _, p := range md.Topics["spread"].Partitions {
		leaders[p.Leader]++
	}
	if len(leaders) != 4 {
		t.Fatalf("8 partitions led by %v: want all 4 brokers", leaders)
	}
	for _, p := range md.Topics["triple"].Partitions {
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			seen[r] = true
		}
		if len(p.Replicas) != 3 || len(seen) != 3 || p.Leader != p.Replicas[0] {
			t.Fatalf("rf=3 partition %d: replicas %v leader %d", p.Partition, p.Replicas, p.Leader)
		}
		if len(p.ISR) != 1 || p.ISR[0] != p.Leader {
			t.Fatalf("rf=3 partition %d starts with ISR %v: only the leader holds data before replication", p.Partition, p.ISR)
		}
	}

	const n = 400
	produceN(t, cl, "spread", n)
	cons := client(t, bs[0], kgo.ConsumeTopics("spread"), kgo.ConsumerGroup("g1"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, n)
	if len(got) != n {
		t.Fatalf("consumed %d of %d", len(got), n)
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit through the group's coordinator: %v", err)
	}
	offs, err := adm.FetchOffsets(ctx, "g1")
	if err != nil || offs.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, offs.Error())
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != n {
		t.Fatalf("committed offsets add up to %d, want %d", committed, n)
	}

	// Broker 4 leaves: controlled shutdown fences it before it closes.
	start := time.Now()
	bs[3].Close()
	cl0 := client(t, bs[0])
	adm0 := kadm.NewClient(cl0)
	for deadline := time.Now().Add(5 * time.Second); ; {
		md, err = adm0.Metadata(ctx, "spread")
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("controlled shutdown of broker 4 took %v", time.Since(start).Round(time.Millisecond))
	if len(md.Brokers) != 3 {
		t.Fatalf("after broker 4 left, metadata lists %v", md.Brokers)
	}
	for _, p := range md.Topics["spread"].Partitions {
		if p.Leader == 4 {
			t.Fatalf("partition %d still led by the fenced broker", p.Partition)
		}
	}
}
