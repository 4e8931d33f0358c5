package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// produceRaw sends one partition's records with kmsg (latest version) and
// returns the partition's answer.
func produceRaw(t *testing.T, cl *kgo.Client, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func endOffset(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := offs.Lookup(topic, 0)
	return o.Offset
}

func msgOf(sp kmsg.ProduceResponseTopicPartition) string {
	if sp.ErrorMessage == nil {
		return ""
	}
	return *sp.ErrorMessage
}

func batchOf(numRecords, lastDelta int32, ts int64, records []byte) []byte {
	return encodeBatch(kmsg.RecordBatch{
		Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: numRecords, LastOffsetDelta: lastDelta,
		FirstTimestamp: ts, MaxTimestamp: ts, Records: records,
	})
}

// A batch whose header disagrees with its records is refused as Kafka's
// LogValidator refuses it, before any offset is assigned.
func TestProduceRefusesForgedBatches(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "forged", 1, nil)
	now := time.Now().UnixMilli()
	one := appendRecord(nil, 0, []byte("x"))
	gap := appendRecord(appendRecord(nil, 0, []byte("a")), 2, []byte("b"))
	good := batchOf(1, 0, now, one)

	for _, tc := range []struct {
		name, batch []byte
		want        *kerr.Error
		says        string
	}{
		{[]byte("1 record claiming 1000 offsets"), batchOf(1, 999, now, one), kerr.InvalidRecord, "claims offsets 0..999 but has 1 record"},
		{[]byte("offset deltas with a gap"), batchOf(2, 1, now, gap), kerr.InvalidRecord, "offset delta 2, want 1"},
		{[]byte("record length past the batch"), batchOf(1, 0, now, append([]byte{0x7e}, one[1:]...)), kerr.InvalidRecord, "does not fit"},
		{[]byte("two batches in one partition"), append(append([]byte(nil), good...), good...), kerr.InvalidRecord, "exactly one record batch"},
	} {
		sp := produceRaw(t, cl, "forged", tc.batch)
		if sp.ErrorCode != tc.want.Code || !strings.Contains(msgOf(sp), tc.says) {
			t.Errorf("%s: code %d message %q, want %s saying %q", tc.name, sp.ErrorCode, msgOf(sp), tc.want, tc.says)
		}
	}
	// The forged batch with its CRC damaged is damage, not a forgery.
	bad := batchOf(1, 999, now, one)
	bad[len(bad)-1] ^= 1
	if sp := produceRaw(t, cl, "forged", bad); sp.ErrorCode != kerr.CorruptMessage.Code {
		t.Errorf("bad CRC: code %d (%s)", sp.ErrorCode, msgOf(sp))
	}
	if end := endOffset(t, cl, "forged"); end != 0 {
		t.Fatalf("refused batches consumed offsets: end offset %d", end)
	}
	if sp := produceRaw(t, cl, "forged", good); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("a good batch after the forgeries: code %d base offset %d", sp.ErrorCode, sp.BaseOffset)
	}
	if end := endOffset(t, cl, "forged"); end != 1 {
		t.Fatalf("end offset %d, want 1", end)
	}
}

func TestProduceTimestampBounds(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	minute, lat := "60000", "LogAppendTime"
	createTopic(t, cl, "ts-default", 1, nil)
	createTopic(t, cl, "ts-after", 1, map[string]*string{"message.timestamp.after.max.ms": &minute})
	createTopic(t, cl, "ts-before", 1, map[string]*string{"message.timestamp.before.max.ms": &minute})
	createTopic(t, cl, "ts-legacy", 1, map[string]*string{"message.timestamp.difference.max.ms": &minute})
	createTopic(t, cl, "ts-append", 1, map[string]*string{"message.timestamp.type": &lat})

	now := time.Now()
	produce := func(topic string, ts time.Time) error {
		return cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: []byte("v"), Timestamp: ts}).FirstErr()
	}
	for _, tc := range []struct {
		topic string
		ts    time.Time
		ok    bool
	}{
		{"ts-default", now.Add(30 * time.Minute), true},
		{"ts-default", now.Add(2 * time.Hour), false}, // Kafka 4's default after.max.ms is 1 h
		{"ts-default", now.AddDate(-5, 0, 0), true},   // before.max.ms is unbounded by default
		{"ts-after", now.Add(5 * time.Minute), false},
		{"ts-after", now.Add(-time.Hour), true},
		{"ts-before", now.Add(-5 * time.Minute), false},
		{"ts-before", now.Add(30 * time.Minute), true},
		{"ts-legacy", now.Add(-5 * time.Minute), false},
		{"ts-legacy", now.Add(5 * time.Minute), false},
		{"ts-append", now.Add(100 * time.Hour), true},
	} {
		err := produce(tc.topic, tc.ts)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, kerr.InvalidTimestamp) {
			t.Errorf("%s at %v: %v", tc.topic, tc.ts.Sub(now).Round(time.Minute), err)
		}
	}

	// v8+ names the refused records.
	future := now.Add(3 * time.Hour).UnixMilli()
	recs := appendRecord(nil, 0, []byte("a"))
	rec := appendRecord(nil, 1, []byte("b"))
	// Record 1 is 3 h ahead of record 0's (current) timestamp.
	recs = append(recs, withTsDelta(rec, future-now.UnixMilli())...)
	sp := produceRaw(t, cl, "ts-default", encodeBatch(kmsg.RecordBatch{
		Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 2, LastOffsetDelta: 1,
		FirstTimestamp: now.UnixMilli(), MaxTimestamp: future, Records: recs,
	}))
	if sp.ErrorCode != kerr.InvalidTimestamp.Code || len(sp.ErrorRecords) != 1 || sp.ErrorRecords[0].RelativeOffset != 1 ||
		!strings.Contains(*sp.ErrorRecords[0].ErrorMessage, "out of range") {
		t.Fatalf("record errors: code %d %+v (%s)", sp.ErrorCode, sp.ErrorRecords, msgOf(sp))
	}
}

// withTsDelta rewrites the timestamp delta of a record appendRecord made
// (whose delta is 0).
func withTsDelta(rec []byte, delta int64) []byte {
	_, n := binary.Varint(rec)
	body := rec[n:]
	nb := append([]byte{body[0]}, binary.AppendVarint(nil, delta)...)
	nb = append(nb, body[2:]...)
	return append(binary.AppendVarint(nil, int64(len(nb))), nb...)
}

// Kafka corrects a batch's max timestamp to its records' true maximum:
// the time index and ListOffsets by timestamp rely on it.
func TestProduceCorrectsMaxTimestamp(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "maxts", 1, nil)
	now := time.Now().UnixMilli()
	recs := append(appendRecord(nil, 0, []byte("a")), withTsDelta(appendRecord(nil, 1, []byte("b")), 5000)...)
	sp := produceRaw(t, cl, "maxts", encodeBatch(kmsg.RecordBatch{
		Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 2, LastOffsetDelta: 1,
		FirstTimestamp: now, MaxTimestamp: now, Records: recs, // the producer's header lies
	}))
	if sp.ErrorCode != 0 {
		t.Fatalf("produce: %d %s", sp.ErrorCode, msgOf(sp))
	}
	offs, err := kadm.NewClient(cl).ListOffsetsAfterMilli(ctxT(t), now+1, "maxts")
	if err != nil {
		t.Fatal(err)
	}
	// Found only through the corrected header: the time index is built
	// from batches' max timestamps.
	if o, _ := offs.Lookup("maxts", 0); o.Offset != 1 {
		t.Fatalf("first offset with timestamp > base: %d, want 1", o.Offset)
	}
	cons := client(t, b, kgo.ConsumeTopics("maxts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, 2)
	if got[1].Timestamp.UnixMilli() != now+5000 {
		t.Fatalf("record 1 timestamp %d, want %d", got[1].Timestamp.UnixMilli(), now+5000)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// zstdBomb is a batch of one record whose value is size zero bytes,
// zstd-compressed as a stream (no content size in the frame).
func zstdBomb(t *testing.T, size int64) []byte {
	t.Helper()
	body := []byte{0, 0, 0, 1} // attributes, timestamp delta, offset delta, null key
	body = binary.AppendVarint(body, size)
	rec := binary.AppendVarint(nil, int64(len(body))+size+1)
	rec = append(rec, body...)
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(zw, io.MultiReader(bytes.NewReader(rec), io.LimitReader(zeroReader{}, size), bytes.NewReader([]byte{0}))); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	now := time.Now().UnixMilli()
	return encodeBatch(kmsg.RecordBatch{
		Magic: 2, Attributes: 4, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1,
		FirstTimestamp: now, MaxTimestamp: now, Records: out.Bytes(),
	})
}

// A small batch that inflates to 512 MiB is refused with MESSAGE_TOO_LARGE
// without the broker ever holding more than a few MiB of it: on a plain
// topic (validation) and on one whose compression.type recompresses.
func TestProduceDecompressionBombRefused(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) { c.MaxDecompressedBatchBytes = 4 << 20 })
	cl := client(t, b)
	lz4 := "lz4"
	createTopic(t, cl, "bomb-plain", 1, nil)
	createTopic(t, cl, "bomb-recompress", 1, map[string]*string{"compression.type": &lz4})
	bomb := zstdBomb(t, 512<<20)
	t.Logf("bomb: %d bytes of zstd inflating to 512 MiB", len(bomb))
	for _, topic := range []string{"bomb-plain", "bomb-recompress"} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		sp := produceRaw(t, cl, topic, bomb)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: code %d %q, %d MiB allocated", topic, sp.ErrorCode, msgOf(sp), alloc>>20)
		if sp.ErrorCode != kerr.MessageTooLarge.Code || !strings.Contains(msgOf(sp), "decompresses to more than 4194304 bytes") {
			t.Errorf("%s: code %d message %q, want MESSAGE_TOO_LARGE naming the limit", topic, sp.ErrorCode, msgOf(sp))
		}
		if alloc > 64<<20 {
			t.Errorf("%s: refusing the bomb allocated %d MiB", topic, alloc>>20)
		}
		if end := endOffset(t, cl, topic); end != 0 {
			t.Errorf("%s: end offset %d after the bomb", topic, end)
		}
	}
	// A compressible batch under the limit still goes through and is
	// recompressed.
	cl2 := client(t, b, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err := cl2.ProduceSync(ctxT(t), &kgo.Record{Topic: "bomb-recompress", Value: bytes.Repeat([]byte("z"), 900<<10)}).FirstErr(); err != nil {
		t.Fatalf("900 KiB record under a 4 MiB limit: %v", err)
	}
}

// A transactional batch is refused (no transaction coordinator): it is
// not stored, the last stable offset does not move, and read_committed
// consumers keep reading what comes after.
func TestTransactionalProduceRefused(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "txn", 1, nil)
	pid, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctxT(t), cl)
	if err != nil || pid.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %+v", err, pid)
	}
	now := time.Now().UnixMilli()
	txnBatch := encodeBatch(kmsg.RecordBatch{
		Magic: 2, Attributes: 0x10, ProducerID: pid.ProducerID, ProducerEpoch: pid.ProducerEpoch, FirstSequence: 0,
		NumRecords: 1, FirstTimestamp: now, MaxTimestamp: now, Records: appendRecord(nil, 0, []byte("in a transaction")),
	})
	sp := produceRaw(t, cl, "txn", txnBatch)
	if sp.ErrorCode != kerr.InvalidTxnState.Code || !strings.Contains(msgOf(sp), "no transaction coordinator") {
		t.Fatalf("transactional produce: code %d %q, want INVALID_TXN_STATE", sp.ErrorCode, msgOf(sp))
	}
	if end := endOffset(t, cl, "txn"); end != 0 {
		t.Fatalf("end offset %d: the transactional batch was stored", end)
	}
	produceN(t, cl, "txn", 3)

	// The LSO is the high watermark: nothing is left open.
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch, req.IsolationLevel = 0, 1<<20, -1, 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "txn"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	raw12 := client(t, b, kgo.MaxVersions(versionsWithFetch(12)))
	fr, err := req.RequestWith(ctxT(t), raw12)
	if err != nil {
		t.Fatal(err)
	}
	if p := fr.Topics[0].Partitions[0]; p.LastStableOffset != 3 || p.HighWatermark != 3 {
		t.Fatalf("LSO %d HW %d, want 3 and 3", p.LastStableOffset, p.HighWatermark)
	}
	cons := client(t, b, kgo.ConsumeTopics("txn"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if got := consumeN(t, cons, 3); len(got) != 3 || string(got[0].Value) != "value-0" {
		t.Fatalf("read_committed consumer got %d records", len(got))
	}
}
