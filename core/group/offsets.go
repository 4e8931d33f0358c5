package group

// OffsetCommit (key 8) v0-9, OffsetFetch (9) v0-9, OffsetDelete (47) v0,
// and offset expiry.
//
//   - A commit with generation -1 and no member id is a "simple" commit:
//     accepted only while the group is Empty (or absent, which creates it
//     with no protocol type). Any other commit must come from a current
//     member of the current generation; during CompletingRebalance it gets
//     REBALANCE_IN_PROGRESS, while during PreparingRebalance it is accepted
//     (consumers commit as they revoke partitions).
//   - The per-commit retention of v2-v4 and the commit timestamp of v1 are
//     ignored, as Kafka 2.1+ ignores them: offsets.retention.minutes rules.
//   - RequireStable (v7+) needs no waiting: weir has no transactional
//     offset commits, so committed offsets are always stable.
//   - Offsets of an Empty group expire offsets.retention after the later
//     of the commit and the group becoming empty; a group without group
//     management expires each offset a retention after its commit; a
//     Stable consumer group expires offsets of topics it no longer
//     subscribes to. An Empty group left with no offsets is deleted.

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) offsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := &kmsg.OffsetCommitResponse{Version: req.Version}
	for _, t := range req.Topics {
		rt := kmsg.OffsetCommitResponseTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, kmsg.OffsetCommitResponseTopicPartition{Partition: p.Partition})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	if code := c.availability(); code != 0 {
		return setAll(code)
	}
	simple := req.Generation < 0 && req.MemberID == "" && req.InstanceID == nil
	g := c.lockGroup(req.Group, req.Generation < 0)
	if g == nil {
		// A member of a generation of a group that no longer exists.
		return setAll(kerr.IllegalGeneration.Code)
	}
	defer g.mu.Unlock()
	defer g.maybeDrop()
	switch {
	case simple:
		if g.state != stateEmpty {
			return setAll(kerr.UnknownMemberID.Code)
		}
	default:
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return setAll(code)
		}
		if req.Generation != g.generation {
			return setAll(kerr.IllegalGeneration.Code)
		}
		if g.state == stateCompletingRebalance {
			return setAll(kerr.RebalanceInProgress.Code)
		}
		g.touch(g.members[req.MemberID])
	}

	now := g.now().UnixMilli()
	var kvs [][2][]byte
	var tps []topicPartition
	var vals []committed
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > g.c.cfg.MaxMetadataSize {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			epoch := p.LeaderEpoch
			if req.Version < 6 {
				epoch = -1
			}
			o := committed{offset: p.Offset, leaderEpoch: epoch, metadata: md, commitMillis: now}
			tp := topicPartition{t.Topic, p.Partition}
			kvs = append(kvs, [2][]byte{offsetKey(g.id, tp.topic, tp.partition), offsetValue(o)})
			tps = append(tps, tp)
			vals = append(vals, o)
		}
	}
	if len(kvs) == 0 {
		return resp
	}
	if err := g.c.append(ctx, g.id, kvs...); err != nil {
		g.c.log.Warn("store offset commit", "group", g.id, "err", err)
		code := storeErrorCode(err)
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
		return resp
	}
	for i, tp := range tps {
		g.offsets[tp] = vals[i]
	}
	return resp
}

func (c *Coordinator) offsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := &kmsg.OffsetFetchResponse{Version: req.Version}
	avail := c.availability()
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []kmsg.OffsetFetchRequestTopic
			if rg.Topics != nil {
				topics = make([]kmsg.OffsetFetchRequestTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
				}
			}
			code, fetched := c.fetchGroup(rg.Group, topics, avail)
			out := kmsg.OffsetFetchResponseGroup{Group: rg.Group, ErrorCode: code}
			for _, t := range fetched {
				ot := kmsg.OffsetFetchResponseGroupTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					ot.Partitions = append(ot.Partitions, kmsg.OffsetFetchResponseGroupTopicPartition{
						Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata, ErrorCode: p.ErrorCode,
					})
				}
				out.Topics = append(out.Topics, ot)
			}
			resp.Groups = append(resp.Groups, out)
		}
		return resp
	}
	code, fetched := c.fetchGroup(req.Group, req.Topics, avail)
	resp.Topics = fetched
	if req.Version >= 2 {
		resp.ErrorCode = code
	} else if code != 0 {
		// v0-1 have no group-level error code.
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
	return resp
}

// fetchGroup answers one group of an OffsetFetch. nil topics means every
// committed offset of the group.
func (c *Coordinator) fetchGroup(groupID string, topics []kmsg.OffsetFetchRequestTopic, avail int16) (int16, []kmsg.OffsetFetchResponseTopic) {
	unknown := func(p int32) kmsg.OffsetFetchResponseTopicPartition {
		md := ""
		return kmsg.OffsetFetchResponseTopicPartition{Partition: p, Offset: -1, LeaderEpoch: -1, Metadata: &md}
	}
	var out []kmsg.OffsetFetchResponseTopic
	if avail != 0 {
		for _, t := range topics {
			ot := kmsg.OffsetFetchResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				ot.Partitions = append(ot.Partitions, unknown(p))
			}
			out = append(out, ot)
		}
		return avail, out
	}
	var offsets map[topicPartition]committed
	if g := c.lockGroup(groupID, false); g != nil {
		offsets = make(map[topicPartition]committed, len(g.offsets))
		for tp, o := range g.offsets {
			offsets[tp] = o
		}
		g.mu.Unlock()
	}
	if topics == nil {
		byTopic := make(map[string][]int32)
		for tp := range offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		for t, ps := range byTopic {
			slices.Sort(ps)
			topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: ps})
		}
		slices.SortFunc(topics, func(a, b kmsg.OffsetFetchRequestTopic) int { return cmp.Compare(a.Topic, b.Topic) })
	}
	for _, t := range topics {
		ot := kmsg.OffsetFetchResponseTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			o, ok := offsets[topicPartition{t.Topic, p}]
			if !ok {
				ot.Partitions = append(ot.Partitions, unknown(p))
				continue
			}
			md := o.metadata
			ot.Partitions = append(ot.Partitions, kmsg.OffsetFetchResponseTopicPartition{
				Partition: p, Offset: o.offset, LeaderEpoch: o.leaderEpoch, Metadata: &md,
			})
		}
		out = append(out, ot)
	}
	return 0, out
}

func (c *Coordinator) offsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := &kmsg.OffsetDeleteResponse{Version: req.Version}
	if resp.ErrorCode = c.availability(); resp.ErrorCode != 0 {
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	defer g.mu.Unlock()
	var subscribed map[string]bool
	if g.state != stateEmpty {
		if g.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
		subscribed = g.subscribedTopics()
	}
	var kvs [][2][]byte
	var gone []topicPartition
	for _, t := range req.Topics {
		rt := kmsg.OffsetDeleteResponseTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			rp := kmsg.OffsetDeleteResponseTopicPartition{Partition: p.Partition}
			tp := topicPartition{t.Topic, p.Partition}
			switch {
			case subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[tp]; ok {
					kvs = append(kvs, [2][]byte{offsetKey(g.id, tp.topic, tp.partition), nil})
					gone = append(gone, tp)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(kvs) > 0 {
		if err := g.c.append(ctx, g.id, kvs...); err != nil {
			g.c.log.Warn("store offset delete", "group", g.id, "err", err)
			return &kmsg.OffsetDeleteResponse{Version: req.Version, ErrorCode: storeErrorCode(err)}
		}
	}
	for _, tp := range gone {
		delete(g.offsets, tp)
	}
	return resp
}

// scheduleExpiry arms the periodic offset-expiry sweep.
func (c *Coordinator) scheduleExpiry() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.expiry = c.clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, func() {
		c.expireOffsets()
		c.scheduleExpiry()
	})
}

// expireOffsets runs one sweep over every group.
func (c *Coordinator) expireOffsets() {
	if c.availability() != 0 {
		return
	}
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.state != stateDead && !g.closed {
			g.expire()
		}
		g.mu.Unlock()
	}
}

// expire drops the group's expired offsets and deletes the group if that
// leaves it empty. Called with g.mu held.
func (g *group) expire() {
	now := g.now()
	retention := g.c.cfg.OffsetsRetention.Milliseconds()
	var expired []topicPartition
	switch {
	case g.protocolType != "" && g.state == stateEmpty:
		emptySince := g.stateSince.UnixMilli()
		for tp, o := range g.offsets {
			if max(o.commitMillis, emptySince)+retention <= now.UnixMilli() {
				expired = append(expired, tp)
			}
		}
	case g.protocolType == "":
		for tp, o := range g.offsets {
			if o.commitMillis+retention <= now.UnixMilli() {
				expired = append(expired, tp)
			}
		}
	case g.state == stateStable:
		if subscribed := g.subscribedTopics(); subscribed != nil {
			for tp, o := range g.offsets {
				if !subscribed[tp.topic] && o.commitMillis+retention <= now.UnixMilli() {
					expired = append(expired, tp)
				}
			}
		}
	}
	dropGroup := g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(expired) == len(g.offsets)
	if len(expired) == 0 && !dropGroup {
		return
	}
	var kvs [][2][]byte
	for _, tp := range expired {
		kvs = append(kvs, [2][]byte{offsetKey(g.id, tp.topic, tp.partition), nil})
	}
	if dropGroup {
		kvs = append(kvs, [2][]byte{groupKey(g.id), nil})
	}
	if err := g.c.append(g.c.ctx, g.id, kvs...); err != nil {
		g.c.log.Warn("store offset expiry", "group", g.id, "err", err)
		return
	}
	for _, tp := range expired {
		delete(g.offsets, tp)
	}
	g.c.log.Info("expired offsets", "group", g.id, "count", len(expired), "group_deleted", dropGroup)
	if dropGroup {
		g.transition(stateDead)
		g.c.forget(g)
	}
}
