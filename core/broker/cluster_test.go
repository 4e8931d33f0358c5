package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/cluster"
	wlog "github.com/weirlog/weir/core/log"
	"github.com/weirlog/weir/core/record"
	"github.com/weirlog/weir/internal/testutil"
)

// startCluster starts nVoters voters and nBrokers non-voter brokers in
// this process, each with its own data directory and ports.
func startCluster(t *testing.T, nVoters, nBrokers int) []*broker.Broker {
	t.Helper()
	bs, _ := startClusterConfigs(t, nVoters, nBrokers)
	return bs
}

// startClusterConfigs is startCluster, with each broker's Config for a
// restart.
func startClusterConfigs(t *testing.T, nVoters, nBrokers int) ([]*broker.Broker, []broker.Config) {
	t.Helper()
	total := nVoters + nBrokers
	addrs := make([]string, total)
	var voters []cluster.Voter
	for i := range addrs {
		addrs[i] = testutil.FreePort(t)
		if i < nVoters {
			voters = append(voters, cluster.Voter{NodeID: int32(i + 1), Addr: addrs[i]})
		}
	}
	dir := t.TempDir()
	bs := make([]*broker.Broker, total)
	cfgs := make([]broker.Config, total)
	errc := make(chan error, total)
	for i := range bs {
		rack := fmt.Sprintf("rack-%d", i%2)
		cfgs[i] = broker.Config{
			DataDir: filepath.Join(dir, fmt.Sprint(i+1)), KafkaAddr: "127.0.0.1:0", NodeID: int32(i + 1),
			ControllerVoters: voters, RaftAddr: addrs[i], BrokerRack: rack,
			AutoCreateTopics: true, OffsetsTopicPartitions: 6,
			HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: time.Second,
		}
		b, err := broker.New(cfgs[i], testLogger(t, cfgs[i].NodeID))
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = b
		t.Cleanup(func() { b.Close() })
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errc <- b.Start(ctx)
		}()
	}
	for range bs {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	return bs, cfgs
}

// A cluster of three voters and a non-voter broker: Metadata lists all
// four, topics spread their leaders and replicas over them, clients
// produce and consume (through a group, whose coordinator is the leader of
// its offsets partition) against the leaders, and a broker that shuts down
// is fenced and leaves the metadata.
func TestClusterMembershipPlacementAndShutdown(t *testing.T) {
	bs := startCluster(t, 3, 1)
	cl := client(t, bs[3])
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)

	var md kadm.Metadata
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		md, err = adm.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(md.Brokers) != 4 {
		t.Fatalf("metadata lists %d brokers, want 4: %v", len(md.Brokers), md.Brokers)
	}
	for _, b := range md.Brokers {
		if b.Rack == nil {
			t.Fatalf("broker %d without its rack", b.NodeID)
		}
	}

	resp, err := adm.CreateTopic(ctx, 8, 1, nil, "spread")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	resp, err = adm.CreateTopic(ctx, 4, 3, nil, "triple")
	if err != nil || resp.Err != nil {
		t.Fatalf("create rf=3: %v %v", err, resp.Err)
	}
	md, err = adm.Metadata(ctx, "spread", "triple")
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for _, p := range md.Topics["spread"].Partitions {
		leaders[p.Leader]++
	}
	if len(leaders) != 4 {
		t.Fatalf("8 partitions led by %v: want all 4 brokers", leaders)
	}
	for _, p := range md.Topics["triple"].Partitions {
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			seen[r] = true
		}
		if len(p.Replicas) != 3 || len(seen) != 3 || p.Leader != p.Replicas[0] {
			t.Fatalf("rf=3 partition %d: replicas %v leader %d", p.Partition, p.Replicas, p.Leader)
		}
		if len(p.ISR) != 1 || p.ISR[0] != p.Leader {
			t.Fatalf("rf=3 partition %d starts with ISR %v: only the leader holds data before replication", p.Partition, p.ISR)
		}
	}

	const n = 400
	produceN(t, cl, "spread", n)
	cons := client(t, bs[0], kgo.ConsumeTopics("spread"), kgo.ConsumerGroup("g1"), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, n)
	if len(got) != n {
		t.Fatalf("consumed %d of %d", len(got), n)
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit through the group's coordinator: %v", err)
	}
	offs, err := adm.FetchOffsets(ctx, "g1")
	if err != nil || offs.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, offs.Error())
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != n {
		t.Fatalf("committed offsets add up to %d, want %d", committed, n)
	}

	// Broker 4 leaves: controlled shutdown fences it before it closes.
	start := time.Now()
	bs[3].Close()
	cl0 := client(t, bs[0])
	adm0 := kadm.NewClient(cl0)
	for deadline := time.Now().Add(5 * time.Second); ; {
		md, err = adm0.Metadata(ctx, "spread")
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("controlled shutdown of broker 4 took %v", time.Since(start).Round(time.Millisecond))
	if len(md.Brokers) != 3 {
		t.Fatalf("after broker 4 left, metadata lists %v", md.Brokers)
	}
	for _, p := range md.Topics["spread"].Partitions {
		if p.Leader == 4 {
			t.Fatalf("partition %d still led by the fenced broker", p.Partition)
		}
	}
}

// RF=3, min.insync.replicas=2: followers catch up and join the ISR, an
// idempotent acks=all producer is acknowledged, the partition leader's
// broker goes away, leadership moves to an ISR member, and every
// acknowledged record is on the new leader at its acknowledged offset.
func TestClusterReplicationFailover(t *testing.T) {
	bs := startCluster(t, 3, 0)
	cl := client(t, bs[0])
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	two := "2"
	resp, err := adm.CreateTopic(ctx, 2, 3, map[string]*string{"min.insync.replicas": &two}, "rep")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	waitISR := func(want int) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			mr := rawMetadata(t, cl, "rep")
			ok := len(mr.Topics) == 1 && len(mr.Topics[0].Partitions) == 2
			for _, p := range mr.Topics[0].Partitions {
				ok = ok && len(p.ISR) == want && p.Leader >= 0
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ISR never reached %d: %+v", want, mr.Topics[0].Partitions)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	start := time.Now()
	waitISR(3)
	t.Logf("followers joined the ISR %v after creation", time.Since(start).Round(time.Millisecond))

	prod := client(t, bs[1], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"))
	type ack struct {
		p   int32
		off int64
		val string
	}
	var acked []ack
	produce := func(from, n int) {
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("v-%d", i))})
		}
		res := prod.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("acks=all produce: %v", err)
		}
		for _, r := range res {
			acked = append(acked, ack{r.Record.Partition, r.Record.Offset, string(r.Record.Value)})
		}
	}
	produce(0, 300)

	md, err := adm.Metadata(ctx, "rep")
	if err != nil {
		t.Fatal(err)
	}
	victim := md.Topics["rep"].Partitions[0].Leader
	kill := time.Now()
	bs[victim-1].Close()
	var survivor *broker.Broker
	for i, b := range bs {
		if int32(i+1) != victim {
			survivor = b
			break
		}
	}
	cl2 := client(t, survivor)
	adm2 := kadm.NewClient(cl2)
	_ = adm2
	var moved time.Duration
	var newLeader int32
	for deadline := time.Now().Add(10 * time.Second); ; {
		mr := rawMetadata(t, cl2, "rep")
		if p := mr.Topics[0].Partitions; len(p) == 2 && p[0].Leader >= 0 && p[0].Leader != victim {
			moved, newLeader = time.Since(kill), p[0].Leader
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leadership of rep/0 did not move from %d: %+v", victim, mr.Topics[0].Partitions)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("leader %d shut down (controlled): rep/0 led by %d after %v", victim, newLeader, moved.Round(time.Millisecond))

	// Two of three replicas are still in sync: acks=all goes on.
	prod2 := client(t, survivor, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("rep"))
	prod = prod2
	produce(300, 100)

	cons := client(t, survivor, kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[[2]int64]string{}
	for _, r := range consumeN(t, cons, len(acked)) {
		got[[2]int64{int64(r.Partition), r.Offset}] = string(r.Value)
	}
	lost := 0
	for _, a := range acked {
		if got[[2]int64{int64(a.p), a.off}] != a.val {
			lost++
		}
	}
	t.Logf("%d acknowledged records, %d lost or moved", len(acked), lost)
	if lost != 0 {
		t.Fatalf("%d of %d acknowledged records not at their offsets on the new leaders", lost, len(acked))
	}
}

// testLogger gives a cluster node a logger whose output is printed, with
// the node's id, only if the test fails: a flaky cluster test is
// diagnosable from the run that failed, and passing runs stay quiet.
func testLogger(t *testing.T, node int32) *slog.Logger {
	t.Helper()
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %d log:\n%s", node, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rawMetadata asks the client's seed broker directly, bypassing the
// client's metadata cache, so that timings are the cluster's.
func rawMetadata(t *testing.T, cl *kgo.Client, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := cl.SeedBrokers()[0].Request(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.MetadataResponse)
}

// A leader that wrote a tail its followers never got (an acks=1 write)
// loses leadership; the new leader writes other records at those offsets.
// When the old leader comes back as a follower it asks OffsetForLeaderEpoch
// for its latest epoch, truncates the divergent tail, copies the new
// leader's records and rejoins the ISR.
func TestClusterFollowerTruncatesDivergentTail(t *testing.T) {
	bs, cfgs := startClusterConfigs(t, 3, 0)
	cl := client(t, bs[0])
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	two := "2"
	if resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &two}, "div"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	isrOf := func(c *kgo.Client) kmsg.MetadataResponseTopicPartition {
		// A broker that has not applied the topic yet answers it without
		// partitions: report "no leader" so the callers keep waiting.
		if ts := rawMetadata(t, c, "div").Topics; len(ts) > 0 && len(ts[0].Partitions) > 0 {
			return ts[0].Partitions[0]
		}
		return kmsg.MetadataResponseTopicPartition{Leader: -1}
	}
	waitFor := func(what string, ok func() bool) {
		for deadline := time.Now().Add(15 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("a full ISR", func() bool { return len(isrOf(cl).ISR) == 3 })
	old := isrOf(cl).Leader
	var other *broker.Broker
	for i, b := range bs {
		if int32(i+1) != old {
			other = b
			break
		}
	}
	prodTo := func(b *broker.Broker, from, n int) {
		p := client(t, b, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("div"))
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("v-%d", i))})
		}
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	prodTo(other, 0, 50)
	bs[old-1].Close()
	oc := client(t, other)
	waitFor("a new leader", func() bool { p := isrOf(oc); return p.Leader >= 0 && p.Leader != old })

	// The old leader's divergent tail: 5 records at offsets 50-54 in its
	// epoch, which no follower has.
	m, err := wlog.NewManager(cfgs[old-1].DataDir, wlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := m.Get("div", 0)
	if !ok {
		t.Fatal("old leader has no log of div-0")
	}
	var recs []record.Record
	for i := range 5 {
		recs = append(recs, record.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(fmt.Sprintf("divergent-%d", i))})
	}
	batch, err := record.Plain(recs...).AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := l.Append(batch, wlog.AppendOptions{LeaderEpoch: l.LatestEpoch(), Origin: wlog.OriginCoordinator}); err != nil || res.BaseOffset != 50 {
		t.Fatalf("divergent append: %+v %v", res, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	prodTo(other, 50, 20) // offsets 50-69 in the new epoch

	back, err := broker.New(cfgs[old-1], testLogger(t, cfgs[old-1].NodeID))
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("the old leader to rejoin the ISR", func() bool { return len(isrOf(oc).ISR) == 3 })
	back.Close()

	m, err = wlog.NewManager(cfgs[old-1].DataDir, wlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, _ = m.Get("div", 0)
	if l.EndOffset() != 70 {
		t.Fatalf("old leader's log ends at %d, want 70", l.EndOffset())
	}
	rr, err := l.Read(0, 1<<20, 70)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rr.Bytes()
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	if err := record.Split(data, func(b []byte, _ record.Header) error {
		rs, err := record.Records(b)
		for _, r := range rs {
			vals = append(vals, string(r.Value))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != fmt.Sprintf("v-%d", i) {
			t.Fatalf("offset %d holds %q after truncation, want v-%d", i, v, i)
		}
	}
	if len(vals) != 70 {
		t.Fatalf("%d records, want 70", len(vals))
	}
}

// Committed offsets survive the loss of the group's coordinator: the
// leader of the group's __consumer_offsets partition (RF = min(3,
// brokers)) goes away, the new leader loads the group, and FindCoordinator
// and OffsetFetch answer from it with the offsets committed before.
func TestClusterGroupCoordinatorFollowsLeader(t *testing.T) {
	bs := startCluster(t, 3, 0)
	cl := client(t, bs[0])
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "src"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		full := true
		for _, p := range rawMetadata(t, cl, "__consumer_offsets").Topics[0].Partitions {
			full = full && len(p.ISR) == 3
		}
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("offsets partitions never fully in sync")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "src", Partition: 0, At: 42, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "g-move", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	fc := adm.FindGroupCoordinators(ctx, "g-move")["g-move"]
	if fc.Err != nil {
		t.Fatalf("find coordinator: %v", fc.Err)
	}
	coord := fc.NodeID
	start := time.Now()
	bs[coord-1].Close()
	var survivor *broker.Broker
	for i, b := range bs {
		if int32(i+1) != coord {
			survivor = b
			break
		}
	}
	adm2 := kadm.NewClient(client(t, survivor))
	for deadline := time.Now().Add(15 * time.Second); ; {
		r, err := adm2.FetchOffsets(ctx, "g-move")
		if err == nil && r.Error() == nil {
			if o, ok := r.Lookup("src", 0); ok && o.At == 42 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offset not served after coordinator %d left: %+v %v", coord, r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("coordinator %d left; committed offset served by the new coordinator after %v", coord, time.Since(start).Round(time.Millisecond))
}
