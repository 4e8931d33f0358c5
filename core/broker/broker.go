package broker

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirlog/weir/core/cluster"
	"github.com/weirlog/weir/core/group"
	wlog "github.com/weirlog/weir/core/log"
)

// OffsetsTopic is the compacted internal topic holding committed offsets
// and group metadata.
const OffsetsTopic = "__consumer_offsets"

// Config configures a Broker. The zero value of every field but DataDir
// means the default written next to it; a negative value (where -1 does
// not mean something, as it does for ConnectionsMaxIdle) is an error from
// Validate, never silently replaced by the default.
type Config struct {
	DataDir        string // required: logs in DataDir, raft state in DataDir/__raft
	KafkaAddr      string // listen address; default 127.0.0.1:9092 ("127.0.0.1:0" picks a port)
	AdvertisedAddr string // host:port clients are told to use; default: the listener's address
	NodeID         int32  // default 1

	// AutoCreateTopics is auto.create.topics.enable: Metadata requests
	// that allow it create missing topics. `weir serve` and brokertest
	// turn it on by default, as Kafka does.
	AutoCreateTopics bool
	// AutoCreateMaxPerRequest bounds the topics one Metadata request may
	// auto-create; the rest get the retriable LEADER_NOT_AVAILABLE and the
	// client asks again. Default 100.
	AutoCreateMaxPerRequest int
	// AutoCreatePerSecond bounds auto-creations per second, broker-wide,
	// so one client cannot flood the metadata log; default 100.
	AutoCreatePerSecond int

	DefaultPartitions      int32             // num.partitions for auto-created topics; default 1
	MaxPartitionsPerTopic  int32             // CreateTopics/CreatePartitions above this are INVALID_PARTITIONS; default 10000
	OffsetsTopicPartitions int32             // offsets.topic.num.partitions; default 50
	TopicDefaults          map[string]string // broker-wide overrides of topic config defaults
	MaxRequestBytes        int32             // socket.request.max.bytes; default 100 MiB
	SyncOnAppend           bool              // fsync every append before acknowledging
	ZeroCopyMinBytes       int               // fetch responses with fewer record bytes are copied; default 64 KiB

	// ConnectionsMaxIdle is connections.max.idle.ms: a connection with no
	// request for this long is closed. Default 10 min; negative (Kafka's
	// -1) never.
	ConnectionsMaxIdle time.Duration
	// MaxConnections is max.connections: connections beyond it are closed
	// as soon as accepted. Default unlimited.
	MaxConnections int
	// MaxConnectionsPerIP is max.connections.per.ip. Default unlimited.
	MaxConnectionsPerIP int
	// QueuedMaxRequestBytes is queued.max.request.bytes: request bytes
	// read but not yet handled, over all connections; readers wait while
	// it is full. Default 512 MiB (at least MaxRequestBytes).
	QueuedMaxRequestBytes int64
	// WriteTimeout bounds one response write: a client that stops reading
	// is disconnected after it, releasing the segments its fetch pinned.
	// Default 60 s.
	WriteTimeout time.Duration

	// StrayGracePeriod is how long a partition directory set aside (a
	// topic the metadata does not know, or a directory recorded for
	// another incarnation of its topic) is kept before it is deleted.
	// Default 1 h.
	StrayGracePeriod time.Duration

	// Group configures the group coordinator (zero fields: its defaults).
	Group group.Config

	// MaxDecompressedBatchBytes bounds what one produced batch may
	// decompress to (validation, compression.type), so a small "zip bomb"
	// cannot take the broker's memory; a topic whose max.message.bytes is
	// larger raises it for that topic. Default 32 MiB.
	MaxDecompressedBatchBytes int

	// ControllerVoters and RaftAddr configure a multi-node metadata quorum
	// (not yet used by the single-node broker: leave empty).
	ControllerVoters []cluster.Voter
	RaftAddr         string
	// BrokerRack is broker.rack: replica placement spreads a partition's
	// replicas over racks.
	BrokerRack string
	// DefaultReplicationFactor is default.replication.factor for topics
	// created without one (auto-created, or -1 in CreateTopics); default 1.
	// Internal topics get min(3, live brokers).
	DefaultReplicationFactor int
	// HeartbeatInterval and SessionTimeout are the broker's liveness to
	// the metadata leader in a multi-node cluster
	// (broker.heartbeat.interval.ms, broker.session.timeout.ms); defaults
	// cluster.DefaultHeartbeatInterval and cluster.DefaultSessionTimeout.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	// ReplicaLagTimeMax is replica.lag.time.max.ms: a follower that has
	// not caught up with the leader's log end for this long leaves the
	// ISR. Default 30 s.
	ReplicaLagTimeMax time.Duration

	// Registerer receives the broker's metrics; nil means a private registry
	// (see (*Broker).Gatherer).
	Registerer prometheus.Registerer

	logFS wlog.FS // tests: the logs' file system (fault injection)
}

func (c *Config) setDefaults() {
	if c.KafkaAddr == "" {
		c.KafkaAddr = "127.0.0.1:9092"
	}
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if c.AutoCreateMaxPerRequest == 0 {
		c.AutoCreateMaxPerRequest = 100
	}
	if c.AutoCreatePerSecond == 0 {
		c.AutoCreatePerSecond = 100
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.MaxPartitionsPerTopic == 0 {
		c.MaxPartitionsPerTopic = 10000
	}
	if c.OffsetsTopicPartitions == 0 {
		c.OffsetsTopicPartitions = 50
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.ZeroCopyMinBytes == 0 {
		c.ZeroCopyMinBytes = 64 << 10
	}
	if c.ConnectionsMaxIdle == 0 {
		c.ConnectionsMaxIdle = 10 * time.Minute
	}
	if c.QueuedMaxRequestBytes == 0 {
		c.QueuedMaxRequestBytes = max(512<<20, int64(c.MaxRequestBytes))
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 60 * time.Second
	}
	if c.MaxDecompressedBatchBytes == 0 {
		c.MaxDecompressedBatchBytes = 32 << 20
	}
	if c.StrayGracePeriod == 0 {
		c.StrayGracePeriod = time.Hour
	}
	if c.DefaultReplicationFactor == 0 {
		c.DefaultReplicationFactor = 1
	}
	if c.ReplicaLagTimeMax == 0 {
		c.ReplicaLagTimeMax = 30 * time.Second
	}
}

// Validate reports every setting out of range, each naming its Kafka
// setting and `weir serve` flag. It is called by New; serve calls it first
// to refuse bad flags before touching the data directory.
func (c Config) Validate() error {
	var errs []error
	bad := func(cond bool, setting, flag, want string, got any) {
		if cond {
			errs = append(errs, fmt.Errorf("%s (--%s) %s, got %v", setting, flag, want, got))
		}
	}
	bad(c.DataDir == "", "log.dirs", "data-dir", "is required", `""`)
	bad(c.NodeID < 0, "node.id", "node-id", "must be at least 1", c.NodeID)
	bad(c.AutoCreateMaxPerRequest < 0, "auto.create.topics.max.per.request", "auto-create-topics-max-per-request", "must be at least 1", c.AutoCreateMaxPerRequest)
	bad(c.AutoCreatePerSecond < 0, "auto.create.topics.per.second", "auto-create-topics-per-second", "must be at least 1", c.AutoCreatePerSecond)
	bad(c.DefaultPartitions < 0, "num.partitions", "num-partitions", "must be at least 1", c.DefaultPartitions)
	bad(c.MaxPartitionsPerTopic < 0, "max.partitions.per.topic", "max-partitions-per-topic", "must be at least 1", c.MaxPartitionsPerTopic)
	bad(c.OffsetsTopicPartitions < 0, "offsets.topic.num.partitions", "offsets-topic-partitions", "must be at least 1", c.OffsetsTopicPartitions)
	bad(c.MaxRequestBytes < 0 || (c.MaxRequestBytes > 0 && c.MaxRequestBytes < 1024), "socket.request.max.bytes", "max-request-bytes", "must be at least 1024", c.MaxRequestBytes)
	bad(c.ZeroCopyMinBytes < 0, "zero.copy.min.bytes", "zero-copy-min-bytes", "must not be negative", c.ZeroCopyMinBytes)
	bad(c.MaxConnections < 0, "max.connections", "max-connections", "must be at least 1", c.MaxConnections)
	bad(c.MaxConnectionsPerIP < 0, "max.connections.per.ip", "max-connections-per-ip", "must be at least 1", c.MaxConnectionsPerIP)
	maxReq := int64(c.MaxRequestBytes)
	if maxReq <= 0 {
		maxReq = 100 << 20
	}
	bad(c.QueuedMaxRequestBytes < 0 || (c.QueuedMaxRequestBytes > 0 && c.QueuedMaxRequestBytes < maxReq), "queued.max.request.bytes", "queued-max-request-bytes",
		fmt.Sprintf("must be at least socket.request.max.bytes (%d)", maxReq), c.QueuedMaxRequestBytes)
	bad(c.MaxDecompressedBatchBytes < 0, "max.decompressed.batch.bytes", "max-decompressed-batch-bytes", "must be positive", c.MaxDecompressedBatchBytes)
	bad(c.StrayGracePeriod < 0, "log.stray.grace.ms", "stray-grace-period", "must be positive", c.StrayGracePeriod)
	bad(c.ReplicaLagTimeMax < 0, "replica.lag.time.max.ms", "replica-lag-time-max-ms", "must be positive", c.ReplicaLagTimeMax)
	bad(c.DefaultReplicationFactor < 0, "default.replication.factor", "default-replication-factor", "must be at least 1", c.DefaultReplicationFactor)
	bad(c.WriteTimeout < 0, "socket.write.timeout.ms", "socket-write-timeout-ms", "must be positive", c.WriteTimeout)
	if err := c.Group.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := validateConfigs(c.TopicDefaults); err != nil {
		errs = append(errs, fmt.Errorf("topic defaults: %w", err))
	} else if err := (&Broker{cfg: c}).logConfig(nil).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("topic defaults: %w", err))
	}
	return errors.Join(errs...)
}

// Broker is one weir broker: the Kafka listener, the partition logs, the
// metadata controller and the group coordinator.
type Broker struct {
	created  time.Time     // New was called: startup is measured from here
	logsOpen time.Duration // how long New took to open (recover) the logs

	cfg    Config
	logger *slog.Logger

	logs   *wlog.Manager
	ctl    *cluster.Controller
	groups *group.Coordinator
	// groupsLoaded is groups once loaded, for readers outside requests
	// (metrics scrapes) and for the group APIs, which Start serves before
	// the groups are loaded: they wait for groupsReady, closed then.
	groupsLoaded atomic.Pointer[group.Coordinator]
	groupsReady  chan struct{}
	// lazyGroups: a fresh single node, whose groups load on first use
	// (wantGroups, once).
	lazyGroups atomic.Bool
	groupsOnce sync.Once
	// rolesChanged kicks the replica fetchers after updateRoles.
	rolesChanged chan struct{}
	// groupReload: a reload of the groups is running (replication.go);
	// groupReloadAgain: leadership moved again meanwhile.
	groupReload, groupReloadAgain atomic.Bool
	ln                            net.Listener
	host                          string
	port                          int32

	// topics maps a topic name to its partitions; replaced (never mutated)
	// by reconcile, read lock-free by the handlers.
	topics          atomic.Pointer[map[string]*topicParts]
	replayed        atomic.Bool // the metadata log has been replayed at start
	reconcileMu     sync.Mutex  // one reconcile at a time
	reconciledIndex uint64      // guarded by reconcileMu

	// The reconciler (reconcile.go): apply hands it the newest state and
	// it brings the partition logs in line, off raft's apply goroutine.
	reconMu   sync.Mutex
	reconCond sync.Cond
	reconWant *cluster.State // newest state handed over; guarded by reconMu
	reconDone uint64         // index of the newest state in service; guarded by reconMu
	reconKick chan struct{}  // cap 1
	// reconPending holds the indexes of states that changed topics and
	// are not yet in service (what settle waits for); guarded by reconMu.
	reconPending map[uint64]struct{}
	// Backoff of reopening offline logs, by topic\x00partition.
	reopenMu    sync.Mutex
	reopenDelay map[string]time.Duration
	reopenNext  map[string]int64

	sessions   *fetchSessions
	pids       producerIDs
	metrics    *metrics
	gatherer   prometheus.Gatherer
	registerer prometheus.Registerer

	ctx    context.Context
	cancel context.CancelFunc

	connMu    sync.Mutex
	conns     map[*conn]struct{}
	connsByIP map[string]int // guarded by connMu
	wg        sync.WaitGroup

	queued         *byteBudget   // queued.max.request.bytes, over every connection
	autoCreateRate *rate.Limiter // auto.create.topics.per.second, bursts of one second's worth
	warnLimit      *rateLimiter

	lock *os.File // the data directory's flock, released last by Close

	// startMu orders Start before Close: Start holds it throughout, so a
	// Close that comes meanwhile (a test's cleanup after another node
	// failed to start) waits for Start to return, then finds ln, ctl and
	// groups as Start left them, instead of reading them while Start
	// writes them and closing the logs under it. Addr and Healthy read
	// ln and ctl under it too.
	startMu   sync.Mutex
	closing   bool // Close was called: Start refuses; guarded by startMu
	closeOnce sync.Once
	closeErr  error
}

// topicParts is one topic as the broker serves it.
type topicParts struct {
	meta  *cluster.Topic
	parts []*partition
}

// New opens the data directory (recovering the logs) but does not listen.
func New(cfg Config, logger *slog.Logger) (*Broker, error) {
	created := time.Now()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	cfg.setDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{created: created, cfg: cfg, logger: logger, conns: map[*conn]struct{}{}, connsByIP: map[string]int{}, lock: lock,
		queued: newByteBudget(cfg.QueuedMaxRequestBytes), warnLimit: newRateLimiter(warnInterval), reconKick: make(chan struct{}, 1),
		rolesChanged: make(chan struct{}, 1),
		reconPending: map[uint64]struct{}{}, reopenDelay: map[string]time.Duration{}, reopenNext: map[string]int64{}}
	b.reconCond.L = &b.reconMu
	b.autoCreateRate = rate.NewLimiter(rate.Limit(cfg.AutoCreatePerSecond), cfg.AutoCreatePerSecond)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.groupsReady = make(chan struct{})
	b.sessions = newFetchSessions(1000)
	b.pids.b = b
	empty := map[string]*topicParts{}
	b.topics.Store(&empty)

	reg := cfg.Registerer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, b.gatherer = r, r
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		b.gatherer = g
	}
	b.registerer = reg
	b.metrics = newMetrics(reg, b)

	logsStart := time.Now()
	logs, err := wlog.NewManager(cfg.DataDir, wlog.Options{Logger: logger.With("component", "log"), OnStorageError: b.onStorageError, FS: cfg.logFS})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("broker: open logs: %w", err)
	}
	b.logs = logs
	b.logsOpen = time.Since(logsStart)
	return b, nil
}

// Start listens, brings up the metadata controller, creates the offsets
// topic and loads the group coordinator. It returns once clients can be
// served. A fresh single node leaves the offsets topic and the groups to
// the first client that needs them (wantGroups).
func (b *Broker) Start(ctx context.Context) error {
	b.startMu.Lock()
	defer b.startMu.Unlock()
	if b.closing || b.ctx.Err() != nil {
		// Close came first (or a failed Start closed the broker): the
		// logs are closed, nothing may start.
		return errors.New("broker: start after close")
	}
	start := time.Now()
	ln, err := net.Listen("tcp", b.cfg.KafkaAddr)
	if err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.KafkaAddr, err)
	}
	b.ln = ln
	adv := b.cfg.AdvertisedAddr
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		ln.Close()
		return fmt.Errorf("broker: advertised address %q: %w", adv, err)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		ln.Close()
		return fmt.Errorf("broker: advertised port %q: %w", portStr, err)
	}
	b.host, b.port = host, int32(port)

	ctl, err := cluster.Open(cluster.Config{
		NodeID:     b.cfg.NodeID,
		Dir:        filepath.Join(b.cfg.DataDir, "__raft"),
		RaftAddr:   b.cfg.RaftAddr,
		Voters:     b.cfg.ControllerVoters,
		Logger:     b.logger.With("component", "metadata"),
		OnChange:   b.handOver,
		Settle:     b.settle,
		Registerer: b.registerer,

		HeartbeatInterval: b.cfg.HeartbeatInterval,
		SessionTimeout:    b.cfg.SessionTimeout,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("broker: %w", err)
	}
	b.ctl = ctl
	if err := ctl.WaitReady(ctx); err != nil {
		b.close()
		return fmt.Errorf("broker: %w", err)
	}
	// Replaying the metadata log only rebuilt State; now make the logs
	// match it once, instead of creating and deleting every topic the
	// history ever had.
	b.replayed.Store(true)
	b.reconcile(ctl.State())
	b.setAsideStrays()
	b.wg.Add(1)
	go b.reconcileLoop()
	if b.multi() {
		b.wg.Add(2)
		go b.replicaFetcher()
		go b.shrinkLoop()
	}
	metadataReady := time.Since(start)
	self := cluster.Broker{NodeID: b.cfg.NodeID, Host: b.host, Port: b.port}
	if b.cfg.BrokerRack != "" {
		rack := b.cfg.BrokerRack
		self.Rack = &rack
	}
	if cur, ok := ctl.State().Brokers[self.NodeID]; !ok || cur.Host != self.Host || cur.Port != self.Port || cur.Fenced || !sameRack(cur.Rack, self.Rack) {
		if _, err := ctl.Propose(ctx, &cluster.Command{Op: cluster.OpRegisterBroker, Broker: &self}); err != nil {
			b.close()
			return fmt.Errorf("broker: register: %w", err)
		}
	}
	b.groups = group.New(b.cfg.Group, &offsetsStore{b: b}, b.logger)
	// A fresh single node creates __consumer_offsets when a client first
	// needs a group (FindCoordinator or a group request), as Kafka does:
	// its 50 partition logs, a few fsyncs each, were most of a fresh
	// container's start → first produce (issue 15). Elsewhere (a restart,
	// a cluster) the groups load before Start returns, as before.
	_, haveOffsets := ctl.State().Topics[OffsetsTopic]
	b.lazyGroups.Store(!haveOffsets && !b.multi())
	b.wg.Add(1)
	go b.acceptLoop()
	var groupsLoad time.Duration
	if !b.lazyGroups.Load() {
		groupsStart := time.Now()
		if err := b.loadGroups(ctx); err != nil {
			b.close()
			return fmt.Errorf("broker: %w", err)
		}
		groupsLoad = time.Since(groupsStart)
	}
	b.logger.Info("broker listening", "kafka_addr", ln.Addr().String(), "advertised", adv,
		"node_id", b.cfg.NodeID, "cluster_id", ctl.State().ClusterID, "startup", time.Since(b.created).Round(time.Microsecond),
		"logs", len(b.logs.Logs()), "logs_open", b.logsOpen.Round(time.Microsecond), "start", time.Since(start).Round(time.Microsecond),
		"metadata_ready", metadataReady.Round(time.Microsecond), "groups_load", groupsLoad.Round(time.Microsecond), "groups_on_first_use", b.lazyGroups.Load())
	return nil
}

// loadGroups creates the offsets topic if it is missing and loads the
// group coordinator from it; then the group APIs are served (groupsReady).
// It runs once: in Start, or on a fresh single node in wantGroups.
func (b *Broker) loadGroups(ctx context.Context) error {
	ctl := b.ctl
	if _, ok := ctl.State().Topics[OffsetsTopic]; !ok && b.multi() {
		// Internal topics get min(3, brokers) replicas: give the other
		// voters, starting alongside, a moment to register first.
		want := min(3, len(b.cfg.ControllerVoters))
		for deadline := time.Now().Add(10 * time.Second); len(liveBrokers(ctl.State())) < want && time.Now().Before(deadline) && ctx.Err() == nil; {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, ok := ctl.State().Topics[OffsetsTopic]; !ok {
		cfgs := map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}
		// Several nodes starting together may all try: one wins.
		if errc := b.createTopic(ctx, OffsetsTopic, b.cfg.OffsetsTopicPartitions, -1, cfgs, true); errc != nil && !errors.Is(errc, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create %s: %w", OffsetsTopic, errc)
		}
	}
	if b.multi() {
		// Another node may have created the offsets topic: serve the
		// newest state before the coordinator replays its partitions.
		b.reconcile(ctl.State())
	}
	if err := b.groups.Load(ctx); err != nil {
		return fmt.Errorf("load groups: %w", err)
	}
	b.groupsLoaded.Store(b.groups)
	close(b.groupsReady)
	return nil
}

// wantGroups starts loadGroups in the background, once, on a fresh single
// node whose groups are not loaded yet (see Start); a failure is logged
// and retried until the broker closes. Elsewhere it does nothing.
func (b *Broker) wantGroups() {
	if !b.lazyGroups.Load() {
		return
	}
	b.groupsOnce.Do(func() {
		b.wg.Add(1) // called from a request, whose connection holds b.wg
		go func() {
			defer b.wg.Done()
			for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
				err := b.loadGroups(b.ctx)
				if err == nil || b.ctx.Err() != nil {
					return
				}
				b.errorLimited("group coordinator did not start; retrying", "err", err)
				select {
				case <-b.ctx.Done():
					return
				case <-time.After(delay):
				}
			}
		}()
	})
}

// Addr is the listener's address (useful with port 0).
func (b *Broker) Addr() string {
	b.startMu.Lock()
	defer b.startMu.Unlock()
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

// ClusterID is the cluster's ID (empty before Start).
func (b *Broker) ClusterID() string {
	b.startMu.Lock()
	ctl := b.ctl
	b.startMu.Unlock()
	if ctl == nil {
		return ""
	}
	return ctl.State().ClusterID
}

// Gatherer exposes the broker's metrics for a /metrics handler.
func (b *Broker) Gatherer() prometheus.Gatherer { return b.gatherer }

// Healthy reports whether the broker is serving: listening and with a
// metadata leader.
func (b *Broker) Healthy() error {
	b.startMu.Lock()
	started := b.ln != nil && b.ctl != nil
	b.startMu.Unlock()
	if !started {
		return errors.New("not started")
	}
	if b.ctx.Err() != nil {
		return errors.New("shutting down")
	}
	if b.ctl.LeaderID() < 0 {
		return errors.New("no metadata leader")
	}
	// A log taken offline by a storage failure answers KAFKA_STORAGE_ERROR
	// to every client of that partition: the node is not healthy.
	var offline []string
	var first error
	for name, t := range *b.topics.Load() {
		for i, p := range t.parts {
			if p == nil {
				continue
			}
			if err := p.log.Offline(); err != nil {
				offline = append(offline, fmt.Sprintf("%s-%d", name, i))
				if first == nil {
					first = err
				}
			}
		}
	}
	if len(offline) > 0 {
		slices.Sort(offline)
		return fmt.Errorf("%d partition log(s) offline after a storage failure (%s): %w", len(offline), strings.Join(offline[:min(len(offline), 5)], ", "), first)
	}
	return nil
}

// onStorageError is the logs' OnStorageError hook: a rate-limited ERROR
// line per log directory and weir_log_storage_errors_total. It runs with
// the log's locks held: no calls back into the log.
func (b *Broker) onStorageError(dir, op string, err error) {
	topic, part := dir, ""
	if base := filepath.Base(dir); strings.LastIndexByte(base, '-') > 0 {
		i := strings.LastIndexByte(base, '-')
		topic, part = base[:i], base[i+1:]
	}
	b.metrics.storageErrors.WithLabelValues(topic, part).Inc()
	if ok, suppressed := b.warnLimit.allow("storage:" + dir); ok {
		b.logger.Error("storage failure; the partition log answers KAFKA_STORAGE_ERROR until reopened",
			"topic", topic, "partition", part, "op", op, "err", err, "suppressed", suppressed)
	}
}

// Close stops listening, closes every connection, and closes the group
// coordinator, the metadata controller and the logs, in that order.
func (b *Broker) Close() error {
	// Wait for a Start under way; none begins after this. The lock is not
	// held while closing, so Addr and Healthy answer meanwhile.
	b.startMu.Lock()
	b.closing = true
	b.startMu.Unlock()
	return b.close()
}

// close is Close without waiting for Start: what a failing Start calls.
func (b *Broker) close() error {
	b.closeOnce.Do(func() {
		if b.ctl != nil && b.ctl.Multi() && b.ln != nil {
			// Controlled shutdown: the controller moves this broker's
			// leaderships away while it can still answer.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := b.ctl.ShutdownBroker(ctx); err != nil {
				b.logger.Warn("controlled shutdown: leaderships not moved", "err", err)
			}
			cancel()
		}
		b.cancel()
		if b.ln != nil {
			b.ln.Close()
		}
		b.connMu.Lock()
		for c := range b.conns {
			c.nc.Close()
		}
		b.connMu.Unlock()
		b.wg.Wait()
		if b.groups != nil {
			b.groups.Close()
		}
		var errs []error
		start := time.Now()
		if b.ctl != nil {
			errs = append(errs, b.ctl.Close())
		}
		metadataClose := time.Since(start)
		b.sessions.closeAll()
		n := len(b.logs.Logs())
		logsStart := time.Now()
		errs = append(errs, b.logs.Close())
		b.lock.Close()
		b.closeErr = errors.Join(errs...)
		if b.ln != nil {
			b.logger.Info("broker closed", "metadata_close", metadataClose.Round(time.Millisecond),
				"logs", n, "logs_close", time.Since(logsStart).Round(time.Millisecond), "err", b.closeErr)
		}
	})
	return b.closeErr
}

func (b *Broker) acceptLoop() {
	defer b.wg.Done()
	var delay time.Duration
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			b.logger.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := newConn(b, nc)
		b.connMu.Lock()
		if b.ctx.Err() != nil {
			b.connMu.Unlock()
			nc.Close()
			return
		}
		// Kafka's max.connections and max.connections.per.ip: past either,
		// the new connection is closed at once (the client backs off and
		// retries), so the existing ones keep being served.
		limit := ""
		switch {
		case b.cfg.MaxConnections > 0 && len(b.conns) >= b.cfg.MaxConnections:
			limit = "max.connections"
		case b.cfg.MaxConnectionsPerIP > 0 && b.connsByIP[c.remoteHost] >= b.cfg.MaxConnectionsPerIP:
			limit = "max.connections.per.ip"
		}
		if limit != "" {
			b.connMu.Unlock()
			// Counted before the close, so whoever sees the close sees the count.
			b.metrics.connRejected.WithLabelValues(limit).Inc()
			c.cancel()
			nc.Close()
			b.warnLimited("connection refused: limit reached", "limit", limit, "remote", c.remote)
			continue
		}
		b.conns[c] = struct{}{}
		b.connsByIP[c.remoteHost]++
		b.connMu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			c.serve()
			b.connMu.Lock()
			delete(b.conns, c)
			if b.connsByIP[c.remoteHost]--; b.connsByIP[c.remoteHost] <= 0 {
				delete(b.connsByIP, c.remoteHost)
			}
			b.connMu.Unlock()
		}()
	}
}

// lookup returns a topic's partitions.
func (b *Broker) lookup(topic string) (*topicParts, bool) {
	t, ok := (*b.topics.Load())[topic]
	return t, ok
}

func (b *Broker) partition(topic string, idx int32) (*partition, bool) {
	t, ok := b.lookup(topic)
	if !ok || idx < 0 || int(idx) >= len(t.parts) {
		return nil, false
	}
	p := t.parts[idx]
	if p != nil && !b.leads(t.meta, int(idx)) {
		return nil, false // a follower serves no client (yet)
	}
	return p, p != nil // nil: its log did not open (yet); see reconcile.go
}

// partitionCode is the error for a partition that partition() did not
// return: UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such
// partition, NOT_LEADER_OR_FOLLOWER when another broker leads it, and
// KAFKA_STORAGE_ERROR when this broker leads it but its log did not open
// (reconcile.go retries it), as Metadata reports it (partitionErrorCode)
// and as Kafka answers for an offline log. It used to be
// UNKNOWN_TOPIC_OR_PARTITION, which franz-go's producer gives up on after
// a few tries (UnknownTopicRetries) where both others are retried until
// the delivery timeout.
func (b *Broker) partitionCode(topic string, idx int32) int16 {
	t, ok := b.lookup(topic)
	switch {
	case !ok || idx < 0 || int(idx) >= len(t.parts):
		return kerr.UnknownTopicOrPartition.Code
	case !b.leads(t.meta, int(idx)):
		return kerr.NotLeaderForPartition.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

func sameRack(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// multi reports whether this broker is one of several.
func (b *Broker) multi() bool { return b.ctl != nil && b.ctl.Multi() }

// hosts reports whether this broker keeps a log of partition i of t: on a
// single node every partition; in a cluster the replicas it is named in.
func (b *Broker) hosts(t *cluster.Topic, i int) bool {
	return !b.multi() || slices.Contains(t.Partitions[i].Replicas, b.cfg.NodeID)
}

// leads reports whether this broker leads partition i of t.
func (b *Broker) leads(t *cluster.Topic, i int) bool {
	return !b.multi() || t.Partitions[i].Leader == b.cfg.NodeID
}
