package testcontainers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	tc "github.com/testcontainers/testcontainers-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	weir "github.com/weirlog/weir/test/testcontainers"
)

// TestRunWithTheModule starts the image (make image) with the module and
// host networking, as a user's suite would on a machine without bridge
// networking: topics from WithTopics, produce and consume with franz-go, a
// datagen connector from WithConnectors and a FileStream one posted over
// ConnectURL.
func TestRunWithTheModule(t *testing.T) {
	for _, env := range []string{"TESTCONTAINERS_HOST_OVERRIDE", "TESTCONTAINERS_RYUK_DISABLED"} {
		if os.Getenv(env) == "" {
			t.Fatalf("%s is not set: on this machine testcontainers needs TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 and TESTCONTAINERS_RYUK_DISABLED=true (make test-image sets both)", env)
		}
	}
	img := os.Getenv("WEIR_IMAGE")
	if img == "" {
		img = "weir:latest"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	ctr, err := weir.Run(ctx, img, weir.WithHostNetwork(), weir.WithTopics("orders:3"),
		weir.WithConnectors("testdata/datagen.yaml"), weir.WithConfig("num-partitions", "2"))
	tc.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("testcontainers: weir.Run returned ready in %v\n", time.Since(start).Round(time.Millisecond))
	brokers, err := ctr.Brokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	connectURL, err := ctr.ConnectURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(brokers[0], "127.0.0.1:") || !strings.HasPrefix(connectURL, "http://127.0.0.1:") {
		t.Fatalf("brokers %v, connect %s: want 127.0.0.1 addresses", brokers, connectURL)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, "orders")
	if err != nil || len(td["orders"].Partitions) != 3 {
		t.Fatalf("orders: %v %v", td, err)
	}
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprint(i)), Value: []byte("order")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if got := consume(t, ctx, brokers, "orders", 3); len(got) != 3 {
		t.Fatalf("orders: %d records", len(got))
	}
	// WithConfig reached weir serve: an auto-created topic has 2 partitions.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if td, _ := kadm.NewClient(cl).ListTopics(ctx, "auto"); len(td["auto"].Partitions) != 2 {
		t.Fatalf("auto-created topic: %v, want 2 partitions (WithConfig num-partitions)", td["auto"].Partitions)
	}

	// The connector the module copied in (WithConnectors) runs.
	if got := consume(t, ctx, brokers, "generated", 5); len(got) < 5 {
		t.Fatalf("datagen: %d records", len(got))
	}

	// A FileStream sink posted over the REST API writes under the image's
	// allowed directory; a source reading it back proves the file exists.
	sink := `{"name":"sink","config":{"connector.class":"FileStreamSink","topics":"orders","file":"/data/connect-files/orders.txt","key.converter":"org.apache.kafka.connect.storage.StringConverter","value.converter":"org.apache.kafka.connect.storage.StringConverter"}}`
	post(t, connectURL, sink)
	src := `{"name":"src","config":{"connector.class":"FileStreamSource","topic":"copied","file":"/data/connect-files/orders.txt","value.converter":"org.apache.kafka.connect.storage.StringConverter"}}`
	post(t, connectURL, src)
	defer func() {
		if t.Failed() {
			for _, n := range []string{"sink", "src"} {
				if r, err := http.Get(connectURL + "/connectors/" + n + "/status"); err == nil {
					b, _ := io.ReadAll(r.Body)
					r.Body.Close()
					t.Logf("%s status: %s", n, b)
				}
			}
		}
	}()
	got := consume(t, ctx, brokers, "copied", 3)
	if string(got[0].Value) != "order" {
		t.Fatalf("copied: %q", got[0].Value)
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url+"/connectors", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /connectors %s: %s", body, resp.Status)
	}
}

func consume(t *testing.T, ctx context.Context, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records", topic, len(out), n)
		}
		out = append(out, f.Records()...)
	}
	return out
}
