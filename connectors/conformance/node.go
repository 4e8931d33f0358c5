package conformance

import (
	"bytes"
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

	"github.com/weirlog/weir/internal/testutil"
)

// The kit runs the real binary, `weir serve`, as a child process: kill -9
// must really kill (no deferred flush, no LeaveGroup), as it does in
// production.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// BinEnv names a prebuilt weir binary to use instead of building one
// (make test-connectors builds bin/weir once for every package).
const BinEnv = "WEIR_BIN"

// weirBinary builds ./cmd/weir once per test binary.
func weirBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv(BinEnv); p != "" {
			binPath, buildErr = filepath.Abs(p)
			if buildErr == nil {
				_, buildErr = os.Stat(binPath)
			}
			return
		}
		removeStaleBins()
		dir, err := os.MkdirTemp("", fmt.Sprintf("weir-kit-bin-%d-", os.Getpid()))
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "weir")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/weirlog/weir/cmd/weir").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build github.com/weirlog/weir/cmd/weir: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("weir binary: %v", buildErr)
	}
	return binPath
}

// removeStaleBins deletes binaries earlier test processes built and left
// (a package without Main cannot remove its own): their directory names
// carry the pid of a process that no longer exists.
func removeStaleBins() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "weir-kit-bin-*-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "weir-kit-bin-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// Main is an optional TestMain for packages that run the kit: it removes
// the weir binary the kit built once the tests are done.
func Main(m *testing.M) int {
	code := m.Run()
	if binPath != "" && os.Getenv(BinEnv) == "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	return code
}

// node is one `weir serve` process with a fixed data directory and fixed
// addresses, so it can be killed and started again as the same node.
type node struct {
	t        testing.TB
	name     string
	cwd      string // shared by the nodes of one cluster: connect-files/ lives here
	dataDir  string
	kafka    string
	http     string
	args     []string
	logPath  string
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	starts   int
	lastKill time.Time
	// readyPath answers 200 once the node serves ([/connectors]: the
	// worker has read its config topic).
	readyPath string
}

func newNode(t testing.TB, cwd, name string, args ...string) *node {
	n := &node{t: t, name: name, cwd: cwd, dataDir: filepath.Join(cwd, "data-"+name),
		kafka: testutil.FreePort(t), http: testutil.FreePort(t), args: args, logPath: filepath.Join(cwd, name+".log")}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("%s log (last 6 KiB of %s):\n%s", n.name, n.logPath, tail(n.logPath, 6<<10))
		}
	})
	return n
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (n *node) url() string { return "http://" + n.http }

// start launches the process and waits until its REST API answers.
func (n *node) start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.t.Fatalf("%s: already running", n.name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== start %d at %s\n", n.starts, time.Now().Format(time.RFC3339Nano))
	args := append([]string{"serve", "--data-dir", n.dataDir, "--kafka-addr", n.kafka, "--http-addr", n.http,
		"--log-level", "info"}, n.args...)
	cmd := exec.Command(weirBinary(n.t), args...)
	cmd.Dir = n.cwd
	cmd.Stdout, cmd.Stderr = logf, logf
	// Cleanup kills it; Pdeathsig covers a test binary that is killed
	// itself (go test -timeout), so no weir outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("%s: start weir serve: %v", n.name, err)
	}
	n.starts++
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			n.cmd = nil
			n.t.Fatalf("%s: weir serve exited before it was ready:\n%s", n.name, tail(n.logPath, 4<<10))
		default:
		}
		path := n.readyPath
		if path == "" {
			path = "/connectors"
		}
		resp, err := http.Get(n.url() + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: REST API not ready after 60s:\n%s", n.name, tail(n.logPath, 4<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (n *node) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd = nil
	n.lastKill = time.Now()
}

// stop sends SIGTERM and waits up to 20s, then kills.
func (n *node) stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		n.mu.Lock()
		n.cmd = nil
		n.mu.Unlock()
	case <-time.After(20 * time.Second):
		n.kill()
	}
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// logContains reports whether the node's log has s (for diagnostics).
func (n *node) logContains(s string) bool {
	b, _ := os.ReadFile(n.logPath)
	return bytes.Contains(b, []byte(s))
}

// workerArgs are the flags every worker of the kit gets.
func workerArgs(o Options) []string {
	args := []string{"--connect-offset-flush-interval", o.OffsetFlushInterval.String()}
	return append(args, o.WeirArgs...)
}

func joinAddrs(ns []*node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.kafka)
	}
	return strings.Join(s, ",")
}
