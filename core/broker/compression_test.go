package broker_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker/brokertest"
	"github.com/weirlog/weir/core/record"
)

// TestCompressionTypeApplied: a topic's compression.type rewrites batches
// in another codec (both ways), keeping records, headers and idempotent
// sequences; "producer" keeps the producer's codec.
func TestCompressionTypeApplied(t *testing.T) {
	b := brokertest.Start(t)
	for _, tc := range []struct {
		topicType string
		producer  kgo.CompressionCodec
		want      record.Codec
	}{
		{"gzip", kgo.NoCompression(), record.CodecGzip},
		{"uncompressed", kgo.ZstdCompression(), record.CodecNone},
		{"lz4", kgo.SnappyCompression(), record.CodecLZ4},
		{"producer", kgo.SnappyCompression(), record.CodecSnappy},
	} {
		t.Run(tc.topicType, func(t *testing.T) {
			topic := "ct-" + tc.topicType
			cl := client(t, b, kgo.ProducerBatchCompression(tc.producer), kgo.ConsumeTopics(topic))
			ct := tc.topicType
			createTopic(t, cl, topic, 1, map[string]*string{"compression.type": &ct})
			var recs []*kgo.Record
			for i := range 50 {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("value-%d-%0200d", i, i)),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{byte(i)}}}})
			}
			if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			got := consumeN(t, cl, 50)
			for i, r := range got {
				if r.Offset != int64(i) || string(r.Key) != fmt.Sprint(i) || string(r.Value) != string(recs[i].Value) ||
					len(r.Headers) != 1 || r.Headers[0].Value[0] != byte(i) {
					t.Fatalf("record %d: offset %d key %q headers %v", i, r.Offset, r.Key, r.Headers)
				}
			}
			// The stored codec, from a raw fetch.
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(11)
			req.MaxBytes, req.MaxWaitMillis, req.ReplicaID = 1<<20, 0, -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = topic
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes, fp.LogStartOffset = 1<<20, -1
			ft.Partitions = append(ft.Partitions, fp)
			req.Topics = append(req.Topics, ft)
			resp := roundTrip(t, b.Addr(), req).(*kmsg.FetchResponse)
			raw := resp.Topics[0].Partitions[0].RecordBatches
			n := 0
			err := record.Split(raw, func(batch []byte, h record.Header) error {
				n++
				if h.Codec() != tc.want {
					t.Errorf("stored codec %s, want %s", h.Codec(), tc.want)
				}
				if h.ProducerID < 0 || h.BaseSequence < 0 {
					t.Errorf("idempotence fields lost: pid %d seq %d", h.ProducerID, h.BaseSequence)
				}
				return nil
			})
			if err != nil || n == 0 {
				t.Fatalf("split %d batches: %v", n, err)
			}
		})
	}
}
