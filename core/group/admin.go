package group

// DescribeGroups (key 15) v0-6, ListGroups (16) v0-5, DeleteGroups (42)
// v0-3.
//
// DescribeGroups of an unknown group answers state "Dead" (v6+:
// GROUP_ID_NOT_FOUND, KIP-1043); members carry their metadata and
// assignment only while the group is Stable, as in Kafka. weir has no
// ACLs yet, so requested authorized operations are all a group allows
// (READ, DESCRIBE, DELETE). ListGroups filters states case-insensitively
// and knows one group type, "classic". DeleteGroups deletes only Empty
// groups (else NON_EMPTY_GROUP), writing tombstones for the group and its
// offsets.

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the AclOperation bit set READ(3)|DELETE(6)|DESCRIBE(8).
const groupOperations = 1<<3 | 1<<6 | 1<<8

func (c *Coordinator) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := &kmsg.DescribeGroupsResponse{Version: req.Version}
	avail := c.availability()
	for _, id := range req.Groups {
		d := kmsg.NewDescribeGroupsResponseGroup()
		d.Group = id
		if req.IncludeAuthorizedOperations {
			d.AuthorizedOperations = groupOperations
		}
		if avail != 0 {
			d.ErrorCode = avail
			resp.Groups = append(resp.Groups, d)
			continue
		}
		g := c.lockGroup(id, false)
		if g == nil {
			d.State = stateDead.String()
			if req.Version >= 6 {
				d.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "group " + id + " not found"
				d.ErrorMessage = &msg
			}
			resp.Groups = append(resp.Groups, d)
			continue
		}
		d.State = g.state.String()
		d.ProtocolType = g.protocolType
		stable := g.state == stateStable
		if stable {
			d.Protocol = g.protocol
		}
		for _, m := range g.ordered() {
			dm := kmsg.DescribeGroupsResponseGroupMember{
				MemberID:   m.id,
				InstanceID: m.instanceID,
				ClientID:   m.clientID,
				ClientHost: m.clientHost,
			}
			if stable {
				dm.ProtocolMetadata = m.metadataFor(g.protocol)
				dm.MemberAssignment = m.assignment
			}
			d.Members = append(d.Members, dm)
		}
		g.mu.Unlock()
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

func (c *Coordinator) listGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := &kmsg.ListGroupsResponse{Version: req.Version}
	if resp.ErrorCode = c.availability(); resp.ErrorCode != 0 {
		return resp
	}
	if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, "classic") }) {
		return resp
	}
	for _, g := range c.snapshot() {
		g.mu.Lock()
		st, pt := g.state, g.protocolType
		g.mu.Unlock()
		if st == stateDead {
			continue
		}
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, st.String()) }) {
			continue
		}
		resp.Groups = append(resp.Groups, kmsg.ListGroupsResponseGroup{Group: g.id, ProtocolType: pt, GroupState: st.String(), GroupType: "classic"})
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return cmp.Compare(a.Group, b.Group) })
	return resp
}

func (c *Coordinator) deleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := &kmsg.DeleteGroupsResponse{Version: req.Version}
	avail := c.availability()
	for _, id := range req.Groups {
		r := kmsg.DeleteGroupsResponseGroup{Group: id, ErrorCode: avail}
		if avail == 0 {
			r.ErrorCode = c.deleteGroup(ctx, id)
		}
		if r.ErrorCode != 0 && req.Version >= 3 {
			msg := kerr.ErrorForCode(r.ErrorCode).Error()
			r.ErrorMessage = &msg
		}
		resp.Groups = append(resp.Groups, r)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	g := c.lockGroup(id, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	defer g.mu.Unlock()
	if g.state != stateEmpty {
		return kerr.NonEmptyGroup.Code
	}
	kvs := make([][2][]byte, 0, len(g.offsets)+1)
	for tp := range g.offsets {
		kvs = append(kvs, [2][]byte{offsetKey(g.id, tp.topic, tp.partition), nil})
	}
	kvs = append(kvs, [2][]byte{groupKey(g.id), nil})
	if err := c.append(ctx, g.id, kvs...); err != nil {
		c.log.Warn("store group deletion", "group", g.id, "err", err)
		return storeErrorCode(err)
	}
	g.shutdown()
	clear(g.offsets)
	g.transition(stateDead)
	c.forget(g)
	return 0
}
