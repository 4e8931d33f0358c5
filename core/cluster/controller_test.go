package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

func openReady(t *testing.T, dir string, onChange func(prev, next *State, c *Command)) *Controller {
	t.Helper()
	start := time.Now()
	c, err := Open(Config{NodeID: 1, Dir: dir, OnChange: onChange})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("single node took %v to become ready", d)
	}
	return c
}

func TestControllerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var changes int
	c := openReady(t, dir, func(prev, next *State, cmd *Command) { changes++ })
	ctx := context.Background()
	id := NewTopicID()
	if _, err := c.Propose(ctx, &Command{Op: OpCreateTopic, Topic: "orders", TopicID: id, Assignment: [][]int32{{1}, {1}}, Configs: map[string]string{"retention.ms": "1000"}}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Propose(ctx, &Command{Op: OpCreateTopic, Topic: "orders", TopicID: NewTopicID(), Assignment: [][]int32{{1}}})
	if err != nil || r.Err != kerr.TopicAlreadyExists {
		t.Fatalf("duplicate create: %v %v", r.Err, err)
	}
	r, err = c.Propose(ctx, &Command{Op: OpAllocProducerIDs, Count: 1000})
	if err != nil || r.FirstProducerID != 0 {
		t.Fatalf("alloc: %+v %v", r, err)
	}
	clusterID := c.State().ClusterID
	if clusterID == "" || changes < 3 {
		t.Fatalf("cluster id %q, changes %d", clusterID, changes)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = openReady(t, dir, nil)
	defer c.Close()
	s := c.State()
	top, ok := s.TopicByID(id)
	if !ok || top.Name != "orders" || len(top.Partitions) != 2 || top.Configs["retention.ms"] != "1000" || top.Partitions[1].Leader != 1 {
		t.Fatalf("after restart: %+v", top)
	}
	if s.ClusterID != clusterID {
		t.Fatalf("cluster id changed: %q -> %q", clusterID, s.ClusterID)
	}
	r, _ = c.Propose(ctx, &Command{Op: OpAllocProducerIDs, Count: 1000})
	if r.FirstProducerID != 1000 {
		t.Fatalf("producer ids reused after restart: %d", r.FirstProducerID)
	}
}

func TestApplyTable(t *testing.T) {
	s := newState()
	id := UUID{1}
	steps := []struct {
		cmd  Command
		want *kerr.Error
	}{
		{Command{Op: OpCreateTopic, Topic: "a", TopicID: id, Assignment: [][]int32{{1}}}, nil},
		{Command{Op: OpCreateTopic, Topic: "b", TopicID: id, Assignment: [][]int32{{1}}}, kerr.InvalidRequest},
		{Command{Op: OpCreatePartitions, Topic: "a", Assignment: [][]int32{{1}, {1}}}, nil},
		{Command{Op: OpCreatePartitions, Topic: "zz", Assignment: [][]int32{{1}}}, kerr.UnknownTopicOrPartition},
		{Command{Op: OpSetLeader, Topic: "a", Partition: 2, Leader: 2, ISR: []int32{2}}, nil},
		{Command{Op: OpSetConfigs, Topic: "a", Configs: map[string]string{"x": "y"}}, nil},
		{Command{Op: OpDeleteTopic, Topic: "a"}, nil},
		{Command{Op: OpDeleteTopic, Topic: "a"}, kerr.UnknownTopicOrPartition},
		{Command{Op: "bogus"}, kerr.InvalidRequest},
	}
	var epochAfterLeader int32 = -1
	for i, st := range steps {
		var r Result
		prev := s
		s, r = apply(s, &st.cmd)
		if r.Err != st.want {
			t.Fatalf("step %d %s: got %v want %v", i, st.cmd.Op, r.Err, st.want)
		}
		if st.cmd.Op == OpSetLeader {
			epochAfterLeader = s.Topics["a"].Partitions[2].LeaderEpoch
			if prev.Topics["a"].Partitions[2].LeaderEpoch != 0 {
				t.Fatal("apply mutated the previous state")
			}
		}
		if i == 2 && len(s.Topics["a"].Partitions) != 3 {
			t.Fatalf("partitions = %d", len(s.Topics["a"].Partitions))
		}
	}
	if epochAfterLeader != 1 {
		t.Fatalf("leader epoch after leader change = %d, want 1", epochAfterLeader)
	}
	if len(s.Topics) != 0 || len(s.byID) != 0 {
		t.Fatalf("topic not deleted: %v", s.Topics)
	}
}

// An idle single node must not wake up every few milliseconds: the leader's
// lease check runs every LeaderLeaseTimeout whether or not there are peers.
func TestSingleVoterLeaderIdlesQuietly(t *testing.T) {
	rc := raft.DefaultConfig()
	rc.LocalID = "1"
	tuneSingleVoter(rc)
	if err := raft.ValidateConfig(rc); err != nil {
		t.Fatalf("single-voter raft config: %v", err)
	}
	if perSec := time.Second / rc.LeaderLeaseTimeout; perSec > 10 {
		t.Errorf("an idle leader checks its lease %d times a second", perSec)
	}
	if rc.HeartbeatTimeout > 200*time.Millisecond {
		t.Errorf("a lone node waits up to %v before its first election", 2*rc.HeartbeatTimeout)
	}
}

// A lone voter leads at once, new or restarted: waiting out a heartbeat
// timeout (at least singleVoterTimeout) was most of an embedded start.
// Five tries take the best, so one descheduling on a busy machine does not
// fail it, and the bar is singleVoterTimeout itself: the old code could
// never be under it, and half of it failed at load 25-40 on 2 cores.
func TestSingleVoterElectsItselfAtOnce(t *testing.T) {
	for _, restart := range []bool{false, true} {
		dir := t.TempDir()
		if restart {
			c, err := Open(Config{NodeID: 1, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WaitReady(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		best := time.Hour
		for range 5 {
			start := time.Now()
			c, err := Open(Config{NodeID: 1, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			for c.raft.State() != raft.Leader && time.Since(start) < 5*time.Second {
				time.Sleep(100 * time.Microsecond)
			}
			best = min(best, time.Since(start))
			c.Close()
			if !restart {
				dir = t.TempDir()
			}
		}
		if best >= singleVoterTimeout {
			t.Errorf("restart=%v: a lone voter took %v to lead (best of 5)", restart, best)
		}
		t.Logf("restart=%v: leader after %v", restart, best)
	}
}
