package broker

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequestPath feeds raw bytes to a connection, exactly as a client's
// socket would deliver them. Whatever the bytes, the broker must not
// panic, must finish with the connection (answer or close it) promptly,
// and must keep serving others.
//
//	go test -run '^$' -fuzz FuzzRequestPath -fuzztime 60s ./core/broker/
func FuzzRequestPath(f *testing.F) {
	b, err := New(Config{
		DataDir: f.TempDir(), KafkaAddr: "127.0.0.1:0", AutoCreateTopics: true,
		OffsetsTopicPartitions: 1, MaxPartitionsPerTopic: 4, MaxRequestBytes: 1 << 20,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	// The seeds name topic "fz"; have it exist so fetches can long-poll it.
	if err := b.createTopic(ctx, "fz", 1, -1, nil, false); err != nil {
		f.Fatal(err)
	}

	for _, req := range seedRequests() {
		f.Add(frame(req, 1))
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add(append(frame(kmsg.NewPtrApiVersionsRequest(), 1), frame(kmsg.NewPtrMetadataRequest(), 2)...))

	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		c := newConn(b, server)
		done := make(chan struct{})
		go func() {
			c.serve()
			close(done)
		}()
		go io.Copy(io.Discard, client) // responses
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("connection still served 3s after the client closed (input %x)", data[:min(len(data), 64)])
		}
		if err := b.Healthy(); err != nil {
			t.Fatalf("broker unhealthy after input: %v", err)
		}
	})
}

func frame(req kmsg.Request, corr int32) []byte {
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, uint32(corr))
	body = append(body, 0, 4, 'f', 'u', 'z', 'z')
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func seedRequests() []kmsg.Request {
	topic := "fz"
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)
	md.AllowAutoTopicCreation = true

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(7)
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fz2", 2, 1
	ct.Topics = append(ct.Topics, ctt)

	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = -1
	prt := kmsg.NewProduceRequestTopic()
	prt.Topic = topic
	prp := kmsg.NewProduceRequestTopicPartition()
	rb := kmsg.RecordBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1}
	rb.Records = []byte{0x10, 0, 0, 0, 1, 6, 'a', 'b', 'c', 0}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	prp.Records = raw
	prt.Partitions = append(prt.Partitions, prp)
	pr.Topics = append(pr.Topics, prt)

	fe := kmsg.NewPtrFetchRequest()
	fe.SetVersion(12)
	fe.MaxWaitMillis, fe.MinBytes, fe.MaxBytes, fe.SessionEpoch = 10, 1, 1<<20, 0
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fe.Topics = append(fe.Topics, ft)

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(7)
	lot := kmsg.NewListOffsetsRequestTopic()
	lot.Topic = topic
	lop := kmsg.NewListOffsetsRequestTopicPartition()
	lop.Timestamp = -1
	lot.Partitions = append(lot.Partitions, lop)
	lo.Topics = append(lo.Topics, lot)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(4)
	fc.CoordinatorKeys = []string{"g"}

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.SetVersion(9)
	jg.Group, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis, jg.ProtocolType = "g", 6000, 100, "consumer"

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.SetVersion(4)
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	dc.Resources = append(dc.Resources, dcr)

	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "fuzz", "1.0"

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	return []kmsg.Request{av, md, ct, pr, fe, lo, fc, jg, dc, ip}
}
