package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// broker is one system under test.
type broker interface {
	// start launches a fresh instance with an empty data dir and returns
	// process start → first ack, and launch command start → first ack.
	start(ctx context.Context, round int) (cold, total time.Duration, err error)
	addr() string
	// pid is the broker process itself (the JVM, not its start script).
	pid() (int, error)
	stop() error
}

// waitFirstAck polls until a produce with acks=all is acknowledged,
// creating the topic first; every attempt uses a fresh client so no client
// backoff hides the moment the broker becomes ready.
func waitFirstAck(ctx context.Context, addr string, timeout time.Duration, alive func() error) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if err := alive(); err != nil {
			return time.Time{}, err
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		err := tryProduce(ctx, addr)
		if err == nil {
			return time.Now(), nil
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no acknowledged produce within %s: %v", timeout, lastErr)
}

func tryProduce(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DialTimeout(time.Second), kgo.ProducerLinger(0), kgo.RetryTimeout(2*time.Second),
		kgo.RecordDeliveryTimeout(3*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	r, err := adm.CreateTopic(ctx, 1, -1, nil, "bench-cold-start")
	if err == nil {
		err = r.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic: %w", err)
	}
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "bench-cold-start", Value: []byte("first")}).FirstErr()
}

// weirBroker runs `weir serve` with its defaults: only the data dir and the
// two listen addresses are set (plus -weir-args and extra).
type weirBroker struct {
	c     config
	addr_ string
	extra []string
	tag   string // names the data dir and log apart from the main runs
	cmd   *exec.Cmd
	dir   string
	done  chan error
}

func (w *weirBroker) addr() string { return w.addr_ }

func (w *weirBroker) start(ctx context.Context, round int) (time.Duration, time.Duration, error) {
	if portOpen(w.addr_) || portOpen(w.c.weirHTTP) {
		return 0, 0, fmt.Errorf("%s or %s is already in use; stop that process or pass -weir-addr/-weir-http", w.addr_, w.c.weirHTTP)
	}
	name := fmt.Sprintf("weir%s-%d", w.tag, round)
	w.dir = filepath.Join(w.c.workDir, name+"-data")
	os.RemoveAll(w.dir)
	logf, err := os.Create(filepath.Join(w.c.workDir, name+".log"))
	if err != nil {
		return 0, 0, err
	}
	args := []string{"serve", "--data-dir", w.dir, "--kafka-addr", w.addr_, "--http-addr", w.c.weirHTTP}
	args = append(args, strings.Fields(w.c.weirArgs)...)
	args = append(args, w.extra...)
	w.cmd = exec.Command(w.c.weirBin, args...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := w.cmd.Start(); err != nil {
		logf.Close()
		return 0, 0, fmt.Errorf("start %s: %w", w.c.weirBin, err)
	}
	w.done = make(chan error, 1)
	go func() { w.done <- w.cmd.Wait(); logf.Close() }()
	t1, err := waitFirstAck(ctx, w.addr_, w.c.startTimeout, func() error {
		select {
		case err := <-w.done:
			w.done <- err
			return fmt.Errorf("weir serve exited (%v); see %s", err, logf.Name())
		default:
			return nil
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return t1.Sub(t0), t1.Sub(t0), nil
}

func (w *weirBroker) pid() (int, error) {
	if w.cmd == nil || w.cmd.Process == nil {
		return 0, errors.New("not running")
	}
	return w.cmd.Process.Pid, nil
}

func (w *weirBroker) stop() error {
	if w.cmd == nil || w.cmd.Process == nil {
		return nil
	}
	defer func() { w.cmd = nil; os.RemoveAll(w.dir) }()
	select {
	case <-w.done:
		return nil
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
	}
	return nil
}

// kafkaBroker runs Apache Kafka through test/services/kafka.sh (KRaft,
// single node, Kafka's defaults but for the listeners and the replication
// factors a single node needs) in a services dir of its own per round:
// fresh data, its own PID file, and no contact with the shared Kafka.
type kafkaBroker struct {
	c       config
	svcDir  string
	started bool
}

func (k *kafkaBroker) addr() string   { return k.c.kafkaAddr }
func (k *kafkaBroker) script() string { return filepath.Join(k.c.repo, "test/services/kafka.sh") }

func (k *kafkaBroker) env() []string {
	port, _ := strconv.Atoi(portOf(k.c.kafkaAddr))
	return append(os.Environ(), "WEIR_SERVICES_DIR="+k.svcDir,
		"WEIR_KAFKA_PORT="+strconv.Itoa(port), "WEIR_KAFKA_CONTROLLER_PORT="+strconv.Itoa(port+1),
		"WEIR_KAFKA_DATA_DIR="+filepath.Join(k.svcDir, "data"), "KAFKA_HEAP_OPTS="+k.c.kafkaHeap)
}

func (k *kafkaBroker) start(ctx context.Context, round int) (time.Duration, time.Duration, error) {
	if portOpen(k.c.kafkaAddr) {
		return 0, 0, fmt.Errorf("%s is already in use (a Kafka started elsewhere?); pass -kafka-addr", k.c.kafkaAddr)
	}
	k.svcDir = filepath.Join(k.c.workDir, fmt.Sprintf("kafka-%d", round))
	os.RemoveAll(k.svcDir)
	ctx, cancel := context.WithTimeout(ctx, k.c.startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.script(), "start")
	cmd.Env = k.env()
	pw := prefixWriter("    kafka.sh | ")
	defer pw.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, pw
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	k.started = true
	scriptDone := make(chan error, 1)
	go func() { scriptDone <- cmd.Wait() }()
	var scriptErr error
	t1, err := waitFirstAck(ctx, k.c.kafkaAddr, k.c.startTimeout, func() error {
		select {
		case err := <-scriptDone:
			scriptErr = err
			scriptDone <- err
			if err != nil {
				return fmt.Errorf("kafka.sh start failed: %v", err)
			}
		default:
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if err := <-scriptDone; err != nil && scriptErr == nil {
		return 0, 0, fmt.Errorf("kafka.sh start: %w", err)
	}
	pid, err := k.pid()
	if err != nil {
		return 0, 0, err
	}
	started, err := processStart(pid)
	if err != nil {
		return 0, 0, err
	}
	return t1.Sub(started), t1.Sub(t0), nil
}

func (k *kafkaBroker) pid() (int, error) { return listenerPID(k.c.kafkaAddr) }

func (k *kafkaBroker) stop() error {
	if !k.started {
		return nil
	}
	k.started = false
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.script(), "stop")
	cmd.Env = k.env()
	pw := prefixWriter("    kafka.sh | ")
	defer pw.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, pw
	err := cmd.Run()
	if err == nil {
		os.RemoveAll(k.svcDir)
	}
	return err
}

func portOpen(addr string) bool {
	out, _ := exec.Command("ss", "-Hltn", "sport = :"+portOf(addr)).Output()
	return strings.TrimSpace(string(out)) != ""
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

var ssPID = regexp.MustCompile(`pid=(\d+)`)

// listenerPID finds the process listening on addr: the broker itself, not
// whatever wrapper script launched it.
func listenerPID(addr string) (int, error) {
	out, err := exec.Command("ss", "-Hltnp", "sport = :"+portOf(addr)).Output()
	if err != nil {
		return 0, fmt.Errorf("ss: %w", err)
	}
	m := ssPID.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no process listens on %s", addr)
	}
	return strconv.Atoi(string(m[1]))
}

// statFields are the fields of /proc/<pid>/stat after the command name:
// index 0 is field 3 (state) of proc(5).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

const clkTck = 100 // sysconf(_SC_CLK_TCK) on every Linux we run on

// cpuSeconds is utime+stime of every thread of pid so far.
func cpuSeconds(pid int) (float64, error) {
	u, s, err := cpuSplit(pid)
	return u + s, err
}

// cpuSplit is utime and stime of every thread of pid so far: the broker's
// own code, and the kernel's work on its behalf (copies into the page cache
// and out of sockets, which every broker pays alike).
func cpuSplit(pid int) (user, sys float64, err error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, 0, err
	}
	ut, err1 := strconv.ParseFloat(f[11], 64) // field 14
	st, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return ut / clkTck, st / clkTck, nil
}

func vmHWM(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// processStart is when pid started, from its age in clock ticks (10 ms
// resolution on Linux).
func processStart(pid int) (time.Time, error) {
	now := time.Now()
	f, err := statFields(pid)
	if err != nil {
		return time.Time{}, err
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, err
	}
	ticks, err := strconv.ParseFloat(f[19], 64) // field 22, starttime
	if err != nil {
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	uptime, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return time.Time{}, err
	}
	age := time.Duration((uptime - ticks/clkTck) * float64(time.Second))
	return now.Add(-age), nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func loadAvg1m() float64 {
	f := strings.Fields(loadAvg())
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l
}
