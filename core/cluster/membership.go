package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Broker liveness (KIP-631 style, simplified): every node sends the
// metadata leader a heartbeat every HeartbeatInterval over the controller
// RPC; heartbeats are not raft commands (they would flood the log). The
// leader keeps the last time it heard each broker in memory and, checking
// every sessionCheck, proposes OpFenceBroker for a registered broker it has
// not heard for SessionTimeout; the FSM then moves that broker's
// leaderships to another ISR member. A fenced broker that is heard again is
// unfenced (OpUnfenceBroker), taking back the partitions left leaderless.
//
// A new leader starts every unfenced broker's clock afresh (so an election
// fences no one that was alive; a fenced broker's clock starts only with
// its own next heartbeat, so an election unfences no one that left),
// except the previous leader's: raft elected this
// node because a quorum stopped hearing that one for at least raft's
// HeartbeatTimeout, so its clock starts that far back. A kill -9 of the
// metadata leader therefore moves its partitions after about
// SessionTimeout, not election time plus SessionTimeout. A leader whose
// own loop stalled (CPU starvation, SIGSTOP) restarts the unfenced
// brokers' clocks too: it was not listening, so silence proves nothing.
//
// The lease. A broker may act as a partition leader only while its lease
// holds (Leased): SessionTimeout minus a margin, counted from the sending
// of its last heartbeat that a verified metadata leader answered, once
// this node has applied the metadata up to the index that answer named.
// The controller cannot fence the broker before SessionTimeout after that
// heartbeat reached it, and a new metadata leader starts the clock no
// earlier (the old leader verified its quorum before answering; raft's
// vote rules make the next election wait HeartbeatTimeout past that), so
// a broker cut off from the quorum, or paused, stops acknowledging writes
// before another broker can be made leader of its partitions. A
// heartbeat answered while a fence of the broker is in flight renews
// nothing.

// sessionCheck is how often the metadata leader looks for expired
// sessions: a broker is fenced within this of its session running out.
const sessionCheck = 50 * time.Millisecond

// leaseMargin is the part of SessionTimeout a broker's lease gives up to
// clock-rate differences between hosts and scheduling delays.
func leaseMargin(session time.Duration) time.Duration { return session / 10 }

// addNonvoter adds a broker beyond the voters to the raft configuration as
// a non-voter (it learns the metadata but never votes); idempotent.
func (c *Controller) addNonvoter(node int32, addr string) error {
	if addr == "" {
		return fmt.Errorf("join of node %d without a raft address", node)
	}
	id := raft.ServerID(strconv.Itoa(int(node)))
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == id && s.Address == raft.ServerAddress(addr) {
			return nil
		}
		if s.ID == id && s.Suffrage == raft.Voter {
			return fmt.Errorf("node %d is a voter at %s; it cannot join as a broker at %s", node, s.Address, addr)
		}
	}
	if err := c.raft.AddNonvoter(id, raft.ServerAddress(addr), 0, 10*time.Second).Error(); err != nil {
		return fmt.Errorf("add node %d (%s) as a non-voter: %w", node, addr, err)
	}
	c.cfg.Logger.Info("broker joined the metadata quorum as a non-voter", "node_id", node, "raft_addr", addr)
	return nil
}

// isVoter reports whether node is one of the configured voters.
func (c *Controller) isVoter(node int32) bool {
	return slices.ContainsFunc(c.cfg.Voters, func(v Voter) bool { return v.NodeID == node })
}

// liveness runs on every node of a multi-node cluster: it heartbeats
// (beat), and on the leader it fences and unfences brokers.
func (c *Controller) liveness(ctx context.Context) {
	defer c.wg.Done()
	c.wg.Add(1)
	go c.beatLoop(ctx)
	t := time.NewTicker(sessionCheck)
	defer t.Stop()
	wasLeader := false
	prevLeader := int32(-1)
	lastTick := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		stalled := now.Sub(lastTick) > c.cfg.SessionTimeout/2
		lastTick = now
		if c.raft.State() != raft.Leader {
			wasLeader = false
			if id := c.LeaderID(); id >= 0 && id != c.cfg.NodeID {
				prevLeader = id
			}
			continue
		}
		st := c.State()
		if !wasLeader || stalled {
			c.seenMu.Lock()
			for id, br := range st.Brokers {
				// A fenced broker's clock is only ever set by its own
				// heartbeats (heartbeat): one started here would
				// unfence a broker that shut down (controlled
				// shutdown fences it) or died under another leader.
				if !br.Fenced {
					c.lastSeen[id] = now
				}
			}
			if !wasLeader && prevLeader >= 0 {
				if seen, ok := c.lastSeen[prevLeader]; ok && seen.Equal(now) {
					c.lastSeen[prevLeader] = now.Add(-c.raftHeartbeatTimeout)
				}
			}
			c.seenMu.Unlock()
			wasLeader, prevLeader = true, -1
			continue
		}
		for _, id := range slicesSorted(st.Brokers) {
			br := st.Brokers[id]
			c.seenMu.Lock()
			seen, ok := c.lastSeen[id]
			if !ok && !br.Fenced {
				c.lastSeen[id] = now
			}
			var op Op
			switch {
			case !ok:
			case !br.Fenced && now.Sub(seen) > c.cfg.SessionTimeout:
				op = OpFenceBroker
				c.fencing[id] = true // heartbeats meanwhile renew no lease
			case br.Fenced && now.Sub(seen) < c.cfg.SessionTimeout && seen.After(c.fenced[id].Add(c.cfg.HeartbeatInterval)):
				op = OpUnfenceBroker
			}
			c.seenMu.Unlock()
			if op == "" {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, _, err := c.applyOrForward(pctx, &Command{Op: op, BrokerID: id})
			cancel()
			if op == OpFenceBroker {
				c.seenMu.Lock()
				delete(c.fencing, id)
				c.seenMu.Unlock()
			}
			c.cfg.Logger.Info("broker liveness changed", "op", op, "node_id", id, "last_heartbeat", seen.Format(time.RFC3339Nano),
				"silent", now.Sub(seen).Round(time.Millisecond), "err", err)
		}
	}
}

// beatLoop heartbeats the metadata leader every HeartbeatInterval and
// renews this broker's lease from the answers.
func (c *Controller) beatLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.stopBeats.Load() {
			continue
		}
		c.beat(ctx)
	}
}

// beat sends one heartbeat; an answer that grants a lease is held until
// this node has applied the metadata index it names.
func (c *Controller) beat(ctx context.Context) {
	sent := time.Now()
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HeartbeatInterval*2)
	resp, err := c.forward(hctx, &rpcRequest{Kind: rpcHeartbeat, NodeID: c.cfg.NodeID})
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			c.cfg.Logger.Debug("heartbeat to the metadata leader", "err", err)
		}
		return
	}
	if resp.Error != "" || resp.NoLease {
		return
	}
	c.leaseMu.Lock()
	c.pendSent, c.pendIndex = sent, resp.Index
	c.leaseMu.Unlock()
}

// Leased reports whether this broker's lease holds: whether it may act as
// the leader of the partitions the metadata it has applied gives it (see
// the lease above). A single node always may.
func (c *Controller) Leased() bool {
	if !c.multi {
		return true
	}
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	if !c.pendSent.IsZero() && c.fsm.applied.Load() >= c.pendIndex {
		if c.pendSent.After(c.leaseFrom) {
			c.leaseFrom = c.pendSent
		}
		c.pendSent = time.Time{}
	}
	return !c.leaseFrom.IsZero() && time.Since(c.leaseFrom) < c.cfg.SessionTimeout-leaseMargin(c.cfg.SessionTimeout)
}

// heartbeat serves a broker's heartbeat on the leader: it verifies that
// this node still leads (a deposed leader that has not noticed yet must not
// grant leases), records the broker as heard and says whether the answer
// renews the broker's lease.
func (c *Controller) heartbeat(node int32) rpcResponse {
	if err := c.raft.VerifyLeader().Error(); err != nil {
		addr, _ := c.raft.LeaderWithID()
		return rpcResponse{NotLeader: true, Leader: string(addr)}
	}
	c.seenMu.Lock()
	c.lastSeen[node] = time.Now()
	noLease := c.fencing[node]
	c.seenMu.Unlock()
	return rpcResponse{Index: c.fsm.applied.Load(), NoLease: noLease}
}

func (c *Controller) fencedAt(id int32) time.Time {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	return c.fenced[id]
}

// ShutdownBroker is the controlled shutdown of this node: it stops
// heartbeating, hands over the metadata leadership if it holds it, and
// fences itself, so the controller moves its leaderships to other ISR
// members before the process exits.
func (c *Controller) ShutdownBroker(ctx context.Context) error {
	if !c.multi {
		return nil
	}
	c.stopBeats.Store(true)
	start := time.Now()
	if c.raft.State() == raft.Leader && len(c.cfg.Voters) > 1 {
		// Hand the metadata leadership over first. A leader that fenced
		// itself and exited would take the commit of that fence with
		// it: the followers learn commits from the leader, so they
		// would go on answering Metadata and FindCoordinator with this
		// broker until a new leader is elected (an election timeout,
		// more on a split vote) and commits in its own term. After a
		// transfer, the new leader applies the fence itself.
		if err := c.raft.LeadershipTransfer().Error(); err != nil {
			c.cfg.Logger.Warn("controlled shutdown: metadata leadership not transferred; the fence may reach the other brokers only after an election",
				"node_id", c.cfg.NodeID, "err", err)
		}
	}
	// Propose the fence whatever this node's own copy of the state says:
	// it may lag the leader's (a fence and unfence just after start), and
	// the FSM makes a fence of a fenced broker a no-op.
	res, err := c.Propose(ctx, &Command{Op: OpFenceBroker, BrokerID: c.cfg.NodeID})
	switch {
	case err != nil:
		return err // the caller warns: leaderships not moved
	case res.Err == kerr.BrokerNotAvailable:
		return nil // never registered: it leads nothing
	case res.Err != nil:
		return fmt.Errorf("fence node %d: %w", c.cfg.NodeID, res.Err)
	}
	c.cfg.Logger.Info("controlled shutdown: fenced this broker, its leaderships moved", "node_id", c.cfg.NodeID,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

func slicesSorted[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
