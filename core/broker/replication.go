package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
	"github.com/weirlog/weir/core/replica"
)

// Replication in a multi-node cluster (the protocol and its invariants:
// core/replica's doc). A partition this broker leads has a
// replica.Tracker; followers' fetches (ReplicaID set) report their LEO to
// it, it moves the HW to the ISR's minimum LEO and proposes ISR changes
// (OpAlterPartition) through the metadata. A partition it follows is
// fetched by replicaFetcher, which truncates after a leader change with
// OffsetForLeaderEpoch before fetching again. A single node has none of
// this: its HW is its log end.

// repState is one partition's replication role on this broker.
type repState struct {
	mu         sync.Mutex
	tracker    *replica.Tracker // leading: non-nil
	epoch      int32            // leader epoch the role was set for
	partEpoch  int32
	epochStart int64 // leading: LEO when this epoch began
	truncate   bool  // following: ask the leader where to truncate first
	known      bool  // a role was set once (a restarted follower truncates too)
	altering   atomic.Bool
	// fetchMu serialises a follower's truncation and appends: when
	// leadership moves, the old leader's fetcher may still hold a response
	// while the new leader's fetcher truncates (replica_fetcher.go).
	fetchMu sync.Mutex
}

// hwBehindEpochStart reports whether this broker leads p in an epoch whose
// start offset its high watermark has not reached yet. Right after an
// election the new leader's HW is the one it had as a follower, behind
// records the old leader had committed; offsets listed from it would hide
// them, so ListOffsets answers OFFSET_NOT_AVAILABLE (retriable) until the
// ISR's fetches bring the HW up, as Kafka does (KIP-207).
func (p *partition) hwBehindEpochStart() bool {
	r := &p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracker != nil && p.highWatermark() < r.epochStart
}

// updateRoles brings every hosted partition's replication role in line
// with the metadata; called by reconcile after the partitions are in
// place.
func (b *Broker) updateRoles(topics map[string]*topicParts) {
	if !b.multi() {
		return
	}
	now := time.Now()
	groupsMoved := false
	for _, tp := range topics {
		minISR := b.minInsyncReplicas(tp.meta.Configs)
		for i, p := range tp.parts {
			if p == nil {
				continue
			}
			pm := tp.meta.Partitions[i]
			r := &p.rep
			r.mu.Lock()
			if tp.meta.Name == OffsetsTopic && r.known && (r.tracker != nil) != (pm.Leader == b.cfg.NodeID) {
				groupsMoved = true
			}
			if pm.Leader == b.cfg.NodeID {
				if r.tracker == nil || r.epoch != pm.LeaderEpoch {
					r.tracker = replica.NewTracker(b.cfg.NodeID, pm.Replicas, pm.ISR, minISR, p.highWatermark(), now)
					r.epochStart = p.log.EndOffset()
				} else {
					r.tracker.SetReplicas(pm.Replicas, now) // a reassignment adds or removes followers
					r.tracker.SetISR(pm.ISR)
				}
				r.tracker.Advance(p.log.EndOffset())
				hw := r.tracker.HW()
				r.mu.Unlock()
				p.advanceHW(hw)
			} else {
				if !r.known || r.tracker != nil || r.epoch != pm.LeaderEpoch {
					r.truncate = true
				}
				r.tracker = nil
				r.mu.Unlock()
				p.wake() // acks=all waiters on a deposed leader give up
			}
			r.mu.Lock()
			r.epoch, r.partEpoch, r.known = pm.LeaderEpoch, pm.PartitionEpoch, true
			r.mu.Unlock()
		}
	}
	if groupsMoved {
		b.reloadGroups()
	}
	select { // the replica fetchers follow the new leaders at once
	case b.rolesChanged <- struct{}{}:
	default:
	}
}

// reloadGroups makes the group coordinator follow the leaders of
// __consumer_offsets: when this broker gains or loses the leadership of
// one of its partitions, the coordinator reloads the groups of the
// partitions it leads now (offsetsStore.Replay skips the others), after
// waiting briefly for a new leader's HW to reach its log end so that the
// last commits are replayed. Requests meanwhile get
// COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
func (b *Broker) reloadGroups() {
	if !b.groupReload.CompareAndSwap(false, true) {
		b.groupReloadAgain.Store(true)
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.groupReload.Store(false)
		for {
			b.groupReloadAgain.Store(false)
			g := b.groupsLoaded.Load()
			if g == nil || b.ctx.Err() != nil {
				return
			}
			deadline := time.Now().Add(3 * time.Second)
			if tp, ok := b.lookup(OffsetsTopic); ok {
				for i, p := range tp.parts {
					for p != nil && b.leads(tp.meta, i) && p.highWatermark() < p.log.EndOffset() && time.Now().Before(deadline) && b.ctx.Err() == nil {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			err := g.Load(ctx)
			cancel()
			if err != nil && b.ctx.Err() == nil {
				b.warnLimited("reload groups after an offsets leadership change", "err", err)
			}
			if !b.groupReloadAgain.Load() {
				return
			}
		}
	}()
}

// followerFetched records a follower's fetch at offset on the leader.
func (b *Broker) followerFetched(p *partition, follower int32, offset int64) {
	r := &p.rep
	r.mu.Lock()
	tr := r.tracker
	if tr == nil {
		r.mu.Unlock()
		return
	}
	moved := tr.Fetched(follower, offset, p.log.EndOffset(), time.Now())
	hw := tr.HW()
	isr := tr.Expand(follower, r.epochStart)
	r.mu.Unlock()
	if br, ok := b.ctl.State().Brokers[follower]; isr != nil && (!ok || br.Fenced) {
		isr = nil // KIP-841: a fenced broker does not rejoin until unfenced
	}
	if moved {
		p.advanceHW(hw)
	}
	if isr != nil {
		b.alterISR(p, isr)
	}
}

// alterISR proposes a new ISR for a partition this broker leads, one
// proposal at a time per partition; the metadata refuses it if this
// broker was deposed meanwhile (leader and partition epochs).
func (b *Broker) alterISR(p *partition, isr []int32) {
	r := &p.rep
	if !r.altering.CompareAndSwap(false, true) {
		return
	}
	r.mu.Lock()
	le, pe := r.epoch, r.partEpoch
	r.mu.Unlock()
	go func() {
		defer r.altering.Store(false)
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		res, err := b.ctl.Propose(ctx, &cluster.Command{Op: cluster.OpAlterPartition, Topic: p.topic, Partition: p.index,
			BrokerID: b.cfg.NodeID, LeaderEpoch: le, PartitionEpoch: pe, ISR: isr})
		if err == nil && res.Err != nil {
			err = res.Err
		}
		if err != nil {
			b.warnLimited("ISR change not applied", "topic", p.topic, "partition", p.index, "isr", isr, "err", err)
		}
	}()
}

// shrinkLoop takes followers that stopped keeping up out of the ISRs of
// the partitions this broker leads.
func (b *Broker) shrinkLoop() {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, tp := range *b.topics.Load() {
			for _, p := range tp.parts {
				if p == nil {
					continue
				}
				p.rep.mu.Lock()
				var isr []int32
				if p.rep.tracker != nil {
					isr = p.rep.tracker.Shrink(now, b.cfg.ReplicaLagTimeMax)
				}
				p.rep.mu.Unlock()
				if isr != nil {
					b.alterISR(p, isr)
				}
			}
		}
	}
}

// afterAppend moves the HW after an append that ended at end on the
// leader and, for acks=all, waits until the ISR has it. It returns a
// Kafka error code (0: acknowledged).
func (b *Broker) afterAppend(ctx context.Context, p *partition, end int64, acksAll bool, timeout time.Duration) int16 {
	if !b.multi() {
		p.advanceHW(end)
		return 0
	}
	r := &p.rep
	r.mu.Lock()
	if r.tracker == nil {
		r.mu.Unlock()
		return kerr.NotLeaderForPartition.Code
	}
	r.tracker.Advance(p.log.EndOffset())
	hw := r.tracker.HW()
	r.mu.Unlock()
	p.advanceHW(hw)
	p.wake() // followers long-polling for new data
	if !acksAll {
		return 0
	}
	wake := make(chan struct{}, 1)
	p.addWaiter(wake)
	defer p.removeWaiter(wake)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	lease := time.NewTicker(leaseRecheck)
	defer lease.Stop()
	for {
		r.mu.Lock()
		tr := r.tracker
		var committed, notEnough bool
		if tr != nil {
			committed = tr.HW() >= end
			if !committed {
				_, notEnough = tr.Acked(end)
			}
		}
		r.mu.Unlock()
		switch {
		case tr == nil:
			return kerr.NotLeaderForPartition.Code
		case committed:
			return 0
		case notEnough:
			return kerr.NotEnoughReplicasAfterAppend.Code
		case !b.leaseHolds(p.topic, p.index, p.epoch()):
			return kerr.NotLeaderForPartition.Code // deposed, or about to be: the producer retries on the new leader
		}
		select {
		case <-lease.C:
		case <-wake:
		case <-timer.C:
			return kerr.RequestTimedOut.Code
		case <-ctx.Done():
			return kerr.RequestTimedOut.Code
		case <-b.ctx.Done():
			return kerr.NotLeaderForPartition.Code
		}
	}
}

// leaseRecheck is how often an acks=all wait checks that this broker still
// holds its lease.
const leaseRecheck = 50 * time.Millisecond

// leaseHolds reports whether this broker may acknowledge writes as the
// leader of topic's partition at leader epoch epoch: its lease holds (a
// broker cut off from the metadata quorum, or paused, loses it before the
// controller can fence it: core/cluster's membership.go) and the metadata
// it has applied, which runs ahead of the reconciled partitions, still
// names it leader at that epoch. A single node always may.
func (b *Broker) leaseHolds(topic string, partition, epoch int32) bool {
	if !b.multi() {
		return true
	}
	if !b.ctl.Leased() {
		return false
	}
	t, ok := b.ctl.State().Topics[topic]
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return false
	}
	pm := t.Partitions[partition]
	return pm.Leader == b.cfg.NodeID && pm.LeaderEpoch == epoch
}

// truncateIfNeeded asks the leader, after a leader change, where this
// follower's log diverged (OffsetForLeaderEpoch of its latest epoch) and
// truncates there: never by the HW alone.
func (b *Broker) truncateIfNeeded(ctx context.Context, sb *kgo.Broker, p *partition, pm cluster.Partition) {
	p.rep.mu.Lock()
	need := p.rep.truncate
	p.rep.mu.Unlock()
	if !need {
		return
	}
	latest := p.log.LatestEpoch()
	if latest >= 0 {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = b.cfg.NodeID
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = p.topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, pm.LeaderEpoch, latest
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := sb.Request(ctx, req)
		if err != nil {
			return
		}
		r := resp.(*kmsg.OffsetForLeaderEpochResponse)
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || r.Topics[0].Partitions[0].ErrorCode != 0 {
			return
		}
		pr := r.Topics[0].Partitions[0]
		leo := p.log.EndOffset()
		if at := replica.TruncationOffset(leo, pr.LeaderEpoch, pr.EndOffset); at < leo {
			if err := p.log.TruncateTo(at); err != nil {
				b.warnLimited("replica truncate", "topic", p.topic, "partition", p.index, "err", err)
				return
			}
			p.resetHW(min(p.highWatermark(), at))
			b.logger.Info("follower truncated a divergent tail", "topic", p.topic, "partition", p.index, "from", leo, "to", at, "leader_epoch", pr.LeaderEpoch)
		}
	}
	p.rep.mu.Lock()
	p.rep.truncate = false
	p.rep.mu.Unlock()
}
