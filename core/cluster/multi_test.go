package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/internal/testutil"
)

type testNode struct {
	id   int32
	addr string
	c    *Controller
}

// openCluster starts voters 1..nVoters and brokers beyond them, all in
// memory, and waits until every node is ready.
func openCluster(t *testing.T, nVoters, nBrokers int) []*testNode {
	t.Helper()
	return openClusterHooked(t, nVoters, nBrokers, nil)
}

// openClusterHooked is openCluster with OnChange hooks by node ID.
func openClusterHooked(t *testing.T, nVoters, nBrokers int, onChange map[int32]func(prev, next *State, c *Command)) []*testNode {
	t.Helper()
	var nodes []*testNode
	var voters []Voter
	for i := 1; i <= nVoters+nBrokers; i++ {
		n := &testNode{id: int32(i), addr: testutil.FreePort(t)}
		nodes = append(nodes, n)
		if i <= nVoters {
			voters = append(voters, Voter{NodeID: n.id, Addr: n.addr})
		}
	}
	errc := make(chan error, len(nodes))
	for _, n := range nodes {
		c, err := Open(Config{NodeID: n.id, RaftAddr: n.addr, Voters: voters, HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 600 * time.Millisecond,
			OnChange: onChange[n.id]})
		if err != nil {
			t.Fatal(err)
		}
		n.c = c
		t.Cleanup(func() { n.c.Close() })
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errc <- c.WaitReady(ctx)
		}()
	}
	for range nodes {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Three voters and a non-voter: proposals from any node (forwarded to the
// leader) are applied everywhere, the non-voter learns the metadata, and a
// broker that stops heartbeating is fenced and its leaderships move to
// another ISR member with a new leader epoch.
func TestMultiNodeMembershipAndFencing(t *testing.T) {
	nodes := openCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		br := Broker{NodeID: n.id, Host: "127.0.0.1", Port: 9000 + n.id}
		if _, err := n.c.Propose(ctx, &Command{Op: OpRegisterBroker, Broker: &br}); err != nil {
			t.Fatalf("register %d: %v", n.id, err)
		}
		if _, ok := n.c.State().Brokers[n.id]; !ok {
			t.Fatalf("node %d does not read its own registration", n.id)
		}
	}
	var leader *testNode
	for _, n := range nodes {
		if n.c.IsLeader() {
			leader = n
		}
	}
	if leader == nil || leader.id == 4 {
		t.Fatalf("leader %v", leader)
	}
	// The victim is a voter that does not lead the metadata, so the
	// quorum survives it; it leads the partition, replicated on the others.
	var victim, other *testNode
	for _, n := range nodes[:3] {
		if n != leader && victim == nil {
			victim = n
		} else if n != leader {
			other = n
		}
	}
	_ = other
	id := NewTopicID()
	nonVoter := nodes[3]
	if _, err := nonVoter.c.Propose(ctx, &Command{Op: OpCreateTopic, Topic: "t", TopicID: id, Assignment: [][]int32{{victim.id, 4}}}); err != nil {
		t.Fatalf("create topic through the non-voter: %v", err)
	}
	if _, err := nonVoter.c.Propose(ctx, &Command{Op: OpSetLeader, Topic: "t", Partition: 0, Leader: victim.id, ISR: []int32{victim.id, 4}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d to learn the topic", n.id), 5*time.Second, func() bool {
			tp := n.c.State().Topics["t"]
			return tp != nil && len(tp.Partitions[0].ISR) == 2
		})
	}
	before := leader.c.State().Topics["t"].Partitions[0]
	start := time.Now()
	victim.c.Close()
	waitFor(t, "the victim to be fenced", 10*time.Second, func() bool {
		return leader.c.State().Brokers[victim.id].Fenced
	})
	p := leader.c.State().Topics["t"].Partitions[0]
	t.Logf("broker %d fenced %v after its controller stopped; partition now %+v", victim.id, time.Since(start).Round(time.Millisecond), p)
	if p.Leader != 4 || p.LeaderEpoch != before.LeaderEpoch+1 || len(p.ISR) != 1 || p.ISR[0] != 4 {
		t.Fatalf("after fencing: %+v (before %+v)", p, before)
	}
	waitFor(t, "the non-voter to see the new leader", 5*time.Second, func() bool {
		return nonVoter.c.State().Topics["t"].Partitions[0].Leader == 4
	})
	if id := nonVoter.c.LeaderID(); id != leader.id {
		t.Fatalf("non-voter names leader %d, want %d", id, leader.id)
	}
}

// The controller RPC listener hands raft's own connections on and refuses
// oversized frames.
func TestMuxRefusesHugeFrame(t *testing.T) {
	m, err := newMuxLayer("127.0.0.1:0", func(*rpcRequest) rpcResponse { return rpcResponse{} })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var sb strings.Builder
	if err := readFrame(strings.NewReader("\xff\xff\xff\xff"), &sb); err == nil {
		t.Fatal("a 4 GiB frame was accepted")
	}
	resp, err := callRPC(context.Background(), m.Addr().String(), &rpcRequest{Kind: rpcHeartbeat})
	if err != nil || resp.Error != "" {
		t.Fatalf("%+v %v", resp, err)
	}
}

// A broker that stops heartbeating loses its lease (Leased) before the
// leader fences it, so it stops acknowledging writes before another
// broker can take its partitions; a broker that heartbeats keeps it.
func TestLeaseEndsBeforeFence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader, rest := registeredTrio(ctx, t)
	victim := rest[0]
	nodes := append([]*testNode{leader}, rest...)
	for _, n := range nodes {
		waitFor(t, fmt.Sprintf("node %d's lease", n.id), 5*time.Second, n.c.Leased)
	}
	stopped := time.Now()
	victim.c.stopBeats.Store(true)
	var leaseLost, fenced time.Duration
	for leaseLost == 0 || fenced == 0 {
		if time.Since(stopped) > 10*time.Second {
			t.Fatalf("after 10 s: lease lost after %v, fenced after %v", leaseLost, fenced)
		}
		if leaseLost == 0 && !victim.c.Leased() {
			leaseLost = time.Since(stopped)
		}
		if fenced == 0 && leader.c.State().Brokers[victim.id].Fenced {
			fenced = time.Since(stopped)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("heartbeats stopped: lease lost after %v, fenced after %v (session timeout %v)", leaseLost, fenced, leader.c.cfg.SessionTimeout)
	if leaseLost >= fenced {
		t.Fatalf("the broker held its lease (%v) until after it was fenced (%v)", leaseLost, fenced)
	}
	for _, n := range nodes {
		if n != victim && !n.c.Leased() {
			t.Errorf("node %d, heartbeating, lost its lease", n.id)
		}
	}
}

// Killing the metadata leader fences it about SessionTimeout after it
// died, not SessionTimeout after the next leader was elected: the new
// leader starts the old one's clock from when raft stopped hearing it.
func TestDeadMetadataLeaderFencedFromItsLastContact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader, rest := registeredTrio(ctx, t)
	time.Sleep(300 * time.Millisecond) // a few heartbeats
	killed := time.Now()
	leader.c.Close()
	var elected, fenced time.Duration
	for fenced == 0 {
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("the old leader was not fenced within 10 s (elected after %v)", elected)
		}
		for _, n := range rest {
			if elected == 0 && n.c.IsLeader() {
				elected = time.Since(killed)
			}
			if n.c.State().Brokers[leader.id].Fenced {
				fenced = time.Since(killed)
			}
		}
		time.Sleep(time.Millisecond)
	}
	st := rest[0].c.cfg.SessionTimeout
	t.Logf("metadata leader killed: next leader after %v, old leader fenced after %v (session timeout %v)", elected, fenced, st)
	if elected == 0 || fenced-elected > st-rest[0].c.raftHeartbeatTimeout/4 {
		t.Fatalf("fenced %v after the election: its session clock started at the election, not at its last contact", fenced-elected)
	}
}

// registeredTrio opens three controllers, registers each as a broker and
// returns the metadata leader and the other two.
func registeredTrio(ctx context.Context, t *testing.T) (leader *testNode, rest []*testNode) {
	t.Helper()
	nodes := openCluster(t, 3, 0)
	for _, n := range nodes {
		br := Broker{NodeID: n.id, Host: "127.0.0.1", Port: 9000 + n.id}
		if _, err := n.c.Propose(ctx, &Command{Op: OpRegisterBroker, Broker: &br}); err != nil {
			t.Fatalf("register %d: %v", n.id, err)
		}
	}
	for _, n := range nodes {
		if n.c.IsLeader() && leader == nil {
			leader = n
		} else {
			rest = append(rest, n)
		}
	}
	if leader == nil || len(rest) != 2 {
		t.Fatal("no metadata leader")
	}
	return leader, rest
}
