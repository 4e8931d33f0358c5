package group

// JoinGroup (key 11) v0-9, SyncGroup (14) v0-5, Heartbeat (12) v0-4,
// LeaveGroup (13) v0-5: the classic group membership protocol.
//
// Behaviour follows Kafka's classic group coordinator:
//   - v4+ JoinGroup without a member id gets MEMBER_ID_REQUIRED and an id
//     to rejoin with (KIP-394); the id lapses after the session timeout.
//   - A static member (group.instance.id, KIP-345) rejoining without a
//     member id replaces its old incarnation (whose blocked requests get
//     FENCED_INSTANCE_ID); in a Stable group whose protocol would not
//     change this costs no rebalance, and a v9+ leader is told to skip
//     assignment (KIP-814).
//   - Leaving, expiring, or a leader or changed-metadata rejoin moves a
//     Stable group to PreparingRebalance; the join barrier completes once
//     every member has rejoined, or after the longest rebalance timeout.
//   - Members must SyncGroup within the rebalance timeout after the join
//     completes, or are removed and the group rebalances again.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (c *Coordinator) joinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp, w := c.startJoin(ctx, req)
	if w == nil {
		return resp
	}
	select {
	case resp := <-w.ch:
		return resp
	case <-ctx.Done():
		// The member stays in the barrier; if it never syncs, the sync
		// timeout removes it.
		return &kmsg.JoinGroupResponse{Version: req.Version, ErrorCode: kerr.RebalanceInProgress.Code, Generation: -1, MemberID: req.MemberID}
	}
}

// startJoin returns either JoinGroup's immediate response or the waiter
// that will receive it.
func (c *Coordinator) startJoin(ctx context.Context, req *kmsg.JoinGroupRequest) (*kmsg.JoinGroupResponse, *joinWaiter) {
	fail := func(code int16) (*kmsg.JoinGroupResponse, *joinWaiter) {
		return &kmsg.JoinGroupResponse{Version: req.Version, ErrorCode: code, Generation: -1, MemberID: req.MemberID}, nil
	}
	if code := c.availability(); code != 0 {
		return fail(code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	session := millis(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	rebalance := millis(req.RebalanceTimeoutMillis)
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session // v0 has no rebalance timeout
	}
	g := c.lockGroup(req.Group, req.MemberID == "")
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	defer g.mu.Unlock()
	defer g.maybeDrop()
	return g.join(req, clientFrom(ctx), session, rebalance)
}

// join handles a JoinGroup with g locked: it returns either an immediate
// response or a waiter to block on.
func (g *group) join(req *kmsg.JoinGroupRequest, ci ClientInfo, session, rebalance time.Duration) (*kmsg.JoinGroupResponse, *joinWaiter) {
	fail := func(code int16) (*kmsg.JoinGroupResponse, *joinWaiter) {
		return &kmsg.JoinGroupResponse{Version: req.Version, ErrorCode: code, Generation: -1, MemberID: req.MemberID}, nil
	}
	// The member's own earlier protocols (or its previous incarnation's,
	// for a static member rejoining without an id) do not constrain it.
	self := req.MemberID
	if self == "" && req.InstanceID != nil {
		self = g.static[*req.InstanceID]
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, self) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if !g.canAccept(self) {
		return fail(kerr.GroupMaxSizeReached.Code)
	}
	fresh := func(id string) *member {
		return &member{
			id:               id,
			instanceID:       req.InstanceID,
			clientID:         ci.ID,
			clientHost:       ci.Host,
			protocolType:     req.ProtocolType,
			protocols:        req.Protocols,
			sessionTimeout:   session,
			rebalanceTimeout: rebalance,
		}
	}
	w := &joinWaiter{version: req.Version, ch: make(chan *kmsg.JoinGroupResponse, 1)}

	if req.MemberID == "" {
		if req.InstanceID != nil {
			if old, ok := g.static[*req.InstanceID]; ok {
				return g.replaceStatic(g.members[old], fresh(newMemberID(*req.InstanceID)), w)
			}
			return nil, g.addAndRebalance(fresh(newMemberID(*req.InstanceID)), w)
		}
		id := newMemberID(ci.ID)
		if req.Version >= 4 {
			g.addPending(id, session)
			return &kmsg.JoinGroupResponse{Version: req.Version, ErrorCode: kerr.MemberIDRequired.Code, Generation: -1, MemberID: id}, nil
		}
		return nil, g.addAndRebalance(fresh(id), w)
	}

	if _, ok := g.pending[req.MemberID]; ok {
		if req.InstanceID != nil {
			// Pending ids are only handed to dynamic members.
			return fail(kerr.UnknownMemberID.Code)
		}
		g.removePending(req.MemberID)
		return nil, g.addAndRebalance(fresh(req.MemberID), w)
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		g.update(m, req, ci, session, rebalance, w)
		g.tryCompleteJoin()
		return nil, w
	case stateCompletingRebalance:
		if m.sameProtocols(req.Protocols) {
			// A retry of a JoinGroup whose response was lost.
			g.touch(m)
			return g.joinResponse(m, req.Version, false), nil
		}
		g.update(m, req, ci, session, rebalance, w)
		g.prepareRebalance("member " + m.id + " rejoined with new metadata")
		return nil, w
	case stateStable:
		if m.id == g.leader || !m.sameProtocols(req.Protocols) {
			// A leader rejoins to force a rebalance (e.g. it saw
			// metadata change); others rejoin with new subscriptions.
			g.update(m, req, ci, session, rebalance, w)
			g.prepareRebalance("leader or member with new metadata " + m.id + " rejoined")
			return nil, w
		}
		g.touch(m)
		resp := g.joinResponse(m, req.Version, false)
		return resp, nil
	}
	return fail(kerr.UnknownMemberID.Code)
}

func (g *group) update(m *member, req *kmsg.JoinGroupRequest, ci ClientInfo, session, rebalance time.Duration, w *joinWaiter) {
	m.protocols = req.Protocols
	m.protocolType = req.ProtocolType
	m.sessionTimeout = session
	m.rebalanceTimeout = rebalance
	if ci.ID != "" {
		m.clientID, m.clientHost = ci.ID, ci.Host
	}
	if m.join != nil {
		// The client gave up on its earlier JoinGroup.
		m.join.ch <- &kmsg.JoinGroupResponse{Version: m.join.version, ErrorCode: kerr.RebalanceInProgress.Code, Generation: -1, MemberID: m.id}
	}
	m.join = w
}

func (g *group) addAndRebalance(m *member, w *joinWaiter) *joinWaiter {
	g.addMember(m)
	m.join = w
	switch g.state {
	case statePreparingRebalance:
		if g.delaying {
			g.joinedInDelay = true
		}
		g.tryCompleteJoin()
	default:
		g.prepareRebalance("new member " + m.id + " joined")
	}
	return w
}

// replaceStatic gives a static member's instance id to a new incarnation.
func (g *group) replaceStatic(old, m *member, w *joinWaiter) (*kmsg.JoinGroupResponse, *joinWaiter) {
	version := w.version
	fenced := func() {
		if old.join != nil {
			old.join.ch <- &kmsg.JoinGroupResponse{Version: old.join.version, ErrorCode: kerr.FencedInstanceID.Code, Generation: -1, MemberID: old.id}
			old.join = nil
		}
		if old.sync != nil {
			old.sync.ch <- &kmsg.SyncGroupResponse{Version: old.sync.version, ErrorCode: kerr.FencedInstanceID.Code}
			old.sync = nil
		}
	}
	fenced()
	swap := func(from, to *member) {
		if from.timer != nil {
			from.timer.Stop()
		}
		delete(g.members, from.id)
		g.members[to.id] = to
		g.static[*to.instanceID] = to.id
		if g.leader == from.id {
			g.leader = to.id
		}
		if _, ok := g.pendingSync[from.id]; ok {
			delete(g.pendingSync, from.id)
			g.pendingSync[to.id] = struct{}{}
		}
		g.touch(to)
		g.armSession(to, to.sessionTimeout)
	}
	m.assignment = old.assignment
	m.seq = old.seq
	swap(old, m)
	g.c.log.Info("static member replaced", "group", g.id, "instance", *m.instanceID, "old", old.id, "new", m.id)

	switch g.state {
	case stateStable:
		if g.selectProtocol() == g.protocol && m.protocolType == g.protocolType {
			if err := g.store(g.c.ctx, nil); err != nil {
				swap(m, old)
				g.c.log.Warn("store static member replacement", "group", g.id, "err", err)
				return &kmsg.JoinGroupResponse{Version: version, ErrorCode: storeErrorCode(err), Generation: -1}, nil
			}
			return g.joinResponse(m, version, m.id == g.leader), nil
		}
		m.join = w
		g.prepareRebalance("static member " + m.id + " rejoined with a protocol change")
	case stateCompletingRebalance:
		m.join = w
		g.prepareRebalance("static member " + m.id + " replaced during the rebalance")
	default: // PreparingRebalance
		m.join = w
		g.tryCompleteJoin()
	}
	return nil, w
}

func (c *Coordinator) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp, w := c.startSync(ctx, req)
	if w == nil {
		return resp
	}
	select {
	case resp := <-w.ch:
		return resp
	case <-ctx.Done():
		return &kmsg.SyncGroupResponse{Version: req.Version, ErrorCode: kerr.RebalanceInProgress.Code}
	}
}

func (c *Coordinator) startSync(ctx context.Context, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, *syncWaiter) {
	fail := func(code int16) (*kmsg.SyncGroupResponse, *syncWaiter) {
		return &kmsg.SyncGroupResponse{Version: req.Version, ErrorCode: code}, nil
	}
	if code := c.availability(); code != 0 {
		return fail(code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	defer g.mu.Unlock()
	return g.sync(ctx, req)
}

func (g *group) sync(ctx context.Context, req *kmsg.SyncGroupRequest) (*kmsg.SyncGroupResponse, *syncWaiter) {
	fail := func(code int16) (*kmsg.SyncGroupResponse, *syncWaiter) {
		return &kmsg.SyncGroupResponse{Version: req.Version, ErrorCode: code}, nil
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType ||
		req.Protocol != nil && *req.Protocol != g.protocol {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		delete(g.pendingSync, m.id)
		g.touch(m)
		return g.syncResponse(m, req.Version), nil
	case stateCompletingRebalance:
	default:
		return fail(kerr.UnknownMemberID.Code)
	}

	delete(g.pendingSync, m.id)
	w := &syncWaiter{version: req.Version, ch: make(chan *kmsg.SyncGroupResponse, 1)}
	if m.sync != nil {
		m.sync.ch <- &kmsg.SyncGroupResponse{Version: m.sync.version, ErrorCode: kerr.RebalanceInProgress.Code}
	}
	m.sync = w
	if m.id != g.leader {
		return nil, w
	}
	assignments := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if g.members[a.MemberID] != nil {
			assignments[a.MemberID] = a.MemberAssignment
		}
	}
	if err := g.store(ctx, assignments); err != nil {
		g.c.log.Warn("store group assignment", "group", g.id, "generation", g.generation, "err", err)
		g.failSyncs(storeErrorCode(err))
		g.prepareRebalance("storing the assignment failed")
		return nil, w
	}
	for _, o := range g.members {
		o.assignment = assignments[o.id]
		if o.assignment == nil {
			o.assignment = []byte{}
		}
	}
	g.transition(stateStable)
	for _, o := range g.members {
		if o.sync != nil {
			sw := o.sync
			o.sync = nil
			g.touch(o)
			sw.ch <- g.syncResponse(o, sw.version)
		}
	}
	return nil, w
}

func (g *group) syncResponse(m *member, version int16) *kmsg.SyncGroupResponse {
	pt, proto := g.protocolType, g.protocol
	return &kmsg.SyncGroupResponse{Version: version, ProtocolType: &pt, Protocol: &proto, MemberAssignment: m.assignment}
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := &kmsg.HeartbeatResponse{Version: req.Version}
	if resp.ErrorCode = c.availability(); resp.ErrorCode != 0 {
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	defer g.mu.Unlock()
	if resp.ErrorCode = g.validateMember(req.MemberID, req.InstanceID); resp.ErrorCode != 0 {
		return resp
	}
	if req.Generation != g.generation {
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return resp
	}
	g.touch(g.members[req.MemberID])
	if g.state == statePreparingRebalance {
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

func (c *Coordinator) leaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := &kmsg.LeaveGroupResponse{Version: req.Version}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if resp.ErrorCode = c.availability(); resp.ErrorCode != 0 {
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	defer g.mu.Unlock()
	gone, pendingGone := false, false
	for _, l := range leaving {
		code := int16(0)
		switch {
		case l.InstanceID != nil:
			id, ok := g.static[*l.InstanceID]
			switch {
			case !ok:
				code = kerr.UnknownMemberID.Code
			case l.MemberID != "" && l.MemberID != id:
				code = kerr.FencedInstanceID.Code
			default:
				g.removeMember(g.members[id])
				gone = true
			}
		case g.removePending(l.MemberID):
			pendingGone = true
		case g.members[l.MemberID] != nil:
			g.removeMember(g.members[l.MemberID])
			gone = true
		default:
			code = kerr.UnknownMemberID.Code
		}
		if req.Version < 3 {
			resp.ErrorCode = code
		} else {
			resp.Members = append(resp.Members, kmsg.LeaveGroupResponseMember{MemberID: l.MemberID, InstanceID: l.InstanceID, ErrorCode: code})
		}
	}
	switch {
	case gone:
		g.onMembersGone()
	case pendingGone && g.state == statePreparingRebalance:
		g.tryCompleteJoin()
	}
	return resp
}
