package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// TestOffsetsTopicOnFirstGroupUse: a fresh single node serves produce
// without __consumer_offsets (creating its partition logs was most of a
// fresh container's start → first ack, issue 15); the first group request
// creates it and waits for the groups, as Kafka creates it on the first
// FindCoordinator. After a restart the topic is there from the start.
func TestOffsetsTopicOnFirstGroupUse(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir; c.OffsetsTopicPartitions = 7 })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offsetsParts := func() int {
		t.Helper()
		// A client of its own each time: kgo answers a Metadata request
		// from its cache when the last one is younger than MetadataMinAge,
		// and on a quiet machine the calls here come faster than that.
		mcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer mcl.Close()
		td, err := kadm.NewClient(mcl).ListTopicsWithInternal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !td.Has(broker.OffsetsTopic) {
			return 0
		}
		if !td[broker.OffsetsTopic].IsInternal {
			t.Errorf("%s is not marked internal", broker.OffsetsTopic)
		}
		return len(td[broker.OffsetsTopic].Partitions)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "early", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := offsetsParts(); n != 0 {
		t.Fatalf("%s has %d partitions before any group was used; want it created on first use", broker.OffsetsTopic, n)
	}
	// A group request on the fresh node creates the topic and waits for
	// the groups to load: an answer, not an error.
	adm := kadm.NewClient(cl)
	if _, err := adm.ListGroups(ctx); err != nil {
		t.Fatalf("first ListGroups: %v", err)
	}
	if n := offsetsParts(); n != 7 {
		t.Fatalf("%s has %d partitions after the first group request, want 7", broker.OffsetsTopic, n)
	}
	// A consumer group commits and reads back its offsets.
	gcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("early"), kgo.ConsumerGroup("g"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	fs := gcl.PollFetches(ctx)
	if len(fs.Records()) != 1 {
		t.Fatalf("group consumer got %v", fs.Errors())
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	gcl.Close()
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir; c.OffsetsTopicPartitions = 7 })
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	adm = kadm.NewClient(cl)
	if n := offsetsParts(); n != 7 {
		t.Fatalf("after a restart %s has %d partitions, want 7", broker.OffsetsTopic, n)
	}
	off, err := adm.FetchOffsets(ctx, "g")
	if err != nil || off.Error() != nil {
		t.Fatalf("fetch offsets after restart: %v %v", err, off.Error())
	}
	if o, ok := off.Lookup("early", 0); !ok || o.At != 1 {
		t.Fatalf("committed offset after restart: %+v %v", o, ok)
	}
}
