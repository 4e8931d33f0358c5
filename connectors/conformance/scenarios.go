package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/plugins"
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
	written := 0
	prevDups := 0
	totalBound := 0
	for round := 1; round <= k.o.Crashes; round++ {
		// Records flow for a random while, then kill -9 lands mid-stream.
		// The round lasts longer than the in-flight window, so the bound
		// says something.
		target := n * round / (k.o.Crashes + 1)
		e.pacedWrite(written, target, time.Duration(2000+rand.IntN(3000))*time.Millisecond)
		written = target
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		e.tally.mark()
		at := time.Now()
		before := e.tally.distinctAt(at)
		e.broker.kill()
		e.broker.start()
		// Fresh records after the restart arrive only once the connector
		// runs again and has re-delivered what it had not committed.
		atKill := written
		probe := max(n/200, 1)
		e.write(written, written+probe)
		written += probe
		e.waitAll(0, written, fmt.Sprintf("Crash round %d", round))
		time.Sleep(k.o.OffsetFlushInterval) // let late duplicates show up
		e.tally.mark()
		bound := e.inFlight(at, atKill)
		d := e.tally.dups(0, written)
		roundDups := d - prevDups
		prevDups = d
		totalBound += bound
		t.Logf("Crash round %d: kill -9 after %d of %d records arrived; lost %d, duplicates %d (in-flight bound %d)",
			round, before, atKill, len(e.tally.missing(0, written)), roundDups, bound)
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

// lifecycle pauses (nothing flows), resumes, stops; reads the offsets,
// PATCHes them back to an earlier point and DELETEs them, each time
// checking the connector re-reads from where it was told.
func (k *kit) lifecycle(t *testing.T) {
	e := k.newEnv(t)
	e.stream("lifecycle", nil)
	e.observe(false)
	e.create()
	n := max(k.o.Records/4, 40)
	a, b := n/4, n/2
	rest := e.rest()
	e.write(0, a)
	e.waitAll(0, a, "Lifecycle (running)")

	// Pause: records written meanwhile wait.
	if err := rest.target(e.ctx, e.s.Name, "pause"); err != nil {
		t.Fatal(err)
	}
	e.waitState("PAUSED")
	e.write(a, b)
	time.Sleep(2 * time.Second)
	if got := b - a - len(e.tally.missing(a, b)); got != 0 {
		t.Errorf("Lifecycle: %d records flowed while the connector was PAUSED", got)
	}
	if err := rest.target(e.ctx, e.s.Name, "resume"); err != nil {
		t.Fatal(err)
	}
	e.waitState("RUNNING")
	e.waitAll(0, b, "Lifecycle (after resume)")
	t.Logf("Lifecycle: pause held back %d records, resume delivered them", b-a)

	// Stop; the offsets now stand at b. A sink's offsets are the group's
	// commits, which trail delivery by up to a flush interval; the stop's
	// final commit may race the group leaving, so wait until they cover b
	// first, so the PATCH below moves back to b exactly. (Exactly-once sinks
	// commit only what their files hold, which may trail b by design.)
	if k.src == nil && k.h.Guarantee() == AtLeastOnce {
		waitSinkCommitted(e.ctx, t, rest, e.s.Name, int64(b))
	}
	e.stopConnector()
	atB, err := rest.offsets(e.ctx, e.s.Name)
	if err != nil {
		t.Fatalf("GET offsets: %v", err)
	}
	var parsed struct {
		Offsets []json.RawMessage `json:"offsets"`
	}
	if err := json.Unmarshal(atB, &parsed); err != nil || len(parsed.Offsets) == 0 {
		t.Fatalf("GET offsets of a connector that delivered %d records = %s (%v), want some offsets", b, atB, err)
	}
	t.Logf("Lifecycle: GET offsets after %d records: %s", b, atB)
	e.resumeConnector()
	e.write(b, n)
	e.waitAll(0, n, "Lifecycle (after stop and resume)")
	if d := e.tally.dups(0, n); d != 0 {
		t.Errorf("Lifecycle: stop and resume delivered %d duplicates", d)
	}

	if u, ok := k.h.(Unreplayable); ok && k.src != nil {
		k.lifecycleUnreplayable(e, u.Unreplayable(), atB, n)
		return
	}

	// PATCH back to b: [b, n) comes again, [0, b) does not.
	e.stopConnector()
	before := e.tally.snapshot()
	atEnd, err := rest.offsets(e.ctx, e.s.Name)
	if err != nil {
		t.Fatalf("GET offsets: %v", err)
	}
	if err := rest.patchOffsets(e.ctx, e.s.Name, atB); err != nil {
		t.Fatalf("PATCH offsets: %v", err)
	}
	e.resumeConnector()
	e.reread(b, n, before, atEnd, "Lifecycle (re-read after PATCH offsets)")
	time.Sleep(time.Second)
	after := e.tally.snapshot()
	for i := 0; i < b; i++ {
		if after[i] != before[i] {
			t.Errorf("Lifecycle: record %d came again after PATCH to the offsets after record %d", i, b-1)
			break
		}
	}
	t.Logf("Lifecycle: PATCH offsets back to %d records: records [%d, %d) re-read, none before", b, b, n)

	// DELETE: everything comes again.
	e.stopConnector()
	before = e.tally.snapshot()
	if err := rest.deleteOffsets(e.ctx, e.s.Name); err != nil {
		t.Fatalf("DELETE offsets: %v", err)
	}
	if o, err := rest.offsets(e.ctx, e.s.Name); err == nil {
		if json.Unmarshal(o, &parsed) == nil && len(parsed.Offsets) != 0 {
			t.Errorf("Lifecycle: offsets after DELETE = %s, want none", o)
		}
	}
	e.resumeConnector()
	e.reread(0, n, before, atEnd, "Lifecycle (re-read after DELETE offsets)")
	t.Logf("Lifecycle: DELETE offsets: all %d records re-read from the start", n)
}

// stopConnector PUTs stop and waits for STOPPED (no tasks).
func (e *env) stopConnector() {
	e.t.Helper()
	if err := e.rest().target(e.ctx, e.s.Name, "stop"); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(e.k.o.Timeout)
	for {
		st, err := e.rest().status(e.ctx, e.s.Name)
		if err == nil && st.Connector.State == "STOPPED" && len(st.Tasks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("connector not STOPPED after %s: %+v %v", e.k.o.Timeout, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) resumeConnector() {
	e.t.Helper()
	if err := e.rest().target(e.ctx, e.s.Name, "resume"); err != nil {
		e.t.Fatal(err)
	}
	e.waitState("RUNNING")
}

// waitCounts waits until every record in [from, to) arrived once more
// than in before.
// reread waits until records [from, to) were read again after the
// offsets moved back. An Idempotent sink's system cannot show a replay, so
// there the re-read is seen in the committed offsets coming back to
// atEnd, and the system must be unchanged by it.
func (e *env) reread(from, to int, before map[int]int, atEnd []byte, what string) {
	e.t.Helper()
	if _, ok := e.k.h.(Idempotent); !ok {
		e.waitCounts(from, to, before, what)
		return
	}
	want := normalOffsets(atEnd)
	deadline := time.Now().Add(e.k.o.Timeout)
	for {
		o, err := e.rest().offsets(e.ctx, e.s.Name)
		if err == nil && normalOffsets(o) == want {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: committed offsets %s (%v) did not come back to %s", what, o, err, atEnd)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a Read of the system after the last write
	after := e.tally.snapshot()
	for i := from; i < to; i++ {
		if after[i] != before[i] {
			e.t.Fatalf("%s: an idempotent sink's system changed on replay: record %d counted %d times, %d before", what, i, after[i], before[i])
		}
	}
}

// normalOffsets is a GET …/offsets answer in a canonical order.
func normalOffsets(b []byte) string {
	var o struct {
		Offsets []json.RawMessage `json:"offsets"`
	}
	if json.Unmarshal(b, &o) != nil {
		return string(b)
	}
	var s []string
	for _, x := range o.Offsets {
		var v any
		_ = json.Unmarshal(x, &v)
		c, _ := json.Marshal(v) // maps marshal with sorted keys
		s = append(s, string(c))
	}
	slices.Sort(s)
	return strings.Join(s, "\n")
}

func (e *env) waitCounts(from, to int, before map[int]int, what string) {
	e.t.Helper()
	deadline := time.Now().Add(e.k.o.Timeout)
	for {
		var short []int
		for i := from; i < to; i++ {
			if e.tally.count(i) <= before[i] {
				short = append(short, i)
			}
		}
		if len(short) == 0 {
			return
		}
		if time.Now().After(deadline) {
			st, _ := e.rest().status(e.ctx, e.s.Name)
			e.t.Fatalf("%s: %d records did not come again: %s; status %+v", what, len(short), fmtIDs(short), st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lifecycleUnreplayable is Lifecycle's offsets part for a source whose
// system cannot re-read: PATCH and DELETE are accepted, and what is written
// afterwards arrives once, with nothing before it coming again.
func (k *kit) lifecycleUnreplayable(e *env, why string, atB []byte, n int) {
	t := e.t
	rest := e.rest()
	t.Logf("Lifecycle: %s cannot re-read after an offset reset: %s", k.h.Class(), why)
	for i, step := range []string{"PATCH", "DELETE"} {
		e.stopConnector()
		var err error
		if step == "PATCH" {
			err = rest.patchOffsets(e.ctx, e.s.Name, atB)
		} else {
			err = rest.deleteOffsets(e.ctx, e.s.Name)
		}
		if err != nil {
			t.Fatalf("%s offsets: %v", step, err)
		}
		e.resumeConnector()
		from, to := n+i*n/4, n+(i+1)*n/4
		e.write(from, to)
		e.waitAll(0, to, "Lifecycle (after "+step+" offsets)")
		time.Sleep(time.Second)
		if d := e.tally.dups(0, to); d != 0 {
			t.Errorf("Lifecycle: %d duplicates after %s offsets", d, step)
		}
		t.Logf("Lifecycle: %s offsets accepted; records [%d, %d) arrived once, nothing before them again", step, from, to)
	}
}

// ---- Rebalance ----

// rebalance runs three distributed workers on one Kafka cluster, kills
// the one running the task with SIGKILL and checks the task moves and the
// stream completes with the declared guarantee.
func (k *kit) rebalance(t *testing.T) {
	e := k.baseEnv(t)
	broker := newNode(t, e.cwd, "broker", append([]string{"--no-connect"}, k.o.WeirArgs...)...)
	broker.readyPath = "/health"
	broker.start()
	e.broker = broker
	for i := range 3 {
		w := newNode(t, e.cwd, fmt.Sprintf("worker%d", i), append(workerArgs(k.o),
			"--connect-group-id", "kit-rebalance", "--connect-bootstrap-servers", broker.kafka,
			"--connect-rebalance-delay", "1s")...)
		w.start()
		e.workers = append(e.workers, w)
	}
	e.stream("rebalance", nil)
	e.observe(false)
	e.create()
	n := k.o.Records
	third := n / 3
	e.pacedWrite(0, third, time.Second)
	e.waitAll(0, third, "Rebalance (three workers)")
	st := e.waitState("RUNNING")
	owner := st.Tasks[0].WorkerID
	var victim *node
	for _, w := range e.workers {
		if w.http == owner || "http://"+w.http == owner {
			victim = w
		}
	}
	if victim == nil {
		t.Fatalf("Rebalance: task runs on %q, none of the kit's workers", owner)
	}
	e.tally.mark()
	at := time.Now()
	writtenAtKill := third
	victim.kill()
	e.pacedWrite(third, 2*third, time.Second)
	var moved time.Duration
	var to string
	deadline := time.Now().Add(k.o.Timeout)
	for moved == 0 {
		st, err := e.rest().status(e.ctx, e.s.Name)
		if err == nil && len(st.Tasks) > 0 && st.Tasks[0].State == "RUNNING" && st.Tasks[0].WorkerID != owner {
			moved, to = time.Since(at), st.Tasks[0].WorkerID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Rebalance: task still not RUNNING on another worker %s after killing %s: %+v %v", k.o.Timeout, owner, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.write(2*third, n)
	e.waitAll(0, n, "Rebalance (after the task moved)")
	time.Sleep(k.o.OffsetFlushInterval)
	e.tally.mark()
	d := e.tally.dups(0, n)
	bound := e.inFlight(at, writtenAtKill)
	t.Logf("Rebalance: SIGKILL of %s; the task moved to %s in %s; %d records, lost %d, duplicates %d (in-flight bound %d)",
		owner, to, moved.Round(10*time.Millisecond), n, len(e.tally.missing(0, n)), d, bound)
	e.checkGuarantee("Rebalance", n, d, bound)
}

// pacedWrite spreads records [from, to) over about d, so faults land in
// a flowing stream.
func (e *env) pacedWrite(from, to int, d time.Duration) {
	e.t.Helper()
	const steps = 20
	step := max((to-from+steps-1)/steps, 1)
	for i := from; i < to; i += step {
		e.write(i, min(i+step, to))
		time.Sleep(d / steps)
	}
}

// ---- Config ----

// badByType are values no key of the type accepts.
var badByType = map[string]string{
	"INT":     "not-a-number",
	"SHORT":   "not-a-number",
	"LONG":    "not-a-number",
	"DOUBLE":  "not-a-number",
	"BOOLEAN": "maybe",
	"CLASS":   "com.example.NoSuchClass",
}

// config checks PUT /connector-plugins/{p}/config/validate: a valid config
// has no errors; each required key missing, and one bad value per key
// type, gives an error on that very key.
func (k *kit) config(t *testing.T) {
	e := k.newEnv(t)
	e.stream("config", nil)
	rest := e.rest()
	class := k.h.Class()
	valid := e.cfg
	res, err := rest.validate(e.ctx, class, valid)
	if err != nil {
		t.Fatalf("validate the valid config: %v", err)
	}
	if res.ErrorCount != 0 {
		t.Fatalf("the harness's config does not validate: %v", errorsOf(res))
	}
	// The connector's own keys (its ConfigDef, registered by the test's
	// import of the connector package), apart from the runtime's.
	own := map[string]bool{}
	if def, _, err := plugins.Default.PluginConfigDef(class); err == nil {
		for _, key := range def.Keys() {
			own[key.Name] = true
		}
	}
	keys, err := rest.pluginConfig(e.ctx, class)
	if err != nil {
		t.Fatalf("GET plugin config: %v", err)
	}
	if len(keys) == 0 {
		t.Errorf("Config: GET /connector-plugins/%s/config lists no keys", class)
	}
	defs := res.Configs
	check := func(what, key string, cfg map[string]string) {
		t.Helper()
		r, err := rest.validate(e.ctx, class, cfg)
		if err != nil {
			t.Errorf("Config: %s: validate answered %v, want 200 with an error on %s", what, err, key)
			return
		}
		errs := keyErrors(r, key)
		if len(errs) == 0 {
			t.Errorf("Config: %s: no error on %s (errors: %v)", what, key, errorsOf(r))
			return
		}
		t.Logf("Config: %s → %s: %s", what, key, errs[0])
	}
	required := 0
	for _, c := range defs {
		name := c.Definition.Name
		if !c.Definition.Required || name == "connector.class" {
			continue // without connector.class there is no plugin to validate against
		}
		cfg := maps.Clone(valid)
		delete(cfg, name)
		check("missing required "+name, name, cfg)
		required++
	}
	if k.sink != nil {
		// A sink needs topics or topics.regex.
		cfg := maps.Clone(valid)
		delete(cfg, "topics")
		delete(cfg, "topics.regex")
		check("sink without topics", "topics", cfg)
		required++
	}
	// One bad value per key type, among the connector's own keys and
	// among the runtime's.
	seen := map[string]bool{}
	for _, c := range defs {
		typ := c.Definition.Type
		bad, ok := badByType[typ]
		side := fmt.Sprint(own[c.Definition.Name])
		if !ok || seen[side+typ] {
			continue
		}
		seen[side+typ] = true
		cfg := maps.Clone(valid)
		cfg[c.Definition.Name] = bad
		check(fmt.Sprintf("bad %s %s=%q", typ, c.Definition.Name, bad), c.Definition.Name, cfg)
	}
	// Keys with a fixed set of values (STRING, LIST) reject others.
	for _, c := range defs {
		side := fmt.Sprint(own[c.Definition.Name])
		if len(c.Value.RecommendedValues) == 0 || seen[side+"enum:"+c.Definition.Type] {
			continue
		}
		seen[side+"enum:"+c.Definition.Type] = true
		cfg := maps.Clone(valid)
		cfg[c.Definition.Name] = "not-one-of-the-recommended-values"
		check(fmt.Sprintf("bad %s %s outside %v", c.Definition.Type, c.Definition.Name, c.Value.RecommendedValues), c.Definition.Name, cfg)
	}
	if bv, ok := k.h.(BadValuer); ok {
		for key, v := range bv.BadValues() {
			cfg := maps.Clone(valid)
			cfg[key] = v
			check(fmt.Sprintf("bad %s=%q", key, v), key, cfg)
		}
	}
	t.Logf("Config: %d required keys, %d (key type, connector or runtime) pairs checked", required, len(seen))
}

func keyErrors(r plugins.ConfigInfos, key string) []string {
	for _, c := range r.Configs {
		if c.Value.Name == key || c.Definition.Name == key {
			return c.Value.Errors
		}
	}
	return nil
}

func errorsOf(r plugins.ConfigInfos) map[string][]string {
	m := map[string][]string{}
	for _, c := range r.Configs {
		if len(c.Value.Errors) > 0 {
			m[c.Value.Name] = c.Value.Errors
		}
	}
	return m
}

// waitSinkCommitted waits (at most 20 s) until a sink connector's
// committed offsets, summed over its partitions, reach want; the topic of
// a scenario is new, so the sum is the number of records committed.
func waitSinkCommitted(ctx context.Context, t *testing.T, rest *restClient, name string, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		raw, err := rest.offsets(ctx, name)
		var got int64
		if err == nil {
			var parsed struct {
				Offsets []struct {
					Offset struct {
						KafkaOffset int64 `json:"kafka_offset"`
					} `json:"offset"`
				} `json:"offsets"`
			}
			if json.Unmarshal(raw, &parsed) == nil {
				for _, o := range parsed.Offsets {
					got += o.Offset.KafkaOffset
				}
			}
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("Lifecycle: committed offsets cover %d of %d records after 20 s; going on", got, want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
