package runtime

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// An idle state-topic reader long-polls at Kafka's fetch.max.wait.ms (500
// ms): a worker keeps three of them, and at 200 ms they sent 15 empty
// fetches a second between them (issue 16: idle workers must be cheap).
// A record written meanwhile is still read at once: the broker answers a
// long poll as soon as records arrive.
func TestIdleTopicLogLongPolls(t *testing.T) {
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "idle-state"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	l, err := newTopicLog([]string{b.Addr()}, "idle-state", prod, adm, slog.New(slog.NewTextHandler(io.Discard, nil)),
		func(r *kgo.Record) { got <- string(r.Value) })
	if err != nil {
		t.Fatal(err)
	}
	defer l.cl.Close()
	rctx, stop := context.WithCancel(ctx)
	go l.run(rctx)
	defer func() { stop(); <-l.done }()
	if err := l.readToEnd(ctx); err != nil {
		t.Fatal(err)
	}

	fetches := func() float64 {
		mfs, err := b.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "weir_broker_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "api" && lp.GetValue() == "Fetch" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	const idle = 3 * time.Second
	before := fetches()
	time.Sleep(idle)
	if n := fetches() - before; n > float64(idle/(450*time.Millisecond))+1 {
		t.Errorf("an idle reader sent %.0f fetches in %v: it should long-poll ~500 ms each", n, idle)
	}

	// The fastest of three writes shows whether the long poll is answered
	// when records arrive (a busy machine may slow any one of them).
	fastest := time.Hour
	for i := range 3 {
		start := time.Now()
		if r := prod.ProduceSync(ctx, &kgo.Record{Topic: "idle-state", Key: []byte("k"), Value: []byte{byte('a' + i)}}); r.FirstErr() != nil {
			t.Fatal(r.FirstErr())
		}
		select {
		case v := <-got:
			if v != string(rune('a'+i)) {
				t.Fatalf("read %q", v)
			}
		case <-ctx.Done():
			t.Fatal("the write never reached the reader")
		}
		fastest = min(fastest, time.Since(start))
		time.Sleep(100 * time.Millisecond) // let the reader's next long poll start
	}
	if fastest > 400*time.Millisecond {
		t.Errorf("the fastest of three writes took %v to reach the idle reader: the long poll is not answered when records arrive", fastest)
	}
}
