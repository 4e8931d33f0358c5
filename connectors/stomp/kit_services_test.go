//go:build services

package stomp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/test/compat/harness"
)

// The acceptance kit against StompSource and StompSink with the real
// ActiveMQ of test/services. The external system going down is ActiveMQ
// stopped and started again (persistent: nothing it acknowledged may be
// lost). Every stream gets queues of its own, named after this test run.

var kitRun = strconv.FormatInt(time.Now().UnixNano(), 36)

func kitOptions() conformance.Options {
	return conformance.Options{Records: 1000, Outage: 3 * time.Second}
}

func TestStompSourceKit(t *testing.T) { conformance.Run(t, kitSource{}, kitOptions()) }
func TestStompSinkKit(t *testing.T)   { conformance.Run(t, kitSink{}, kitOptions()) }

func kitQueue(s *conformance.Stream) string { return "/queue/kit." + kitRun + "." + s.Name }

// activemq runs test/services/activemq.sh stop|start.
func activemq(ctx context.Context, verb string) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "bash", root+"/test/services/activemq.sh", verb).CombinedOutput()
	if err != nil {
		return fmt.Errorf("activemq.sh %s: %v\n%s", verb, err, out)
	}
	return nil
}

func dialCtx() (*gostomp.Conn, error) {
	return gostomp.Dial("tcp", stompAddr(), gostomp.ConnOpt.Host("localhost"), gostomp.ConnOpt.HeartBeat(0, 0),
		gostomp.ConnOpt.Logger(quietLogger{}), gostomp.ConnOpt.WriteChannelCapacity(4096))
}

// ---- source ----

// kitSource writes numbered text messages (idBase+i) to a queue; the
// poison is a body that is no number under a Cast$Value to int64, which
// fails in the runtime's transformation stage.
type kitSource struct{}

const idBase = 100_000_000

func (kitSource) Class() string                    { return "StompSource" }
func (kitSource) Guarantee() conformance.Guarantee { return conformance.AtLeastOnce }
func (kitSource) Carries() conformance.Fields      { return conformance.Values | conformance.Schemas }

func (kitSource) Config(s *conformance.Stream) map[string]string {
	return map[string]string{"stomp.url": stompURL(), "stomp.destinations": kitQueue(s), "kafka.topic": s.Topic,
		"stomp.value.type": "string", "stomp.reconnect.backoff.max.ms": "1000"}
}

func (kitSource) Record(i int) plugins.Record {
	return plugins.Record{Value: strconv.Itoa(idBase + i), ValueSchema: plugins.OptionalStringSchema}
}

func (kitSource) ID(r plugins.Record) (int, bool) {
	switch x := r.Value.(type) {
	case int64:
		return int(x) - idBase, x >= idBase
	case string:
		n, err := strconv.Atoi(x)
		return n - idBase, err == nil && n >= idBase
	}
	return 0, false
}

func sendRange(q string, from, to int, body func(i int) []byte) error {
	if from >= to {
		return nil
	}
	c, err := dialCtx()
	if err != nil {
		return err
	}
	defer c.Disconnect()
	for i := from; i < to; i++ {
		opts := []func(*frame.Frame) error{gostomp.SendOpt.Header("persistent", "true")}
		if i == to-1 {
			opts = append(opts, gostomp.SendOpt.Receipt)
		}
		if err := c.Send(q, "", body(i), opts...); err != nil {
			return fmt.Errorf("send %d to %s: %w", i, q, err)
		}
	}
	return nil
}

func (kitSource) Write(_ context.Context, s *conformance.Stream, from, to int) error {
	return sendRange(kitQueue(s), from, to, func(i int) []byte { return []byte(strconv.Itoa(idBase + i)) })
}

func (kitSource) Poison(_ context.Context, s *conformance.Stream) error {
	return sendRange(kitQueue(s), 0, 1, func(int) []byte { return []byte("poison: not a number") })
}

func (kitSource) PoisonConfig() map[string]string {
	return map[string]string{
		"transforms":          "num",
		"transforms.num.type": "org.apache.kafka.connect.transforms.Cast$Value",
		"transforms.num.spec": "int64",
	}
}

// Unreplayable: a queue forgets what was acknowledged, so moving the
// offsets back cannot make StompSource read it again.
func (kitSource) Unreplayable() string {
	return "a STOMP queue deletes a message once it is acknowledged; the broker, not the offset, holds the position"
}

func (kitSource) Down(ctx context.Context, _ *conformance.Stream) error { return activemq(ctx, "stop") }
func (kitSource) Up(ctx context.Context, _ *conformance.Stream) error   { return activemq(ctx, "start") }

// ---- sink ----

// kitSink reads back what the sink sent to the stream's queue: the body
// as the value, kafka.key as the key and the application headers.
type kitSink struct{}

func (kitSink) Class() string                    { return "StompSink" }
func (kitSink) Guarantee() conformance.Guarantee { return conformance.AtLeastOnce }
func (kitSink) Carries() conformance.Fields {
	return conformance.Keys | conformance.Values | conformance.Headers
}

func (kitSink) Config(s *conformance.Stream) map[string]string {
	return map[string]string{"stomp.url": stompURL(), "stomp.destination": kitQueue(s), "stomp.reconnect.backoff.max.ms": "1000"}
}

func (kitSink) Record(i int) plugins.Record {
	return plugins.Record{
		Key: fmt.Sprintf("k%d", i), KeySchema: plugins.StringSchema,
		// Text a STOMP body and header carry byte for byte.
		Value: fmt.Sprintf("v%08d \"quoted\" back\\slash\ttab ünïcødé ✓", i), ValueSchema: plugins.StringSchema,
		Headers: []plugins.Header{{Key: "kit-id", Value: strconv.Itoa(i), Schema: plugins.StringSchema},
			{Key: "stomp.kit-note", Value: "a:b\\c", Schema: plugins.StringSchema}},
	}
}

func (kitSink) ID(r plugins.Record) (int, bool) {
	s, _ := r.Value.(string)
	if len(s) < 9 || s[0] != 'v' {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:9])
	return n, err == nil
}

// brokerHeaders are the headers ActiveMQ adds to a MESSAGE; Read leaves
// them out so the kit compares the record's own headers.
var brokerHeaders = map[string]bool{"destination": true, "message-id": true, "timestamp": true, "expires": true, "priority": true,
	"persistent": true, "subscription": true, "ack": true, "content-length": true, "redelivered": true, kafkaKeyHeader: true,
	"content-type": true}

var (
	kitMu   sync.Mutex
	kitRead = map[string][]plugins.Record{} // queue → everything drained so far
)

// Read drains the stream's queue (a queue read is destructive, so what
// was drained is kept) and returns everything so far. While ActiveMQ is
// down it returns what it has.
func (kitSink) Read(_ context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	q := kitQueue(s)
	kitMu.Lock()
	defer kitMu.Unlock()
	if c, err := dialCtx(); err == nil {
		sub, err := c.Subscribe(q, gostomp.AckClientIndividual, gostomp.SubscribeOpt.Header("activemq.prefetchSize", "1000"))
		if err == nil {
			idle := time.NewTimer(300 * time.Millisecond)
		loop:
			for {
				select {
				case m := <-sub.C:
					if m == nil || m.Err != nil {
						break loop
					}
					kitRead[q] = append(kitRead[q], messageRecord(m))
					_ = c.Ack(m)
					idle.Reset(100 * time.Millisecond)
				case <-idle.C:
					break loop
				}
			}
			drainAway(sub)
		}
		_ = c.Disconnect() // its receipt: the ACKs are processed
	}
	return append([]plugins.Record(nil), kitRead[q]...), nil
}

func messageRecord(m *gostomp.Message) plugins.Record {
	r := plugins.Record{Value: string(m.Body)}
	if k, ok := m.Header.Contains(kafkaKeyHeader); ok {
		r.Key = k
	}
	for i := 0; i < m.Header.Len(); i++ {
		k, v := m.Header.GetAt(i)
		if brokerHeaders[k] {
			continue
		}
		if k == "kit-note" { // sent as Kafka header stomp.kit-note
			k = "stomp." + k
		}
		r.Headers = append(r.Headers, plugins.Header{Key: k, Value: v})
	}
	return r
}

func (kitSink) Down(ctx context.Context, _ *conformance.Stream) error { return activemq(ctx, "stop") }
func (kitSink) Up(ctx context.Context, _ *conformance.Stream) error   { return activemq(ctx, "start") }

// The binary both the kit and the pipeline tests run, built once.
func TestMain(m *testing.M) {
	if os.Getenv(conformance.BinEnv) != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "weir-stomp-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := harness.RepoRoot()
	if err == nil {
		cmd := exec.Command("go", "build", "-o", dir+"/weir", "./cmd/weir")
		cmd.Dir = root
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = fmt.Errorf("go build ./cmd/weir: %v\n%s", err, out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	os.Setenv(conformance.BinEnv, dir+"/weir")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
