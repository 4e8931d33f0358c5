package weirtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/cluster"
	"github.com/weirlog/weir/runtime"

	_ "github.com/weirlog/weir/connectors/datagen" // the built-in connectors, as weir serve has them
	"github.com/weirlog/weir/connectors/file"
	_ "github.com/weirlog/weir/connectors/jdbc"
	_ "github.com/weirlog/weir/connectors/stomp"
	"github.com/weirlog/weir/internal/testutil"
)

// Option adjusts what Start starts.
type Option func(*options)

type options struct {
	topics     []topicSpec
	connectors []string
	configure  []func(*broker.Config)
	noConnect  bool
	logLevel   slog.Level
	fileDirs   []string
	nodes      int
}

type topicSpec struct {
	name       string
	partitions int32
}

// WithTopics creates topics before Start returns, each "name" (1
// partition) or "name:partitions".
func WithTopics(specs ...string) Option {
	return func(o *options) {
		for _, s := range specs {
			name, n, _ := strings.Cut(s, ":")
			p := int64(1)
			if n != "" {
				var err error
				if p, err = strconv.ParseInt(n, 10, 32); err != nil || p < 1 {
					p = -1 // Start reports it
				}
			}
			o.topics = append(o.topics, topicSpec{name, int32(p)})
		}
	}
}

// WithConnectors applies connector definitions (Strimzi KafkaConnector
// YAML or Connect JSON files, or directories of them, as `weir serve
// --connectors` takes) once the Connect runtime is up.
func WithConnectors(paths ...string) Option {
	return func(o *options) { o.connectors = append(o.connectors, paths...) }
}

// WithBrokerConfig adjusts the broker's configuration before it starts
// (e.g. c.DefaultPartitions = 3, c.AutoCreateTopics = false).
func WithBrokerConfig(configure func(*broker.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, configure) }
}

// WithFileDirs lets FileStream connectors use these directories too, besides
// FilesDir (e.g. a t.TempDir() that a WithConnectors file names).
func WithFileDirs(dirs ...string) Option {
	return func(o *options) { o.fileDirs = append(o.fileDirs, dirs...) }
}

// Nodes starts a cluster of n brokers in the test process instead of one:
// each a metadata voter (raft on its own 127.0.0.1 port) with its own data
// directory and Kafka port, topics replicated to min(3, n) of them by
// default (WithTopics, auto-created topics, Connect's state topics), and
// fast failure detection (100 ms heartbeats, 1 s session timeout). The
// Connect runtime uses all of them. StopNode stops one (a controlled
// shutdown, not a crash), as a failure test needs.
//
// A new partition's ISR is its leader alone until the followers catch up,
// so Start waits until WithTopics topics are fully in sync on every node;
// a topic a test creates itself (or auto-creates) should be waited for the
// same way before a node is stopped, or an acks=all partition can go
// offline with its leader.
func Nodes(n int) Option { return func(o *options) { o.nodes = n } }

// WithoutConnect starts the broker alone; ConnectURL is then "".
func WithoutConnect() Option { return func(o *options) { o.noConnect = true } }

// WithLogLevel sets which of weir's log lines reach t.Log (default warn).
func WithLogLevel(l slog.Level) Option { return func(o *options) { o.logLevel = l } }

// Weir is one embedded weir: broker (or brokers, with Nodes), Connect
// runtime, REST API.
type Weir struct {
	// Broker is the in-process broker (node 1 with Nodes), for tests that
	// want more than a Kafka address (its metrics, Healthy).
	Broker *broker.Broker

	tb      testing.TB
	dataDir string

	nodesMu sync.Mutex
	nodes   []*broker.Broker // by node ID - 1; nil once stopped

	// The Connect runtime starts in the background (see Start): connectDone
	// closes when it is up or has failed; the fields below it are written
	// before that and only read after.
	connectDone chan struct{}
	stopConnect context.CancelFunc
	connectURL  string
	connectErr  error
	worker      *runtime.Worker
	srv         *http.Server

	closeOnce sync.Once
	closeErr  error
}

// Brokers returns the bootstrap addresses for Kafka clients: every node
// still running.
func (w *Weir) Brokers() []string {
	w.nodesMu.Lock()
	defer w.nodesMu.Unlock()
	var addrs []string
	for _, b := range w.nodes {
		if b != nil {
			addrs = append(addrs, b.Addr())
		}
	}
	return addrs
}

// Node is the broker with this node ID (1…n), nil once stopped.
func (w *Weir) Node(id int32) *broker.Broker {
	w.nodesMu.Lock()
	defer w.nodesMu.Unlock()
	if id < 1 || int(id) > len(w.nodes) {
		return nil
	}
	return w.nodes[id-1]
}

// StopNode stops one node of a Nodes cluster, as a controlled shutdown
// (its leaderships move first); the others go on serving. Stopping one
// already stopped is a no-op.
func (w *Weir) StopNode(id int32) error {
	w.nodesMu.Lock()
	if id < 1 || int(id) > len(w.nodes) {
		w.nodesMu.Unlock()
		return fmt.Errorf("weirtest: no node %d (the cluster has %d)", id, len(w.nodes))
	}
	b := w.nodes[id-1]
	w.nodes[id-1] = nil
	w.nodesMu.Unlock()
	if b == nil {
		return nil
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("weirtest: stop node %d: %w", id, err)
	}
	return nil
}

// ConnectURL is the base URL of the Kafka Connect REST API
// (http://127.0.0.1:port), "" with WithoutConnect. The runtime starts in
// the background, so the first call waits until it is up and every
// WithConnectors definition is applied; if it did not start, ConnectURL
// fails the test, so call it from the test's goroutine.
func (w *Weir) ConnectURL() string {
	w.tb.Helper()
	if err := w.WaitConnect(); err != nil {
		w.tb.Fatalf("%v", err)
	}
	return w.connectURL
}

// WaitConnect waits until the Connect runtime is up and WithConnectors
// definitions are applied, and says why not if it did not start. It is nil
// at once with WithoutConnect.
func (w *Weir) WaitConnect() error {
	if w.connectDone == nil {
		return nil
	}
	<-w.connectDone
	return w.connectErr
}

// DataDir is the broker's temporary data directory.
func (w *Weir) DataDir() string { return w.dataDir }

// FilesDir is a directory FileStream connectors of this Weir may read and
// write (files elsewhere are refused, as by weir serve).
func (w *Weir) FilesDir() string { return filepath.Join(w.dataDir, "connect-files") }

// Close stops the Connect runtime (or its start, if it is not up yet),
// then the broker. Start registers it with tb.Cleanup; calling it earlier
// (to test a client's reaction to a broker going away) is fine, and later
// calls return the first result.
func (w *Weir) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		if w.connectDone != nil {
			w.stopConnect()
			<-w.connectDone
		}
		if w.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = w.srv.Shutdown(ctx)
			cancel()
		}
		if w.worker != nil {
			if err := w.worker.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close connect runtime: %w", err))
			}
		}
		// Nodes close together: one at a time, the last ones would wait
		// out their controlled shutdown with no quorum left.
		w.nodesMu.Lock()
		nodes := w.nodes
		w.nodes = make([]*broker.Broker, len(nodes))
		w.nodesMu.Unlock()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, b := range nodes {
			if b == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := b.Close(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("close broker %d: %w", i+1, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			w.closeErr = fmt.Errorf("weirtest: %v", errs)
		}
	})
	return w.closeErr
}

// Start starts weir for one test and registers its shutdown with
// tb.Cleanup. It returns once the broker serves (and WithTopics topics
// exist): the Connect runtime comes up in the background meanwhile, so a
// test that only produces and consumes does not wait for it, and
// ConnectURL waits for it. It fails the test (tb.Fatal) when the broker
// does not start; a Connect runtime that does not start fails it at
// ConnectURL, or at cleanup if the test never asked.
func Start(tb testing.TB, opts ...Option) *Weir {
	tb.Helper()
	o := options{logLevel: slog.LevelWarn}
	for _, opt := range opts {
		opt(&o)
	}
	for _, t := range o.topics {
		if t.name == "" || t.partitions < 1 {
			tb.Fatalf("weirtest: WithTopics: want name or name:partitions (partitions >= 1), got %q:%d", t.name, t.partitions)
		}
	}
	if o.noConnect && len(o.connectors) > 0 {
		tb.Fatal("weirtest: WithConnectors and WithoutConnect together")
	}
	if o.nodes == 0 {
		o.nodes = 1
	}
	if o.nodes < 1 {
		tb.Fatalf("weirtest: Nodes(%d): want at least 1", o.nodes)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: o.logLevel}))
	dataDir := tb.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, err := startNodes(ctx, dataDir, o, logger)
	if err != nil {
		tb.Fatalf("weirtest: %v", err)
	}
	w := &Weir{Broker: nodes[0], tb: tb, dataDir: dataDir, nodes: nodes}
	tb.Cleanup(func() {
		if err := w.Close(); err != nil {
			tb.Errorf("%v", err)
		}
		if err := w.connectErr; err != nil && !errors.Is(err, errConnectStopped) {
			tb.Errorf("%v", err)
		}
	})
	if !o.noConnect {
		// Started before the topics are created so the two overlap; the
		// runtime's own topics and the test's are independent.
		cctx, stop := context.WithCancelCause(context.Background())
		w.connectDone, w.stopConnect = make(chan struct{}), func() { stop(errConnectStopped) }
		go func() {
			defer close(w.connectDone)
			if err := w.startConnect(cctx, logger, o.connectors, o.fileDirs); err != nil {
				if cctx.Err() != nil {
					err = fmt.Errorf("%w (%w)", context.Cause(cctx), err)
				}
				w.connectErr = fmt.Errorf("weirtest: %w", err)
			}
		}()
	}
	if len(o.topics) > 0 {
		if err := createTopics(ctx, w.Brokers(), o.topics); err != nil {
			tb.Fatalf("weirtest: %v", err)
		}
	}
	return w
}

// startNodes starts o.nodes brokers, node i+1 in dir/node-(i+1) (dir
// itself for a single node), together: a cluster's first Start waits for
// the other voters.
func startNodes(ctx context.Context, dir string, o options, logger *slog.Logger) ([]*broker.Broker, error) {
	cfgs := make([]broker.Config, o.nodes)
	var voters []cluster.Voter
	for i := range cfgs {
		cfgs[i] = broker.Config{
			DataDir:          dir,
			KafkaAddr:        "127.0.0.1:0",
			AutoCreateTopics: true,
			// A test's groups fit in few partitions, and each costs start time.
			OffsetsTopicPartitions: 3,
		}
		if o.nodes > 1 {
			addr, err := testutil.FreeAddr()
			if err != nil {
				return nil, fmt.Errorf("raft address: %w", err)
			}
			voters = append(voters, cluster.Voter{NodeID: int32(i + 1), Addr: addr})
			c := &cfgs[i]
			c.DataDir = filepath.Join(dir, fmt.Sprintf("node-%d", i+1))
			c.NodeID, c.RaftAddr = int32(i+1), addr
			c.DefaultReplicationFactor = min(3, o.nodes)
			c.HeartbeatInterval, c.SessionTimeout = 100*time.Millisecond, time.Second
		}
	}
	nodes := make([]*broker.Broker, o.nodes)
	errc := make(chan error, o.nodes)
	for i := range cfgs {
		cfgs[i].ControllerVoters = voters
		for _, c := range o.configure {
			c(&cfgs[i])
		}
		l := logger
		if o.nodes > 1 {
			l = logger.With("node", i+1)
		}
		b, err := broker.New(cfgs[i], l)
		if err != nil {
			closeAll(nodes)
			return nil, fmt.Errorf("broker %d: %w", i+1, err)
		}
		nodes[i] = b
	}
	for i, b := range nodes {
		go func() {
			if err := b.Start(ctx); err != nil {
				errc <- fmt.Errorf("start broker %d: %w", i+1, err)
				return
			}
			errc <- nil
		}()
	}
	var errs []error
	for range nodes {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		closeAll(nodes)
		return nil, errors.Join(errs...)
	}
	return nodes, nil
}

func closeAll(nodes []*broker.Broker) {
	for _, b := range nodes {
		if b != nil {
			b.Close()
		}
	}
}

// errConnectStopped is why a Connect start ended when Close came first: not
// a failure worth reporting.
var errConnectStopped = errors.New("weir closed before the Connect runtime was up")

// connectStartLimit bounds the background start of the Connect runtime.
const connectStartLimit = 30 * time.Second

func (w *Weir) startConnect(ctx context.Context, logger *slog.Logger, connectors, fileDirs []string) error {
	ctx, cancel := context.WithTimeout(ctx, connectStartLimit)
	defer cancel()
	if err := os.MkdirAll(w.FilesDir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", w.FilesDir(), err)
	}
	if err := allowFileDirs(append([]string{w.FilesDir()}, fileDirs...)); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("connect REST listener: %w", err)
	}
	wk, err := runtime.New(runtime.Config{
		BootstrapServers:    w.Brokers(),
		HTTPAddr:            ln.Addr().String(),
		OffsetFlushInterval: time.Second,
		// One worker's state fits one partition each; Connect's defaults
		// (25 and 5) cost a log apiece at every start.
		OffsetTopicPartitions: 1,
		StatusTopicPartitions: 1,
	}, logger)
	if err != nil {
		ln.Close()
		return fmt.Errorf("connect runtime: %w", err)
	}
	if err := wk.Start(ctx); err != nil {
		ln.Close()
		wk.Close()
		return fmt.Errorf("start connect runtime: %w", err)
	}
	w.worker = wk
	w.srv = &http.Server{Handler: wk.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go w.srv.Serve(ln)
	w.connectURL = "http://" + ln.Addr().String()
	for _, p := range connectors {
		if err := wk.ApplyDir(p); err != nil {
			return fmt.Errorf("apply connectors %s: %w", p, err)
		}
	}
	return nil
}

func createTopics(ctx context.Context, brokers []string, topics []topicSpec) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range topics {
		resp, err := adm.CreateTopic(ctx, t.partitions, -1, nil, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s (%d partitions): %w", t.name, t.partitions, err)
		}
	}
	if len(brokers) > 1 {
		return waitReplicated(ctx, brokers, topics)
	}
	return nil
}

// waitReplicated waits until every node serves each topic with a leader
// for every partition and all replicas in sync. A new partition's ISR is
// its leader alone until the followers catch up, and a node's metadata
// trails the controller's a little: a test that stops a node right after
// Start must find its topics fully replicated, or an acks=all partition
// whose ISR was still the stopped leader alone goes offline.
func waitReplicated(ctx context.Context, brokers []string, topics []topicSpec) error {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t.name)
		req.Topics = append(req.Topics, rt)
	}
	for _, addr := range brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return fmt.Errorf("metadata client for %s: %w", addr, err)
		}
		last := "no answer"
		for done := false; !done; {
			resp, err := req.RequestWith(ctx, cl)
			if err == nil {
				done, last = replicated(resp, topics)
			}
			if done {
				break
			}
			if ctx.Err() != nil {
				cl.Close()
				return fmt.Errorf("topics not fully replicated on %s: %s: %w", addr, last, ctx.Err())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cl.Close()
	}
	return nil
}

// replicated says whether resp shows every topic with all its partitions
// led and in sync, and if not, what is missing.
func replicated(resp *kmsg.MetadataResponse, topics []topicSpec) (bool, string) {
	want := map[string]int32{}
	for _, t := range topics {
		want[t.name] = t.partitions
	}
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if int32(len(t.Partitions)) != want[name] {
			return false, fmt.Sprintf("%s has %d of %d partitions", name, len(t.Partitions), want[name])
		}
		for _, p := range t.Partitions {
			if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
				return false, fmt.Sprintf("%s/%d: leader %d, ISR %v of replicas %v", name, p.Partition, p.Leader, p.ISR, p.Replicas)
			}
		}
		delete(want, name)
	}
	for name := range want {
		return false, name + " not listed"
	}
	return true, ""
}

// FileStream's allowed directories are process-wide: each Weir adds its
// own to them, so several in one test binary all work.
var allowMu sync.Mutex

func allowFileDirs(dirs []string) error {
	allowMu.Lock()
	defer allowMu.Unlock()
	if err := file.SetAllowedDirs(append(file.AllowedDirs(), dirs...)); err != nil {
		return fmt.Errorf("allow FileStream directory: %w", err)
	}
	return nil
}

// testWriter sends log lines to tb.Log so they show with the failing test.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
