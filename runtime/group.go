package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Distributed mode: workers sharing a group id form a Connect cluster
// through the Kafka group protocol (JoinGroup/SyncGroup/Heartbeat with
// protocol type "connect"), as Kafka Connect's WorkerGroupMember does.
//
// The protocol is incremental and cooperative (in the spirit of KIP-415):
//
//   - each member's metadata says what it runs now and its REST URL;
//   - the leader keeps every connector and task where it runs, assigns
//     unowned ones to the least loaded member, and takes excess work away
//     from overloaded members (revocation) without giving it to anyone in
//     the same round; a member that lost work stops it and rejoins, and the
//     next round hands it out. So a rebalance stops only what moves, and
//     nothing runs twice on purpose;
//   - work of a member that vanished (session timeout) is held for
//     ScheduledRebalanceMaxDelay in case the worker comes back, then
//     handed out; the leader forces that round by rejoining itself.
//
// REST writes go to the leader (its URL travels in every assignment).

const connectProtocolType = "connect"
const weirProtocol = "weir-connect-v1"

type unit struct {
	Connector string `json:"c"`
	Task      int    `json:"t"` // -1: the connector itself
}

type memberMeta struct {
	URL          string `json:"url"`
	WorkerID     string `json:"worker_id"`
	ConfigOffset int64  `json:"config_offset"`
	Owned        []unit `json:"owned"`
}

type memberAssignment struct {
	Leader       string `json:"leader"`
	LeaderURL    string `json:"leader_url"`
	ConfigOffset int64  `json:"config_offset"`
	Assigned     []unit `json:"assigned"`
	Revoked      []unit `json:"revoked,omitempty"`
	// Delay: the leader holds work of departed workers and will rejoin
	// after this many milliseconds.
	Delay int64 `json:"delay,omitempty"`
}

type member struct {
	w *Worker

	mu         sync.Mutex
	memberID   string
	gen        int32
	leader     bool
	leaderAddr string
	// leaderKnown is closed once this member knows the leader's URL (or
	// leads); a member that lost it gets a fresh channel.
	leaderKnown chan struct{}
	asg         assignment
	rejoin      chan struct{}

	// leader's memory of who ran what, for the scheduled-rebalance delay
	lastOwner map[unit]string      // unit -> worker id
	lostSince map[string]time.Time // worker id -> first noticed missing
}

func newMember(w *Worker) *member {
	return &member{
		w:           w,
		asg:         assignment{connectors: map[string]bool{}, tasks: map[taskID]bool{}},
		rejoin:      make(chan struct{}, 1),
		leaderKnown: make(chan struct{}),
		lastOwner:   map[unit]string{},
		lostSince:   map[string]time.Time{},
	}
}

func (m *member) assignment() assignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.asg
}

func (m *member) generation() int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

func (m *member) leaderURL() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaderAddr, m.leader
}

// awaitLeader waits until this member knows the leader's URL or leads,
// as Kafka Connect's herder holds REST requests until its member has
// joined the group, so a write sent while the cluster is still forming
// waits for the round instead of failing with 409. It returns the
// leader's URL and whether this member leads; an empty URL and false
// mean ctx ended first.
func (m *member) awaitLeader(ctx context.Context) (string, bool) {
	for {
		m.mu.Lock()
		addr, leader, known := m.leaderAddr, m.leader, m.leaderKnown
		m.mu.Unlock()
		if leader || addr != "" {
			return addr, leader
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-known:
		}
	}
}

// setLeader records what the last SyncGroup said about the leader; the
// caller holds m.mu.
func (m *member) setLeader(isLeader bool, addr string) {
	m.leader, m.leaderAddr = isLeader, addr
	select {
	case <-m.leaderKnown:
		if !isLeader && addr == "" {
			m.leaderKnown = make(chan struct{})
		}
	default:
		if isLeader || addr != "" {
			close(m.leaderKnown)
		}
	}
}

// configChanged triggers a rebalance when the set of connectors or tasks
// differs from what the current assignment round saw.
func (m *member) configChanged() {
	m.requestRejoin()
}

func (m *member) requestRejoin() {
	select {
	case m.rejoin <- struct{}{}:
	default:
	}
}

func (m *member) owned() []unit {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []unit
	for c := range m.asg.connectors {
		out = append(out, unit{c, -1})
	}
	for t := range m.asg.tasks {
		out = append(out, unit{t.Connector, t.Task})
	}
	return out
}

func (m *member) run(ctx context.Context) {
	defer m.leave()
	backoff := 100 * time.Millisecond
	var lastUnits []unit
	for ctx.Err() == nil {
		// Drain rejoin requests that this round will satisfy anyway.
		select {
		case <-m.rejoin:
		default:
		}
		units := currentUnits(m.w.configs.snapshot())
		lastUnits = units
		asg, err := m.joinAndSync(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.w.log.Warn("joining the connect group", "group", m.w.cfg.GroupID, "err", err)
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.FencedInstanceID) {
				m.mu.Lock()
				m.memberID = ""
				m.mu.Unlock()
			}
			_ = sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		m.apply(asg)
		if len(asg.Revoked) > 0 {
			// Stop what was taken away before telling the leader it is free.
			m.w.reconcileAndWait(ctx)
			continue
		}
		var delay <-chan time.Time
		if asg.Delay > 0 {
			delay = time.After(time.Duration(asg.Delay) * time.Millisecond)
		}
		if !m.heartbeatUntilRejoin(ctx, delay, lastUnits) {
			return
		}
	}
}

func currentUnits(s *configSnapshot) []unit {
	var out []unit
	for c := range s.connectors {
		out = append(out, unit{c, -1})
		for n := range s.tasks[c] {
			out = append(out, unit{c, n})
		}
	}
	sortUnits(out)
	return out
}

func sortUnits(us []unit) {
	slices.SortFunc(us, func(a, b unit) int {
		if c := cmp.Compare(a.Connector, b.Connector); c != 0 {
			return c
		}
		return cmp.Compare(a.Task, b.Task)
	})
}

// heartbeatUntilRejoin heartbeats until the group rebalances, the config
// changes the set of units, or the leader's delay expires. It returns
// false when ctx is done.
func (m *member) heartbeatUntilRejoin(ctx context.Context, delay <-chan time.Time, units []unit) bool {
	t := time.NewTicker(m.w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-delay:
			return true
		case <-m.rejoin:
			if !slices.Equal(currentUnits(m.w.configs.snapshot()), units) {
				return true
			}
		case <-t.C:
			m.mu.Lock()
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group, req.MemberID, req.Generation = m.w.cfg.GroupID, m.memberID, m.gen
			m.mu.Unlock()
			hctx, cancel := context.WithTimeout(ctx, m.w.cfg.SessionTimeout)
			resp, err := req.RequestWith(hctx, m.w.prod)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return false
				}
				m.w.log.Warn("heartbeat", "err", err)
				continue
			}
			switch err := kerr.ErrorForCode(resp.ErrorCode); {
			case err == nil:
			case errors.Is(err, kerr.RebalanceInProgress):
				return true
			case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
				// We were dropped from the group: what we ran may already
				// run elsewhere, so stop it all.
				m.w.log.Warn("lost connect group membership; stopping all work", "err", err)
				m.mu.Lock()
				m.memberID = ""
				m.setLeader(false, "")
				m.asg = assignment{connectors: map[string]bool{}, tasks: map[taskID]bool{}}
				m.mu.Unlock()
				m.w.reconcileAndWait(ctx)
				return true
			default:
				m.w.log.Warn("heartbeat", "err", err)
			}
		}
	}
}

func (m *member) joinAndSync(ctx context.Context) (*memberAssignment, error) {
	snap := m.w.configs.snapshot()
	meta, _ := json.Marshal(memberMeta{URL: m.w.cfg.AdvertisedURL, WorkerID: m.w.cfg.WorkerID, ConfigOffset: snap.offset, Owned: m.owned()})
	for {
		m.mu.Lock()
		memberID := m.memberID
		m.mu.Unlock()
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group = m.w.cfg.GroupID
		join.SessionTimeoutMillis = int32(m.w.cfg.SessionTimeout / time.Millisecond)
		join.RebalanceTimeoutMillis = int32(m.w.cfg.RebalanceTimeout / time.Millisecond)
		join.MemberID = memberID
		join.ProtocolType = connectProtocolType
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = weirProtocol, meta
		join.Protocols = append(join.Protocols, p)
		resp, err := join.RequestWith(ctx, m.w.prod)
		if err != nil {
			return nil, fmt.Errorf("JoinGroup: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.MemberIDRequired) {
				m.mu.Lock()
				m.memberID = resp.MemberID
				m.mu.Unlock()
				continue
			}
			return nil, fmt.Errorf("JoinGroup: %w", err)
		}
		m.mu.Lock()
		m.memberID, m.gen = resp.MemberID, resp.Generation
		m.mu.Unlock()
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.Generation, sync.MemberID = m.w.cfg.GroupID, resp.Generation, resp.MemberID
		sync.ProtocolType, sync.Protocol = kmsg.StringPtr(connectProtocolType), kmsg.StringPtr(weirProtocol)
		isLeader := resp.LeaderID == resp.MemberID
		if isLeader {
			asgs, err := m.lead(ctx, resp)
			if err != nil {
				return nil, err
			}
			for id, a := range asgs {
				b, _ := json.Marshal(a)
				sa := kmsg.NewSyncGroupRequestGroupAssignment()
				sa.MemberID, sa.MemberAssignment = id, b
				sync.GroupAssignment = append(sync.GroupAssignment, sa)
			}
		}
		sresp, err := sync.RequestWith(ctx, m.w.prod)
		if err != nil {
			return nil, fmt.Errorf("SyncGroup: %w", err)
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			return nil, fmt.Errorf("SyncGroup: %w", err)
		}
		var a memberAssignment
		if err := json.Unmarshal(sresp.MemberAssignment, &a); err != nil {
			return nil, fmt.Errorf("SyncGroup: undecodable assignment: %w", err)
		}
		m.mu.Lock()
		m.setLeader(isLeader, a.LeaderURL)
		m.mu.Unlock()
		return &a, nil
	}
}

func (m *member) apply(a *memberAssignment) {
	next := assignment{connectors: map[string]bool{}, tasks: map[taskID]bool{}}
	for _, u := range a.Assigned {
		if u.Task < 0 {
			next.connectors[u.Connector] = true
		} else {
			next.tasks[taskID{u.Connector, u.Task}] = true
		}
	}
	m.mu.Lock()
	m.asg = next
	m.mu.Unlock()
	m.w.log.Info("connect group assignment", "generation", m.generation(), "leader_url", a.LeaderURL,
		"connectors", len(next.connectors), "tasks", len(next.tasks), "revoked", len(a.Revoked), "delay_ms", a.Delay)
	m.w.kick()
}

// lead computes every member's assignment.
func (m *member) lead(ctx context.Context, resp *kmsg.JoinGroupResponse) (map[string]memberAssignment, error) {
	var mems []*groupMember
	for _, jm := range resp.Members {
		var md memberMeta
		if err := json.Unmarshal(jm.ProtocolMetadata, &md); err != nil {
			return nil, fmt.Errorf("member %s sent undecodable metadata: %w", jm.MemberID, err)
		}
		mems = append(mems, &groupMember{id: jm.MemberID, meta: md})
	}
	// The leader must have read every config the members have seen.
	rctx, cancel := context.WithTimeout(ctx, stateTopicReadLimit)
	err := m.w.configLog.readToEnd(rctx)
	cancel()
	if err != nil {
		return nil, err
	}
	snap := m.w.configs.snapshot()
	out := m.assign(resp.MemberID, m.w.cfg.AdvertisedURL, mems, currentUnits(snap), snap.offset, time.Now())
	var held int64
	revoked := 0
	for _, a := range out {
		held = max(held, a.Delay)
		revoked += len(a.Revoked)
	}
	m.w.log.Info("leader assigned work", "members", len(mems), "generation", resp.Generation, "revoked", revoked, "held_ms", held)
	return out, nil
}

type groupMember struct {
	id   string
	meta memberMeta
	load int
}

// assign is the leader's pure assignment step (see the package comment on
// distributed mode). It updates the leader's memory of owners.
func (m *member) assign(leaderID, leaderURL string, mems []*groupMember, all []unit, configOffset int64, now time.Time) map[string]memberAssignment {
	sort.Slice(mems, func(i, j int) bool { return mems[i].id < mems[j].id })
	live := map[unit]bool{}
	for _, u := range all {
		live[u] = true
	}
	byWorker := map[string]*groupMember{}
	for _, x := range mems {
		byWorker[x.meta.WorkerID] = x
	}
	owner := map[unit]*groupMember{}
	for _, x := range mems {
		for _, u := range x.meta.Owned {
			if live[u] && owner[u] == nil {
				owner[u] = x
				x.load++
			}
		}
	}
	delay := m.w.cfg.ScheduledRebalanceMaxDelay
	returned := map[string]bool{}
	for wid := range m.lostSince {
		if byWorker[wid] != nil {
			returned[wid] = true
			delete(m.lostSince, wid)
		}
	}
	var held time.Duration
	var free []unit
	for _, u := range all {
		if owner[u] != nil {
			continue
		}
		prev, ok := m.lastOwner[u]
		switch {
		case ok && byWorker[prev] == nil:
			since, seen := m.lostSince[prev]
			if !seen {
				since = now
				m.lostSince[prev] = now
			}
			if left := delay - now.Sub(since); left > 0 {
				held = max(held, left)
				continue
			}
		case ok && returned[prev]:
			// The worker came back (restarted) in time: its work returns.
			owner[u] = byWorker[prev]
			byWorker[prev].load++
			continue
		}
		free = append(free, u)
	}
	for _, u := range free {
		best := mems[0]
		for _, x := range mems[1:] {
			if x.load < best.load {
				best = x
			}
		}
		owner[u] = best
		best.load++
	}
	// Revoke from overloaded members; a cooperative second round gives the
	// revoked work to the least loaded (counted here already, so the loop
	// ends).
	revoked := map[*groupMember][]unit{}
	for {
		hi, lo := mems[0], mems[0]
		for _, x := range mems[1:] {
			if x.load > hi.load {
				hi = x
			}
			if x.load < lo.load {
				lo = x
			}
		}
		if hi.load-lo.load <= 1 {
			break
		}
		var victim *unit
		for _, u := range slices.Backward(all) {
			if owner[u] == hi {
				victim = &u
				break
			}
		}
		if victim == nil {
			break
		}
		revoked[hi] = append(revoked[hi], *victim)
		delete(owner, *victim)
		hi.load--
		lo.load++
	}
	out := map[string]memberAssignment{}
	for _, x := range mems {
		a := memberAssignment{Leader: leaderID, LeaderURL: leaderURL, ConfigOffset: configOffset, Assigned: []unit{}, Revoked: revoked[x]}
		if held > 0 {
			a.Delay = held.Milliseconds() + 1
		}
		out[x.id] = a
	}
	lastOwner := map[unit]string{}
	for _, u := range all {
		if x := owner[u]; x != nil {
			a := out[x.id]
			a.Assigned = append(a.Assigned, u)
			out[x.id] = a
			lastOwner[u] = x.meta.WorkerID
		} else if prev, ok := m.lastOwner[u]; ok && byWorker[prev] == nil {
			lastOwner[u] = prev // still held
		} else if ok {
			lastOwner[u] = prev // revoked: its owner is still alive
		}
	}
	m.lastOwner = lastOwner
	return out
}

func (m *member) leave() {
	m.mu.Lock()
	id := m.memberID
	m.mu.Unlock()
	if id == "" {
		return
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = m.w.cfg.GroupID, id
	mi := kmsg.NewLeaveGroupRequestMember()
	mi.MemberID = id
	req.Members = append(req.Members, mi)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _ = req.RequestWith(ctx, m.w.prod)
}
