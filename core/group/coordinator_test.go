package group

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFor(t *testing.T) {
	// Expected values computed with Java: Utils.abs(s.hashCode()) % n.
	for _, tc := range []struct {
		id      string
		n50, n7 int32
	}{
		{"", 0, 0},
		{"a", 47, 6},
		{"hello", 22, 0},
		{"Hello World", 26, 5},       // negative hashCode
		{"polygenelubricants", 0, 0}, // hashCode is Integer.MIN_VALUE
		{"my-group", 12, 1},
		{"connect-cluster", 13, 5},
		{"日本語グループ", 31, 3},
		{"g\U0001F600", 32, 5}, // a surrogate pair in UTF-16
		{"console-consumer-12345", 6, 6},
	} {
		if got := PartitionFor(tc.id, 50); got != tc.n50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.id, got, tc.n50)
		}
		if got := PartitionFor(tc.id, 7); got != tc.n7 {
			t.Errorf("PartitionFor(%q, 7) = %d, want %d", tc.id, got, tc.n7)
		}
	}
}

// TestHandleEveryVersion sends every served version of every API key and
// checks that the response has the request's version and encodes.
func TestHandleEveryVersion(t *testing.T) {
	c := testCoordinator(t, Config{}, newMemStore(3), newManualClock())
	for key, vs := range Versions() {
		for v := vs[0]; v <= vs[1]; v++ {
			req := kmsg.RequestForKey(key)
			if req == nil {
				t.Fatalf("kmsg knows no key %d", key)
			}
			if v > req.MaxVersion() {
				t.Fatalf("key %d: serving v%d beyond kmsg's max v%d", key, v, req.MaxVersion())
			}
			req.SetVersion(v)
			fillGroup(req, fmt.Sprintf("g%d-%d", key, v))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp := c.Handle(ctx, req)
			cancel()
			if resp == nil {
				t.Fatalf("key %d v%d: nil response", key, v)
			}
			if resp.GetVersion() != v || resp.Key() != key {
				t.Fatalf("key %d v%d: response key %d v%d", key, v, resp.Key(), resp.GetVersion())
			}
			b := resp.AppendTo(nil)
			back := req.ResponseKind()
			back.SetVersion(v)
			if err := back.ReadFrom(b); err != nil {
				t.Fatalf("key %d v%d: response does not round-trip: %v", key, v, err)
			}
		}
	}
	if c.Handle(context.Background(), kmsg.NewPtrProduceRequest()) != nil {
		t.Fatal("Handle answered a Produce request")
	}
}

// fillGroup gives requests that name a group a group and a protocol, so
// that each takes a real path through the coordinator.
func fillGroup(req kmsg.Request, group string) {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = group, 10000, 10000
		r.ProtocolType = "consumer"
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{1}}}
	case *kmsg.SyncGroupRequest:
		r.Group = group
	case *kmsg.HeartbeatRequest:
		r.Group = group
	case *kmsg.LeaveGroupRequest:
		r.Group = group
		r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	case *kmsg.OffsetCommitRequest:
		r.Group = group
		md := "m"
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3, Metadata: &md}}}}
	case *kmsg.OffsetFetchRequest:
		r.Group = group
		r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group}}
	case *kmsg.OffsetDeleteRequest:
		r.Group = group
	case *kmsg.DescribeGroupsRequest:
		r.Groups = []string{group, "unknown"}
	case *kmsg.DeleteGroupsRequest:
		r.Groups = []string{"unknown"}
	}
}

func TestOffsetFetchShapes(t *testing.T) {
	c := testCoordinator(t, Config{}, newMemStore(3), newManualClock())
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 2 // generation -1: a simple commit
	commit.Group = "s"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 9}}}}
	if r := c.Handle(context.Background(), commit).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	for _, v := range []int16{0, 1, 5, 7} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		req.Group = "s"
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1, 2}}}
		resp := c.Handle(context.Background(), req).(*kmsg.OffsetFetchResponse)
		ps := resp.Topics[0].Partitions
		if len(ps) != 2 || ps[0].Offset != 9 || ps[1].Offset != -1 || ps[0].LeaderEpoch != -1 {
			t.Fatalf("v%d: %+v", v, ps)
		}
	}
	// v8+: batched groups, nil topics meaning all.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.RequireStable = true
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "s"}, {Group: "none", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	resp := c.Handle(context.Background(), req).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 2 {
		t.Fatalf("groups: %+v", resp.Groups)
	}
	if g := resp.Groups[0]; len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 9 || g.Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("group s: %+v", g)
	}
	if g := resp.Groups[1]; g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("group none: %+v", g)
	}
	// A v1 fetch during load carries the error per partition (no group code).
	c.mu.Lock()
	c.loading = true
	c.mu.Unlock()
	v1 := kmsg.NewPtrOffsetFetchRequest()
	v1.Version = 1
	v1.Group = "s"
	v1.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1}}}
	r1 := c.Handle(context.Background(), v1).(*kmsg.OffsetFetchResponse)
	if r1.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("v1 during load: %+v", r1)
	}
}

// TestRecordFormats checks that __consumer_offsets holds Kafka's own
// record formats, in the partition Kafka would use.
func TestRecordFormats(t *testing.T) {
	store := newMemStore(5)
	clk := newManualClock()
	c := testCoordinator(t, Config{}, store, clk)
	ctx := WithClient(context.Background(), ClientInfo{ID: "cli", Host: "/10.0.0.1"})

	inst := "i1"
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 4 // a static member needs no MEMBER_ID_REQUIRED round
	join.Group, join.InstanceID = "fmt", &inst
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10000, 20000
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("sub")}}
	jr := c.Handle(ctx, join).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 5
	sync.Group, sync.MemberID, sync.InstanceID, sync.Generation = "fmt", jr.MemberID, &inst, jr.Generation
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("asg")}}
	if sr := c.Handle(ctx, sync).(*kmsg.SyncGroupResponse); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "asg" {
		t.Fatalf("sync: %+v", sr)
	}
	clk.Advance(time.Second)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 9
	commit.Group, commit.MemberID, commit.InstanceID, commit.Generation = "fmt", jr.MemberID, &inst, jr.Generation
	md := "meta"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 2, Offset: 77, LeaderEpoch: 4, Metadata: &md}}}}
	if r := c.Handle(ctx, commit).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}

	p := PartitionFor("fmt", 5)
	for i, part := range store.parts {
		if int32(i) != p && len(part) > 0 {
			t.Fatalf("records in partition %d, want only %d", i, p)
		}
	}
	recs := store.parts[p]
	if len(recs) != 2 {
		t.Fatalf("%d records, want group metadata then offset", len(recs))
	}
	var gk kmsg.GroupMetadataKey
	var gv kmsg.GroupMetadataValue
	if err := gk.ReadFrom(recs[0].key); err != nil || gk.Version != 2 || gk.Group != "fmt" {
		t.Fatalf("group key %+v: %v", gk, err)
	}
	if err := gv.ReadFrom(recs[0].value); err != nil {
		t.Fatal(err)
	}
	if gv.Version != 3 || gv.ProtocolType != "consumer" || gv.Generation != 1 || *gv.Protocol != "range" || *gv.Leader != jr.MemberID || len(gv.Members) != 1 {
		t.Fatalf("group value %+v", gv)
	}
	m := gv.Members[0]
	if *m.InstanceID != "i1" || m.ClientID != "cli" || m.ClientHost != "/10.0.0.1" || m.SessionTimeoutMillis != 10000 ||
		m.RebalanceTimeoutMillis != 20000 || string(m.Subscription) != "sub" || string(m.Assignment) != "asg" {
		t.Fatalf("member %+v", m)
	}
	var ok kmsg.OffsetCommitKey
	var ov kmsg.OffsetCommitValue
	if err := ok.ReadFrom(recs[1].key); err != nil || ok.Version != 1 || ok.Group != "fmt" || ok.Topic != "t" || ok.Partition != 2 {
		t.Fatalf("offset key %+v: %v", ok, err)
	}
	if err := ov.ReadFrom(recs[1].value); err != nil {
		t.Fatal(err)
	}
	if ov.Version != 3 || ov.Offset != 77 || ov.LeaderEpoch != 4 || ov.Metadata != "meta" || ov.CommitTimestamp != clk.Now().UnixMilli() {
		t.Fatalf("offset value %+v", ov)
	}
}

// TestLoadOlderRecordVersions replays records as older Kafka versions
// wrote them, plus tombstones and records of KIP-848 groups.
func TestLoadOlderRecordVersions(t *testing.T) {
	store := newMemStore(1)
	put := func(k, v []byte) { store.parts[0] = append(store.parts[0], kv{k, v}) }
	key := func(g, topic string, p int32) []byte {
		k := kmsg.OffsetCommitKey{Version: 0, Group: g, Topic: topic, Partition: p}
		return k.AppendTo(nil)
	}
	v1 := kmsg.OffsetCommitValue{Version: 1, Offset: 5, Metadata: "old", CommitTimestamp: 1000, ExpireTimestamp: 2000}
	put(key("old", "t", 0), v1.AppendTo(nil))
	v0 := kmsg.OffsetCommitValue{Version: 0, Offset: 6, CommitTimestamp: 1000}
	put(key("old", "t", 1), v0.AppendTo(nil))
	put(key("old", "t", 2), v0.AppendTo(nil))
	put(key("old", "t", 2), nil) // tombstone
	leader, proto := "m-1", "range"
	gv := kmsg.GroupMetadataValue{Version: 2, ProtocolType: "consumer", Generation: 4, Protocol: &proto, Leader: &leader, CurrentStateTimestamp: -1,
		Members: []kmsg.GroupMetadataValueMember{{MemberID: "m-1", ClientID: "c", ClientHost: "/h", RebalanceTimeoutMillis: 30000, SessionTimeoutMillis: 10000, Subscription: []byte("s"), Assignment: []byte("a")}}}
	gk := kmsg.GroupMetadataKey{Version: 2, Group: "old"}
	put(gk.AppendTo(nil), gv.AppendTo(nil))
	dk := kmsg.GroupMetadataKey{Version: 2, Group: "deleted"}
	put(dk.AppendTo(nil), gv.AppendTo(nil))
	put(dk.AppendTo(nil), nil)
	put([]byte{0, 3, 0, 1, 'x'}, []byte("a KIP-848 record")) // skipped
	put([]byte{0, 1, 0xff}, []byte("garbage"))               // undecodable, skipped

	c := testCoordinator(t, Config{}, store, newManualClock())
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := c.lockGroup("old", false)
	if g == nil {
		t.Fatal("group old not loaded")
	}
	if g.state != stateStable || g.generation != 4 || g.leader != "m-1" || string(g.members["m-1"].assignment) != "a" || len(g.offsets) != 2 {
		t.Fatalf("loaded %s gen %d leader %s offsets %v", g.state, g.generation, g.leader, g.offsets)
	}
	if o := g.offsets[topicPartition{"t", 0}]; o.offset != 5 || o.metadata != "old" || o.leaderEpoch != -1 {
		t.Fatalf("offset %+v", o)
	}
	g.mu.Unlock()
	if g := c.lockGroup("deleted", false); g != nil {
		g.mu.Unlock()
		t.Fatal("tombstoned group loaded")
	}
	// The loaded member carries on in its generation.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "old", "m-1", 4
	if r := c.Handle(context.Background(), hb).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestRestartKeepsStaticMember restarts the coordinator over the same
// store: a static member that restarts too rejoins without a rebalance.
func TestRestartKeepsStaticMember(t *testing.T) {
	store := newMemStore(3)
	clk := newManualClock()
	c1 := testCoordinator(t, Config{}, store, clk)
	h := newHarness(t, c1)
	a := h.join("a", "ia")
	b := h.join("b", "ib")
	// b's join started a rebalance; a rejoins to complete it.
	a = h.join("a", "ia", a.MemberID)
	b = h.awaitJoin("b")
	if a.Generation != 2 || b.Generation != 2 {
		t.Fatalf("generations %d %d", a.Generation, b.Generation)
	}
	h.sync("b", "ib", b, nil)
	h.sync("a", "ia", a, map[string]string{a.MemberID: "pa", b.MemberID: "pb"})
	if got := string(h.awaitSync("b").MemberAssignment); got != "pb" {
		t.Fatalf("b assignment %q", got)
	}
	c1.Close()

	c2 := testCoordinator(t, Config{}, store, clk)
	if err := c2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, c2)
	// a restarted too: it rejoins with its instance id and no member id.
	a2 := h2.join("a", "ia")
	if a2.ErrorCode != 0 || a2.Generation != 2 || !a2.SkipAssignment || len(a2.Members) != 2 {
		t.Fatalf("static rejoin after restart: %+v", a2)
	}
	h2.sync("a", "ia", a2, nil)
	if got := string(h2.awaitSync("a").MemberAssignment); got != "pa" {
		t.Fatalf("a assignment after restart %q", got)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", b.MemberID, 2, ptr("ib")
	if r := c2.Handle(context.Background(), hb).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("b heartbeat after restart: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// And a third coordinator sees the replacement a2 made.
	c2.Close()
	c3 := testCoordinator(t, Config{}, store, clk)
	if err := c3.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := c3.lockGroup("g", false)
	defer g.mu.Unlock()
	if g.static["ia"] != a2.MemberID || g.leader != a2.MemberID {
		t.Fatalf("after second restart: static %v leader %s", g.static, g.leader)
	}
}

func ptr[T any](v T) *T { return &v }

// harness drives a coordinator through Handle from goroutines, as the
// broker does; responses are collected per client.
type harness struct {
	t     *testing.T
	c     *Coordinator
	mu    sync.Mutex
	joins map[string]chan *kmsg.JoinGroupResponse
	syncs map[string]chan *kmsg.SyncGroupResponse
}

func newHarness(t *testing.T, c *Coordinator) *harness {
	return &harness{t: t, c: c, joins: make(map[string]chan *kmsg.JoinGroupResponse), syncs: make(map[string]chan *kmsg.SyncGroupResponse)}
}

// join sends a JoinGroup and returns its response if it comes within a
// moment, else nil (collect it later with awaitJoin).
func (h *harness) join(client, inst string, memberID ...string) *kmsg.JoinGroupResponse {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "g", 10000, 10000
	if inst != "" {
		req.InstanceID = &inst
	}
	if len(memberID) > 0 {
		req.MemberID = memberID[0]
	}
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte(client)}}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	h.mu.Lock()
	h.joins[client] = ch
	h.mu.Unlock()
	go func() {
		ch <- h.c.Handle(WithClient(context.Background(), ClientInfo{ID: client}), req).(*kmsg.JoinGroupResponse)
	}()
	select {
	case r := <-ch:
		return r
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

func (h *harness) awaitJoin(client string) *kmsg.JoinGroupResponse {
	h.mu.Lock()
	ch := h.joins[client]
	h.mu.Unlock()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		h.t.Fatalf("%s: no JoinGroup response", client)
		return nil
	}
}

func (h *harness) sync(client, inst string, j *kmsg.JoinGroupResponse, assign map[string]string) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = "g", j.MemberID, j.Generation
	if inst != "" {
		req.InstanceID = &inst
	}
	for id, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	h.mu.Lock()
	h.syncs[client] = ch
	h.mu.Unlock()
	go func() { ch <- h.c.Handle(context.Background(), req).(*kmsg.SyncGroupResponse) }()
}

func (h *harness) awaitSync(client string) *kmsg.SyncGroupResponse {
	h.mu.Lock()
	ch := h.syncs[client]
	h.mu.Unlock()
	select {
	case r := <-ch:
		if r.ErrorCode != 0 {
			h.t.Fatalf("%s: sync: %v", client, kerr.ErrorForCode(r.ErrorCode))
		}
		return r
	case <-time.After(5 * time.Second):
		h.t.Fatalf("%s: no SyncGroup response", client)
		return nil
	}
}

// TestConcurrentJoinWallClock runs a join barrier on the real clock with
// members joining from their own goroutines at once; the initial
// rebalance delay gathers them into one generation.
func TestConcurrentJoinWallClock(t *testing.T) {
	c := New(Config{InitialRebalanceDelay: 500 * time.Millisecond}, newMemStore(1), quietLogger())
	t.Cleanup(c.Close)
	const n = 5
	var wg sync.WaitGroup
	resps := make([]*kmsg.JoinGroupResponse, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := WithClient(context.Background(), ClientInfo{ID: fmt.Sprintf("c%d", i)})
			req := kmsg.NewPtrJoinGroupRequest()
			req.Version = 9
			req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "wall", 10000, 5000
			req.ProtocolType = "consumer"
			req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
			r := c.Handle(ctx, req).(*kmsg.JoinGroupResponse)
			if r.ErrorCode != kerr.MemberIDRequired.Code {
				t.Errorf("first join: %v", kerr.ErrorForCode(r.ErrorCode))
				return
			}
			req.MemberID = r.MemberID
			resps[i] = c.Handle(ctx, req).(*kmsg.JoinGroupResponse)
		}()
	}
	wg.Wait()
	leaders := 0
	for i, r := range resps {
		if r == nil || r.ErrorCode != 0 || r.Generation != 1 {
			t.Fatalf("member %d: %+v", i, r)
		}
		if r.LeaderID == r.MemberID {
			leaders++
			if len(r.Members) != n {
				t.Fatalf("leader sees %d members", len(r.Members))
			}
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
}

// TestStoreFailureOnSync: when the leader's assignment cannot be stored,
// every waiting member hears the mapped error and the group rebalances.
func TestStoreFailureOnSync(t *testing.T) {
	store := newMemStore(1)
	c := testCoordinator(t, Config{}, store, newManualClock())
	h := newHarness(t, c)
	a := h.join("a", "ia")
	store.setFail(fmt.Errorf("disk: %w", kerr.NotLeaderForPartition))
	h.sync("a", "ia", a, map[string]string{a.MemberID: "x"})
	h.mu.Lock()
	ch := h.syncs["a"]
	h.mu.Unlock()
	r := <-ch
	if r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("sync with failing store: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	g := c.lockGroup("g", false)
	st := g.state
	g.mu.Unlock()
	if st != statePreparingRebalance {
		t.Fatalf("state %s after failed store", st)
	}
	if code := storeErrorCode(errors.New("plain")); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("plain error maps to %d", code)
	}
	if code := storeErrorCode(fmt.Errorf("x: %w", kerr.MessageTooLarge)); code != kerr.InvalidCommitOffsetSize.Code {
		t.Fatalf("MessageTooLarge maps to %d", code)
	}
}

// TestJoinContextCancelled: a JoinGroup whose connection goes away stops
// waiting; the member stays in the barrier.
func TestJoinContextCancelled(t *testing.T) {
	c := testCoordinator(t, Config{}, newMemStore(1), newManualClock())
	h := newHarness(t, c)
	a := h.join("a", "ia")
	if a == nil || a.ErrorCode != 0 {
		t.Fatalf("first join: %+v", a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "g", 10000, 10000
	req.InstanceID = ptr("ib")
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- c.Handle(ctx, req).(*kmsg.JoinGroupResponse) }()
	cancel()
	if r := <-done; r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("cancelled join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	g := c.lockGroup("g", false)
	defer g.mu.Unlock()
	if len(g.members) != 2 || g.state != statePreparingRebalance {
		t.Fatalf("after cancelled join: %d members, %s", len(g.members), g.state)
	}
}

func TestConfig(t *testing.T) {
	if err := (Config{MinSessionTimeout: time.Minute, MaxSessionTimeout: time.Second}).Validate(); err == nil {
		t.Fatal("min > max accepted")
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	d := Config{}.withDefaults()
	if d != DefaultConfig() {
		t.Fatalf("zero config %+v, want defaults %+v", d, DefaultConfig())
	}
}

// TestConfigValidateNamesSetting: a negative value is refused with the
// setting's name, not clamped to the default (issue 8, item 11).
func TestConfigValidateNamesSetting(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		name string
	}{
		{Config{MinSessionTimeout: -time.Second}, "group.min.session.timeout.ms"},
		{Config{MaxSessionTimeout: -time.Second}, "group.max.session.timeout.ms"},
		{Config{MaxSize: -1}, "group.max.size"},
		{Config{OffsetsRetention: -time.Hour}, "offsets.retention.minutes"},
		{Config{MaxMetadataSize: -5}, "offset.metadata.max.bytes"},
		{Config{InitialRebalanceDelay: -time.Second}, "group.initial.rebalance.delay.ms"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%+v: Validate() = %v, want an error naming %s", tc.cfg, err, tc.name)
		}
	}
}
