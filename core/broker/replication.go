package broker

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
	wlog "github.com/weirlog/weir/core/log"
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

// replicaFetcher copies the partitions this broker follows from their
// leaders.
func (b *Broker) replicaFetcher() {
	defer b.wg.Done()
	clients := map[string]*kgo.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	type follow struct {
		p  *partition
		pm cluster.Partition
		id cluster.UUID
	}
	for b.ctx.Err() == nil {
		st := b.ctl.State()
		byLeader := map[int32][]follow{}
		for _, tp := range *b.topics.Load() {
			for i, p := range tp.parts {
				pm := tp.meta.Partitions[i]
				if p == nil || pm.Leader < 0 || pm.Leader == b.cfg.NodeID {
					continue
				}
				byLeader[pm.Leader] = append(byLeader[pm.Leader], follow{p, pm, tp.meta.ID})
			}
		}
		if len(byLeader) == 0 {
			select {
			case <-b.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		var wg sync.WaitGroup
		for leader, fs := range byLeader {
			br, ok := st.Brokers[leader]
			if !ok || br.Fenced {
				continue
			}
			addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
			cl := clients[addr]
			if cl == nil {
				var err error
				cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("weir-replica-"+strconv.Itoa(int(b.cfg.NodeID))))
				if err != nil {
					continue
				}
				clients[addr] = cl
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sb := cl.SeedBrokers()[0]
				ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
				defer cancel()
				for _, f := range fs {
					b.truncateIfNeeded(ctx, sb, f.p, f.pm)
				}
				req := kmsg.NewPtrFetchRequest()
				req.ReplicaID = b.cfg.NodeID
				req.ReplicaState.ID = b.cfg.NodeID
				req.ReplicaState.Epoch = -1
				req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 200, 1, 16<<20
				req.SessionEpoch = -1
				idx := map[string]map[int32]*partition{}
				for _, f := range fs {
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic, rt.TopicID = f.p.topic, f.id
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition = f.p.index
					rp.FetchOffset = f.p.log.EndOffset()
					rp.CurrentLeaderEpoch = f.pm.LeaderEpoch
					rp.PartitionMaxBytes = 4 << 20
					rp.LogStartOffset = -1
					rt.Partitions = append(rt.Partitions, rp)
					req.Topics = append(req.Topics, rt)
					if idx[f.p.topic] == nil {
						idx[f.p.topic] = map[int32]*partition{}
					}
					idx[f.p.topic][f.p.index] = f.p
				}
				resp, err := sb.Request(ctx, req)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					return
				}
				for _, rt := range resp.(*kmsg.FetchResponse).Topics {
					name := rt.Topic
					if t, ok := st.TopicByID(rt.TopicID); ok {
						name = t.Name
					}
					for _, rp := range rt.Partitions {
						p := idx[name][rp.Partition]
						if p != nil && rp.ErrorCode == kerr.OffsetOutOfRange.Code {
							b.startAtLeader(p, rp.LogStartOffset) // follower_fetch.go
						}
						if p == nil || rp.ErrorCode != 0 {
							continue
						}
						if len(rp.RecordBatches) > 0 {
							b.alignEmptyFollower(p, rp.RecordBatches) // follower_fetch.go
							if _, err := p.log.Append(rp.RecordBatches, wlog.AppendOptions{Origin: wlog.OriginReplication}); err != nil {
								var ke *kerr.Error
								if errors.As(err, &ke) && ke == kerr.OffsetOutOfRange {
									p.rep.mu.Lock()
									p.rep.truncate = true
									p.rep.mu.Unlock()
								}
								b.warnLimited("replica append", "topic", p.topic, "partition", p.index, "err", err)
								continue
							}
						}
						p.advanceHW(min(rp.HighWatermark, p.log.EndOffset()))
						b.followLogStart(p, rp.LogStartOffset)
					}
				}
			}()
		}
		wg.Wait()
	}
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
