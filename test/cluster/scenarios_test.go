//go:build cluster

package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	wcluster "github.com/weirlog/weir/core/cluster"
	"github.com/weirlog/weir/test/compat/harness"
)

// The scenarios of issue 10 ("What it must show"). Each runs 3 `weir serve`
// voters, a topic with RF=3 and min.insync.replicas=2, the Workload, a
// fault, and the checker over reads from the leader after each fault and,
// at the end, from every replica.

const (
	partitions    = 3
	rf            = 3
	maxLeaderMove = 2 * time.Second // the target for a leadership move
)

func minISR2() map[string]*string {
	v := "2"
	return map[string]*string{"min.insync.replicas": &v}
}

// noConnect keeps the Connect runtime out of the scenarios that test the
// log alone (TestClusterFileStreamSurvivesKill runs it).
var noConnect = []string{"--no-connect"}

func startCluster(t *testing.T, cfg Config) (*Cluster, string) {
	t.Helper()
	cfg.Args = append(cfg.Args, noConnect...)
	c := Start(t, cfg)
	topic := harness.Name("jepsen")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateTopic(ctx, topic, partitions, rf, minISR2()); err != nil {
		t.Fatal(err)
	}
	st, err := c.Describe(ctx, nil, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, s := range st {
		if len(s.Replicas) != rf {
			t.Fatalf("partition %d: replicas %v; want %d", p, s.Replicas, rf)
		}
	}
	waitFullISR(ctx, t, c, topic, 30*time.Second)
	return c, topic
}

// waitFullISR waits until every partition of topic has all rf replicas in
// its ISR again (after a restarted node caught up).
func waitFullISR(ctx context.Context, t *testing.T, c *Cluster, topic string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		st, err := c.Describe(ctx, nil, topic)
		if err == nil {
			ok := len(st) == partitions
			last = ""
			for p, s := range st {
				if len(s.ISR) != rf {
					ok = false
					last += fmt.Sprintf(" p%d ISR %v", p, s.ISR)
				}
			}
			if ok {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ISR not full again after %v:%s", timeout, last)
}

// background runs the workload's producers and one consumer group member
// until the returned stop is called.
func background(t *testing.T, w *Workload) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.Run(ctx, 8) }()
	go func() { defer wg.Done(); _ = w.Consume(ctx, harness.Name("jepsen-group")) }()
	return func() { cancel(); wg.Wait() }
}

// readEveryReplica reads partition p, once the writers have stopped, from
// its leader (through the client's normal path) and then from each
// replica's own log up to the offset the leader read to (ReadReplica: a
// Fetch to that broker, which a follower serves up to its high
// watermark). The checker compares them offset by offset.
func readEveryReplica(ctx context.Context, t *testing.T, c *Cluster, topic string, p int32) []Read {
	t.Helper()
	leader, _, err := c.WaitLeader(ctx, topic, p, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := c.ReadAll(ctx, topic, p, fmt.Sprintf("leader n%d at the end", leader.ID))
	if err != nil {
		t.Fatal(err)
	}
	reads := []Read{rd}
	end := int64(0)
	if n := len(rd.Records); n > 0 {
		end = rd.Records[n-1].Offset + 1
	}
	st, err := c.Describe(ctx, nil, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range st[p].Replicas {
		n := c.Node(id)
		if n == nil {
			t.Fatalf("p%d: replica %d is no node of the cluster", p, id)
		}
		rr, err := c.ReadReplica(ctx, n, topic, p, end, fmt.Sprintf("replica n%d", id))
		if err != nil {
			t.Fatal(err)
		}
		reads = append(reads, rr)
	}
	if len(reads) != 1+rf {
		t.Fatalf("p%d: read %d replicas, want %d", p, len(reads)-1, rf)
	}
	return reads
}

// readAfterEachLeaderKilled kills -9 each partition's leader in turn,
// once the writers have stopped, and reads the partition from the replica
// that takes over (the issue's "each partition's leader killed in turn and
// the topic read again from the new one"); the killed node is restarted
// and the ISR full again before the next partition. With the reads from
// every replica's own log (finalCheck), every replica has served as the
// leader a client reads from or been read directly.
func readAfterEachLeaderKilled(ctx context.Context, t *testing.T, c *Cluster, topic string) []Read {
	t.Helper()
	var reads []Read
	for p := int32(0); p < partitions; p++ {
		leader, _, err := c.WaitLeader(ctx, topic, p, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		leader.Kill()
		next, moved, err := c.WaitLeader(ctx, topic, p, 30*time.Second, leader.ID)
		if err != nil {
			t.Fatalf("p%d: no new leader after n%d was killed: %v", p, leader.ID, err)
		}
		rd, err := c.ReadAll(ctx, topic, p, fmt.Sprintf("n%d, leader after n%d was killed at the end", next.ID, leader.ID))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("final read of p%d: killed its leader n%d, n%d led after %v and served %d records", p, leader.ID, next.ID, moved.Round(time.Millisecond), len(rd.Records))
		reads = append(reads, rd)
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
		waitFullISR(ctx, t, c, topic, 60*time.Second)
	}
	return reads
}

func finalCheck(ctx context.Context, t *testing.T, c *Cluster, topic string, w *Workload, h History) Result {
	t.Helper()
	if err := w.FetchCommitted(ctx); err != nil {
		t.Error(err)
	}
	wh := w.History()
	h.Acks, h.Commits = wh.Acks, wh.Commits
	for p := int32(0); p < partitions; p++ {
		h.Reads = append(h.Reads, readEveryReplica(ctx, t, c, topic, p)...)
	}
	res := Check(h)
	var b strings.Builder
	res.Print(&b)
	t.Logf("checker over %d acknowledged writes, %d commits, %d reads:\n%s", len(h.Acks), len(h.Commits), len(h.Reads), b.String())
	t.Logf("produce errors (retried or given up; not failures by themselves): %v", w.Errors())
	if !res.OK() {
		t.Errorf("checker found anomalies")
	}
	if res.Total.Acknowledged == 0 {
		t.Errorf("nothing was acknowledged: the checker had nothing to check (produce errors %v)", w.Errors())
	}
	return res
}

func durations(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(time.Millisecond).String())
	}
	sorted := slices.Clone(ds)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	if len(sorted) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s (max %s)", strings.Join(s, " "), sorted[len(sorted)-1].Round(time.Millisecond))
}

// firstAck waits for the first acknowledgement on partition p after t0.
func firstAck(w *Workload, p int32, t0 time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, a := range w.AcksSince(t0) {
			if a.Partition == p {
				return a.At.Sub(t0), true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, false
}

// Five rounds (WEIR_CLUSTER_ROUNDS): kill -9 the leader of a partition while producers and a
// committing group run, measure how long leadership takes to move, read
// every partition from the leaders, restart the node; then kill each
// partition's leader in turn and read it from the new one, read every
// partition from every replica, and check.
func TestClusterKillLeaderRounds(t *testing.T) {
	c, topic := startCluster(t, Config{Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	w := NewWorkload(c, topic, 3)
	stop := background(t, w)
	var h History
	var moves, acks []time.Duration
	time.Sleep(2 * time.Second)
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("WEIR_CLUSTER_ROUNDS")); err == nil && v > 0 {
		rounds = v // make test-long: a soak
	}
	for round := 1; round <= rounds; round++ {
		p := int32(round % partitions)
		leader, _, err := c.WaitLeader(ctx, topic, p, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		leader.Kill()
		next, moved, err := c.WaitLeader(ctx, topic, p, 30*time.Second, leader.ID)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		moves = append(moves, moved)
		if d, ok := firstAck(w, p, killed, 30*time.Second); ok {
			acks = append(acks, d)
		} else {
			t.Errorf("round %d: no acks=all write acknowledged on p%d within 30 s of the kill", round, p)
		}
		t.Logf("round %d: killed n%d (leader of p%d); n%d leads after %v; %d acknowledged so far", round, leader.ID, p, next.ID, moved.Round(time.Millisecond), w.Acked())
		for q := int32(0); q < partitions; q++ {
			rd, err := c.ReadAll(ctx, topic, q, fmt.Sprintf("leader after round %d", round))
			if err != nil {
				t.Fatal(err)
			}
			h.Reads = append(h.Reads, rd)
		}
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
		waitFullISR(ctx, t, c, topic, 60*time.Second)
		time.Sleep(time.Second)
	}
	stop()
	h.Reads = append(h.Reads, readAfterEachLeaderKilled(ctx, t, c, topic)...)
	res := finalCheck(ctx, t, c, topic, w, h)
	t.Logf("KillLeaderRounds: %d rounds, %d acknowledged, %d lost; leadership moves %s; kill → first acks=all ack %s",
		rounds, res.Total.Acknowledged, res.Total.Lost, durations(moves), durations(acks))
	for i, d := range moves {
		if d > maxLeaderMove && !IsKafka() { // the target is weir's; Kafka's figure is printed for comparison
			t.Errorf("round %d: leadership took %v to move (target ≤ %v)", i+1, d, maxLeaderMove)
		}
	}
}

// SIGSTOP the leader of partition 0 for longer than the broker session
// timeout, then SIGCONT: it must have been fenced and its leaderships
// moved; whatever it acknowledged (before the pause, or from requests it
// finishes after SIGCONT) must be in the log of the new leader and every
// replica.
func TestClusterPauseLeader(t *testing.T) {
	c, topic := startCluster(t, Config{Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	w := NewWorkload(c, topic, 3)
	stop := background(t, w)
	time.Sleep(2 * time.Second)
	leader, _, err := c.WaitLeader(ctx, topic, 0, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Producers that reach only the leader about to be paused: whatever
	// they see acknowledged, it acknowledged. Requests they have in flight
	// across the pause reach it again at SIGCONT.
	short := kgo.RecordDeliveryTimeout(3 * time.Second)
	pinnedAll := NewWorkloadAcks(c.Only(leader), topic, 1, kgo.AllISRAcks(), short)
	pinnedOne := NewWorkloadAcks(c.Only(leader), topic, 1, kgo.LeaderAck(), short)
	pctx, pstop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	for _, pw := range []*Workload{pinnedAll, pinnedOne} {
		pwg.Add(1)
		go func() { defer pwg.Done(); pw.Run(pctx, 4) }()
	}
	time.Sleep(time.Second)
	paused := time.Now()
	if err := leader.Pause(); err != nil {
		t.Fatal(err)
	}
	next, moved, err := c.WaitLeader(ctx, topic, 0, 60*time.Second, leader.ID)
	if err != nil {
		t.Fatalf("paused leader n%d never lost partition 0: %v", leader.ID, err)
	}
	t.Logf("paused n%d; n%d leads p0 after %v", leader.ID, next.ID, moved.Round(time.Millisecond))
	// Longer than any session timeout a test would set, so the fencing
	// has certainly happened before the old leader runs again.
	time.Sleep(max(0, 20*time.Second-time.Since(paused)))
	resumed := time.Now()
	if err := leader.Resume(); err != nil {
		t.Fatal(err)
	}
	// The deposed leader must step down, not lead p0 again on its own say.
	time.Sleep(3 * time.Second)
	st, err := c.Describe(ctx, leader, topic)
	if err == nil && st[0].Leader == leader.ID {
		t.Errorf("n%d still claims partition 0 3 s after SIGCONT (it was fenced while paused)", leader.ID)
	}
	time.Sleep(3 * time.Second)
	pstop()
	pwg.Wait()
	stop()
	// The deposed leader acknowledged nothing once it ran again: its
	// lease had run out and its metadata was stale.
	for _, pw := range []*Workload{pinnedAll, pinnedOne} {
		for _, a := range pw.AcksSince(resumed) {
			t.Errorf("the fenced n%d acknowledged p%d offset %d (%s) after SIGCONT", leader.ID, a.Partition, a.Offset, a.Value)
		}
	}
	h := History{}
	res := finalCheck(ctx, t, c, topic, w, h)
	// And every acks=all write it acknowledged before the pause survived.
	pres := checkAcks(ctx, t, c, topic, pinnedAll, "pinned acks=all producer")
	t.Logf("PauseLeader: n%d stopped %v, fenced and replaced after %v; %d acknowledged, %d lost (%d acks after SIGCONT); producers pinned to n%d: acks=all %d acknowledged (%d lost), acks=1 %d acknowledged, none after SIGCONT; errors %v %v",
		leader.ID, resumed.Sub(paused).Round(time.Millisecond), moved.Round(time.Millisecond), res.Total.Acknowledged, res.Total.Lost, len(w.AcksSince(resumed)),
		leader.ID, pres.Total.Acknowledged, pres.Total.Lost, len(pinnedOne.History().Acks), pinnedAll.Errors(), pinnedOne.Errors())
}

// lastAfter is how long after t w's last acknowledgement came, 0 if none.
func lastAfter(w *Workload, t time.Time) time.Duration {
	var d time.Duration
	for _, a := range w.AcksSince(t) {
		d = max(d, a.At.Sub(t))
	}
	return d.Round(time.Millisecond)
}

// checkAcks checks that every write w saw acknowledged is in the log of
// every replica, at its offset (Check of w's acks against fresh reads).
func checkAcks(ctx context.Context, t *testing.T, c *Cluster, topic string, w *Workload, who string) Result {
	t.Helper()
	h := History{Acks: w.History().Acks}
	for p := int32(0); p < partitions; p++ {
		h.Reads = append(h.Reads, readEveryReplica(ctx, t, c, topic, p)...)
	}
	r := Check(h)
	if r.Total.Lost+r.Total.Moved > 0 {
		var b strings.Builder
		r.Print(&b)
		t.Errorf("acknowledgements of the %s lost:\n%s", who, b.String())
	}
	return r
}

// A network partition (network namespaces; needs root): isolate the
// leader of partition 0 from the other two nodes. The minority side must
// stop acknowledging acks=all writes, the majority must elect a leader,
// and after healing every replica must hold the same log.
func TestClusterPartitionLeader(t *testing.T) {
	nt := NewNet(t)
	c, topic := startCluster(t, Config{Nodes: 3, Net: nt})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	w := NewWorkload(c, topic, 3)
	stop := background(t, w)
	time.Sleep(2 * time.Second)
	leader, _, err := c.WaitLeader(ctx, topic, 0, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Producers that reach only the node about to be isolated (acks=all,
	// and acks=1 to see the lease: without one an isolated leader would
	// acknowledge acks=1 writes until the partition heals).
	short := kgo.RecordDeliveryTimeout(3 * time.Second)
	minority := NewWorkloadAcks(c.Only(leader), topic, 1, kgo.AllISRAcks(), short)
	minorityOne := NewWorkloadAcks(c.Only(leader), topic, 1, kgo.LeaderAck(), short)
	pctx, pcancel := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	for _, mw := range []*Workload{minority, minorityOne} {
		pwg.Add(1)
		go func() { defer pwg.Done(); mw.Run(pctx, 4) }()
	}
	time.Sleep(time.Second)
	cut := time.Now()
	if err := nt.Isolate(int(leader.ID)); err != nil {
		t.Fatal(err)
	}
	var majority *Node
	var moved time.Duration
	for time.Since(cut) < 60*time.Second && majority == nil {
		for _, n := range c.Nodes {
			if n == leader {
				continue
			}
			st, err := c.Describe(ctx, n, topic)
			if err == nil && st[0].Leader != leader.ID && st[0].Leader >= 0 {
				majority, moved = c.Node(st[0].Leader), time.Since(cut)
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if majority == nil {
		t.Fatalf("the majority side elected no leader of p0 within 60 s of isolating n%d", leader.ID)
	}
	t.Logf("isolated n%d; majority elected n%d for p0 after %v", leader.ID, majority.ID, moved.Round(time.Millisecond))
	// The minority side's producers go on for a few seconds. Its lease
	// runs out within the session timeout of the cut: from then on it must
	// acknowledge nothing, acks=all or acks=1.
	time.Sleep(3 * time.Second)
	pcancel()
	pwg.Wait()
	if len(minority.History().Acks) == 0 || len(minorityOne.History().Acks) == 0 {
		t.Errorf("the producers pinned to n%d had nothing acknowledged even before the cut: they prove nothing (errors %v %v)", leader.ID, minority.Errors(), minorityOne.Errors())
	}
	fenced := cut.Add(wcluster.DefaultSessionTimeout)
	for _, mw := range []*Workload{minority, minorityOne} {
		for _, a := range mw.AcksSince(fenced) {
			if !IsKafka() { // Kafka has no lease: its isolated leader answers acks=1 until it learns it was fenced
				t.Errorf("isolated n%d acknowledged p%d offset %d (%s) %v after the cut", leader.ID, a.Partition, a.Offset, a.Value, a.At.Sub(cut).Round(time.Millisecond))
			}
		}
	}
	t.Logf("isolated n%d: producers pinned to it: acks=all %d acknowledged, %d after the cut; acks=1 %d acknowledged, %d after the cut (last %v after it); none later than the session timeout (%v) after the cut",
		leader.ID, len(minority.History().Acks), len(minority.AcksSince(cut)), len(minorityOne.History().Acks), len(minorityOne.AcksSince(cut)), lastAfter(minorityOne, cut), wcluster.DefaultSessionTimeout)
	time.Sleep(2 * time.Second)
	if err := nt.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFullISR(ctx, t, c, topic, 90*time.Second)
	stop()
	mh := minority.History()
	h := History{}
	res := finalCheck(ctx, t, c, topic, w, h)
	// The minority acks=all producer's acks must be in the log too.
	checkAcks(ctx, t, c, topic, minority, "isolated node's acks=all producer")
	t.Logf("PartitionLeader: %d acknowledged, %d lost; majority leader after %v; minority producers: acks=all %d acknowledged, errors %v; acks=1 %d acknowledged, errors %v",
		res.Total.Acknowledged, res.Total.Lost, moved.Round(time.Millisecond), len(mh.Acks), minority.Errors(), len(minorityOne.History().Acks), minorityOne.Errors())
}
