package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

func TestConsumerGroupCommitsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir })
	cl := client(t, b)
	createTopic(t, cl, "events", 2, nil)
	produceN(t, cl, "events", 100)

	g := client(t, b, kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	recs := consumeN(t, g, 100)
	if err := g.CommitRecords(ctxT(t), recs...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	g.Close()
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir })
	adm := kadm.NewClient(client(t, b2))
	offs, err := adm.FetchOffsets(ctxT(t), "g1")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 100 {
		t.Fatalf("committed offsets after restart sum to %d, want 100: %v", total, offs)
	}
	// The data survived too.
	c2 := client(t, b2, kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if got := consumeN(t, c2, 100); len(got) != 100 {
		t.Fatalf("after restart consumed %d", len(got))
	}
	// New produce continues after the old offsets (HW restored).
	cl2 := client(t, b2)
	r := cl2.ProduceSync(ctxT(t), &kgo.Record{Topic: "events", Partition: 0, Value: []byte("x")})
	if err := r.FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// A duplicate of an idempotent batch (same producer ID, epoch, sequence) is
// answered with the original offset and not appended twice.
func TestIdempotentDuplicateGetsOriginalOffset(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "idem", 1, nil)

	pid := kmsg.NewPtrInitProducerIDRequest()
	pidResp, err := pid.RequestWith(ctxT(t), cl)
	if err != nil || pidResp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, pidResp)
	}
	batch := func(seq int32, n int) []byte {
		rb := kmsg.RecordBatch{Magic: 2, ProducerID: pidResp.ProducerID, ProducerEpoch: pidResp.ProducerEpoch, FirstSequence: seq, NumRecords: int32(n), LastOffsetDelta: int32(n - 1), FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli()}
		var recs []byte
		for i := range n {
			recs = appendRecord(recs, int32(i), []byte(fmt.Sprint(seq+int32(i))))
		}
		rb.Records = recs
		return encodeBatch(rb)
	}
	produce := func(rec []byte) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "idem"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = rec
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	first := produce(batch(0, 3))
	second := produce(batch(3, 2))
	dup := produce(batch(0, 3))
	if first.ErrorCode != 0 || second.ErrorCode != 0 || dup.ErrorCode != 0 {
		t.Fatalf("errors: %d %d %d", first.ErrorCode, second.ErrorCode, dup.ErrorCode)
	}
	if first.BaseOffset != 0 || second.BaseOffset != 3 || dup.BaseOffset != 0 {
		t.Fatalf("offsets: first %d second %d duplicate %d", first.BaseOffset, second.BaseOffset, dup.BaseOffset)
	}
	gap := produce(batch(9, 1))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.ErrorCode)
	}
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctxT(t), "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("idem", 0); o.Offset != 5 {
		t.Fatalf("end offset %d, want 5 (duplicate must not be appended)", o.Offset)
	}
}

func appendRecord(dst []byte, delta int32, value []byte) []byte {
	var body []byte
	body = append(body, 0)                              // attributes
	body = binary.AppendVarint(body, 0)                 // timestamp delta
	body = binary.AppendVarint(body, int64(delta))      // offset delta
	body = binary.AppendVarint(body, -1)                // null key
	body = binary.AppendVarint(body, int64(len(value))) // value
	body = append(body, value...)
	body = binary.AppendVarint(body, 0) // headers
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

// encodeBatch fills length and CRC the way producers do.
func encodeBatch(rb kmsg.RecordBatch) []byte {
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	crc := crc32c(raw[21:])
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

func TestEveryCodecRoundTrips(t *testing.T) {
	b := brokertest.Start(t)
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		cl := client(t, b, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic("codecs"), kgo.AllowAutoTopicCreation())
		topic := "codecs"
		_ = topic
		var recs []*kgo.Record
		for i := range 50 {
			recs = append(recs, &kgo.Record{Value: bytes.Repeat([]byte{byte('a' + i%26)}, 200)})
		}
		if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := client(t, b, kgo.ConsumeTopics("codecs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, 250)
	if len(got) != 250 {
		t.Fatalf("got %d records", len(got))
	}
	for i, r := range got {
		if len(r.Value) != 200 || r.Value[0] != byte('a'+(i%50)%26) {
			t.Fatalf("record %d: value %q", i, r.Value[:min(len(r.Value), 8)])
		}
	}
	// Batches are stored as sent: a raw fetch shows each codec's attribute bits.
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = 0, 10<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "codecs"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 10<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	raw12 := client(t, b, kgo.MaxVersions(versionsWithFetch(12)))
	resp, err := req.RequestWith(ctxT(t), raw12)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response: %+v", resp)
	}
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 || resp.ErrorCode != 0 {
		t.Fatalf("fetch error %d / %d", resp.ErrorCode, ec)
	}
	raw := resp.Topics[0].Partitions[0].RecordBatches
	codecs := map[int16]bool{}
	for len(raw) >= 61 {
		n := int(binary.BigEndian.Uint32(raw[8:])) + 12
		codecs[int16(binary.BigEndian.Uint16(raw[21:]))&7] = true
		raw = raw[n:]
	}
	if len(codecs) != 5 {
		t.Fatalf("stored codecs %v, want all five", codecs)
	}
}

func TestTopicConfigs(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	adm := kadm.NewClient(cl)
	ret := "3600000"
	createTopic(t, cl, "cfg", 1, map[string]*string{"retention.ms": &ret})

	describe := func() map[string]*kadm.Config {
		rcs, err := adm.DescribeTopicConfigs(ctxT(t), "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		out := map[string]*kadm.Config{}
		for _, c := range rc.Configs {
			out[c.Key] = &c
		}
		return out
	}
	cfgs := describe()
	if c := cfgs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %q (%v)", c.MaybeValue(), c.Source)
	}
	if c := cfgs["cleanup.policy"]; c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy = %q (%v)", c.MaybeValue(), c.Source)
	}

	// Incremental: set one, append to a list, delete another.
	v1, compact := "2048", "compact"
	resps, err := adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v1},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: &compact},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("incremental alter: %v %v", err, resps)
	}
	cfgs = describe()
	if cfgs["max.message.bytes"].MaybeValue() != "2048" || cfgs["cleanup.policy"].MaybeValue() != "delete,compact" || cfgs["retention.ms"].MaybeValue() != "604800000" {
		t.Fatalf("after incremental alter: %q %q %q", cfgs["max.message.bytes"].MaybeValue(), cfgs["cleanup.policy"].MaybeValue(), cfgs["retention.ms"].MaybeValue())
	}
	// max.message.bytes now applies to produce.
	big := client(t, b, kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1))
	err = big.ProduceSync(ctxT(t), &kgo.Record{Topic: "cfg", Key: []byte("k"), Value: randomBytes(4096)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("4 KiB record to a 2 KiB topic: %v, want MESSAGE_TOO_LARGE", err)
	}

	// Non-incremental AlterConfigs replaces everything.
	seg := "1048576"
	legacy, err := adm.AlterTopicConfigsState(ctxT(t), []kadm.AlterConfig{{Name: "segment.bytes", Value: &seg}}, "cfg")
	if err != nil || legacy[0].Err != nil {
		t.Fatalf("alter: %v %v", err, legacy)
	}
	cfgs = describe()
	if cfgs["segment.bytes"].MaybeValue() != "1048576" || cfgs["max.message.bytes"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after alter: segment.bytes %q, max.message.bytes source %v", cfgs["segment.bytes"].MaybeValue(), cfgs["max.message.bytes"].Source)
	}

	// Bad values are refused.
	bad := "yesterday"
	resps, err = adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &bad}}, "cfg")
	if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v %v", err, resps[0].Err)
	}
	resps, err = adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: &bad}}, "cfg")
	if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v %v", err, resps[0].Err)
	}
}

func TestCreatePartitionsAndDeleteTopic(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "grow", 1, nil)
	resp, err := adm.CreatePartitions(ctxT(t), 2, "grow")
	if err != nil || resp["grow"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, resp)
	}
	td, err := adm.ListTopics(ctxT(t), "grow")
	if err != nil || len(td["grow"].Partitions) != 3 {
		t.Fatalf("partitions after grow: %v %v", err, td)
	}
	manual := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := manual.ProduceSync(ctxT(t), &kgo.Record{Topic: "grow", Partition: 2, Value: []byte("p2")}).FirstErr(); err != nil {
		t.Fatalf("produce to the new partition: %v", err)
	}
	if resp, _ := adm.CreatePartitions(ctxT(t), -1, "grow"); resp["grow"].Err == nil {
		t.Fatal("shrinking partitions succeeded")
	}
	if cr, _ := adm.CreateTopic(ctxT(t), 1, 1, nil, "gr.ow"); cr.Err != nil {
		t.Fatalf("create gr.ow: %v", cr.Err)
	}
	if cr, _ := adm.CreateTopic(ctxT(t), 1, 1, nil, "gr_ow"); !errors.Is(cr.Err, kerr.InvalidTopicException) {
		t.Fatalf("gr_ow next to gr.ow: %v, want INVALID_TOPIC_EXCEPTION", cr.Err)
	}
	dr, err := adm.DeleteTopics(ctxT(t), "grow")
	if err != nil || dr["grow"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr)
	}
	dr, _ = adm.DeleteTopics(ctxT(t), "grow")
	if !errors.Is(dr["grow"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v", dr["grow"].Err)
	}
	dr, _ = adm.DeleteTopics(ctxT(t), broker.OffsetsTopic)
	if dr[broker.OffsetsTopic].Err == nil {
		t.Fatal("deleting the offsets topic succeeded")
	}
}

func TestDeleteRecordsAndListOffsetsByTime(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "times", 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range 10 {
		r := &kgo.Record{Topic: "times", Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	lo, err := adm.ListOffsetsAfterMilli(ctxT(t), base.Add(4*time.Minute+time.Second).UnixMilli(), "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("times", 0); o.Offset != 5 || o.Err != nil {
		t.Fatalf("offset after t+4m1s = %d (%v), want 5", o.Offset, o.Err)
	}
	lo, _ = adm.ListOffsetsAfterMilli(ctxT(t), time.Now().Add(time.Hour).UnixMilli(), "times")
	if o, _ := lo.Lookup("times", 0); o.Offset != 10 {
		// kadm maps "none" (-1) to the end offset
		t.Fatalf("offset after the future = %d, want 10", o.Offset)
	}

	dr, err := adm.DeleteRecords(ctxT(t), kadm.Offsets{"times": {0: {Topic: "times", Partition: 0, At: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := dr.Lookup("times", 0); d.Err != nil || d.LowWatermark != 4 {
		t.Fatalf("delete records: %v low watermark %d", d.Err, d.LowWatermark)
	}
	so, _ := adm.ListStartOffsets(ctxT(t), "times")
	if o, _ := so.Lookup("times", 0); o.Offset != 4 {
		t.Fatalf("start offset %d, want 4", o.Offset)
	}
	dr, _ = adm.DeleteRecords(ctxT(t), kadm.Offsets{"times": {0: {Topic: "times", Partition: 0, At: 99}}})
	if d, _ := dr.Lookup("times", 0); !errors.Is(d.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past HW: %v", d.Err)
	}
	cons := client(t, b, kgo.ConsumeTopics("times"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, 6)
	if got[0].Offset != 4 {
		t.Fatalf("first record after delete: offset %d", got[0].Offset)
	}
}

func TestAutoCreate(t *testing.T) {
	on := brokertest.Start(t)
	cl := client(t, on, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "auto-on", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce with auto-create on: %v", err)
	}

	off := brokertest.StartWith(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	cl2 := client(t, off, kgo.AllowAutoTopicCreation(), kgo.UnknownTopicRetries(2), kgo.RecordDeliveryTimeout(2*time.Second))
	err := cl2.ProduceSync(ctxT(t), &kgo.Record{Topic: "auto-off", Value: []byte("v")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce with auto-create off: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	td, _ := kadm.NewClient(cl2).ListTopics(ctxT(t))
	if td.Has("auto-off") {
		t.Fatal("topic was created with auto-create off")
	}
}

// Large fetches take the sendfile path; they must decode identically.
func TestZeroCopyLargeFetch(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b, kgo.ProducerLinger(0))
	createTopic(t, cl, "big", 2, nil)
	var recs []*kgo.Record
	for i := range 400 {
		v := randomBytes(1000) // incompressible: kgo compresses with snappy by default
		v[0], v[999] = byte(i), byte(i)
		recs = append(recs, &kgo.Record{Topic: "big", Partition: int32(i % 2), Value: v})
	}
	p := client(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := p.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int16{11, 12, 16} { // non-flexible and flexible length prefixes
		cons := client(t, b, kgo.ConsumeTopics("big"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MaxVersions(versionsWithFetch(v)))
		got := consumeN(t, cons, 400)
		for _, r := range got {
			if len(r.Value) != 1000 || r.Value[0] != r.Value[999] {
				t.Fatalf("fetch v%d: corrupt record at %d/%d", v, r.Partition, r.Offset)
			}
		}
	}
	if n := counterValue(t, b, "weir_broker_fetch_zero_copy_responses_total"); n == 0 {
		t.Fatal("no fetch response took the zero-copy path")
	}
}

func counterValue(t *testing.T, b *broker.Broker, name string) float64 {
	t.Helper()
	mfs, err := b.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestLongPollWakesOnProduce(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "poll", 1, nil)
	cons := client(t, b, kgo.ConsumeTopics("poll"), kgo.FetchMaxWait(5*time.Second))
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		consumeN(t, cons, 1)
		done <- time.Since(start)
	}()
	time.Sleep(500 * time.Millisecond)
	produceN(t, cl, "poll", 1)
	select {
	case d := <-done:
		if d > 4*time.Second {
			t.Fatalf("long poll returned after %v: not woken by the produce", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consumer never got the record")
	}
}

func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	b := brokertest.Start(t)
	good := client(t, b)
	createTopic(t, good, "safe", 1, nil)

	for name, frame := range map[string][]byte{
		"oversized":     {0x7f, 0xff, 0xff, 0xff},
		"negative size": {0xff, 0xff, 0xff, 0xff},
		"tiny":          {0, 0, 0, 2, 0, 0},
		"unknown key":   append([]byte{0, 0, 0, 10}, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"garbage body":  append([]byte{0, 0, 0, 12}, 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0x80, 0x80),
		"bad version":   append([]byte{0, 0, 0, 10}, 0, 0, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff),
	} {
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(frame)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(nc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: connection not closed", name)
		}
		nc.Close()
	}
	produceN(t, good, "safe", 10)
}

func TestApiVersionsUnknownVersionDowngrades(t *testing.T) {
	b := brokertest.Start(t)
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// ApiVersions v99, correlation 7, client id "x".
	body := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0, 1, 'x', 0}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	nc.Write(append(frame, body...))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, resp); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(resp); corr != 7 {
		t.Fatalf("correlation %d", corr)
	}
	var av kmsg.ApiVersionsResponse
	av.Version = 0
	if err := av.ReadFrom(resp[4:]); err != nil {
		t.Fatal(err)
	}
	if av.ErrorCode != kerr.UnsupportedVersion.Code || len(av.ApiKeys) == 0 {
		t.Fatalf("error %d keys %d", av.ErrorCode, len(av.ApiKeys))
	}
	for _, k := range av.ApiKeys {
		if k.ApiKey == 18 && k.MaxVersion != 4 {
			t.Fatalf("ApiVersions max %d, want 4", k.MaxVersion)
		}
		if k.ApiKey == 0 && k.MinVersion != 0 {
			t.Fatalf("Produce min %d, want 0 (KAFKA-18659)", k.MinVersion)
		}
	}
}

func TestMetricsCountRequests(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b, kgo.AllowAutoTopicCreation())
	produceN(t, cl, "m", 5)
	mfs, err := b.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	all := strings.Join(names, " ")
	for _, want := range []string{"weir_broker_requests_total", "weir_broker_request_duration_seconds", "weir_broker_network_bytes_in_total", "weir_broker_network_bytes_out_total", "weir_broker_connections", "weir_broker_partitions"} {
		if !strings.Contains(all, want) {
			t.Errorf("metric %s missing from %s", want, all)
		}
	}
}
