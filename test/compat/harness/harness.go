// Package harness gives the client-compatibility tests (test/compat) and the
// crash tests (test/crash) a Kafka-compatible broker to talk to.
//
// By default it builds the weir binary and starts `weir serve` as a
// subprocess on free loopback ports with a temporary data directory, so the
// tests exercise the real binary exactly as a user runs it. Setting
//
//	WEIR_TEST_BROKER=127.0.0.1:19092
//
// points the same tests at an already running broker instead (for example
// Apache Kafka from test/services/kafka.sh), which is how the tests
// themselves are checked against the reference implementation, and
//
//	WEIR_TEST_BROKER=inproc
//
// runs each test against an in-process broker from core/broker/brokertest
// (no binary, no HTTP side: quicker, and usable before `weir serve` is).
//
// Other knobs:
//
//	WEIR_BIN          path of a prebuilt weir binary (default: go build ./cmd/weir once per test process)
//	WEIR_TEST_KEEP=1  keep data directories and logs of started brokers
//	WEIR_TEST_NO_HEALTH=1  do not wait for /health (only to run the harness
//	                  itself against a stand-in binary that has no HTTP side)
//
// Nothing here skips a test: a broker that does not start, or a missing
// tool, is a test failure.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker/brokertest"
	"github.com/weirlog/weir/internal/testutil"
)

// EnvBroker names the environment variable holding the address of an
// externally managed broker.
const EnvBroker = "WEIR_TEST_BROKER"

// ReadyTimeout bounds how long a started broker may take to accept Kafka
// requests (recovery after kill -9 included).
var ReadyTimeout = 60 * time.Second

// External reports the externally managed broker address, if any
// ("inproc" for an in-process broker per test).
func External() (string, bool) {
	a := strings.TrimSpace(os.Getenv(EnvBroker))
	return a, a != ""
}

// Broker returns the address of a broker for t: the external one when
// WEIR_TEST_BROKER is set, otherwise a fresh `weir serve` that is stopped
// when t ends.
func Broker(t testing.TB) string {
	t.Helper()
	if a, ok := External(); ok && a == "inproc" {
		return brokertest.Start(t).Addr()
	} else if ok {
		if err := WaitKafka(context.Background(), a, 30*time.Second); err != nil {
			t.Fatalf("external broker %s (%s) not usable: %v", a, EnvBroker, err)
		}
		return a
	}
	p := StartWeir(t, "")
	return p.KafkaAddr
}

// RepoRoot finds the module root (the directory holding go.mod of
// github.com/weirlog/weir) from the working directory upward.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/weirlog/weir\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of github.com/weirlog/weir not found above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// WeirBinary returns the weir binary to run: $WEIR_BIN if set, otherwise
// one built from the working tree once per test process (never a possibly
// stale bin/weir).
func WeirBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("WEIR_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("WEIR_BIN=%s: %v", p, err)
		}
		return p
	}
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "weir-bin-")
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(dir, "weir")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/weir")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/weir: %v\n%s", err, b)
			return
		}
		buildPath = out
	})
	if buildErr != nil {
		t.Fatalf("building weir: %v", buildErr)
	}
	return buildPath
}

// Main runs the tests of a package that uses this harness and then removes
// the weir binary it built, if any. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	RemoveBinary()
	return code
}

// RemoveBinary removes the weir binary WeirBinary built, if any: for a
// TestMain that runs its tests through another Main (the connectors'
// conformance.Main).
func RemoveBinary() {
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
}

// Proc is a `weir serve` subprocess. Its addresses and data directory stay
// fixed across Kill/Start so that a restarted broker is the same broker.
type Proc struct {
	t         testing.TB
	Bin       string
	DataDir   string
	KafkaAddr string
	HTTPAddr  string
	LogPath   string
	Args      []string // more `weir serve` arguments (e.g. --fsync)
	// Dir is the process's working directory, the temporary directory
	// holding its log (and its data unless StartWeir was given another):
	// what weir serve creates relative to it (./connect-files) stays out
	// of the test's package directory.
	Dir string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	runs int
}

// StartWeir starts `weir serve` on free loopback ports with dataDir (a new
// temporary directory when empty) and waits until it serves Kafka requests.
// The process is stopped when t ends; its log is printed if t failed.
// args are more `weir serve` arguments, given at every (re)start.
func StartWeir(t testing.TB, dataDir string, args ...string) *Proc {
	t.Helper()
	keep := os.Getenv("WEIR_TEST_KEEP") == "1"
	base, err := os.MkdirTemp("", "weir-test-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	if dataDir == "" {
		dataDir = filepath.Join(base, "data")
	}
	p := &Proc{
		t:         t,
		Bin:       WeirBinary(t),
		DataDir:   dataDir,
		KafkaAddr: testutil.FreePort(t),
		HTTPAddr:  testutil.FreePort(t),
		LogPath:   filepath.Join(base, "weir.log"),
		Dir:       base,
		Args:      args,
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("weir serve log (%s), last lines:\n%s", p.LogPath, tail(p.LogPath, 60))
		}
		if !keep && !t.Failed() {
			os.RemoveAll(base)
		} else {
			t.Logf("kept weir data dir and log under %s", base)
		}
	})
	if err := p.Start(); err != nil {
		t.Fatalf("start weir serve: %v", err)
	}
	return p
}

// Start (re)starts the process on the same addresses and data directory and
// waits until it answers Kafka ApiVersions and Metadata and /health.
func (p *Proc) Start() error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return errors.New("already running")
	}
	lf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.runs++
	fmt.Fprintf(lf, "\n===== harness: start #%d at %s =====\n", p.runs, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Bin, append([]string{"serve",
		"--data-dir", p.DataDir,
		"--kafka-addr", p.KafkaAddr,
		"--http-addr", p.HTTPAddr,
	}, p.Args...)...)
	cmd.Dir = p.Dir
	cmd.Stdout = lf
	cmd.Stderr = lf
	if err := StartTied(cmd); err != nil {
		lf.Close()
		p.mu.Unlock()
		return fmt.Errorf("exec %s serve: %w", p.Bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(done) }()
	p.cmd, p.done, p.log = cmd, done, lf
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- p.waitReady(ctx) }()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("weir serve (kafka %s, http %s) not ready after %v: %w\nlog tail:\n%s",
				p.KafkaAddr, p.HTTPAddr, ReadyTimeout, err, tail(p.LogPath, 40))
		}
		return nil
	case <-done:
		p.mu.Lock()
		p.cmd = nil
		p.mu.Unlock()
		return fmt.Errorf("weir serve exited during startup (%v); log tail:\n%s", cmd.ProcessState, tail(p.LogPath, 40))
	}
}

func (p *Proc) waitReady(ctx context.Context) error {
	// /health on the HTTP address, then the Kafka listener itself.
	var last error
	for os.Getenv("WEIR_TEST_NO_HEALTH") != "1" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTPAddr+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("/health: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	dl, _ := ctx.Deadline()
	return WaitKafka(ctx, p.KafkaAddr, time.Until(dl))
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Proc) Kill() {
	p.signal(syscall.SIGKILL, 10*time.Second)
}

// Stop sends SIGTERM, then SIGKILL after 10 s.
func (p *Proc) Stop() {
	p.signal(syscall.SIGTERM, 10*time.Second)
}

func (p *Proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
}

// Running reports whether the process is alive (started and not exited).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// WaitKafka waits until addr answers ApiVersions and a Metadata request
// that names at least one broker.
func WaitKafka(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := kmsg.NewPtrApiVersionsRequest().RequestWith(rctx, cl)
		if err == nil {
			var m *kmsg.MetadataResponse
			m, err = kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
			if err == nil && len(m.Brokers) == 0 {
				err = errors.New("metadata lists no brokers")
			}
		}
		rcancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka %s: %w (last: %v)", addr, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// Pid is the running process's id, or 0.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}
