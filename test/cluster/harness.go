package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/internal/testutil"
	"github.com/weirlog/weir/test/compat/harness"
)

// EnvSystem selects what the harness starts: "weir" (the default) or
// "kafka", three Apache Kafka KRaft nodes in combined broker+controller
// mode from test/services/kafka (the jars kafka.sh fetches), at Kafka's
// defaults. The scenarios run unchanged against either, which is how they
// are checked against the reference implementation.
const EnvSystem = "WEIR_CLUSTER_SYSTEM"

// IsKafka reports whether the harness runs Apache Kafka instead of weir.
func IsKafka() bool { return os.Getenv(EnvSystem) == "kafka" }

// ReadyTimeout bounds how long a node may take to answer Metadata after
// it was started (recovery after kill -9 and a Raft election included).
var ReadyTimeout = 60 * time.Second

// Config says what cluster to start.
type Config struct {
	Nodes int      // number of nodes, all of them controller voters (default 3)
	Args  []string // extra `weir serve` flags for every node
	Net   *Net     // when set, each node runs in its own network namespace of Net
	// ArgsFor, when set, gives one node more flags (it may use the
	// cluster's addresses, which exist by then).
	ArgsFor func(c *Cluster, n *Node) []string
}

// Cluster is a set of `weir serve` processes forming one weir cluster.
type Cluster struct {
	t       testing.TB
	Bin     string
	Dir     string
	Net     *Net
	Nodes   []*Node
	voters  string
	args    []string
	argsFor func(c *Cluster, n *Node) []string
	// only, in a view made by Only, lists the Kafka addresses its
	// clients may reach; nil means every address.
	only map[string]bool
}

// Only is a view of c whose clients reach node n alone: its dialer refuses
// every other broker the metadata names, so whatever such a client sees
// acknowledged, n acknowledged.
func (c *Cluster) Only(n *Node) *Cluster {
	return &Cluster{t: c.t, Bin: c.Bin, Dir: c.Dir, Net: c.Net, Nodes: []*Node{n}, voters: c.voters, only: map[string]bool{n.KafkaAddr: true}}
}

// Node is one `weir serve` process. Its addresses and data directory stay
// fixed across Kill and Start, so a restarted node is the same broker.
type Node struct {
	ID        int32
	KafkaAddr string
	RaftAddr  string
	HTTPAddr  string
	DataDir   string
	LogPath   string
	c         *Cluster
	namespace string // network namespace to run in, "" for the host's
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	// paused is atomic: Seeds reads it from ArgsFor, which spawn calls
	// holding mu (a mutex there deadlocked a node's own start).
	paused    atomic.Bool
	runs      int
	extraArgs []string
}

// Start starts a cluster of cfg.Nodes voters and waits until every node
// answers Metadata. Nodes are stopped (and, unless the test failed or
// WEIR_TEST_KEEP=1, their directories removed) when t ends; a failed
// test prints every node's log tail.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if IsKafka() && ReadyTimeout < 3*time.Minute {
		ReadyTimeout = 3 * time.Minute // three JVMs on a small machine; a restart recovers and rejoins slowly
	}
	dir, err := os.MkdirTemp("", "weir-cluster-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	bin := "kafka"
	if !IsKafka() {
		bin = harness.WeirBinary(t)
	}
	c := &Cluster{t: t, Bin: bin, Dir: dir, Net: cfg.Net, args: cfg.Args, argsFor: cfg.ArgsFor}
	var voters []string
	for i := 1; i <= cfg.Nodes; i++ {
		n := c.newNode(int32(i))
		c.Nodes = append(c.Nodes, n)
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.RaftAddr))
	}
	c.voters = strings.Join(voters, ",")
	t.Cleanup(func() {
		c.StopAll()
		if t.Failed() {
			for _, n := range c.Nodes {
				t.Logf("node %d log (%s), last lines:\n%s", n.ID, n.LogPath, Tail(n.LogPath, 40))
			}
		}
		if os.Getenv("WEIR_TEST_KEEP") != "1" && !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("kept the cluster's data and logs under %s", dir)
		}
	})
	// Start every process before waiting on any: a voter is not ready
	// until a quorum of them is up.
	for _, n := range c.Nodes {
		if err := n.spawn(); err != nil {
			t.Fatalf("start node %d: %v", n.ID, err)
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitReady(ReadyTimeout); err != nil {
			t.Fatalf("node %d: %v", n.ID, err)
		}
	}
	return c
}

func (c *Cluster) newNode(id int32) *Node {
	n := &Node{ID: id, c: c, DataDir: filepath.Join(c.Dir, fmt.Sprintf("n%d", id)), LogPath: filepath.Join(c.Dir, fmt.Sprintf("n%d.log", id))}
	if c.Net != nil {
		ip := c.Net.AddNode(c.t, int(id))
		n.namespace = c.Net.NodeNS(int(id))
		n.KafkaAddr, n.RaftAddr, n.HTTPAddr = ip+":9092", ip+":9093", ip+":8083"
	} else {
		n.KafkaAddr, n.RaftAddr, n.HTTPAddr = testutil.FreePort(c.t), testutil.FreePort(c.t), testutil.FreePort(c.t)
	}
	return n
}

// AddBroker starts node id as a broker only (not a controller voter): it
// learns metadata from the voters, which is how a cluster grows.
func (c *Cluster) AddBroker(id int32) (*Node, error) {
	n := c.newNode(id)
	c.Nodes = append(c.Nodes, n)
	if err := n.spawn(); err != nil {
		return n, err
	}
	return n, n.WaitReady(ReadyTimeout)
}

// Node returns the node with id, or nil.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Seeds lists the Kafka address of every node that is not paused.
func (c *Cluster) Seeds() []string {
	var s []string
	for _, n := range c.Nodes {
		// A SIGSTOPped node accepts connections (the kernel's backlog)
		// and never answers: Kafka's Java AdminClient that bootstraps
		// from it waits out request.timeout.ms (30 s) before trying
		// another, and a call like listPartitionReassignments then runs
		// out of its 60 s (TestClusterKafkaReassignCancel failed so).
		if !n.Paused() {
			s = append(s, n.KafkaAddr)
		}
	}
	return s
}

// Dialer is the kgo dialer that reaches the nodes (through the client
// namespace when the cluster lives in a Net), nil on loopback.
func (c *Cluster) Dialer() func(ctx context.Context, network, host string) (net.Conn, error) {
	dial := (&net.Dialer{}).DialContext
	if c.Net != nil {
		dial = c.Net.DialContext
	}
	if c.only != nil {
		return func(ctx context.Context, network, host string) (net.Conn, error) {
			if !c.only[host] {
				return nil, fmt.Errorf("this client may reach only %v, not %s", slices.Collect(maps.Keys(c.only)), host)
			}
			return dial(ctx, network, host)
		}
	}
	if c.Net == nil {
		return nil
	}
	return dial
}

// ClientOpts are the options every client of the cluster needs: the seeds
// and, in a Net, the dialer.
func (c *Cluster) ClientOpts() []kgo.Opt {
	o := []kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}
	if d := c.Dialer(); d != nil {
		o = append(o, kgo.Dialer(d))
	}
	return o
}

// Client returns a franz-go client of the cluster, closed when the test ends.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append(c.ClientOpts(), opts...)...)
	if err != nil {
		c.t.Fatalf("kgo client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// StopAll resumes paused nodes and stops every node (SIGTERM, then SIGKILL).
func (c *Cluster) StopAll() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }()
	}
	wg.Wait()
}

// PartitionState is one partition as Metadata describes it.
type PartitionState struct {
	Leader   int32
	Epoch    int32
	Replicas []int32
	ISR      []int32
}

// Describe asks node via (or any running node when via is nil) for
// topic's partitions.
func (c *Cluster) Describe(ctx context.Context, via *Node, topic string) (map[int32]PartitionState, error) {
	nodes := c.Nodes
	if via != nil {
		nodes = []*Node{via}
	}
	var last error = errors.New("no running node")
	for _, n := range nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		m, err := n.metadata(ctx, topic)
		if err != nil {
			last = err
			continue
		}
		out := map[int32]PartitionState{}
		for _, tp := range m.Topics {
			if err := kerrOf(tp.ErrorCode); err != nil {
				last = fmt.Errorf("metadata of %s from node %d: %w", topic, n.ID, err)
				continue
			}
			for _, p := range tp.Partitions {
				out[p.Partition] = PartitionState{Leader: p.Leader, Epoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR}
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, last
}

// WaitBrokers polls Metadata from every running node until each lists
// want brokers. Metadata leaves fenced brokers out, so this is the moment
// the whole cluster counts them live: a restarted node answers Metadata
// (Node.Start returns) once it has caught up, which can be a heartbeat
// before the controller unfences it again; a topic created in between
// gets replicas on the other brokers only.
func (c *Cluster) WaitBrokers(ctx context.Context, want int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		behind := c.notListing(ctx, want)
		if behind == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not every node lists %d brokers: %s", want, behind)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notListing names the first running node whose Metadata does not list
// want brokers, and why; "" when every one does.
func (c *Cluster) notListing(ctx context.Context, want int) string {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		m, err := n.metadata(ctx, "")
		if err != nil {
			return fmt.Sprintf("node %d: %v", n.ID, err)
		}
		if len(m.Brokers) != want {
			return fmt.Sprintf("node %d lists %d brokers", n.ID, len(m.Brokers))
		}
	}
	return ""
}

// WaitLeader polls Metadata (asking only nodes that run) until topic's
// partition has a leader that runs, is not in exclude, and answers as
// leader; it returns it and how long that took.
func (c *Cluster) WaitLeader(ctx context.Context, topic string, partition int32, timeout time.Duration, exclude ...int32) (*Node, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		st, err := c.Describe(ctx, nil, topic)
		if err == nil {
			p, ok := st[partition]
			n := c.Node(p.Leader)
			switch {
			case !ok:
				err = fmt.Errorf("metadata lacks partition %d", partition)
			case n == nil:
				err = fmt.Errorf("leader %d is no node of the cluster", p.Leader)
			case containsID(exclude, p.Leader) || !n.Running() || n.Paused():
				err = fmt.Errorf("leader still %d", p.Leader)
			default:
				return n, time.Since(start), nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, time.Since(start), fmt.Errorf("no new leader of %s/%d after %v: %v", topic, partition, timeout, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func containsID(xs []int32, x int32) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (n *Node) args() []string {
	a := []string{"serve",
		"--node-id", strconv.Itoa(int(n.ID)),
		"--data-dir", n.DataDir,
		"--kafka-addr", n.KafkaAddr,
		"--advertised-kafka-addr", n.KafkaAddr,
		"--http-addr", n.HTTPAddr,
		"--raft-addr", n.RaftAddr,
		"--controller-voters", n.c.voters,
	}
	a = append(a, n.c.args...)
	if n.c.argsFor != nil {
		a = append(a, n.c.argsFor(n.c, n)...)
	}
	return append(a, n.extraArgs...)
}

// Args sets extra flags for this node's next starts.
func (n *Node) Args(extra ...string) { n.extraArgs = extra }

func (n *Node) spawn() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return errors.New("already running")
	}
	lf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.runs++
	fmt.Fprintf(lf, "\n===== cluster harness: node %d start #%d at %s =====\n", n.ID, n.runs, time.Now().Format(time.RFC3339Nano))
	var cmd *exec.Cmd
	if IsKafka() {
		var err error
		if cmd, err = n.kafkaCmd(); err != nil {
			lf.Close()
			return err
		}
	} else if n.namespace != "" {
		// ip netns exec execs weir itself: the pid we hold is weir's.
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.namespace, n.c.Bin}, n.args()...)...)
	} else {
		cmd = exec.Command(n.c.Bin, n.args()...)
	}
	if cmd.Stdout == nil {
		cmd.Stdout, cmd.Stderr = lf, lf
	}
	if err := harness.StartTied(cmd); err != nil {
		lf.Close()
		return fmt.Errorf("exec weir serve: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		n.noteStrangeExit(cmd, lf)
		lf.Close()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	n.paused.Store(false)
	return nil
}

// Start (re)starts the node on its addresses and data and waits until it
// answers Metadata.
func (n *Node) Start() error {
	if err := n.spawn(); err != nil {
		return err
	}
	return n.WaitReady(ReadyTimeout)
}

// WaitReady waits until the node answers Metadata naming itself.
func (n *Node) WaitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		if done == nil {
			return errors.New("not started")
		}
		select {
		case <-done:
			return fmt.Errorf("weir serve exited during startup; log tail:\n%s", Tail(n.LogPath, 30))
		default:
		}
		m, err := n.metadata(ctx, "")
		if err == nil {
			err = fmt.Errorf("metadata from node %d does not list it", n.ID)
			for _, b := range m.Brokers {
				if b.NodeID == n.ID {
					err = n.httpReady(ctx)
					break
				}
			}
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d (kafka %s) not ready after %v: %v; log tail:\n%s", n.ID, n.KafkaAddr, timeout, last, Tail(n.LogPath, 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// httpReady checks that a weir node's HTTP server (REST, Connect)
// answers /health. weir serve opens it only after its Connect worker has
// started, which on a worker needs the state topics, so a node can answer
// Metadata seconds before it: a test that POSTed a connector right after
// Start once got "connection refused", failed, and its cleanup's SIGTERM
// looked like a stray signal (TestClusterFileStreamSurvivesKill in CI).
func (n *Node) httpReady(ctx context.Context) error {
	if IsKafka() {
		return nil // Apache Kafka brokers serve no HTTP here
	}
	tr := &http.Transport{}
	if n.c.Net != nil {
		tr.DialContext = n.c.Net.DialContext // not Dialer: a test's "only" list names Kafka addresses
	}
	defer tr.CloseIdleConnections()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+n.HTTPAddr+"/health", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("http %s: %w", n.HTTPAddr, err)
	}
	resp.Body.Close()
	return nil
}

// metadata asks this node alone (a client seeded with it and pinned to it).
func (n *Node) metadata(ctx context.Context, topic string) (*kmsg.MetadataResponse, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(n.KafkaAddr), kgo.RetryTimeout(time.Second), kgo.RequestRetries(0), kgo.DialTimeout(time.Second)}
	if d := n.c.Dialer(); d != nil {
		opts = append(opts, kgo.Dialer(d))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// A seed broker answers as itself: RequestSharded would follow the
	// controller; a plain request to the only seed stays here.
	return req.RequestWith(rctx, cl)
}

// noteStrangeExit writes to the node's log which processes were running
// when the process ended while the harness still counted it as running
// (Kill and Stop clear n.cmd first): a node of a CI run once shut down on
// a SIGTERM nobody in the test sent, and the sender was gone by the time
// anyone looked. weir serve exits 0 after a SIGTERM, so any exit counts.
func (n *Node) noteStrangeExit(cmd *exec.Cmd, log io.Writer) {
	n.mu.Lock()
	ours := n.cmd == cmd
	n.mu.Unlock()
	if !ours {
		return
	}
	ps, _ := exec.Command("ps", "-eo", "pid,ppid,pgid,etime,args", "--sort=start_time").CombinedOutput()
	fmt.Fprintf(log, "harness: weir serve (pid %d) ended (%v) while the harness counted it as running; processes then:\n%s", cmd.Process.Pid, cmd.ProcessState, ps)
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return errors.New("not running")
	}
	return n.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL (kill -9) and waits until the process is gone.
func (n *Node) Kill() { n.stop(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM (a controlled shutdown), then SIGKILL after 30 s.
func (n *Node) Stop() { n.stop(syscall.SIGTERM, 30*time.Second) }

func (n *Node) stop(sig syscall.Signal, grace time.Duration) {
	n.mu.Lock()
	cmd, done, paused := n.cmd, n.done, n.paused.Load()
	n.cmd = nil
	n.paused.Store(false)
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	if paused {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped process acts on SIGTERM only once continued
	}
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
}

// Pause sends SIGSTOP: the process keeps its sockets but answers nothing,
// like a long GC pause or a VM freeze.
func (n *Node) Pause() error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused.Store(true)
	n.mu.Unlock()
	return nil
}

// Resume sends SIGCONT to a paused node.
func (n *Node) Resume() error {
	if err := n.signal(syscall.SIGCONT); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused.Store(false)
	n.mu.Unlock()
	return nil
}

// Running reports whether the process was started and has not exited.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Paused reports whether the node was paused and not resumed.
func (n *Node) Paused() bool { return n.paused.Load() }

// Pid is the process id, 0 when not running.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
