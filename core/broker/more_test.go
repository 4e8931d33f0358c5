package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

func rawProduce(t *testing.T, addr string, version int16, acks int16, topic string) *kmsg.ProduceResponse {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = encodeBatch(kmsg.RecordBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: appendRecord(nil, 0, []byte("x"))})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return roundTrip(t, addr, req).(*kmsg.ProduceResponse)
}

func TestProduceVersionsAndAcks(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	minISR := "2"
	createTopic(t, cl, "acks", 1, nil)
	createTopic(t, cl, "strict", 1, map[string]*string{"min.insync.replicas": &minISR})

	// v0-2 are advertised (KAFKA-18659) but refused per partition.
	resp := rawProduce(t, b.Addr(), 2, -1, "acks")
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != kerr.UnsupportedVersion.Code {
		t.Fatalf("produce v2: error %d, want UNSUPPORTED_VERSION", ec)
	}

	for _, acks := range []int16{1, -1} {
		resp := rawProduce(t, b.Addr(), 11, acks, "acks")
		if resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("acks=%d: %+v", acks, resp)
		}
	}
	resp = rawProduce(t, b.Addr(), 11, 2, "acks")
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: error %d, want INVALID_REQUIRED_ACKS", ec)
	}
	// min.insync.replicas=2 on a single node: acks=all is refused, acks=1 is not.
	resp = rawProduce(t, b.Addr(), 11, -1, "strict")
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with min.insync.replicas=2: error %d, want NOT_ENOUGH_REPLICAS", ec)
	}
	resp = rawProduce(t, b.Addr(), 11, 1, "strict")
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 {
		t.Fatalf("acks=1 with min.insync.replicas=2: error %d", ec)
	}

	// acks=0: no response at all, yet the record lands.
	zero := client(t, b, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	if err := zero.ProduceSync(ctxT(t), &kgo.Record{Topic: "acks", Value: []byte("z")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(5 * time.Second)
	for {
		offs, _ := adm.ListEndOffsets(ctxT(t), "acks")
		if o, _ := offs.Lookup("acks", 0); o.Offset == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks=0 record never appended: %v", offs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Incremental fetch sessions (KIP-227) answer only partitions with news.
func TestFetchSessions(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b, kgo.MaxVersions(versionsWithFetch(12)))
	createTopic(t, cl, "sess", 2, nil)
	manual := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := manual.ProduceSync(ctxT(t), &kgo.Record{Topic: "sess", Partition: 0, Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetch := func(id, epoch int32, parts map[int32]int64) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes, req.SessionID, req.SessionEpoch = 0, 1<<20, id, epoch
		if len(parts) > 0 {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "sess"
			for p, off := range parts {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = p, off, 1<<20, -1
				ft.Partitions = append(ft.Partitions, fp)
			}
			req.Topics = append(req.Topics, ft)
		}
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	count := func(r *kmsg.FetchResponse) int {
		n := 0
		for _, tp := range r.Topics {
			n += len(tp.Partitions)
		}
		return n
	}
	full := fetch(0, 0, map[int32]int64{0: 0, 1: 0})
	if full.ErrorCode != 0 || full.SessionID == 0 || count(full) != 2 {
		t.Fatalf("full fetch: error %d session %d partitions %d", full.ErrorCode, full.SessionID, count(full))
	}
	// Nothing changed and the client moved partition 0 to offset 1: the
	// incremental answer lists no partition at all.
	inc := fetch(full.SessionID, 1, map[int32]int64{0: 1})
	if inc.ErrorCode != 0 || count(inc) != 0 {
		t.Fatalf("quiet incremental fetch: error %d, %d partitions", inc.ErrorCode, count(inc))
	}
	if err := manual.ProduceSync(ctxT(t), &kgo.Record{Topic: "sess", Partition: 1, Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	inc = fetch(full.SessionID, 2, nil)
	if count(inc) != 1 || inc.Topics[0].Partitions[0].Partition != 1 || len(inc.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("incremental fetch after produce to p1: %+v", inc.Topics)
	}
	if bad := fetch(full.SessionID, 7, nil); bad.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: error %d", bad.ErrorCode)
	}
	if bad := fetch(12345, 1, nil); bad.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", bad.ErrorCode)
	}
}

func TestOffsetForLeaderEpochAndClusterAPIs(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "ep", 1, nil)
	produceN(t, cl, "ep", 4)
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "ep"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 4 {
		t.Fatalf("epoch 0: %+v", p)
	}
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 5
	resp, _ = req.RequestWith(ctxT(t), cl)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("future current epoch: error %d", p.ErrorCode)
	}

	adm := kadm.NewClient(cl)
	meta, err := adm.BrokerMetadata(ctxT(t))
	if err != nil || len(meta.Brokers) != 1 || meta.Cluster != b.ClusterID() || meta.Controller != 1 {
		t.Fatalf("describe cluster: %v %+v", err, meta)
	}
	// A fresh node creates __consumer_offsets on first group use.
	if _, err := adm.ListGroups(ctxT(t)); err != nil {
		t.Fatalf("list groups: %v", err)
	}
	td, err := adm.ListTopicsWithInternal(ctxT(t))
	if err != nil || !td.Has("__consumer_offsets") || !td["__consumer_offsets"].IsInternal {
		t.Fatalf("internal topic missing from metadata: %v", err)
	}

	pid, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), cl)
	if err != nil || pid.ErrorCode != 0 || pid.ProducerID < 0 {
		t.Fatalf("init producer id: %v %+v", err, pid)
	}
	txn := kmsg.NewPtrInitProducerIDRequest()
	id := "tx"
	txn.TransactionalID = &id
	// Straight to the broker: kgo would first look for a transaction
	// coordinator, which weir does not have.
	kr, err := cl.Broker(1).Request(ctxT(t), txn)
	if err != nil {
		t.Fatal(err)
	}
	if kr.(*kmsg.InitProducerIDResponse).ErrorCode == 0 {
		t.Fatal("transactional InitProducerId accepted, but transactions are not implemented")
	}
}

func TestCloseWithOpenConnections(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b, kgo.ConsumeTopics("idle"), kgo.AllowAutoTopicCreation(), kgo.FetchMaxWait(10*time.Second))
	go cl.PollFetches(context.Background())
	time.Sleep(300 * time.Millisecond) // a long poll is now parked in the broker
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a parked fetch")
	}
}

// Idempotent producer state survives a restart: a retry of the last batch
// after the broker restarted is still recognised as a duplicate, and new
// producer IDs are never reused.
func TestIdempotenceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir })
	cl := client(t, b)
	createTopic(t, cl, "idem2", 1, nil)
	pid, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), cl)
	if err != nil || pid.ErrorCode != 0 {
		t.Fatalf("init producer id: %v", err)
	}
	batch := func(seq int32) []byte {
		return encodeBatch(kmsg.RecordBatch{Magic: 2, ProducerID: pid.ProducerID, ProducerEpoch: pid.ProducerEpoch, FirstSequence: seq, NumRecords: 1, Records: appendRecord(nil, 0, []byte("v"))})
	}
	produce := func(addr string, rec []byte) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(11)
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem2"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = rec
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return roundTrip(t, addr, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	for seq := range int32(3) {
		if r := produce(b.Addr(), batch(seq)); r.ErrorCode != 0 || r.BaseOffset != int64(seq) {
			t.Fatalf("seq %d: %+v", seq, r)
		}
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir })
	if r := produce(b2.Addr(), batch(2)); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("retry of the last batch after restart: error %d offset %d, want the original offset 2", r.ErrorCode, r.BaseOffset)
	}
	if r := produce(b2.Addr(), batch(3)); r.ErrorCode != 0 || r.BaseOffset != 3 {
		t.Fatalf("next batch after restart: error %d offset %d", r.ErrorCode, r.BaseOffset)
	}
	pid2, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), client(t, b2))
	if err != nil || pid2.ProducerID == pid.ProducerID {
		t.Fatalf("producer id reused after restart: %d (%v)", pid2.ProducerID, err)
	}
}
