package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// createAssigned creates topic with one partition on replicas.
func createAssigned(t *testing.T, cl *kgo.Client, topic string, replicas ...int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s on %v: %v", topic, replicas, err)
	}
}

// waitPartition polls Metadata until p0 of topic satisfies ok.
func waitPartition(t *testing.T, cl *kgo.Client, topic string, within time.Duration, what string, ok func(kmsg.MetadataResponseTopicPartition) bool) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		mr := rawMetadata(t, cl, topic)
		if len(mr.Topics) == 1 && len(mr.Topics[0].Partitions) == 1 {
			p := mr.Topics[0].Partitions[0]
			if ok(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s/0 never %s: leader %d replicas %v isr %v", topic, what, p.Leader, p.Replicas, p.ISR)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listReassignments(t *testing.T, cl *kgo.Client) *kmsg.ListPartitionReassignmentsResponse {
	t.Helper()
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func elect(t *testing.T, cl *kgo.Client, how int8, topics map[string][]int32) *kmsg.ElectLeadersResponse {
	t.Helper()
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType, req.TimeoutMillis = how, 10000
	if topics != nil {
		req.Topics = []kmsg.ElectLeadersRequestTopic{}
		for name, ps := range topics {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = name, ps
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func reassignReq(t *testing.T, cl *kgo.Client, topic string, replicas []int32) int16 {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// A partition on 1,2,3 is reassigned to 2,3,4 where 4 is a non-voter
// broker: 4 copies the log and joins the ISR, then 1 (the leader) leaves,
// leadership moves to 2 and 1 deletes its log; the move is listed while
// it runs and not after. A reorder to 4,2,3 moves no data, and a
// preferred election (all partitions) then makes 4 leader; reading from
// it returns every record written before the move.
func TestClusterReassignToNonVoterAndElectPreferred(t *testing.T) {
	bs, cfgs := startClusterConfigs(t, 3, 1)
	cl := client(t, bs[0])
	createAssigned(t, cl, "mv", 1, 2, 3)
	waitPartition(t, cl, "mv", 15*time.Second, "in sync on 3", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	const n = 300
	prod := client(t, bs[1], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("mv"))
	produceN(t, prod, "mv", n)

	if code := reassignReq(t, cl, "mv", []int32{2, 3, 9}); code != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("reassign to an unknown broker: %v", kerr.ErrorForCode(code))
	}
	if code := reassignReq(t, cl, "mv", nil); code != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("cancel with none in progress: %v", kerr.ErrorForCode(code))
	}
	if code := reassignReq(t, cl, "mv", []int32{2, 3, 4}); code != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
	}
	// Listed while 4 catches up, unless it already finished.
	if lr := listReassignments(t, cl); len(lr.Topics) == 1 {
		p := lr.Topics[0].Partitions[0]
		if !slices.Equal(p.AddingReplicas, []int32{4}) || !slices.Equal(p.RemovingReplicas, []int32{1}) {
			t.Fatalf("listed reassignment: %+v", p)
		}
	}
	start := time.Now()
	p := waitPartition(t, cl, "mv", 20*time.Second, "moved to 2,3,4", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{2, 3, 4}) && len(p.ISR) == 3
	})
	t.Logf("reassignment 1,2,3 → 2,3,4 done in %v: leader %d isr %v", time.Since(start).Round(time.Millisecond), p.Leader, p.ISR)
	if p.Leader != 2 {
		t.Fatalf("leader after removing 1: %d, want 2", p.Leader)
	}
	if lr := listReassignments(t, cl); len(lr.Topics) != 0 {
		t.Fatalf("still listed after completion: %+v", lr.Topics)
	}
	gone := filepath.Join(cfgs[0].DataDir, "mv-0")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(gone); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(cfgs[0].DataDir)
			t.Fatalf("broker 1 kept %s after it was reassigned away (data dir: %v)", gone, entries)
		}
	}

	// DescribeLogDirs (kafka-reassign-partitions asks it): 4 keeps the
	// moved replica, 1 no longer does.
	for node, want := range map[int32]bool{1: false, 4: true} {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = "mv", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(node)).Request(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		dirs := resp.(*kmsg.DescribeLogDirsResponse).Dirs
		has := len(dirs) == 1 && len(dirs[0].Topics) == 1 && dirs[0].Topics[0].Partitions[0].Size > 0
		if len(dirs) != 1 || dirs[0].Dir == "" || has != want {
			t.Fatalf("DescribeLogDirs on %d: %+v, want mv-0 listed: %v", node, dirs, want)
		}
	}

	// Preferred leader not in the ISR yet is refused; then a reorder.
	if code := reassignReq(t, cl, "mv", []int32{4, 2, 3}); code != 0 {
		t.Fatalf("reorder: %v", kerr.ErrorForCode(code))
	}
	er := elect(t, cl, 0, nil)
	var got []string
	for _, rt := range er.Topics {
		for _, rp := range rt.Partitions {
			got = append(got, fmt.Sprintf("%s-%d:%v", rt.Topic, rp.Partition, kerr.ErrorForCode(rp.ErrorCode)))
		}
	}
	if er.ErrorCode != 0 || !slices.Equal(got, []string{"mv-0:<nil>"}) {
		t.Fatalf("preferred election of all partitions: %v (error %d)", got, er.ErrorCode)
	}
	p = waitPartition(t, cl, "mv", 5*time.Second, "led by 4", func(p kmsg.MetadataResponseTopicPartition) bool { return p.Leader == 4 })
	er = elect(t, cl, 0, map[string][]int32{"mv": {0}, "nope": {0}})
	for _, rt := range er.Topics {
		want := kerr.ElectionNotNeeded
		if rt.Topic == "nope" {
			want = kerr.UnknownTopicOrPartition
		}
		if err := kerr.ErrorForCode(rt.Partitions[0].ErrorCode); err != want {
			t.Fatalf("second election of %s: %v, want %v", rt.Topic, err, want)
		}
	}
	// Unclean with a live leader: nothing to do.
	er = elect(t, cl, 1, map[string][]int32{"mv": {0}})
	if err := kerr.ErrorForCode(er.Topics[0].Partitions[0].ErrorCode); err != kerr.ElectionNotNeeded {
		t.Fatalf("unclean election with a live leader: %v", err)
	}

	cons := client(t, bs[3], kgo.ConsumeTopics("mv"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, cons, n)
	for i, r := range recs {
		if r.Offset != int64(i) || r.Value == nil {
			t.Fatalf("record %d on the new leader 4: offset %d", i, r.Offset)
		}
	}
	if len(recs) != n {
		t.Fatalf("read %d of %d records from broker 4 after the move", len(recs), n)
	}
	var _ *broker.Broker = bs[3]
}

// Cancelling a reassignment that cannot finish (its target broker is
// gone) puts the original replicas back.
func TestClusterReassignCancel(t *testing.T) {
	bs := startCluster(t, 3, 1)
	cl := client(t, bs[0])
	createAssigned(t, cl, "cx", 1, 2)
	waitPartition(t, cl, "cx", 15*time.Second, "in sync on 2", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 2 })
	bs[3].Close() // broker 4 will never catch up
	if code := reassignReq(t, cl, "cx", []int32{1, 4}); code != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
	}
	lr := listReassignments(t, cl)
	if len(lr.Topics) != 1 || !slices.Equal(lr.Topics[0].Partitions[0].Replicas, []int32{1, 4, 2}) {
		t.Fatalf("listed: %+v", lr.Topics)
	}
	if code := reassignReq(t, cl, "cx", nil); code != 0 {
		t.Fatalf("cancel: %v", kerr.ErrorForCode(code))
	}
	p := waitPartition(t, cl, "cx", 5*time.Second, "back on 1,2", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{1, 2})
	})
	if p.Leader != 1 || len(listReassignments(t, cl).Topics) != 0 {
		t.Fatalf("after cancel: leader %d isr %v", p.Leader, p.ISR)
	}
}

// fetchFrom sends one consumer fetch of topic/0 at offset, naming rack, to
// broker node.
func fetchFrom(t *testing.T, cl *kgo.Client, node int32, topic string, id [16]byte, epoch int32, offset int64, rack string) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 100, 1, 1<<20
	req.SessionEpoch = -1
	req.Rack = rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes, rp.LogStartOffset = offset, epoch, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(int(node)).Request(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch from %d: %+v", node, fr)
	}
	return fr.Topics[0].Partitions[0]
}

func countRecords(t *testing.T, batches []byte) int {
	t.Helper()
	n := 0
	for len(batches) >= 61 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(batches); err != nil {
			t.Fatal(err)
		}
		n += int(b.NumRecords)
		batches = batches[12+int(b.Length):]
	}
	return n
}

// KIP-392: the leader (rack-0) tells a consumer in rack-1 to read from
// the in-sync follower there, without records; that follower serves the
// consumer's fetch up to its high watermark; a consumer in the leader's
// rack, or naming none, stays on the leader; a franz-go consumer with
// kgo.Rack reads everything.
func TestClusterFetchFromClosestReplica(t *testing.T) {
	bs := startCluster(t, 3, 0) // racks: 1 rack-0, 2 rack-1, 3 rack-0
	cl := client(t, bs[0])
	createAssigned(t, cl, "near", 1, 2, 3)
	waitPartition(t, cl, "near", 15*time.Second, "in sync on 3", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	const n = 200
	prod := client(t, bs[0], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("near"))
	produceN(t, prod, "near", n)
	mr := rawMetadata(t, cl, "near")
	id, epoch := mr.Topics[0].TopicID, mr.Topics[0].Partitions[0].LeaderEpoch

	fp := fetchFrom(t, cl, 1, "near", id, epoch, 0, "rack-1")
	if fp.ErrorCode != 0 || fp.PreferredReadReplica != 2 || countRecords(t, fp.RecordBatches) != 0 {
		t.Fatalf("leader's answer to a rack-1 consumer: error %d preferred %d, %d records", fp.ErrorCode, fp.PreferredReadReplica, countRecords(t, fp.RecordBatches))
	}
	for _, rack := range []string{"rack-0", ""} {
		if fp := fetchFrom(t, cl, 1, "near", id, epoch, 0, rack); fp.PreferredReadReplica != -1 || countRecords(t, fp.RecordBatches) == 0 {
			t.Fatalf("leader's answer to a consumer in rack %q: preferred %d, %d records", rack, fp.PreferredReadReplica, countRecords(t, fp.RecordBatches))
		}
	}
	// The follower serves it, capped at its HW (which reaches n once it
	// heard the leader's).
	var got int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fp = fetchFrom(t, cl, 2, "near", id, epoch, 0, "rack-1")
		if fp.ErrorCode != 0 {
			t.Fatalf("follower 2 refused a consumer fetch: %v", kerr.ErrorForCode(fp.ErrorCode))
		}
		got = countRecords(t, fp.RecordBatches)
		if int64(got) > fp.HighWatermark {
			t.Fatalf("follower returned %d records past its HW %d", got, fp.HighWatermark)
		}
		if got == n || time.Now().After(deadline) {
			break
		}
	}
	if got != n {
		t.Fatalf("follower 2 served %d of %d records", got, n)
	}

	cons := client(t, bs[0], kgo.Rack("rack-1"), kgo.ConsumeTopics("near"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if recs := consumeN(t, cons, n); len(recs) != n {
		t.Fatalf("a rack-1 consumer read %d of %d", len(recs), n)
	}
}

// kafka-reassign-partitions --verify clears replication throttles: the
// broker rates (deleting what was never set succeeds; setting one is
// refused, weir does not throttle) and the topics' throttled replica
// lists (accepted configs). On one node ElectLeaders has nothing to do
// and a reassignment can only name the node itself.
func TestReassignToolThrottlesAndSingleNode(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createAssigned(t, cl, "solo", 1)
	alter := func(typ kmsg.ConfigResourceType, name string, op kmsg.IncrementalAlterConfigOp, cfg, val string) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = cfg, op, kmsg.StringPtr(val)
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode
	}
	broker, topic := kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeTopic
	del, set := kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpSet
	if code := alter(broker, "1", del, "leader.replication.throttled.rate", ""); code != 0 {
		t.Fatalf("clear a broker throttle: %v", kerr.ErrorForCode(code))
	}
	if code := alter(broker, "1", set, "leader.replication.throttled.rate", "1000"); code == 0 {
		t.Fatal("a broker throttle was set")
	}
	if code := alter(topic, "solo", set, "leader.replication.throttled.replicas", "0:1,0:2"); code != 0 {
		t.Fatalf("set a topic's throttled replicas: %v", kerr.ErrorForCode(code))
	}
	if code := alter(topic, "solo", set, "follower.replication.throttled.replicas", "zero"); code != kerr.InvalidConfig.Code {
		t.Fatalf("bad throttled replicas: %v", kerr.ErrorForCode(code))
	}
	if code := alter(topic, "solo", del, "leader.replication.throttled.replicas", ""); code != 0 {
		t.Fatalf("clear a topic's throttled replicas: %v", kerr.ErrorForCode(code))
	}

	er := elect(t, cl, 0, map[string][]int32{"solo": {0}})
	if err := kerr.ErrorForCode(er.Topics[0].Partitions[0].ErrorCode); err != kerr.ElectionNotNeeded {
		t.Fatalf("preferred election on one node: %v", err)
	}
	if er := elect(t, cl, 0, nil); len(er.Topics) != 0 {
		t.Fatalf("all-partition election on one node lists %+v", er.Topics)
	}
	if code := reassignReq(t, cl, "solo", []int32{2}); code != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("reassign to a broker that does not exist: %v", kerr.ErrorForCode(code))
	}
	if code := reassignReq(t, cl, "solo", []int32{1}); code != 0 {
		t.Fatalf("reassign to itself: %v", kerr.ErrorForCode(code))
	}
	if lr := listReassignments(t, cl); len(lr.Topics) != 0 {
		t.Fatalf("listed: %+v", lr.Topics)
	}
}

// A replica added to a partition whose oldest records were deleted
// (DeleteRecords, or retention) starts its log at the leader's log start:
// fetching from 0 is out of range, and it would never catch up.
func TestClusterReassignAfterDeleteRecords(t *testing.T) {
	bs := startCluster(t, 3, 1)
	cl := client(t, bs[0])
	createAssigned(t, cl, "trim", 1, 2, 3)
	waitPartition(t, cl, "trim", 15*time.Second, "in sync on 3", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	prod := client(t, bs[0], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("trim"))
	produceN(t, prod, "trim", 300)
	var o kadm.Offsets
	o.Add(kadm.Offset{Topic: "trim", Partition: 0, At: 200})
	dr, err := kadm.NewClient(cl).DeleteRecords(ctxT(t), o)
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete records: %v %v", err, dr.Error())
	}
	if code := reassignReq(t, cl, "trim", []int32{1, 2, 4}); code != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
	}
	waitPartition(t, cl, "trim", 20*time.Second, "moved to 1,2,4", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{1, 2, 4}) && len(p.ISR) == 3
	})
	mr := rawMetadata(t, cl, "trim")
	id, epoch := mr.Topics[0].TopicID, mr.Topics[0].Partitions[0].LeaderEpoch
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fp := fetchFrom(t, cl, 4, "trim", id, epoch, 200, "")
		n := countRecords(t, fp.RecordBatches)
		// (The batch holding offset 200 may begin before it.)
		if fp.ErrorCode == 0 && fp.LogStartOffset == 200 && fp.HighWatermark == 300 && n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 4 after the move: error %v, log start %d, HW %d, %d records from 200", kerr.ErrorForCode(fp.ErrorCode), fp.LogStartOffset, fp.HighWatermark, n)
		}
	}
}

// A broker that was down while a reassignment moved its replica away
// sets the old log aside when it starts again (it is deleted after the
// stray grace period) instead of keeping it open forever.
func TestClusterReassignedAwayWhileDown(t *testing.T) {
	bs, cfgs := startClusterConfigs(t, 3, 1)
	cl := client(t, bs[1])
	createAssigned(t, cl, "away", 1, 2, 3)
	waitPartition(t, cl, "away", 15*time.Second, "in sync on 3", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	produceN(t, client(t, bs[1], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("away")), "away", 50)
	dir := filepath.Join(cfgs[0].DataDir, "away-0")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	bs[0].Close()
	if code := reassignReq(t, cl, "away", []int32{2, 3, 4}); code != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
	}
	waitPartition(t, cl, "away", 20*time.Second, "moved to 2,3,4", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{2, 3, 4}) && len(p.ISR) == 3
	})
	back, err := broker.New(cfgs[0], testLogger(t, cfgs[0].NodeID))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := back.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 1 still has %s after restarting without that replica", dir)
		}
	}
}

// UNCLEAN election honours unclean.leader.election.enable: a partition
// whose only in-sync replica is gone stays leaderless (no live ISR
// member) until the topic allows an out-of-sync leader; then the live
// replica leads with an ISR of itself and takes writes again.
func TestClusterUncleanElectionHonoursTopicConfig(t *testing.T) {
	bs, cfgs := startClusterConfigs(t, 3, 1)
	cl := client(t, bs[1])
	createAssigned(t, cl, "unc", 1)
	produceN(t, client(t, bs[0], kgo.DefaultProduceTopic("unc")), "unc", 10)
	// Broker 4 becomes a replica while it is down: it never copies
	// anything, so the ISR stays [1].
	bs[3].Close()
	if code := reassignReq(t, cl, "unc", []int32{1, 4}); code != 0 {
		t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
	}
	bs[0].Close() // the only ISR member goes
	back, err := broker.New(cfgs[3], testLogger(t, cfgs[3].NodeID))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := back.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p := waitPartition(t, cl, "unc", 10*time.Second, "leaderless", func(p kmsg.MetadataResponseTopicPartition) bool { return p.Leader == -1 })
	if !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("ISR while broker 1 is gone: %v", p.ISR)
	}
	er := elect(t, cl, 1, map[string][]int32{"unc": {0}})
	if err := kerr.ErrorForCode(er.Topics[0].Partitions[0].ErrorCode); err != kerr.EligibleLeadersNotAvailable {
		t.Fatalf("unclean election without unclean.leader.election.enable: %v", err)
	}
	// PREFERRED cannot help either: broker 1 is gone.
	er = elect(t, cl, 0, map[string][]int32{"unc": {0}})
	if err := kerr.ErrorForCode(er.Topics[0].Partitions[0].ErrorCode); err != kerr.PreferredLeaderNotAvailable {
		t.Fatalf("preferred election of a gone broker: %v", err)
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "unc"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "unclean.leader.election.enable", kmsg.StringPtr("true")
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	if resp, err := req.RequestWith(ctxT(t), cl); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("enable unclean election: %v %+v", err, resp)
	}
	er = elect(t, cl, 1, map[string][]int32{"unc": {0}})
	if err := kerr.ErrorForCode(er.Topics[0].Partitions[0].ErrorCode); err != nil {
		t.Fatalf("unclean election allowed by the topic: %v", err)
	}
	p = waitPartition(t, cl, "unc", 5*time.Second, "led by 4", func(p kmsg.MetadataResponseTopicPartition) bool { return p.Leader == 4 })
	if !slices.Equal(p.ISR, []int32{4}) {
		t.Fatalf("ISR after the unclean election: %v", p.ISR)
	}
	produceN(t, client(t, bs[1], kgo.DefaultProduceTopic("unc")), "unc", 5)
}
