package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Broker liveness (KIP-631 style, simplified): every node sends the
// metadata leader a heartbeat every HeartbeatInterval over the controller
// RPC; heartbeats are not raft commands (they would flood the log). The
// leader keeps the last time it heard each broker in memory and proposes
// OpFenceBroker for a registered broker it has not heard for
// SessionTimeout; the FSM then moves that broker's leaderships to another
// ISR member. A fenced broker that is heard again is unfenced
// (OpUnfenceBroker), taking back the partitions left leaderless. A new
// leader starts every broker's clock afresh, so an election fences no one
// that was alive.

// heard records a heartbeat from node on the leader.
func (c *Controller) heard(node int32) {
	c.seenMu.Lock()
	c.lastSeen[node] = time.Now()
	c.seenMu.Unlock()
}

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

// liveness runs on every node of a multi-node cluster: it heartbeats, and
// on the leader it fences and unfences brokers.
func (c *Controller) liveness(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	wasLeader := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.stopBeats.Load() {
			hctx, cancel := context.WithTimeout(ctx, c.cfg.HeartbeatInterval*2)
			_, err := c.forward(hctx, &rpcRequest{Kind: rpcHeartbeat, NodeID: c.cfg.NodeID})
			cancel()
			if err != nil && ctx.Err() == nil {
				c.cfg.Logger.Debug("heartbeat to the metadata leader", "err", err)
			}
		}
		leader := c.raft.State() == raft.Leader
		if !leader {
			wasLeader = false
			continue
		}
		st := c.State()
		now := time.Now()
		if !wasLeader {
			wasLeader = true
			c.seenMu.Lock()
			for id := range st.Brokers {
				c.lastSeen[id] = now
			}
			c.seenMu.Unlock()
			continue
		}
		for _, id := range slicesSorted(st.Brokers) {
			br := st.Brokers[id]
			c.seenMu.Lock()
			seen, ok := c.lastSeen[id]
			c.seenMu.Unlock()
			if !ok {
				c.seenMu.Lock()
				c.lastSeen[id] = now
				c.seenMu.Unlock()
				continue
			}
			var op Op
			switch {
			case !br.Fenced && now.Sub(seen) > c.cfg.SessionTimeout:
				op = OpFenceBroker
			case br.Fenced && now.Sub(seen) < c.cfg.SessionTimeout && seen.After(c.fencedAt(id).Add(c.cfg.HeartbeatInterval)):
				op = OpUnfenceBroker
			default:
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, _, err := c.applyOrForward(pctx, &Command{Op: op, BrokerID: id})
			cancel()
			c.cfg.Logger.Info("broker liveness changed", "op", op, "node_id", id, "last_heartbeat", seen.Format(time.RFC3339Nano), "err", err)
		}
	}
}

func (c *Controller) fencedAt(id int32) time.Time {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	return c.fenced[id]
}

// ShutdownBroker is the controlled shutdown of this node: it stops
// heartbeating and fences itself, so the controller moves its leaderships
// to other ISR members before the process exits.
func (c *Controller) ShutdownBroker(ctx context.Context) error {
	if !c.multi {
		return nil
	}
	c.stopBeats.Store(true)
	if br, ok := c.State().Brokers[c.cfg.NodeID]; !ok || br.Fenced {
		return nil
	}
	_, err := c.Propose(ctx, &Command{Op: OpFenceBroker, BrokerID: c.cfg.NodeID})
	return err
}

func slicesSorted[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
