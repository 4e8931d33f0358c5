//go:build services

package stomp

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"

	"github.com/weirlog/weir/plugins"
)

func sourceCfg(dests string, kv ...string) plugins.Config {
	cfg := plugins.Config{URLConfig: stompURL(), DestinationsConfig: dests, KafkaTopicConfig: "out"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

// A message becomes a record: body bytes as sent (binary, and 1 MB),
// message-id key, stomp.<name> headers after STOMP 1.2 unescaping,
// ActiveMQ's timestamp.
func TestSourceMapsMessages(t *testing.T) {
	q := "/queue/" + unique("weir.map")
	binary := []byte{0, 1, 2, 0xff, 0xfe, '\n', 0, 'x', 0xc3, 0x28}
	big := make([]byte, 1<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	send(t, q, 2, func(i int) msgSpec {
		if i == 0 {
			return msgSpec{body: binary, headers: []string{"app-id", "one", "tricky", "a:b\nc\\d", "correlation-id", "corr-1"}}
		}
		return msgSpec{body: big, headers: []string{"app-id", "big"}}
	})
	task := startSource(t, sourceCfg(q, "kafka.topic.format", "amq.${destination}"))
	recs := pollN(t, task, 2, 20*time.Second, true)
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	r := recs[0]
	if !bytes.Equal(r.Value.([]byte), binary) || r.ValueSchema != plugins.OptionalBytesSchema {
		t.Fatalf("value = %x (%v), want %x", r.Value, r.ValueSchema, binary)
	}
	if want := "amq." + sanitizeTopic(strings.TrimPrefix(q, "/queue/")); r.Topic != want {
		t.Fatalf("topic %q, want %q", r.Topic, want)
	}
	id, _ := header(r, "stomp.message-id")
	if id == "" || r.Key != id {
		t.Fatalf("key %v, stomp.message-id %q", r.Key, id)
	}
	for k, want := range map[string]string{"stomp.app-id": "one", "stomp.tricky": "a:b\nc\\d", "stomp.correlation-id": "corr-1",
		"stomp.destination": q, "stomp.persistent": "true"} {
		if got, _ := header(r, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"stomp.ack", "stomp.subscription", "stomp.content-length"} {
		if _, ok := header(r, k); ok {
			t.Errorf("frame-control header %s copied", k)
		}
	}
	if r.Timestamp.Before(before) || r.Timestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %v is not the broker's", r.Timestamp)
	}
	if !bytes.Equal(recs[1].Value.([]byte), big) {
		t.Fatalf("1 MB body differs (len %d)", len(recs[1].Value.([]byte)))
	}
	if got := receive(t, q, 0, time.Second); len(got) != 0 {
		t.Fatalf("%d messages left on the queue after CommitRecord", len(got))
	}
}

// Nothing is acknowledged before CommitRecord: a task stopped with records
// in flight leaves them to the next one, which gets them again.
func TestSourceAcksOnlyAfterCommit(t *testing.T) {
	drainWait = 200 * time.Millisecond
	q := "/queue/" + unique("weir.ack")
	send(t, q, 10, func(i int) msgSpec { return msgSpec{body: []byte(itoa(i))} })
	t1 := startSource(t, sourceCfg(q))
	first := pollN(t, t1, 10, 20*time.Second, false)
	if len(first) != 10 {
		t.Fatalf("first task: %d records", len(first))
	}
	// The record of message 3 reached the log; the others did not.
	if err := t1.CommitRecord(&first[3]); err != nil {
		t.Fatal(err)
	}
	_ = t1.Stop()
	time.Sleep(drainWait + 500*time.Millisecond)
	t2 := startSource(t, sourceCfg(q, "key.header", "nope"))
	second := pollN(t, t2, 9, 20*time.Second, true)
	if len(second) != 9 {
		t.Fatalf("second task: %d records, want the 9 uncommitted", len(second))
	}
	for _, r := range second {
		if string(r.Value.([]byte)) == "3" {
			t.Fatal("the committed message came back")
		}
		if r.Key != nil {
			t.Fatalf("key.header absent: key %v, want null", r.Key)
		}
		if v, _ := header(r, "stomp.redelivered"); v != "true" {
			t.Errorf("redelivered header %q", v)
		}
	}
}

func TestSourceSelector(t *testing.T) {
	q := "/queue/" + unique("weir.sel")
	send(t, q, 20, func(i int) msgSpec {
		color := "blue"
		if i%4 == 0 {
			color = "red"
		}
		return msgSpec{body: []byte(itoa(i)), headers: []string{"color", color}}
	})
	task := startSource(t, sourceCfg(q, "jms.message.selector", "color = 'red'"))
	recs := pollN(t, task, 6, 3*time.Second, true)
	if len(recs) != 5 {
		t.Fatalf("selector gave %d records, want 5", len(recs))
	}
	for _, r := range recs {
		if c, _ := header(r, "stomp.color"); c != "red" {
			t.Fatalf("selector let %q through", c)
		}
	}
}

// stomp.value.type=string: invalid UTF-8 is a poison message. Without
// tolerance the task fails and the message stays; with errors.tolerance=all
// it is NACKed into ActiveMQ's dead letter queue and the rest flows.
func TestSourcePoisonMessage(t *testing.T) {
	q := "/queue/" + unique("weir.poison")
	mark := unique("poison")
	send(t, q, 3, func(i int) msgSpec {
		if i == 1 {
			return msgSpec{body: []byte{0xff, 0xfe}, headers: []string{"mark", mark}}
		}
		return msgSpec{body: []byte("ok" + itoa(i))}
	})
	strict := startSource(t, sourceCfg(q, ValueTypeConfig, "string"))
	recs := pollN(t, strict, 1, 10*time.Second, true)
	if len(recs) != 1 || recs[0].Value != "ok0" {
		t.Fatalf("records before the poison: %v", recs)
	}
	if _, err := strict.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "poison") {
		t.Fatalf("Poll after a poison message: %v, want a poison error", err)
	}
	_ = strict.Stop()
	time.Sleep(drainWait + 500*time.Millisecond)

	tolerant := startSource(t, sourceCfg(q, ValueTypeConfig, "string", "errors.tolerance", "all"))
	recs = pollN(t, tolerant, 1, 10*time.Second, true)
	if len(recs) != 1 || recs[0].Value != "ok2" {
		t.Fatalf("records after the poison: %v", recs)
	}
	if tolerant.nacked.Load() != 1 {
		t.Fatalf("nacked %d", tolerant.nacked.Load())
	}
	dlq := receive(t, "/queue/ActiveMQ.DLQ", 1, 5*time.Second, gostomp.SubscribeOpt.Header("selector", "mark = '"+mark+"'"))
	if len(dlq) != 1 || !bytes.Equal(dlq[0].Body, []byte{0xff, 0xfe}) {
		t.Fatalf("ActiveMQ.DLQ holds %d poison messages, want 1", len(dlq))
	}
}

// The sink maps headers back (stomp.<name> → <name>, reserved dropped),
// sends the key as kafka.key and the body byte for byte, persistently, and
// PreCommit reports only what has its RECEIPT.
func TestSinkSendsWithReceipts(t *testing.T) {
	q := "/queue/" + unique("weir.sink")
	var task SinkTask
	if err := task.Start(sinkCtx{}, plugins.Config{URLConfig: stompURL(), DestinationConfig: "/queue/${topic}", BatchSizeConfig: "7"}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	topic := strings.TrimPrefix(q, "/queue/")
	binary := []byte{0, 0xff, 'a', 0}
	var recs []plugins.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, plugins.Record{Topic: topic, Partition: int32(i % 2), Offset: int64(100 + i), Key: "k" + itoa(i), Value: binary,
			Headers: []plugins.Header{
				{Key: "stomp.app-seq", Value: itoa(i)}, {Key: "stomp.destination", Value: "/queue/elsewhere"},
				{Key: "stomp.message-id", Value: "ID:old"}, {Key: "trace", Value: "t:" + itoa(i)},
			}})
	}
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := plugins.TopicPartition{Topic: topic, Partition: 0}, plugins.TopicPartition{Topic: topic, Partition: 1}
	got, err := task.PreCommit(context.Background(), map[plugins.TopicPartition]int64{tp0: 149, tp1: 150})
	if err != nil {
		t.Fatal(err)
	}
	if got[tp0] != 149 || got[tp1] != 150 {
		t.Fatalf("PreCommit = %v", got)
	}
	msgs := receive(t, q, 50, 5*time.Second)
	if len(msgs) != 50 {
		t.Fatalf("%d messages on %s, want 50", len(msgs), q)
	}
	for i, m := range msgs {
		if !bytes.Equal(m.Body, binary) {
			t.Fatalf("body %x", m.Body)
		}
		h := m.Header
		if h.Get("app-seq") != itoa(i) || h.Get("kafka.key") != "k"+itoa(i) || h.Get("trace") != "t:"+itoa(i) || h.Get("persistent") != "true" {
			t.Fatalf("message %d headers: %v", i, h)
		}
		if h.Get("destination") != q || h.Get("message-id") == "ID:old" {
			t.Fatalf("reserved headers passed through: %v", h)
		}
	}
}

// Unconfirmed offsets are not reported: with the broker not answering
// (receipts withheld because nothing is connected) PreCommit keeps the
// partition at its first unconfirmed record.
func TestSinkPreCommitHoldsUnconfirmed(t *testing.T) {
	var task SinkTask
	if err := task.Start(sinkCtx{}, plugins.Config{URLConfig: stompURL(), ReceiptTimeoutConf: "500"}); err != nil {
		t.Fatal(err)
	}
	tp := plugins.TopicPartition{Topic: "t", Partition: 0}
	e := &inflight{receipt: "x", tp: tp, offset: 42}
	task.window = []*inflight{e, {receipt: "y", tp: tp, offset: 43, confirmed: true}}
	task.byID["x"] = e
	task.unconf = 1
	// No connection: settle cannot confirm x; the offset must stay at 42.
	task.s.addrs = []brokerAddr{{hostPort: "127.0.0.1:1", host: "127.0.0.1"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 44})
	if err != nil {
		t.Fatal(err)
	}
	if got[tp] != 42 {
		t.Fatalf("PreCommit = %d, want 42 (the first record without RECEIPT)", got[tp])
	}
}

// stomp.ack.mode=client acknowledges cumulatively, and only up to the
// oldest message whose record is not in the log yet.
func TestSourceClientAckIsCumulative(t *testing.T) {
	drainWait = 200 * time.Millisecond
	q := "/queue/" + unique("weir.cack")
	send(t, q, 10, func(i int) msgSpec { return msgSpec{body: []byte(itoa(i))} })
	t1 := startSource(t, sourceCfg(q, AckModeConfig, "client"))
	recs := pollN(t, t1, 10, 20*time.Second, false)
	if len(recs) != 10 {
		t.Fatalf("%d records", len(recs))
	}
	// 0, 1 and 3 reach the log; 2 does not: one ACK covers 0 and 1 only.
	for _, i := range []int{0, 1, 3} {
		if err := t1.CommitRecord(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = t1.Stop()
	time.Sleep(drainWait + 500*time.Millisecond)
	t2 := startSource(t, sourceCfg(q))
	again := pollN(t, t2, 8, 20*time.Second, true)
	var got []string
	for _, r := range again {
		got = append(got, string(r.Value.([]byte)))
	}
	if strings.Join(got, ",") != "2,3,4,5,6,7,8,9" {
		t.Fatalf("after a cumulative ACK of 0..1 the queue gave %v, want 2..9", got)
	}
}
