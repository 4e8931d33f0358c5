package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ---- Crash ----

// crash kills the worker (kill -9) at random moments while records flow,
// restarts it each time, and checks the declared guarantee per round.
func (k *kit) crash(t *testing.T) {
	e := k.newEnv(t)
	e.stream("crash", nil)
	e.observe(false)
	e.create()
	n := k.o.Records
	chunk := max(n/(10*(k.o.Crashes+1)), 1)
	written := 0
	prevDups := 0
	totalBound := 0
	for round := 1; round <= k.o.Crashes; round++ {
		// Write for a random while (at least one chunk), then kill -9.
		until := time.Now().Add(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		target := n * round / (k.o.Crashes + 1)
		for written < target && (time.Now().Before(until) || written == 0) {
			next := min(written+chunk, target)
			e.write(written, next)
			written = next
			time.Sleep(20 * time.Millisecond)
		}
		e.write(written, target)
		written = target
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		e.tally.mark()
		at := time.Now()
		before := e.tally.distinctAt(at)
		e.broker.kill()
		e.broker.start()
		e.waitAll(0, written, fmt.Sprintf("Crash round %d", round))
		time.Sleep(k.o.OffsetFlushInterval) // let late duplicates show up
		e.tally.mark()
		bound := e.inFlight(at)
		d := e.tally.dups(0, written)
		roundDups := d - prevDups
		prevDups = d
		totalBound += bound
		t.Logf("Crash round %d: kill -9 after %d records arrived; lost %d, duplicates %d (in-flight bound %d)",
			round, before, len(e.tally.missing(0, written)), roundDups, bound)
		e.checkGuarantee(fmt.Sprintf("Crash round %d", round), written, roundDups, bound)
	}
	e.write(written, n)
	e.waitAll(0, n, "Crash (after the last restart)")
	time.Sleep(k.o.OffsetFlushInterval)
	d := e.tally.dups(0, n)
	t.Logf("Crash: %d records, %d kill -9 rounds: lost %d, duplicates %d (in-flight bound %d) under %s",
		n, k.o.Crashes, len(e.tally.missing(0, n)), d, totalBound, k.h.Guarantee())
	e.checkGuarantee("Crash", n, d, totalBound)
	e.intact()
}

// ---- ExternalDown ----

// externalDown takes the external system away mid-stream: the task must
// keep retrying (RUNNING, the cause in its trace) and resume with nothing
// lost once the system is back.
func (k *kit) externalDown(t *testing.T) {
	e := k.newEnv(t)
	e.stream("down", nil)
	e.observe(false)
	e.create()
	n := k.o.Records / 2
	q := n / 4
	e.write(0, q)
	e.waitAll(0, q, "ExternalDown (before the outage)")
	if err := k.h.Down(e.ctx, e.s); err != nil {
		t.Fatalf("take the external system down: %v", err)
	}
	downAt := time.Now()
	upped := false
	up := func() {
		if !upped {
			upped = true
			if err := k.h.Up(e.ctx, e.s); err != nil {
				t.Fatalf("bring the external system back: %v", err)
			}
		}
	}
	defer up()
	if k.sink != nil {
		// The log is up: records keep coming while the sink cannot write.
		e.write(q, 2*q)
	}
	var trace string
	var state string
	for time.Since(downAt) < k.o.Outage || trace == "" {
		if time.Since(downAt) > k.o.Outage+k.o.Timeout {
			st, _ := e.rest().status(e.ctx, e.s.Name)
			t.Fatalf("ExternalDown: no task showed the cause in its trace within %s of the outage; status %+v", k.o.Outage+k.o.Timeout, st)
		}
		st, err := e.rest().status(e.ctx, e.s.Name)
		if err == nil {
			for _, ts := range st.Tasks {
				if ts.Trace != nil && trace == "" {
					trace, state = *ts.Trace, ts.State
				}
				if ts.State == "FAILED" {
					t.Errorf("ExternalDown: task %d FAILED instead of retrying: %s", ts.ID, deref(ts.Trace))
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if state != "RUNNING" {
		t.Errorf("ExternalDown: task state %s while retrying, want RUNNING", state)
	}
	t.Logf("ExternalDown: while down (%s) the task was %s with trace: %.300s", k.o.Outage, state, firstLine(trace))
	up()
	upAt := time.Now()
	if k.src != nil {
		e.write(q, 2*q)
	}
	e.write(2*q, n)
	e.waitAll(0, n, "ExternalDown (after the system came back)")
	resumed := time.Since(upAt)
	// Once healthy again the trace clears.
	deadline := time.Now().Add(k.o.Timeout)
	for {
		st, err := e.rest().status(e.ctx, e.s.Name)
		if err == nil && len(st.Tasks) > 0 && st.Tasks[0].State == "RUNNING" && st.Tasks[0].Trace == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("ExternalDown: task trace not cleared after recovery: %+v", st)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d := e.tally.dups(0, n)
	t.Logf("ExternalDown: %d records, lost %d, duplicates %d; all arrived %s after the system came back",
		n, len(e.tally.missing(0, n)), d, resumed.Round(time.Millisecond))
	e.checkGuarantee("ExternalDown", n, d, 0)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// ---- PoisonRecord ----

// poisonRecord puts one record the pipeline cannot handle between good
// ones: with errors.tolerance=all it lands in the dead letter queue with
// context headers and the rest flows; with none the task fails with a
// clear trace and nothing after the poison is delivered.
func (k *kit) poisonRecord(t *testing.T) {
	e := k.newEnv(t)
	n := max(k.o.Records/10, 20)
	half := n / 2

	// errors.tolerance=all: dead letter queue.
	dlq := "kit-poison-all-dlq"
	e.stream("poison-all", k.poisonConfig(map[string]string{
		"errors.tolerance":                                "all",
		"errors.deadletterqueue.topic.name":               dlq,
		"errors.deadletterqueue.context.headers.enable":   "true",
		"errors.deadletterqueue.topic.replication.factor": "1",
	}))
	var poisonValue []byte
	e.observe(false)
	e.create()
	e.write(0, half)
	e.waitAll(0, half, "PoisonRecord (before the poison)")
	poisonValue = e.writePoison()
	e.write(half, n)
	e.waitAll(0, n, "PoisonRecord with errors.tolerance=all")
	var dead []*kgo.Record
	var dlqCh = make(chan *kgo.Record, 16)
	r, err := readTopic(e.kafkaAddrs(), dlq, nil, nil, func(r *kgo.Record) { dlqCh <- r })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case rec := <-dlqCh:
		dead = append(dead, rec)
	case <-time.After(k.o.Timeout):
		t.Fatalf("PoisonRecord: nothing in the dead letter queue %s after %s", dlq, k.o.Timeout)
	}
	time.Sleep(500 * time.Millisecond)
	r.close()
	for len(dlqCh) > 0 {
		dead = append(dead, <-dlqCh)
	}
	if len(dead) != 1 {
		t.Errorf("PoisonRecord: %d records in the dead letter queue, want 1", len(dead))
	}
	hs := map[string]string{}
	for _, h := range dead[0].Headers {
		hs[h.Key] = string(h.Value)
	}
	for _, want := range []string{"__connect.errors.connector.name", "__connect.errors.task.id", "__connect.errors.stage",
		"__connect.errors.class.name", "__connect.errors.exception.class.name", "__connect.errors.exception.message"} {
		if hs[want] == "" {
			t.Errorf("PoisonRecord: dead letter record lacks context header %s (has %v)", want, hs)
		}
	}
	if hs["__connect.errors.connector.name"] != e.s.Name {
		t.Errorf("PoisonRecord: %s = %q, want %q", "__connect.errors.connector.name", hs["__connect.errors.connector.name"], e.s.Name)
	}
	if k.sink != nil {
		if !bytes.Equal(dead[0].Value, poisonValue) {
			t.Errorf("PoisonRecord: dead letter value %q, want the poison's bytes %q", dead[0].Value, poisonValue)
		}
		if hs["__connect.errors.topic"] != e.s.Topic {
			t.Errorf("PoisonRecord: __connect.errors.topic = %q, want %q", hs["__connect.errors.topic"], e.s.Topic)
		}
	}
	st, _ := e.rest().status(e.ctx, e.s.Name)
	for _, ts := range st.Tasks {
		if ts.State != "RUNNING" {
			t.Errorf("PoisonRecord with errors.tolerance=all: task %d is %s", ts.ID, ts.State)
		}
	}
	if d := e.tally.dups(0, n); d != 0 {
		t.Errorf("PoisonRecord with errors.tolerance=all: %d duplicates", d)
	}
	t.Logf("PoisonRecord, errors.tolerance=all: %d good records delivered, 1 in %s (stage %s, %s: %.200s)",
		n, dlq, hs["__connect.errors.stage"], hs["__connect.errors.exception.class.name"], hs["__connect.errors.exception.message"])
	e.stopObs()

	// errors.tolerance=none: the task fails and says why.
	e.stream("poison-none", k.poisonConfig(map[string]string{"errors.tolerance": "none"}))
	e.observe(false)
	e.create()
	e.write(0, half)
	e.waitAll(0, half, "PoisonRecord (before the poison, tolerance none)")
	e.writePoison()
	e.write(half, n)
	deadline := time.Now().Add(k.o.Timeout)
	var trace string
	for trace == "" {
		if time.Now().After(deadline) {
			st, _ := e.rest().status(e.ctx, e.s.Name)
			t.Fatalf("PoisonRecord with errors.tolerance=none: no task FAILED with a trace after %s; status %+v", k.o.Timeout, st)
		}
		st, err := e.rest().status(e.ctx, e.s.Name)
		if err == nil {
			for _, ts := range st.Tasks {
				if ts.State == "FAILED" && ts.Trace != nil && *ts.Trace != "" {
					trace = *ts.Trace
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(trace, "tolerance exceeded") && !strings.Contains(strings.ToLower(trace), "poison") {
		t.Logf("note: trace does not say the error tolerance was exceeded")
	}
	if !containsAny(trace, "KEY_CONVERTER", "VALUE_CONVERTER", "HEADER_CONVERTER", "TRANSFORMATION", "TASK_PUT", "TASK_POLL", "KAFKA_PRODUCE") {
		t.Errorf("PoisonRecord with errors.tolerance=none: the trace names no stage: %.500s", trace)
	}
	time.Sleep(time.Second)
	if got := n - half - len(e.tally.missing(half, n)); got != 0 {
		t.Errorf("PoisonRecord with errors.tolerance=none: %d records after the poison were delivered past it", got)
	}
	t.Logf("PoisonRecord, errors.tolerance=none: task FAILED; trace: %.300s", firstLine(trace))
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// poisonConfig adds the source harness's PoisonConfig to cfg.
func (k *kit) poisonConfig(cfg map[string]string) map[string]string {
	if k.src != nil {
		for key, v := range k.src.PoisonConfig() {
			cfg[key] = v
		}
	}
	return cfg
}

// writePoison puts the poison record in and returns the raw value the
// kit produced (sinks).
func (e *env) writePoison() []byte {
	e.t.Helper()
	if e.k.src != nil {
		if err := e.k.src.Poison(e.ctx, e.s); err != nil {
			e.t.Fatalf("write the poison record: %v", err)
		}
		return nil
	}
	key, value := []byte(nil), []byte(`{"schema": this is not JSON`)
	if p, ok := e.k.h.(SinkPoisoner); ok {
		key, value = p.PoisonRecord()
	}
	e.produce(&kgo.Record{Topic: e.s.Topic, Key: key, Value: value})
	return value
}

// ---- Lifecycle ----

func (k *kit) lifecycle(t *testing.T) {
	t.Fatal("Lifecycle: not implemented yet")
}

// ---- Rebalance ----

func (k *kit) rebalance(t *testing.T) {
	t.Fatal("Rebalance: not implemented yet")
}

// ---- Config ----

func (k *kit) config(t *testing.T) {
	t.Fatal("Config: not implemented yet")
}

var _ = json.Marshal
var _ = slices.Contains[[]string]
