// Package orders_test is how a user's Go test suite uses weir embedded:
// one weirtest.Start per test (about a quarter of a second), franz-go
// against Brokers(), Kafka Connect's REST API at ConnectURL().
package orders_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/test/weirtest"
)

// TestOrdersRoundTrip produces orders and reads them back in a consumer
// group, then has datagen fill a topic through the Connect REST API.
func TestOrdersRoundTrip(t *testing.T) {
	w := weirtest.Start(t, weirtest.WithTopics("orders:3"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	producer, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if err := producer.ProduceSync(ctx, &kgo.Record{Key: []byte(id), Value: []byte(`{"id":"` + id + `"}`)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", id, err)
		}
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...), kgo.ConsumerGroup("billing"),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	for len(seen) < 3 {
		f := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("saw %v of 3 orders", seen)
		}
		f.EachRecord(func(r *kgo.Record) { seen[string(r.Key)] = true })
	}

	// A connector over the REST API, as a suite testing a pipeline would.
	body := `{"name":"gen","config":{"connector.class":"datagen","kafka.topic":"generated","max.records":"5","tasks.max":"1"}}`
	resp, err := http.Post(w.ConnectURL()+"/connectors", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /connectors: %s", resp.Status)
	}
	gen, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...), kgo.ConsumeTopics("generated"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	n := 0
	for n < 5 {
		f := gen.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("datagen produced %d of 5 records", n)
		}
		n += f.NumRecords()
	}
}
