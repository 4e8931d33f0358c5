// Command stompbench measures StompSource (queue → topic) and StompSink
// (topic → queue) in messages/s with 1 KiB bodies, each next to the
// physical limit measured in the same run against the same ActiveMQ: a
// tight go-stomp consumer (client-individual, the same prefetch, an ACK per
// message) for the source, and a tight go-stomp producer (persistent SENDs
// on one connection, fenced by a final receipt) for the sink. It prints
// the rates and the ratios and writes them as JSON. test/bench/stomp.sh
// runs it (make bench).
//
// Rates are taken over the steady part of each run: from the first
// message seen (first record in the topic, first message drained from the
// output queue) to the last, so the connector's task start-up is not
// counted. On the sink side both runs have the same drain consumer on the
// output queue, which is how the last message is observed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/internal/testutil"
)

var (
	weirBin  = flag.String("weir", "bin/weir", "weir binary")
	stompArg = flag.String("stomp", "127.0.0.1:61613", "ActiveMQ STOMP address")
	n        = flag.Int("n", 30000, "messages per run")
	size     = flag.Int("size", 1024, "body bytes")
	prefetch = flag.Int("prefetch", 1000, "activemq.prefetchSize of both consumers")
	outPath  = flag.String("out", "", "JSON results file (default: none)")
	timeout  = flag.Duration("timeout", 5*time.Minute, "per run")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stompbench:", err)
		os.Exit(1)
	}
}

type result struct {
	Messages        int     `json:"messages"`
	BodyBytes       int     `json:"body_bytes"`
	SourceMsgs      float64 `json:"source_queue_to_topic_msgs_per_s"`
	ConsumerLimit   float64 `json:"gostomp_consumer_msgs_per_s"`
	SourceRatio     float64 `json:"source_ratio"`
	SinkMsgs        float64 `json:"sink_topic_to_queue_msgs_per_s"`
	ProducerLimit   float64 `json:"gostomp_producer_msgs_per_s"`
	SinkRatio       float64 `json:"sink_ratio"`
	ReceiptEachMsgs float64 `json:"gostomp_send_receipt_each_msgs_per_s"`
	Target          float64 `json:"target_ratio"`
}

func say(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05")+"  "+format+"\n", a...)
}

func run() error {
	body := bytes.Repeat([]byte("x"), *size)
	w, err := startWeir()
	if err != nil {
		return err
	}
	defer w.stop()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	var r result
	r.Messages, r.BodyBytes, r.Target = *n, *size, 0.7

	// Source side: the same preloaded queue contents for both.
	qc, qs := "/queue/bench.c."+tag, "/queue/bench.s."+tag
	for _, q := range []string{qc, qs} {
		if err := preload(q, *n, body); err != nil {
			return err
		}
	}
	if r.ConsumerLimit, err = tightConsumer(qc, *n); err != nil {
		return err
	}
	say("go-stomp consumer (client-individual, prefetch %d): %.0f msg/s", *prefetch, r.ConsumerLimit)
	topic := "bench-stomp-src-" + tag
	if r.SourceMsgs, err = w.sourceRun(qs, topic, *n); err != nil {
		return err
	}
	r.SourceRatio = r.SourceMsgs / r.ConsumerLimit
	say("StompSource queue → topic: %.0f msg/s (ratio %.2f)", r.SourceMsgs, r.SourceRatio)

	// Sink side.
	qp := "/queue/bench.p." + tag
	if r.ProducerLimit, err = tightProducer(qp, *n, body); err != nil {
		return err
	}
	say("go-stomp producer (persistent, one receipt per run): %.0f msg/s", r.ProducerLimit)
	in := "bench-stomp-snk-" + tag
	if err := w.fillTopic(in, *n, body); err != nil {
		return err
	}
	qk := "/queue/bench.k." + tag
	if r.SinkMsgs, err = w.sinkRun(in, qk, *n); err != nil {
		return err
	}
	r.SinkRatio = r.SinkMsgs / r.ProducerLimit
	say("StompSink topic → queue: %.0f msg/s (ratio %.2f)", r.SinkMsgs, r.SinkRatio)
	if r.ReceiptEachMsgs, err = receiptEach("/queue/bench.r."+tag, min(*n, 2000), body); err != nil {
		return err
	}
	say("(reference) go-stomp Send with a receipt per message, one at a time: %.0f msg/s", r.ReceiptEachMsgs)
	b, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(b))
	if *outPath != "" {
		if err := os.WriteFile(*outPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func dial() (*gostomp.Conn, error) {
	return gostomp.Dial("tcp", *stompArg, gostomp.ConnOpt.Host("localhost"), gostomp.ConnOpt.HeartBeat(0, 0),
		gostomp.ConnOpt.WriteChannelCapacity(4096), gostomp.ConnOpt.ReadChannelCapacity(1024), gostomp.ConnOpt.Logger(quiet{}))
}

// quiet drops go-stomp's log lines (a subscription ending at DISCONNECT is
// logged as an ERROR otherwise).
type quiet struct{}

func (quiet) Debugf(string, ...interface{})   {}
func (quiet) Infof(string, ...interface{})    {}
func (quiet) Warningf(string, ...interface{}) {}
func (quiet) Errorf(string, ...interface{})   {}
func (quiet) Debug(string)                    {}
func (quiet) Info(string)                     {}
func (quiet) Warning(string)                  {}
func (quiet) Error(string)                    {}

// preload sends n persistent messages (not timed).
func preload(q string, n int, body []byte) error {
	c, err := dial()
	if err != nil {
		return fmt.Errorf("ActiveMQ at %s: %w", *stompArg, err)
	}
	defer c.Disconnect()
	for i := 0; i < n; i++ {
		opts := []func(*frame.Frame) error{gostomp.SendOpt.Header("persistent", "true")}
		if i == n-1 {
			opts = append(opts, gostomp.SendOpt.Receipt)
		}
		if err := c.Send(q, "", body, opts...); err != nil {
			return fmt.Errorf("preload %s: %w", q, err)
		}
	}
	return nil
}

// tightConsumer: client-individual, ACK per message, the connector's
// prefetch; timed from the first message to the last ACK processed.
func tightConsumer(q string, n int) (float64, error) {
	c, err := dial()
	if err != nil {
		return 0, err
	}
	sub, err := c.Subscribe(q, gostomp.AckClientIndividual, gostomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(*prefetch)))
	if err != nil {
		return 0, err
	}
	var first time.Time
	for i := 0; i < n; i++ {
		select {
		case m := <-sub.C:
			if m.Err != nil {
				return 0, m.Err
			}
			if i == 0 {
				first = time.Now()
			}
			if err := c.Ack(m); err != nil {
				return 0, err
			}
		case <-time.After(*timeout):
			return 0, fmt.Errorf("consumer: %d of %d messages", i, n)
		}
	}
	if err := c.Disconnect(); err != nil { // DISCONNECT's receipt: the ACKs are processed
		return 0, err
	}
	return float64(n-1) / time.Since(first).Seconds(), nil
}

// drain counts messages of q (auto ack) and reports the first and the
// n-th arrival.
func drain(q string, n int) (func() (time.Time, time.Time, error), error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	sub, err := c.Subscribe(q, gostomp.AckAuto, gostomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(*prefetch)))
	if err != nil {
		return nil, err
	}
	type span struct {
		first, last time.Time
		err         error
	}
	ch := make(chan span, 1)
	go func() {
		defer c.Disconnect()
		var s span
		for i := 0; i < n; i++ {
			select {
			case m := <-sub.C:
				if m.Err != nil {
					s.err = m.Err
					ch <- s
					return
				}
				if i == 0 {
					s.first = time.Now()
				}
			case <-time.After(*timeout):
				s.err = fmt.Errorf("drain %s: %d of %d messages", q, i, n)
				ch <- s
				return
			}
		}
		s.last = time.Now()
		ch <- s
	}()
	return func() (time.Time, time.Time, error) { s := <-ch; return s.first, s.last, s.err }, nil
}

// tightProducer: persistent SENDs on one connection, the last with a
// receipt; timed by the same drain consumer the sink run has.
func tightProducer(q string, n int, body []byte) (float64, error) {
	wait, err := drain(q, n)
	if err != nil {
		return 0, err
	}
	if err := preload(q, n, body); err != nil {
		return 0, err
	}
	first, last, err := wait()
	if err != nil {
		return 0, err
	}
	return float64(n-1) / last.Sub(first).Seconds(), nil
}

// receiptEach is go-stomp's own way to know each message is stored: Send
// with a receipt waits for it before the next Send.
func receiptEach(q string, n int, body []byte) (float64, error) {
	c, err := dial()
	if err != nil {
		return 0, err
	}
	defer c.Disconnect()
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := c.Send(q, "", body, gostomp.SendOpt.Header("persistent", "true"), gostomp.SendOpt.Receipt); err != nil {
			return 0, err
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	sub, err := c.Subscribe(q, gostomp.AckAuto)
	if err == nil {
		for i := 0; i < n; i++ {
			<-sub.C
		}
	}
	return rate, nil
}

type weir struct {
	cmd     *exec.Cmd
	dir     string
	kafka   string
	http    string
	adm     *kadm.Client
	cl      *kgo.Client
	exited  chan struct{}
	logPath string
}

func startWeir() (*weir, error) {
	dir, err := os.MkdirTemp("", "weir-stomp-bench-")
	if err != nil {
		return nil, err
	}
	w := &weir{dir: dir, exited: make(chan struct{}), logPath: filepath.Join(dir, "weir.log")}
	if w.kafka, err = testutil.FreeAddr(); err != nil {
		return nil, err
	}
	if w.http, err = testutil.FreeAddr(); err != nil {
		return nil, err
	}
	lf, err := os.Create(w.logPath)
	if err != nil {
		return nil, err
	}
	w.cmd = exec.Command(*weirBin, "serve", "--data-dir", filepath.Join(dir, "data"), "--kafka-addr", w.kafka, "--http-addr", w.http)
	w.cmd.Stdout, w.cmd.Stderr = lf, lf
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", *weirBin, err)
	}
	go func() { w.cmd.Wait(); lf.Close(); close(w.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + w.http + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-w.exited:
			return nil, fmt.Errorf("weir serve exited; see %s", w.logPath)
		default:
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, fmt.Errorf("weir serve not healthy after 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.cl, err = kgo.NewClient(kgo.SeedBrokers(w.kafka), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return nil, err
	}
	w.adm = kadm.NewClient(w.cl)
	return w, nil
}

func (w *weir) stop() {
	if w.cl != nil {
		w.cl.Close()
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	os.RemoveAll(w.dir)
}

func (w *weir) putConnector(name string, cfg map[string]string) error {
	b, _ := json.Marshal(cfg)
	req, _ := http.NewRequest(http.MethodPut, "http://"+w.http+"/connectors/"+name+"/config", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT connector %s: %s %s", name, resp.Status, msg)
	}
	return nil
}

func (w *weir) deleteConnector(name string) {
	req, _ := http.NewRequest(http.MethodDelete, "http://"+w.http+"/connectors/"+name, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// sourceRun: StompSource from q to topic; from the first record in the
// topic until its end offset reaches n.
func (w *weir) sourceRun(q, topic string, n int) (float64, error) {
	if _, err := w.adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		return 0, fmt.Errorf("create topic %s: %w", topic, err)
	}
	err := w.putConnector("bench-src", map[string]string{
		"connector.class": "StompSource", "tasks.max": "1", "stomp.url": "tcp://" + *stompArg,
		"stomp.destinations": q, "kafka.topic": topic, "stomp.prefetch": strconv.Itoa(*prefetch),
		"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
	})
	if err != nil {
		return 0, err
	}
	defer w.deleteConnector("bench-src")
	var first time.Time
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		ends, err := w.adm.ListEndOffsets(context.Background(), topic)
		if err == nil {
			var end int64
			ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
			if end > 0 && first.IsZero() {
				first = time.Now()
			}
			if end >= int64(n) {
				return float64(n-1) / time.Since(first).Seconds(), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("source run: topic %s incomplete after %v", topic, *timeout)
}

// fillTopic writes n records with 1 KiB values (not timed).
func (w *weir) fillTopic(topic string, n int, body []byte) error {
	if _, err := w.adm.CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for i := 0; i < n; i++ {
		w.cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: body,
			Headers: []kgo.RecordHeader{{Key: "stomp.app-seq", Value: []byte(strconv.Itoa(i))}}}, nil)
	}
	return w.cl.Flush(context.Background())
}

// sinkRun: StompSink from topic to q, observed by the drain consumer.
func (w *weir) sinkRun(topic, q string, n int) (float64, error) {
	wait, err := drain(q, n)
	if err != nil {
		return 0, err
	}
	err = w.putConnector("bench-snk", map[string]string{
		"connector.class": "StompSink", "tasks.max": "1", "stomp.url": "tcp://" + *stompArg, "topics": topic,
		"stomp.destination": q,
		"key.converter":     "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
	})
	if err != nil {
		return 0, err
	}
	defer w.deleteConnector("bench-snk")
	first, last, err := wait()
	if err != nil {
		return 0, err
	}
	return float64(n-1) / last.Sub(first).Seconds(), nil
}
