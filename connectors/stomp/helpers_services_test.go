//go:build services

package stomp

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/weirlog/weir/plugins"
)

// These tests need ActiveMQ from test/services (bash test/services/all.sh
// start); a broker that is down fails them, it never skips them.

func stompAddr() string {
	p := os.Getenv("WEIR_STOMP_PORT")
	if p == "" {
		p = "61613"
	}
	return "127.0.0.1:" + p
}

func stompURL() string { return "tcp://" + stompAddr() }

var uniq atomic.Int64

func unique(prefix string) string {
	return fmt.Sprintf("%s.%d.%d", prefix, time.Now().UnixNano(), uniq.Add(1))
}

func dial(t testing.TB) *gostomp.Conn {
	t.Helper()
	c, err := gostomp.Dial("tcp", stompAddr(), gostomp.ConnOpt.Host("localhost"), gostomp.ConnOpt.HeartBeat(0, 0),
		gostomp.ConnOpt.Logger(quietLogger{}), gostomp.ConnOpt.WriteChannelCapacity(4096))
	if err != nil {
		t.Fatalf("ActiveMQ STOMP at %s is not reachable (start it: bash test/services/activemq.sh start): %v", stompAddr(), err)
	}
	t.Cleanup(func() { _ = c.Disconnect() })
	return c
}

// msgSpec is one message to send.
type msgSpec struct {
	body    []byte
	headers []string // key, value, …
}

// send sends msgs persistently on one connection without waiting per
// message; the receipt of the last one means the broker has processed
// them all (frames of one connection are handled in order).
func send(t testing.TB, dest string, n int, gen func(i int) msgSpec) {
	t.Helper()
	c := dial(t)
	for i := 0; i < n; i++ {
		m := gen(i)
		opts := []func(*frame.Frame) error{gostomp.SendOpt.Header("persistent", "true")}
		for j := 0; j+1 < len(m.headers); j += 2 {
			opts = append(opts, gostomp.SendOpt.Header(m.headers[j], m.headers[j+1]))
		}
		if i == n-1 {
			opts = append(opts, gostomp.SendOpt.Receipt)
		}
		if err := c.Send(dest, "", m.body, opts...); err != nil {
			t.Fatalf("send %d to %s: %v", i, dest, err)
		}
	}
}

// receive reads dest until idle passes without a message or want messages
// arrived, acknowledging each.
func receive(t testing.TB, dest string, want int, idle time.Duration, opts ...func(*frame.Frame) error) []*gostomp.Message {
	t.Helper()
	c := dial(t)
	opts = append(opts, gostomp.SubscribeOpt.Header("activemq.prefetchSize", "1000"))
	sub, err := c.Subscribe(dest, gostomp.AckClientIndividual, opts...)
	if err != nil {
		t.Fatalf("subscribe %s: %v", dest, err)
	}
	var out []*gostomp.Message
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for want <= 0 || len(out) < want {
		select {
		case m := <-sub.C:
			if m == nil || m.Err != nil {
				t.Fatalf("reading %s: %v", dest, m)
			}
			if err := c.Ack(m); err != nil {
				t.Fatalf("ack: %v", err)
			}
			out = append(out, m)
			timer.Reset(idle)
		case <-timer.C:
			return out
		}
	}
	drainAway(sub)
	return out
}

type noOffsets struct{}

func (noOffsets) Offsets() plugins.OffsetReader { return noOffsets{} }
func (noOffsets) Offset(map[string]any) (map[string]any, error) {
	return nil, nil
}

func startSource(t testing.TB, cfg plugins.Config) *SourceTask {
	t.Helper()
	var c SourceConnector
	if err := c.Start(nil, cfg); err != nil {
		t.Fatal(err)
	}
	tcs, err := c.TaskConfigs(1)
	if err != nil || len(tcs) != 1 {
		t.Fatalf("TaskConfigs: %v %v", tcs, err)
	}
	task := &SourceTask{}
	if err := task.Start(noOffsets{}, tcs[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = task.Stop() })
	return task
}

// pollN polls until n records arrived (committing each, as the runtime
// does once the log acknowledged it, unless commit is false) or timeout.
func pollN(t testing.TB, task *SourceTask, n int, timeout time.Duration, commit bool) []plugins.Record {
	t.Helper()
	var out []plugins.Record
	deadline := time.Now().Add(timeout)
	for len(out) < n && time.Now().Before(deadline) {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		for i := range recs {
			if commit {
				if err := task.CommitRecord(&recs[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		out = append(out, recs...)
	}
	return out
}

func header(rec plugins.Record, k string) (string, bool) {
	for _, h := range rec.Headers {
		if h.Key == k {
			s, _ := h.Value.(string)
			return s, true
		}
	}
	return "", false
}

type sinkCtx struct {
	errant func(*plugins.Record, error)
}

func (sinkCtx) Assignment() []plugins.TopicPartition    { return nil }
func (sinkCtx) Pause(...plugins.TopicPartition)         {}
func (sinkCtx) Resume(...plugins.TopicPartition)        {}
func (sinkCtx) RequestCommit()                          {}
func (sinkCtx) Offset(map[plugins.TopicPartition]int64) {}
func (c sinkCtx) ErrantRecordReporter() func(*plugins.Record, error) {
	return c.errant
}

func itoa(i int) string { return strconv.Itoa(i) }

// drainAway keeps taking (unacknowledged, so redelivered) the messages
// that still arrive on sub: go-stomp delivers them on the goroutine that
// also writes ACKs and reads receipts, so an unread subscription would
// stall the connection's DISCONNECT.
func drainAway(sub *gostomp.Subscription) {
	go func() {
		for range sub.C {
		}
	}()
}
