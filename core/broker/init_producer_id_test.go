package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker/brokertest"
)

func initPID(t *testing.T, cl *kgo.Client, id int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.ProducerID, req.ProducerEpoch = id, epoch
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func idempotentBatch(id int64, epoch int16, seq int32, value string) []byte {
	now := time.Now().UnixMilli()
	return encodeBatch(kmsg.RecordBatch{
		Magic: 2, ProducerID: id, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: 1,
		FirstTimestamp: now, MaxTimestamp: now, Records: appendRecord(nil, 0, []byte(value)),
	})
}

// Naming another producer's id and epoch in InitProducerId must not bump
// that producer's epoch (which would fence it): an idempotent caller gets
// an id of its own, as Kafka answers.
func TestInitProducerIDNeverFencesAnotherProducer(t *testing.T) {
	b := brokertest.Start(t)
	victim, attacker := client(t, b), client(t, b)
	createTopic(t, victim, "pids", 1, nil)

	v := initPID(t, victim, -1, -1)
	if v.ErrorCode != 0 || v.ProducerEpoch != 0 {
		t.Fatalf("victim: %+v", v)
	}
	if sp := produceRaw(t, victim, "pids", idempotentBatch(v.ProducerID, 0, 0, "v0")); sp.ErrorCode != 0 {
		t.Fatalf("victim produce: %d %s", sp.ErrorCode, msgOf(sp))
	}

	a := initPID(t, attacker, v.ProducerID, v.ProducerEpoch)
	if a.ErrorCode != 0 || a.ProducerID == v.ProducerID {
		t.Fatalf("attacker naming the victim's id %d/%d got %d/%d (code %d): it must get an id of its own",
			v.ProducerID, v.ProducerEpoch, a.ProducerID, a.ProducerEpoch, a.ErrorCode)
	}
	if a.ProducerEpoch != 0 {
		t.Fatalf("new id with epoch %d", a.ProducerEpoch)
	}
	// The attacker produces with what it was given; the victim carries on.
	if sp := produceRaw(t, attacker, "pids", idempotentBatch(a.ProducerID, a.ProducerEpoch, 0, "a0")); sp.ErrorCode != 0 {
		t.Fatalf("attacker produce: %d %s", sp.ErrorCode, msgOf(sp))
	}
	if sp := produceRaw(t, victim, "pids", idempotentBatch(v.ProducerID, 0, 1, "v1")); sp.ErrorCode != 0 {
		t.Fatalf("victim fenced: %d %s", sp.ErrorCode, msgOf(sp))
	}

	// Asking again without naming an id is a new id too.
	if again := initPID(t, victim, -1, -1); again.ProducerID == v.ProducerID || again.ProducerID == a.ProducerID {
		t.Fatalf("second InitProducerId reused id %d", again.ProducerID)
	}
	// Half a pair is malformed.
	for _, half := range [][2]int64{{v.ProducerID, -1}, {-1, 0}} {
		if r := initPID(t, victim, half[0], int16(half[1])); r.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("id %d epoch %d: code %d, want INVALID_REQUEST", half[0], half[1], r.ErrorCode)
		}
	}
}

// A real franz-go idempotent producer is not disturbed by another client
// naming its producer id: every record lands once, in order.
func TestIdempotentProducerSurvivesForeignInitProducerID(t *testing.T) {
	b := brokertest.Start(t)
	prod := client(t, b, kgo.DefaultProduceTopic("franz-pid"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, prod, "franz-pid", 1, nil)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctxT(t), &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	produce(0, 10)
	id, epoch, err := prod.ProducerID(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	other := client(t, b)
	got := initPID(t, other, id, epoch)
	if got.ProducerID == id {
		t.Fatalf("foreign InitProducerId got the producer's own id %d (epoch %d)", id, got.ProducerEpoch)
	}
	// What an old broker handed out (id, epoch+1) is what a fencing client
	// would produce with; here it has its own id, so this is harmless.
	if sp := produceRaw(t, other, "franz-pid", idempotentBatch(got.ProducerID, got.ProducerEpoch, 0, "other")); sp.ErrorCode != 0 {
		t.Fatalf("other produce: %d %s", sp.ErrorCode, msgOf(sp))
	}
	produce(10, 20)
	if id2, epoch2, _ := prod.ProducerID(ctxT(t)); id2 != id || epoch2 != epoch {
		t.Fatalf("the producer had to re-initialise: %d/%d → %d/%d", id, epoch, id2, epoch2)
	}
	cons := client(t, b, kgo.ConsumeTopics("franz-pid"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, cons, 21)
	var mine []string
	for _, r := range recs {
		if string(r.Value) != "other" {
			mine = append(mine, string(r.Value))
		}
	}
	if len(mine) != 20 {
		t.Fatalf("%d of the producer's records, want 20: %q", len(mine), mine)
	}
	for i, v := range mine {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d is %q", i, v)
		}
	}
}
