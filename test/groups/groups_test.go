package groups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// Group timings short enough for tests; 6s is the coordinator's minimum
// session timeout (group.min.session.timeout.ms).
var groupTimings = []kgo.Opt{
	kgo.SessionTimeout(6 * time.Second),
	kgo.HeartbeatInterval(200 * time.Millisecond),
	kgo.RebalanceTimeout(10 * time.Second),
}

func admin(t *testing.T, b *broker.Broker) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produce writes n records to every partition of topic.
func produce(t *testing.T, b *broker.Broker, topic string, partitions int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range partitions {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// member is one group consumer polling in the background and recording
// what the group gives and takes away.
type member struct {
	name string
	cl   *kgo.Client
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	owned    map[int32]bool
	assigns  int // OnPartitionsAssigned calls with partitions
	revokes  int // OnPartitionsRevoked/Lost calls with partitions
	revokedN int // partitions revoked in total
	seen     map[string]bool
}

func startMember(t *testing.T, b *broker.Broker, name, group, topic string, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{name: name, owned: make(map[int32]bool), seen: make(map[string]bool), done: make(chan struct{})}
	revoke := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if len(lost[topic]) > 0 {
			m.revokes++
			m.revokedN += len(lost[topic])
		}
		for _, p := range lost[topic] {
			delete(m.owned, p)
		}
	}
	all := []kgo.Opt{
		kgo.SeedBrokers(b.Addr()),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, got map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if len(got[topic]) > 0 {
				m.assigns++
			}
			for _, p := range got[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(revoke),
		kgo.OnPartitionsLost(revoke),
	}
	all = append(all, groupTimings...)
	all = append(all, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				m.mu.Lock()
				m.seen[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = true
				m.mu.Unlock()
			})
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close leaves the group (a static member does not) and stops polling.
func (m *member) close() {
	select {
	case <-m.done:
		return
	default:
	}
	m.stop()
	<-m.done
	m.cl.Close()
}

func (m *member) snapshot() (owned []int32, assigns, revokes, revokedN int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.owned)), m.assigns, m.revokes, m.revokedN
}

// waitOwned waits until each member owns the given number of partitions
// and together they own every partition exactly once.
func waitOwned(t *testing.T, partitions int, want map[*member]int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := make(map[int32]int)
		ok := true
		var state []string
		for m, n := range want {
			owned, _, _, _ := m.snapshot()
			state = append(state, fmt.Sprintf("%s=%v", m.name, owned))
			if len(owned) != n {
				ok = false
			}
			for _, p := range owned {
				all[p]++
			}
		}
		if ok && len(all) == partitions {
			for _, c := range all {
				ok = ok && c == 1
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			slices.Sort(state)
			t.Fatalf("partitions never settled: %v", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func seenTotal(ms ...*member) int {
	all := make(map[string]bool)
	for _, m := range ms {
		m.mu.Lock()
		maps.Copy(all, m.seen)
		m.mu.Unlock()
	}
	return len(all)
}

func waitSeen(t *testing.T, want int, ms ...*member) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for seenTotal(ms...) < want {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d distinct records, want %d", seenTotal(ms...), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(t *testing.T, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	d := ds[group]
	if d.Err != nil {
		t.Fatalf("describe %s: %v", group, d.Err)
	}
	return d
}

func waitState(t *testing.T, adm *kadm.Client, group, state string, members int) kadm.DescribedGroup {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := describe(t, adm, group)
		if d.State == state && len(d.Members) == members {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s is %s with %d members, want %s with %d", group, d.State, len(d.Members), state, members)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEagerRangeGroupJoinsAndLeaves(t *testing.T) {
	b := brokertest.Start(t)
	adm := admin(t, b)
	const topic, group, parts = "eager", "g-eager", 6
	createTopic(t, adm, topic, parts)
	produce(t, b, topic, parts, 10)

	range_ := kgo.Balancers(kgo.RangeBalancer())
	c1 := startMember(t, b, "c1", group, topic, range_)
	waitOwned(t, parts, map[*member]int{c1: 6})
	c2 := startMember(t, b, "c2", group, topic, range_)
	c3 := startMember(t, b, "c3", group, topic, range_)
	waitOwned(t, parts, map[*member]int{c1: 2, c2: 2, c3: 2})
	waitSeen(t, parts*10, c1, c2, c3)

	d := waitState(t, adm, group, "Stable", 3)
	if d.Protocol != "range" || d.ProtocolType != "consumer" {
		t.Fatalf("described %s/%s", d.ProtocolType, d.Protocol)
	}
	if got := d.AssignedPartitions()[topic]; len(got) != parts {
		t.Fatalf("described assignment covers %v", got)
	}
	for _, dm := range d.Members {
		if dm.ClientID == "" || dm.ClientHost == "" {
			t.Fatalf("member without client id or host: %+v", dm)
		}
	}

	// Eager: everyone gives up everything, then c1 and c2 split c3's share.
	_, _, revokesBefore, _ := c1.snapshot()
	c3.close()
	waitOwned(t, parts, map[*member]int{c1: 3, c2: 3})
	if _, _, revokes, _ := c1.snapshot(); revokes <= revokesBefore {
		t.Fatalf("eager rebalance did not revoke c1's partitions (%d revokes)", revokes)
	}
	waitState(t, adm, group, "Stable", 2)

	c1.close()
	c2.close()
	waitState(t, adm, group, "Empty", 0)
}

func TestCooperativeStickyGroupJoinsAndLeaves(t *testing.T) {
	b := brokertest.Start(t)
	adm := admin(t, b)
	const topic, group, parts = "coop", "g-coop", 6
	createTopic(t, adm, topic, parts)
	produce(t, b, topic, parts, 5)

	coop := kgo.Balancers(kgo.CooperativeStickyBalancer())
	c1 := startMember(t, b, "c1", group, topic, coop)
	waitOwned(t, parts, map[*member]int{c1: 6})
	c2 := startMember(t, b, "c2", group, topic, coop)
	waitOwned(t, parts, map[*member]int{c1: 3, c2: 3})
	c3 := startMember(t, b, "c3", group, topic, coop)
	waitOwned(t, parts, map[*member]int{c1: 2, c2: 2, c3: 2})
	waitSeen(t, parts*5, c1, c2, c3)

	// Incremental: c1 gave up only what moved (3 to c2, 1 to c3), never
	// all it owned at once.
	if _, _, _, revokedN := c1.snapshot(); revokedN != 4 {
		t.Fatalf("c1 revoked %d partitions in total, want 4", revokedN)
	}
	d := waitState(t, adm, group, "Stable", 3)
	if d.Protocol != "cooperative-sticky" {
		t.Fatalf("protocol %q", d.Protocol)
	}

	// c2 leaves: c1 and c3 keep theirs and each gain one.
	own1, _, _, rev1 := c1.snapshot()
	own3, _, _, rev3 := c3.snapshot()
	c2.close()
	waitOwned(t, parts, map[*member]int{c1: 3, c3: 3})
	now1, _, _, rev1b := c1.snapshot()
	now3, _, _, rev3b := c3.snapshot()
	if rev1b != rev1 || rev3b != rev3 {
		t.Fatalf("a leave revoked partitions from the members that stayed (%d→%d, %d→%d)", rev1, rev1b, rev3, rev3b)
	}
	for _, p := range own1 {
		if !slices.Contains(now1, p) {
			t.Fatalf("c1 lost partition %d: %v → %v", p, own1, now1)
		}
	}
	for _, p := range own3 {
		if !slices.Contains(now3, p) {
			t.Fatalf("c3 lost partition %d: %v → %v", p, own3, now3)
		}
	}
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	b := brokertest.Start(t)
	adm := admin(t, b)
	const topic, group, parts = "static", "g-static", 4
	createTopic(t, adm, topic, parts)

	opts := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.SessionTimeout(20 * time.Second), kgo.Balancers(kgo.RangeBalancer())}
	}
	s1 := startMember(t, b, "s1", group, topic, opts("inst-1")...)
	waitOwned(t, parts, map[*member]int{s1: 4})
	s2 := startMember(t, b, "s2", group, topic, opts("inst-2")...)
	waitOwned(t, parts, map[*member]int{s1: 2, s2: 2})
	waitState(t, adm, group, "Stable", 2)
	before, _ := s1.snapshotOwned()
	_, assigns2, revokes2, _ := s2.snapshot()

	// s1 restarts: a static member does not leave on close, and its
	// successor with the same instance id takes its place.
	s1.close()
	s1b := startMember(t, b, "s1b", group, topic, opts("inst-1")...)
	waitOwned(t, parts, map[*member]int{s1b: 2, s2: 2})
	if after, _ := s1b.snapshotOwned(); !slices.Equal(before, after) {
		t.Fatalf("restarted static member got %v, had %v", after, before)
	}
	// Give a rebalance, had there been one, time to reach s2.
	time.Sleep(time.Second)
	if _, a, r, _ := s2.snapshot(); a != assigns2 || r != revokes2 {
		t.Fatalf("s2 saw a rebalance: assigns %d→%d, revokes %d→%d", assigns2, a, revokes2, r)
	}
	d := waitState(t, adm, group, "Stable", 2)
	var insts []string
	for _, m := range d.Members {
		if m.InstanceID != nil {
			insts = append(insts, *m.InstanceID)
		}
	}
	if slices.Sort(insts); !slices.Equal(insts, []string{"inst-1", "inst-2"}) {
		t.Fatalf("instance ids %v", insts)
	}
}

func (m *member) snapshotOwned() ([]int32, int) {
	owned, assigns, _, _ := m.snapshot()
	return owned, assigns
}

func TestCommittedOffsetsSurviveBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	withDir := func(c *broker.Config) { c.DataDir = dir }
	b1 := brokertest.StartWith(t, withDir)
	adm1 := admin(t, b1)
	const topic, group, parts = "durable", "g-durable", 2
	createTopic(t, adm1, topic, parts)
	produce(t, b1, topic, parts, 10)

	c := startMember(t, b1, "c", group, topic, kgo.DisableAutoCommit())
	waitSeen(t, parts*10, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	c.close()
	waitState(t, adm1, group, "Empty", 0)
	if err := b1.Close(); err != nil {
		t.Fatalf("close broker: %v", err)
	}

	b2 := brokertest.StartWith(t, withDir)
	adm2 := admin(t, b2)
	offs, err := adm2.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets after restart: %v", err)
	}
	for p := range int32(parts) {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != 10 {
			t.Fatalf("partition %d after restart: %+v (found %v)", p, o, ok)
		}
	}
	if d := describe(t, adm2, group); d.State != "Empty" || d.ProtocolType != "consumer" {
		t.Fatalf("group after restart: %s %q", d.State, d.ProtocolType)
	}

	// A consumer of the restarted broker resumes after the commits.
	produce(t, b2, topic, parts, 3)
	c2 := startMember(t, b2, "c2", group, topic)
	waitSeen(t, parts*3, c2)
	time.Sleep(300 * time.Millisecond)
	c2.mu.Lock()
	defer c2.mu.Unlock()
	for k := range c2.seen {
		var p, off int
		fmt.Sscanf(k, "%d/%d", &p, &off)
		if off < 10 {
			t.Fatalf("re-consumed committed record %s", k)
		}
	}
}

func TestAdminGroupAPIs(t *testing.T) {
	b := brokertest.Start(t)
	adm := admin(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const topic = "admin"
	createTopic(t, adm, topic, 2)

	// A group that only stores offsets (no members, no protocol type).
	var os kadm.Offsets
	os.AddOffset(topic, 0, 5, -1)
	os.AddOffset(topic, 1, 7, -1)
	if err := adm.CommitAllOffsets(ctx, "g-simple", os); err != nil {
		t.Fatalf("commit: %v", err)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := listed["g-simple"]; !ok || g.State != "Empty" || g.ProtocolType != "" {
		t.Fatalf("listed %+v", listed)
	}
	if stable, err := adm.ListGroups(ctx, "Stable"); err != nil || len(stable) != 0 {
		t.Fatalf("stable groups %v %v", stable, err)
	}
	if d := describe(t, adm, "g-simple"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("described %+v", d)
	}
	del, err := adm.DeleteOffsets(ctx, "g-simple", kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("delete offsets: %v", err)
	}
	if err, ok := del.Lookup(topic, 0); !ok || err != nil {
		t.Fatalf("delete offsets response %v %v", ok, err)
	}
	offs, err := adm.FetchOffsets(ctx, "g-simple")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); ok && o.At >= 0 {
		t.Fatalf("partition 0 still committed at %d", o.At)
	}
	if o, ok := offs.Lookup(topic, 1); !ok || o.At != 7 {
		t.Fatalf("partition 1: %+v", o)
	}

	// A live static member: its group cannot be deleted, nor the offsets
	// of the topic it subscribes to.
	m := startMember(t, b, "live", "g-live", topic, kgo.InstanceID("live-1"))
	waitOwned(t, 2, map[*member]int{m: 2})
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, adm, "g-live", "Stable", 1)
	if d.Members[0].InstanceID == nil || *d.Members[0].InstanceID != "live-1" || d.Members[0].ClientID != "live" {
		t.Fatalf("member %+v", d.Members[0])
	}
	dg, err := adm.DeleteGroups(ctx, "g-live")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dg["g-live"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("delete live group: %v", dg["g-live"].Err)
	}
	del, err = adm.DeleteOffsets(ctx, "g-live", kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := del.Lookup(topic, 0); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("delete subscribed offsets: %v", err)
	}

	// Closed, the static member stays until removed by instance id.
	m.close()
	waitState(t, adm, "g-live", "Stable", 1)
	left, err := adm.LeaveGroup(ctx, kadm.LeaveGroup("g-live").InstanceIDs("live-1"))
	if err != nil || left.Error() != nil {
		t.Fatalf("leave by instance id: %v %v", err, left.Error())
	}
	waitState(t, adm, "g-live", "Empty", 0)
	dg, err = adm.DeleteGroups(ctx, "g-live", "g-simple", "g-none")
	if err != nil {
		t.Fatal(err)
	}
	if dg["g-live"].Err != nil || dg["g-simple"].Err != nil || !errors.Is(dg["g-none"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: %+v", dg)
	}
	listed, err = adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Fatalf("groups left after delete: %v", listed)
	}
	if offs, err := adm.FetchOffsets(ctx, "g-live"); err != nil || len(offs) != 0 {
		t.Fatalf("offsets of a deleted group: %v %v", offs, err)
	}
}
