package broker_test

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// An acks=all produce waits for the followers' next fetches, and with
// leaders spread over three brokers each follower fetches from two of
// them. One fetch round over every leader made every acks=all produce
// wait for the idle leader's 200 ms long poll (100 produces awaited one at
// a time took 20 s); a fetcher per leader answers in a few round trips.
func TestClusterAcksAllDoesNotWaitForOtherLeaders(t *testing.T) {
	bs := startCluster(t, 3, 0)
	cl := client(t, bs[0])
	ctx := ctxT(t)
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 3, nil, "lat")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	prod := client(t, bs[1], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("lat"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// The first produces wait for the followers to join the ISR.
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// acks=all must wait for both followers: all three in every ISR.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		full := true
		for _, p := range rawMetadata(t, cl, "lat").Topics[0].Partitions {
			full = full && len(p.ISR) == 3
		}
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISRs never held all three replicas: %+v", rawMetadata(t, cl, "lat").Topics[0].Partitions)
		}
	}
	var lat []time.Duration
	for i := range 40 {
		start := time.Now()
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 6), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	med := lat[len(lat)/2]
	t.Logf("acks=all produce awaited one at a time: median %v, max %v", med.Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if med >= 150*time.Millisecond {
		t.Fatalf("median acks=all latency %v: a follower waits for another leader's long poll", med)
	}
}
