package group

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, named as Kafka names it.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

type topicPartition struct {
	topic     string
	partition int32
}

// committed is one committed offset.
type committed struct {
	offset       int64
	leaderEpoch  int32
	metadata     string
	commitMillis int64
}

// joinWaiter is a JoinGroup request blocked on the join barrier.
type joinWaiter struct {
	version int16
	ch      chan *kmsg.JoinGroupResponse // buffered 1: sends never block
}

type syncWaiter struct {
	version int16
	ch      chan *kmsg.SyncGroupResponse // buffered 1
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	assignment       []byte
	seq              uint64 // join order: the leader is the oldest member

	deadline time.Time // session expiry, unless awaiting join or sync
	timer    timer
	join     *joinWaiter
	sync     *syncWaiter
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) sameProtocols(ps []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// group is one classic group. Every field is guarded by mu.
type group struct {
	c  *Coordinator
	id string
	mu sync.Mutex

	state        state
	stateSince   time.Time
	protocolType string
	protocol     string // selected protocol; "" until the first generation
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string   // instance id → member id
	pending      map[string]timer    // member ids handed out with MEMBER_ID_REQUIRED
	pendingSync  map[string]struct{} // members yet to SyncGroup this generation
	seq          uint64

	// epoch changes whenever a rebalance starts or completes; timers
	// compare it to learn whether they are stale.
	epoch          uint64
	rebalanceTimer timer
	delaying       bool // in group.initial.rebalance.delay
	joinedInDelay  bool
	delayDeadline  time.Time
	syncTimer      timer

	offsets map[topicPartition]committed

	// closed is set when the coordinator shuts the group down; timers
	// that fire afterwards do nothing.
	closed bool
}

func newGroup(c *Coordinator, id string) *group {
	return &group{
		c:           c,
		id:          id,
		stateSince:  c.clock.Now(),
		members:     make(map[string]*member),
		static:      make(map[string]string),
		pending:     make(map[string]timer),
		pendingSync: make(map[string]struct{}),
		offsets:     make(map[topicPartition]committed),
	}
}

func (g *group) now() time.Time { return g.c.clock.Now() }

func (g *group) transition(s state) {
	g.state = s
	g.stateSince = g.now()
}

// ordered returns the members in join order.
func (g *group) ordered() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return cmp.Compare(a.seq, b.seq) })
	return ms
}

// validateMember is Kafka's ClassicGroup.validateMember: a static member
// must present the member id its instance id currently maps to.
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if cur != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// supportsProtocols reports whether a member offering protocols may join:
// an empty group takes any non-empty offer; otherwise the type must match
// and one protocol must be supported by every other member.
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, self string) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	others := 0
	for id := range g.members {
		if id != self {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		n := 0
		for id, m := range g.members {
			if id != self && hasProtocol(m, p.Name) {
				n++
			}
		}
		if n == others {
			return true
		}
	}
	return false
}

func hasProtocol(m *member, name string) bool {
	return slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name })
}

// selectProtocol picks the protocol for the next generation as Kafka does:
// among protocols every member supports, each member votes for the first
// one in its own preference order; most votes wins, ties going to the
// oldest member's preference.
func (g *group) selectProtocol() string {
	ms := g.ordered()
	if len(ms) == 0 {
		return ""
	}
	var candidates []string
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			if !hasProtocol(m, p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := make(map[string]int)
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range candidates {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// canAccept enforces group.max.size. Unlike Kafka's acceptJoiningMember,
// which counts only members that have rejoined during PreparingRebalance
// (and so may turn away a current member while admitting new ones), a
// current member is always accepted and a new one only while the group
// has a free seat: the group never exceeds the limit.
func (g *group) canAccept(memberID string) bool {
	return g.members[memberID] != nil || len(g.members) < g.c.cfg.MaxSize
}

// addMember adds m, making it the leader of a leaderless group, and arms
// its session timer.
func (g *group) addMember(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.seq++
	m.seq = g.seq
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.touch(m)
	g.armSession(m, m.sessionTimeout)
}

// touch restarts m's session.
func (g *group) touch(m *member) { m.deadline = g.now().Add(m.sessionTimeout) }

func (g *group) armSession(m *member, d time.Duration) {
	m.timer = g.c.clock.AfterFunc(d, func() { g.checkSession(m) })
}

// checkSession runs when m's session timer fires: a member blocked in
// JoinGroup or SyncGroup, or one that heartbeated since, is given more time.
func (g *group) checkSession(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.state == stateDead || g.members[m.id] != m {
		return
	}
	now := g.now()
	switch {
	case m.join != nil || m.sync != nil:
		g.armSession(m, m.sessionTimeout)
	case now.Before(m.deadline):
		g.armSession(m, m.deadline.Sub(now))
	default:
		g.c.log.Info("member session expired", "group", g.id, "member", m.id, "generation", g.generation)
		g.removeMember(m)
		g.onMembersGone()
	}
}

// removeMember drops m; blocked requests of m get UNKNOWN_MEMBER_ID.
func (g *group) removeMember(m *member) {
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, m.id)
	if m.timer != nil {
		m.timer.Stop()
	}
	if m.join != nil {
		m.join.ch <- &kmsg.JoinGroupResponse{Version: m.join.version, ErrorCode: kerr.UnknownMemberID.Code, Generation: -1, MemberID: m.id}
		m.join = nil
	}
	if m.sync != nil {
		m.sync.ch <- &kmsg.SyncGroupResponse{Version: m.sync.version, ErrorCode: kerr.UnknownMemberID.Code}
		m.sync = nil
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.ordered(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// onMembersGone moves the group on after members left or expired.
func (g *group) onMembersGone() {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance("members left")
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

// addPending records a member id handed out with MEMBER_ID_REQUIRED; it
// lapses unless the member joins with it within its session timeout.
func (g *group) addPending(id string, session time.Duration) {
	g.pending[id] = g.c.clock.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.pending[id]; !ok || g.closed || g.state == stateDead {
			return
		}
		delete(g.pending, id)
		if g.state == statePreparingRebalance {
			g.tryCompleteJoin()
		}
		g.maybeDrop()
	})
}

func (g *group) removePending(id string) bool {
	t, ok := g.pending[id]
	if ok {
		t.Stop()
		delete(g.pending, id)
	}
	return ok
}

// prepareRebalance starts a join barrier: members learn of it from
// heartbeats (REBALANCE_IN_PROGRESS) and must rejoin within the longest
// rebalance timeout.
func (g *group) prepareRebalance(reason string) {
	g.c.log.Info("preparing rebalance", "group", g.id, "generation", g.generation, "from", g.state.String(), "members", len(g.members), "reason", reason)
	if g.state == stateCompletingRebalance {
		g.failSyncs(kerr.RebalanceInProgress.Code)
	}
	g.stopTimers()
	g.epoch++
	epoch := g.epoch
	wasEmpty := g.state == stateEmpty
	g.transition(statePreparingRebalance)
	timeout := g.maxRebalanceTimeout()
	if delay := g.c.cfg.InitialRebalanceDelay; wasEmpty && delay > 0 {
		// Kafka's InitialDelayedJoin: wait delay, and again while members
		// keep arriving, never past the rebalance timeout.
		g.delaying = true
		g.joinedInDelay = false
		g.delayDeadline = g.now().Add(timeout)
		g.rebalanceTimer = g.c.clock.AfterFunc(min(delay, timeout), func() { g.onInitialDelay(epoch) })
		return
	}
	g.rebalanceTimer = g.c.clock.AfterFunc(timeout, func() { g.onRebalanceTimeout(epoch) })
	g.tryCompleteJoin()
}

func (g *group) onInitialDelay(epoch uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.epoch != epoch || g.state != statePreparingRebalance {
		return
	}
	remaining := g.delayDeadline.Sub(g.now())
	if g.joinedInDelay && remaining > 0 {
		g.joinedInDelay = false
		g.rebalanceTimer = g.c.clock.AfterFunc(min(g.c.cfg.InitialRebalanceDelay, remaining), func() { g.onInitialDelay(epoch) })
		return
	}
	g.delaying = false
	g.completeJoin()
}

func (g *group) onRebalanceTimeout(epoch uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.epoch != epoch || g.state != statePreparingRebalance {
		return
	}
	g.completeJoin()
}

func (g *group) stopTimers() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
	g.delaying = false
}

// tryCompleteJoin completes the barrier once every member has rejoined and
// no member id handed out with MEMBER_ID_REQUIRED is outstanding.
func (g *group) tryCompleteJoin() {
	if g.state != statePreparingRebalance || g.delaying || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join barrier: dynamic members that did not rejoin
// are dropped (static ones keep their place until their session expires),
// the generation advances, and every waiting member gets its JoinGroup
// response, the leader with the member list.
func (g *group) completeJoin() {
	for _, m := range g.ordered() {
		if m.join == nil && m.instanceID == nil {
			g.removeMember(m)
		}
	}
	g.stopTimers()
	g.epoch++
	g.generation++
	clear(g.pendingSync)
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.transition(stateEmpty)
		if err := g.store(g.c.ctx, nil); err != nil {
			g.c.log.Warn("store empty group", "group", g.id, "err", err)
		}
		g.maybeDrop()
		return
	}
	g.protocol = g.selectProtocol()
	g.protocolType = g.ordered()[0].protocolType // all members share it
	if g.members[g.leader] == nil || g.members[g.leader].join == nil {
		// Prefer a leader that is actually waiting for the response.
		for _, m := range g.ordered() {
			if m.join != nil {
				g.leader = m.id
				break
			}
		}
	}
	g.transition(stateCompletingRebalance)
	for _, m := range g.ordered() {
		g.pendingSync[m.id] = struct{}{}
		if m.join == nil {
			continue
		}
		w := m.join
		m.join = nil
		g.touch(m)
		w.ch <- g.joinResponse(m, w.version, false)
	}
	epoch, gen := g.epoch, g.generation
	g.syncTimer = g.c.clock.AfterFunc(g.maxRebalanceTimeout(), func() { g.onSyncTimeout(epoch, gen) })
}

// joinResponse is the successful JoinGroup response for m in the current
// generation.
func (g *group) joinResponse(m *member, version int16, skipAssignment bool) *kmsg.JoinGroupResponse {
	pt, proto := g.protocolType, g.protocol
	resp := &kmsg.JoinGroupResponse{
		Version:        version,
		Generation:     g.generation,
		ProtocolType:   &pt,
		Protocol:       &proto,
		LeaderID:       g.leader,
		MemberID:       m.id,
		SkipAssignment: skipAssignment,
	}
	if m.id == g.leader && (!skipAssignment || version >= 9) {
		for _, o := range g.ordered() {
			resp.Members = append(resp.Members, kmsg.JoinGroupResponseMember{
				MemberID:         o.id,
				InstanceID:       o.instanceID,
				ProtocolMetadata: o.metadataFor(g.protocol),
			})
		}
	}
	return resp
}

// onSyncTimeout drops members that did not SyncGroup within the rebalance
// timeout after the join completed, and rebalances without them.
func (g *group) onSyncTimeout(epoch uint64, gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.epoch != epoch || g.generation != gen || len(g.pendingSync) == 0 {
		return
	}
	if g.state != stateCompletingRebalance && g.state != stateStable {
		return
	}
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			g.c.log.Info("member did not sync in time", "group", g.id, "member", id, "generation", gen)
			g.removeMember(m)
		}
	}
	clear(g.pendingSync)
	g.prepareRebalance("members did not sync in time")
}

// failSyncs answers every blocked SyncGroup with code.
func (g *group) failSyncs(code int16) {
	for _, m := range g.members {
		if m.sync != nil {
			m.sync.ch <- &kmsg.SyncGroupResponse{Version: m.sync.version, ErrorCode: code}
			m.sync = nil
		}
	}
}

// shutdown answers every blocked request and stops every timer (Close).
func (g *group) shutdown() {
	g.closed = true
	g.stopTimers()
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
		if m.join != nil {
			m.join.ch <- &kmsg.JoinGroupResponse{Version: m.join.version, ErrorCode: kerr.CoordinatorNotAvailable.Code, Generation: -1, MemberID: m.id}
			m.join = nil
		}
	}
	g.failSyncs(kerr.CoordinatorNotAvailable.Code)
	for id := range g.pending {
		g.removePending(id)
	}
	g.epoch++
}

// maybeDrop forgets a group that holds nothing worth keeping: no members,
// no offsets, and never persisted (generation 0), such as one created by a
// JoinGroup that then failed.
func (g *group) maybeDrop() {
	if g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.generation == 0 {
		g.transition(stateDead)
		g.c.forget(g)
	}
}

// store persists the group's metadata. assignments, when non-nil, are the
// leader's new assignments to record instead of the current ones.
func (g *group) store(ctx context.Context, assignments map[string][]byte) error {
	v := kmsg.GroupMetadataValue{
		Version:               groupValueVersion,
		ProtocolType:          g.protocolType,
		Generation:            g.generation,
		CurrentStateTimestamp: g.stateSince.UnixMilli(),
	}
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	for _, m := range g.ordered() {
		a := m.assignment
		if assignments != nil {
			a = assignments[m.id]
		}
		if a == nil {
			a = []byte{}
		}
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.id,
			InstanceID:             m.instanceID,
			ClientID:               m.clientID,
			ClientHost:             m.clientHost,
			RebalanceTimeoutMillis: int32(m.rebalanceTimeout / time.Millisecond),
			SessionTimeoutMillis:   int32(m.sessionTimeout / time.Millisecond),
			Subscription:           m.metadataFor(g.protocol),
			Assignment:             a,
		})
	}
	return g.c.append(ctx, g.id, [2][]byte{groupKey(g.id), v.AppendTo(nil)})
}

// subscribedTopics is the union of the members' subscriptions when the
// group uses the consumer protocol (nil otherwise, or if one is unreadable).
func (g *group) subscribedTopics() map[string]bool {
	if g.protocolType != "consumer" || g.protocol == "" || len(g.members) == 0 {
		return nil
	}
	topics := make(map[string]bool)
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics
}
