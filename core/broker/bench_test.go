package broker_test

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
	"github.com/weirlog/weir/core/record"
)

// Benchmarks of the produce path and of startup:
//
//	go test -run '^$' -bench . -benchmem ./core/broker/
//
// Set TMPDIR to a directory on a real disk (not tmpfs) to measure fsyncs.

// BenchmarkStartFresh is a broker's start on an empty data directory with
// Kafka's default 50 __consumer_offsets partitions: what `weir serve`
// spends before it can take its first produce.
func BenchmarkStartFresh(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for b.Loop() {
		cfg := broker.Config{DataDir: b.TempDir(), KafkaAddr: "127.0.0.1:0", AutoCreateTopics: true}
		br, err := broker.New(cfg, logger)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := br.Start(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StopTimer()
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkProduce16KiB sends acks=all Produce v9 requests, each one batch
// of 16 records of 1 KiB, over one connection with up to 5 in flight (as
// clients pipeline), and reads the responses: connection read loop, decode,
// handler, log append, high-watermark advance, response encode and write.
func BenchmarkProduce16KiB(b *testing.B) {
	br := brokertest.Start(b)
	addr := br.Addr()
	topic := "bench"
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 1, 1
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 10000
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	frame := func(req kmsg.Request, corr int32) []byte {
		body := binary.BigEndian.AppendUint32(nil, 0)
		body = binary.BigEndian.AppendUint16(body, uint16(req.Key()))
		body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
		body = binary.BigEndian.AppendUint32(body, uint32(corr))
		body = append(body, 0, 5, 'b', 'e', 'n', 'c', 'h')
		if req.IsFlexible() {
			body = append(body, 0)
		}
		body = req.AppendTo(body)
		binary.BigEndian.PutUint32(body, uint32(len(body)-4))
		return body
	}
	var size [4]byte
	readResp := func() []byte {
		if _, err := io.ReadFull(nc, size[:]); err != nil {
			b.Fatal(err)
		}
		raw := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(nc, raw); err != nil {
			b.Fatal(err)
		}
		return raw
	}
	create.SetVersion(4)
	if _, err := nc.Write(frame(create, 1)); err != nil {
		b.Fatal(err)
	}
	readResp()

	val := make([]byte, 1024)
	for i := range val {
		val[i] = byte(i * 7)
	}
	recs := make([]record.Record, 16)
	for i := range recs {
		recs[i] = record.Record{Value: val, Timestamp: time.Now().UnixMilli()}
	}
	batch, err := record.Plain(recs...).AppendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	msg := frame(req, 2)

	const inflight = 5
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	sent, recvd := 0, 0
	for recvd < b.N {
		for sent < b.N && sent-recvd < inflight {
			if _, err := nc.Write(msg); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		raw := readResp()
		resp := kmsg.NewPtrProduceResponse()
		resp.SetVersion(9)
		if err := resp.ReadFrom(raw[5:]); err != nil {
			b.Fatal(err)
		}
		if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 {
			b.Fatalf("produce error %d", ec)
		}
		recvd++
	}
}

// BenchmarkStartFreshOnePartition is BenchmarkStartFresh with a single
// __consumer_offsets partition: the difference is the cost of creating the
// other 49 partition logs.
func BenchmarkStartFreshOnePartition(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for b.Loop() {
		cfg := broker.Config{DataDir: b.TempDir(), KafkaAddr: "127.0.0.1:0", AutoCreateTopics: true, OffsetsTopicPartitions: 1}
		br, err := broker.New(cfg, logger)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := br.Start(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StopTimer()
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
