package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A node whose state machine lags the leader's (its apply goroutine held
// up here, as a loaded host or a missed heartbeat delays a follower) reads
// an older State than the leader's: ReadBarrier waits until it has caught
// up with what the leader had applied, and not past the caller's deadline
// while it has not.
func TestReadBarrierWaitsForTheLeadersState(t *testing.T) {
	var hold sync.Mutex
	nodes := openClusterHooked(t, 3, 1, map[int32]func(prev, next *State, c *Command){
		4: func(prev, next *State, c *Command) { hold.Lock(); hold.Unlock() },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lagging := nodes[3].c
	if err := lagging.ReadBarrier(ctx); err != nil {
		t.Fatalf("barrier on a node that is up to date: %v", err)
	}

	hold.Lock()
	held := true
	defer func() {
		if held {
			hold.Unlock()
		}
	}()
	var leader *Controller
	waitFor(t, "a metadata leader", 10*time.Second, func() bool {
		for _, n := range nodes {
			if n.c.IsLeader() {
				leader = n.c
				return true
			}
		}
		return false
	})
	if _, err := leader.Propose(ctx, &Command{Op: OpCreateTopic, Topic: "late", TopicID: NewTopicID(), Assignment: [][]int32{{1}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := lagging.State().Topics["late"]; ok {
		t.Fatal("the held node applied the topic: the test holds nothing")
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	err := lagging.ReadBarrier(short)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("barrier on a node behind the leader returned %v before it caught up (topic there: %v)", err, lagging.State().Topics["late"] != nil)
	}

	hold.Unlock()
	held = false
	if err := lagging.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := lagging.State().Topics["late"]; !ok {
		t.Fatal("after the barrier the node still reads a state without the leader's topic")
	}
}
