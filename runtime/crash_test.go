package runtime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/internal/testutil"
)

// Crash tests run workers as separate processes (runtime/internal/workermain)
// so that kill -9 really kills: no deferred commit, no LeaveGroup.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func workerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "weir-workermain-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "workermain"), "./internal/workermain").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./internal/workermain: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "workermain")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	addr   string
	url    string
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts a worker process and waits until it is ready. With no
// address it picks a free port, and another one if that was taken meanwhile.
func (c *testCluster) startProc(t *testing.T, addr string, extra ...string) *proc {
	t.Helper()
	if addr != "" {
		return c.startProcAt(t, addr, true, extra...)
	}
	for range 3 {
		if p := c.startProcAt(t, testutil.FreePort(t), false, extra...); p != nil {
			return p
		}
	}
	t.Fatalf("no worker process could start (see the logs above)")
	return nil
}

func (c *testCluster) startProcAt(t *testing.T, addr string, mustStart bool, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-bootstrap", c.addr, "-http-addr", addr, "-topic-prefix", c.prefix}, extra...)
	cmd := exec.Command(workerBinary(t), args...)
	p := &proc{cmd: cmd, addr: addr, url: "http://" + addr, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if sc.Text() == "READY" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("worker process %s stderr:\n%s", addr, p.stderr.String())
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			if !mustStart && strings.Contains(p.stderr.String(), "address already in use") {
				t.Logf("port %s was taken; trying another", addr)
				return nil
			}
			t.Fatalf("worker process %s exited before it was ready:\n%s", addr, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("worker process %s not ready after 60s:\n%s", addr, p.stderr.String())
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func seqValues(t *testing.T, c *testCluster, topic string, want int) (map[string]int, int) {
	t.Helper()
	recs := consumeAll(t, c.addr, topic, want, 5*time.Second)
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Value)]++
	}
	return seen, len(recs)
}

func missingSeq(seen map[string]int, tasks, count int) []string {
	var miss []string
	for task := range tasks {
		for n := range count {
			if v := fmt.Sprintf("t%d-%d", task, n); seen[v] == 0 {
				miss = append(miss, v)
			}
		}
	}
	return miss
}

// TestKill9ResumesFromCommittedOffset kills a standalone worker mid-stream
// with SIGKILL and restarts it: the source resumes from its committed
// offset (it does not start over) and nothing is lost, through to a file sink.
func TestKill9ResumesFromCommittedOffset(t *testing.T) {
	c := startCluster(t)
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs")
	os.Mkdir(defs, 0o755)
	out := filepath.Join(dir, "out.txt")
	topic := c.topic("seq")
	const count = 3000
	os.WriteFile(filepath.Join(defs, "p.yaml"), fmt.Appendf(nil, `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata: {name: seq}
spec:
  class: io.weir.test.SeqSourceConnector
  tasksMax: 1
  config: {topic: %[1]s, count: %[2]d, batch: 10, interval.ms: 10, value.converter: org.apache.kafka.connect.storage.StringConverter}
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata: {name: seq-out}
spec:
  class: FileStreamSink
  config: {topics: %[1]s, file: %[3]s, value.converter: org.apache.kafka.connect.storage.StringConverter}
`, topic, count, out), 0o644)
	addr := testutil.FreePort(t)
	p := c.startProc(t, addr, "-connectors", defs)
	eventually(t, 60*time.Second, "the stream to be under way", func() (bool, string) {
		n := topicEnd(t, c.addr, topic)
		return n >= 400 && len(readLines(out)) > 0, fmt.Sprintf("%d records", n)
	})
	p.kill()
	before, _ := seqValues(t, c, topic, 1)
	atKill := len(before)
	if atKill >= count {
		t.Fatalf("the source finished before the kill (%d records); the test proves nothing", atKill)
	}
	p = c.startProc(t, addr, "-connectors", defs)
	eventually(t, 90*time.Second, "every record after the restart", func() (bool, string) {
		seen, _ := seqValues(t, c, topic, count)
		miss := missingSeq(seen, 1, count)
		return len(miss) == 0, fmt.Sprintf("%d missing, e.g. %v", len(miss), miss[:min(3, len(miss))])
	})
	seen, total := seqValues(t, c, topic, count)
	dups := total - len(seen)
	// At-least-once: only what was produced after the last offset commit
	// may repeat, never the whole stream.
	if dups >= atKill {
		t.Fatalf("%d duplicates after a kill at %d records: the source did not resume from its committed offset", dups, atKill)
	}
	t.Logf("killed at %d records; %d duplicates after restart", atKill, dups)
	eventually(t, 60*time.Second, "the sink file to hold every record", func() (bool, string) {
		got := map[string]int{}
		for _, l := range readLines(out) {
			got[l]++
		}
		miss := missingSeq(got, 1, count)
		return len(miss) == 0, fmt.Sprintf("%d missing", len(miss))
	})
	waitState(t, p.url, "seq", stateRunning, stateRunning)
}

// TestDistributedFailover runs three worker processes as one cluster, kills
// the one running task 0 with SIGKILL, and checks that its work moves to
// the survivors within the configured delay and the pipeline completes
// with nothing lost. Writes sent to followers are forwarded to the leader.
func TestDistributedFailover(t *testing.T) {
	c := startCluster(t)
	group := c.prefix + "cluster"
	const delay = 2 * time.Second
	const session = 6 * time.Second
	args := []string{"-group", group, "-delay", delay.String(), "-session-timeout", session.String()}
	procs := []*proc{c.startProc(t, "", args...), c.startProc(t, "", args...), c.startProc(t, "", args...)}
	byID := map[string]*proc{}
	for _, p := range procs {
		byID[p.addr] = p
	}
	topic := c.topic("dist")
	const tasks, count = 3, 1500
	// Create through a follower right after the workers start, while the
	// group is still forming: the write waits for the round and is
	// forwarded to the leader (Connect's herder queues it the same way),
	// so the first try must answer 201, not 409.
	expectCode(t, call(t, "POST", procs[1].url+"/connectors", map[string]any{"name": "dist", "config": map[string]any{
		"connector.class": "io.weir.test.SeqSourceConnector", "tasks.max": tasks, "topic": topic, "count": count,
		"batch": 10, "interval.ms": 20, "value.converter": "org.apache.kafka.connect.storage.StringConverter"}}), http.StatusCreated, "POST via a follower while the group forms")
	expectCode(t, call(t, "PUT", procs[2].url+"/connectors/dist2/config", map[string]any{
		"connector.class": "FileStreamSink", "topics": topic, "file": filepath.Join(t.TempDir(), "o.txt")}), http.StatusCreated, "PUT via another worker")
	var st connectorStateInfo
	eventually(t, 60*time.Second, "all tasks running", func() (bool, string) {
		st = connectorStatus(t, procs[0].url, "dist")
		if len(st.Tasks) != tasks {
			return false, fmt.Sprintf("%+v", st)
		}
		for _, ts := range st.Tasks {
			if ts.State != stateRunning {
				return false, fmt.Sprintf("%+v", st)
			}
		}
		return true, ""
	})
	workers := map[string]bool{}
	for _, ts := range st.Tasks {
		workers[ts.WorkerID] = true
	}
	if len(workers) < 2 {
		t.Fatalf("3 tasks on 3 workers all ran on %v", workers)
	}
	victim := byID[st.Tasks[0].WorkerID]
	if victim == nil {
		t.Fatalf("task 0 runs on unknown worker %s", st.Tasks[0].WorkerID)
	}
	survivor := procs[0]
	if survivor == victim {
		survivor = procs[1]
	}
	before, _ := seqValues(t, c, topic, 1)
	victim.kill()
	killedAt := time.Now()
	if len(before) >= tasks*count {
		t.Fatalf("the stream finished before the kill; the test proves nothing")
	}
	eventually(t, session+delay+20*time.Second, "task 0 to move to a survivor", func() (bool, string) {
		st := connectorStatus(t, survivor.url, "dist")
		if len(st.Tasks) != tasks {
			return false, fmt.Sprintf("%+v", st)
		}
		for _, ts := range st.Tasks {
			if ts.State != stateRunning || ts.WorkerID == victim.addr {
				return false, fmt.Sprintf("%+v", st)
			}
		}
		return true, ""
	})
	moved := time.Since(killedAt)
	victimLed := strings.Contains(victim.stderr.String(), "leader assigned work")
	held := false
	for _, p := range procs {
		if p != victim && strings.Contains(p.stderr.String(), "members=2") {
			for _, l := range strings.Split(p.stderr.String(), "\n") {
				if strings.Contains(l, "members=2") && !strings.Contains(l, "held_ms=0") {
					held = true
				}
			}
		}
	}
	// A surviving leader holds the lost work for the delay; a new leader
	// (the victim led) has no memory of it and hands it out at once.
	if !victimLed && !held {
		t.Fatalf("the leader survived but did not hold the lost worker's tasks for the delay")
	}
	if !victimLed && moved < delay {
		t.Fatalf("tasks moved after %s, before the %s delay", moved, delay)
	}
	for _, p := range procs {
		if p != victim {
			for _, l := range strings.Split(p.stderr.String(), "\n") {
				if strings.Contains(l, "leader assigned work") {
					t.Logf("%s: %s", p.addr, l[strings.Index(l, "msg="):])
				}
			}
		}
	}
	t.Logf("tasks moved %s after the kill (session timeout %s + delay %s)", moved.Round(100*time.Millisecond), session, delay)
	eventually(t, 90*time.Second, "every record", func() (bool, string) {
		seen, _ := seqValues(t, c, topic, tasks*count)
		miss := missingSeq(seen, tasks, count)
		return len(miss) == 0, fmt.Sprintf("%d missing, e.g. %v", len(miss), miss[:min(3, len(miss))])
	})
	if !strings.Contains(procs[1].stderr.String()+procs[2].stderr.String(), "forwarding a REST write to the leader") {
		t.Fatalf("neither write was forwarded, yet at most one of the two workers leads")
	}
	if !strings.Contains(survivor.stderr.String(), "connect group assignment") {
		t.Fatalf("survivor never got an assignment")
	}
}

// topicEnd is the sum of a topic's end offsets (0 when it does not exist).
func topicEnd(t *testing.T, addr, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}
