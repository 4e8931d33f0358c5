package group

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Load rebuilds every group and committed offset from __consumer_offsets,
// replacing what the coordinator holds. Requests served while it runs get
// COORDINATOR_LOAD_IN_PROGRESS. Groups with members come back Stable in
// their stored generation, so members that keep heartbeating continue
// without a rebalance; those that do not expire after their session
// timeout.
//
// Records whose key version the coordinator does not know (the records of
// Kafka's KIP-848 consumer groups, versions 3+) are skipped; undecodable
// records are logged and skipped rather than failing the start.
func (c *Coordinator) Load(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("group: load on a closed coordinator")
	}
	c.loading = true
	old := c.groups
	c.groups = make(map[string]*group)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.loading = false
		c.mu.Unlock()
	}()
	for _, g := range old {
		g.mu.Lock()
		g.shutdown()
		g.transition(stateDead)
		g.mu.Unlock()
	}

	type loaded struct {
		meta    *kmsg.GroupMetadataValue
		offsets map[topicPartition]committed
	}
	all := make(map[string]*loaded)
	get := func(id string) *loaded {
		l := all[id]
		if l == nil {
			l = &loaded{offsets: make(map[topicPartition]committed)}
			all[id] = l
		}
		return l
	}
	skipped := 0
	replay := func(key, value []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(key) < 2 {
			skipped++
			return nil
		}
		switch binary.BigEndian.Uint16(key) {
		case 0, 1:
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(key); err != nil {
				skipped++
				return nil
			}
			l := get(k.Group)
			tp := topicPartition{k.Topic, k.Partition}
			if value == nil {
				delete(l.offsets, tp)
				return nil
			}
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(value); err != nil {
				skipped++
				return nil
			}
			epoch := v.LeaderEpoch
			if v.Version < 3 {
				epoch = -1
			}
			l.offsets[tp] = committed{offset: v.Offset, leaderEpoch: epoch, metadata: v.Metadata, commitMillis: v.CommitTimestamp}
		case 2:
			var k kmsg.GroupMetadataKey
			if err := k.ReadFrom(key); err != nil {
				skipped++
				return nil
			}
			l := get(k.Group)
			if value == nil {
				// Deleting a group tombstones its offsets first.
				l.meta = nil
				return nil
			}
			v := new(kmsg.GroupMetadataValue)
			if err := v.ReadFrom(value); err != nil {
				skipped++
				return nil
			}
			l.meta = v
		}
		return nil
	}
	for p := range c.store.Partitions() {
		if err := c.store.Replay(p, replay); err != nil {
			return fmt.Errorf("group: replay __consumer_offsets-%d: %w", p, err)
		}
	}
	if skipped > 0 {
		c.log.Warn("skipped undecodable __consumer_offsets records", "count", skipped)
	}

	groups := make(map[string]*group, len(all))
	for id, l := range all {
		if l.meta == nil && len(l.offsets) == 0 {
			continue
		}
		g := newGroup(c, id)
		g.offsets = l.offsets
		if v := l.meta; v != nil {
			g.restore(v)
		}
		groups[id] = g
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		for _, g := range groups {
			g.shutdown()
		}
		return errors.New("group: coordinator closed during load")
	}
	c.groups = groups
	c.log.Info("loaded groups", "groups", len(groups))
	return nil
}

// restore sets a freshly created group from its stored metadata.
func (g *group) restore(v *kmsg.GroupMetadataValue) {
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp > 0 {
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		g.seq++
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			sessionTimeout:   millis(vm.SessionTimeoutMillis),
			rebalanceTimeout: millis(vm.RebalanceTimeoutMillis),
			assignment:       vm.Assignment,
			seq:              g.seq,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
		g.touch(m)
		g.armSession(m, m.sessionTimeout)
	}
	if len(g.members) > 0 {
		g.state = stateStable
		if g.members[g.leader] == nil {
			g.leader = g.ordered()[0].id
		}
	} else {
		g.state = stateEmpty
		g.leader = ""
	}
}
