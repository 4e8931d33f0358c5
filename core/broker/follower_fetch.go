package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/record"
)

// Fetch from the closest replica (KIP-392).
//
// A consumer that names its rack (client.rack, Fetch v11+) and fetches
// from a partition's leader is told, in PreferredReadReplica, to fetch
// from a follower in its rack instead, when one is in the ISR, alive and
// holds the fetch offset (only ISR members: KAFKA-14372 showed a lagging
// follower chosen forever); the redirecting response carries no records.
// The leader itself is preferred when it is in the client's rack. A
// follower serves consumer fetches of v11+ (from any client, as Kafka's
// do) up to its own high watermark, which it learns from its leader one
// fetch later than the leader moves it: a consumer there reads only what
// the ISR holds, a little later.

// fetchPartition is the partition a fetch reads: the leader's, or, for a
// consumer's fetch v11+ in a cluster, this broker's follower replica
// (follower true).
func (b *Broker) fetchPartition(req *kmsg.FetchRequest, topic string, idx int32) (p *partition, follower, ok bool) {
	if p, ok := b.partition(topic, idx); ok {
		return p, false, true
	}
	if !b.multi() || req.Version < 11 || fetchReplicaID(req) >= 0 {
		return nil, false, false
	}
	t, ok := b.lookup(topic)
	if !ok || idx < 0 || int(idx) >= len(t.parts) || t.parts[idx] == nil || !b.hosts(t.meta, int(idx)) {
		return nil, false, false
	}
	return t.parts[idx], true, true
}

// preferredReadReplica is the replica a consumer in rack should fetch
// partition idx of topic from instead of this leader, or -1 to stay.
func (b *Broker) preferredReadReplica(req *kmsg.FetchRequest, p *partition, topic string, idx int32, offset int64) int32 {
	if !b.multi() || req.Version < 11 || req.Rack == "" || fetchReplicaID(req) >= 0 || b.cfg.BrokerRack == req.Rack {
		return -1
	}
	st := b.ctl.State()
	t, ok := st.Topics[topic]
	if !ok || int(idx) >= len(t.Partitions) {
		return -1
	}
	pm := t.Partitions[idx]
	best, bestLEO := int32(-1), int64(-1)
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	tr := p.rep.tracker
	if tr == nil {
		return -1
	}
	for _, r := range tr.ISR() {
		br, ok := st.Brokers[r]
		if r == b.cfg.NodeID || !ok || br.Fenced || br.Rack == nil || *br.Rack != req.Rack || !slices.Contains(pm.Replicas, r) {
			continue
		}
		leo, heard := tr.FollowerLEO(r)
		if !heard || leo < offset {
			continue
		}
		if leo > bestLEO || (leo == bestLEO && r < best) {
			best, bestLEO = r, leo
		}
	}
	return best
}

// startAtLeader restarts a follower's log at its leader's log start when
// the follower's whole log lies before it (OFFSET_OUT_OF_RANGE for a fetch
// below that start): a replica that a reassignment added to a partition
// whose oldest records were deleted could never catch up otherwise.
// Kafka's follower does the same (truncateFullyAndStartAt).
func (b *Broker) startAtLeader(p *partition, leaderStart int64) {
	if leaderStart <= p.log.EndOffset() {
		return // a fetch past the leader's end: truncation handles that
	}
	from := p.log.EndOffset()
	if err := p.log.StartAt(leaderStart); err != nil {
		b.warnLimited("follower restart at the leader's log start", "topic", p.topic, "partition", p.index, "err", err)
		return
	}
	p.resetHW(leaderStart)
	b.logger.Info("follower log restarted at the leader's log start", "topic", p.topic, "partition", p.index, "from", from, "to", leaderStart)
}

// alignEmptyFollower handles the first batch an empty follower log gets
// when the leader's log start lies inside that batch (DeleteRecords cut
// it): the batch begins before this log's end, so the follower restarts
// its log at the batch's base offset, as Kafka's follower does; the
// leader's log start then follows (followLogStart).
func (b *Broker) alignEmptyFollower(p *partition, batches []byte) {
	h, err := record.ParseHeader(batches)
	if err != nil {
		return // the append that follows reports a bad batch
	}
	end := p.log.EndOffset()
	if p.log.StartOffset() != end {
		return
	}
	base, last := h.BaseOffset, h.LastOffset()
	if base >= end || last < end || base < 0 {
		return
	}
	if err := p.log.StartAt(base); err != nil {
		b.warnLimited("follower restart at a batch's base offset", "topic", p.topic, "partition", p.index, "err", err)
		return
	}
	p.resetHW(base)
}

// followLogStart moves a follower's log start up to its leader's
// (DeleteRecords and retention on the leader), never past the
// follower's HW, so records the leader deleted do not come back after a
// failover.
func (b *Broker) followLogStart(p *partition, leaderStart int64) {
	to := min(leaderStart, p.highWatermark())
	if to <= p.log.StartOffset() || p.deleted.Load() {
		return
	}
	if _, err := p.log.DeleteRecordsBefore(to); err != nil {
		b.warnLimited("follower log start", "topic", p.topic, "partition", p.index, "err", err)
	}
}
