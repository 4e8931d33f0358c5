package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/cluster"
	"github.com/weirlog/weir/core/gctune"
	"github.com/weirlog/weir/core/group"
)

// serveEnv is what `weir serve` hands each serve extension once the broker
// is up.
type serveEnv struct {
	Broker     *broker.Broker
	KafkaAddr  string // where Kafka clients reach this node (the advertised address)
	HTTPAddr   string // the HTTP server's bound address ("" when --http-addr is empty)
	DataDir    string
	Logger     *slog.Logger
	Registerer prometheus.Registerer // the /metrics registry
	Checks     *serveChecks          // extensions add their /health and /ready checks here
}

// serveExtension adds a component to `weir serve` — the connector runtime
// is the first. It starts after the broker; the handler it returns (nil for
// none) serves every HTTP path other than /metrics and /health (at most one
// extension may return one); stop is called on shutdown, before the broker
// closes, with a deadline.
type serveExtension func(ctx context.Context, env serveEnv) (handler http.Handler, stop func(context.Context) error, err error)

var serveExtensions []serveExtension

// registerServeExtension is called from an init() in another cmd/weir file.
func registerServeExtension(e serveExtension) { serveExtensions = append(serveExtensions, e) }

// serveFlagHooks let an extension add its own flags to `weir serve`, which
// then get the same env-var and config-file handling as every other flag.
// They must be registered during package variable initialisation (which
// runs before any init), because the serve command is built in an init.
var serveFlagHooks []func(*pflag.FlagSet)

func addServeFlags(add func(*pflag.FlagSet)) bool {
	serveFlagHooks = append(serveFlagHooks, add)
	return true
}

type serveOptions struct {
	brokerRack       string
	defaultRF        int
	minInsync        int
	uncleanElection  bool
	heartbeatMs      int64
	sessionTimeoutMs int64
	replicaLagMs     int64
	configFile       string
	dataDir          string
	kafkaAddr        string
	advertisedAddr   string
	httpAddr         string
	nodeID           int32
	autoCreate       bool
	numPartitions    int32
	offsetsParts     int32
	maxRequestBytes  int32
	fsync            bool
	controllerVoters string
	raftAddr         string
	logLevel         string
	logFormat        string
	shutdownTimeout  time.Duration

	// Connection limits (Kafka's socket server settings).
	connMaxIdleMs       int64
	maxConns            int
	maxConnsPerIP       int
	queuedMaxReqBytes   int64
	socketWriteTimeout  int64
	maxDecompressed     int
	autoCreatePerReq    int
	autoCreatePerSecond int
	// Group coordinator settings.
	groupMinSessionMs   int64
	groupMaxSessionMs   int64
	groupInitialDelayMs int64
	offsetsRetentionMin int64
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a weir node: Kafka protocol broker, metadata controller and HTTP endpoints",
		Long: `Run a weir node with embedded defaults: a Kafka-compatible broker on
--kafka-addr, its metadata in a single-voter Raft group in --data-dir, and an
HTTP server on --http-addr with /metrics (Prometheus) and /health.

Every flag can also be set in a YAML config file (--config; keys are the flag
names, e.g. "data-dir: /var/lib/weir") or by an environment variable named
WEIR_ plus the flag name in upper case with dashes as underscores (e.g.
WEIR_DATA_DIR). Precedence: command line, then environment, then config file,
then the default.

weir serve shuts down cleanly on SIGTERM or SIGINT. It runs Go's garbage
collector at GOGC=200 (the heap may grow to three times its live size: less
CPU per record, still a small RSS) unless the environment sets GOGC.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := awaitStartFile(); err != nil {
				return err
			}
			if err := applyServeSources(cmd.Flags(), o.configFile); err != nil {
				return err
			}
			return runServe(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	bindServeFlags(cmd.Flags(), o)
	for _, add := range serveFlagHooks {
		add(cmd.Flags())
	}
	return cmd
}

// defaultServeOptions returns the options as the flags default them (for
// tests that call runServe directly); extensions' flags are left alone.
func defaultServeOptions() *serveOptions {
	o := &serveOptions{}
	bindServeFlags(pflag.NewFlagSet("serve", pflag.ContinueOnError), o)
	return o
}

func bindServeFlags(f *pflag.FlagSet, o *serveOptions) {
	f.StringVar(&o.configFile, "config", "", "YAML file with flag values (keys are flag names)")
	f.StringVar(&o.dataDir, "data-dir", "./weir-data", "directory for partition logs and metadata")
	f.StringVar(&o.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "address the Kafka protocol listener binds")
	f.StringVar(&o.advertisedAddr, "advertised-kafka-addr", "", "host:port clients are told to connect to (default: the listener's address)")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8083", "address of the HTTP server (/metrics, /health, REST API); empty disables it")
	f.Int32Var(&o.nodeID, "node-id", 1, "this node's broker and controller ID")
	f.BoolVar(&o.autoCreate, "auto-create-topics", true, "create unknown topics on metadata requests that allow it (auto.create.topics.enable)")
	f.Int32Var(&o.numPartitions, "num-partitions", 1, "partitions of auto-created topics (num.partitions)")
	f.Int32Var(&o.offsetsParts, "offsets-topic-partitions", 50, "partitions of __consumer_offsets when first created (offsets.topic.num.partitions)")
	f.Int32Var(&o.maxRequestBytes, "max-request-bytes", 100<<20, "largest request frame accepted; larger ones close the connection (socket.request.max.bytes)")
	f.BoolVar(&o.fsync, "fsync", false, "fsync every append before acknowledging it (default: page cache, like Kafka)")
	f.StringVar(&o.controllerVoters, "controller-voters", "", "metadata quorum as id@host:port,... (empty: this node alone)")
	f.StringVar(&o.raftAddr, "raft-addr", "", "this node's Raft address when --controller-voters is set (raft and the controller RPCs share it)")
	f.StringVar(&o.brokerRack, "broker-rack", "", "this broker's rack: replicas of a partition are spread over racks (broker.rack)")
	f.IntVar(&o.defaultRF, "default-replication-factor", 1, "replicas of topics created without a replication factor (default.replication.factor); internal topics get min(3, brokers)")
	f.IntVar(&o.minInsync, "min-insync-replicas", 1, "replicas that must have an acks=all write before it is acknowledged, for topics that do not set it (min.insync.replicas)")
	f.BoolVar(&o.uncleanElection, "unclean-leader-election-enable", false, "elect a leader from outside the ISR, losing acknowledged writes (unclean.leader.election.enable); weir refuses true")
	f.Int64Var(&o.heartbeatMs, "broker-heartbeat-interval-ms", cluster.DefaultHeartbeatInterval.Milliseconds(), "how often a broker of a cluster heartbeats the metadata leader (broker.heartbeat.interval.ms)")
	f.Int64Var(&o.replicaLagMs, "replica-lag-time-max-ms", 30000, "a follower not caught up with its leader for this long leaves the ISR (replica.lag.time.max.ms)")
	f.Int64Var(&o.sessionTimeoutMs, "broker-session-timeout-ms", cluster.DefaultSessionTimeout.Milliseconds(), "a broker not heard for this long is fenced and its leaderships move (broker.session.timeout.ms; Kafka's is 9000); a broker stops acknowledging writes shortly before")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown may take: open HTTP requests, connectors, then closing the partition logs; past it weir exits and unclosed logs are recovered at the next start")
	f.Int64Var(&o.connMaxIdleMs, "connections-max-idle-ms", 600000, "close connections idle this long (connections.max.idle.ms); -1 never")
	f.IntVar(&o.maxConns, "max-connections", 0, "most client connections at once; 0 unlimited (max.connections)")
	f.IntVar(&o.maxConnsPerIP, "max-connections-per-ip", 0, "most client connections from one IP address; 0 unlimited (max.connections.per.ip)")
	f.Int64Var(&o.queuedMaxReqBytes, "queued-max-request-bytes", 512<<20, "request bytes read but not yet handled, over all connections (queued.max.request.bytes)")
	f.Int64Var(&o.socketWriteTimeout, "socket-write-timeout-ms", 60000, "disconnect a client that does not read a response for this long")
	f.IntVar(&o.maxDecompressed, "max-decompressed-batch-bytes", 32<<20, "largest size a produced compressed batch may decompress to (a topic's larger max.message.bytes raises it); bigger ones are MESSAGE_TOO_LARGE")
	f.IntVar(&o.autoCreatePerReq, "auto-create-topics-max-per-request", 100, "most topics one Metadata request may auto-create")
	f.IntVar(&o.autoCreatePerSecond, "auto-create-topics-per-second", 100, "most topics auto-created per second, broker-wide")
	f.Int64Var(&o.groupMinSessionMs, "group-min-session-timeout-ms", 6000, "shortest consumer session timeout accepted (group.min.session.timeout.ms)")
	f.Int64Var(&o.groupMaxSessionMs, "group-max-session-timeout-ms", 1800000, "longest consumer session timeout accepted (group.max.session.timeout.ms)")
	f.Int64Var(&o.groupInitialDelayMs, "group-initial-rebalance-delay-ms", 0, "how long a new group's first rebalance waits for more members (group.initial.rebalance.delay.ms)")
	f.Int64Var(&o.offsetsRetentionMin, "offsets-retention-minutes", 7*24*60, "how long committed offsets outlive an empty group (offsets.retention.minutes)")
}

func init() { rootCmd.AddCommand(newServeCmd()) }

// applyServeSources fills every flag not given on the command line from
// WEIR_* environment variables, then from the config file.
func applyServeSources(fs *pflag.FlagSet, configFile string) error {
	if configFile == "" {
		configFile = os.Getenv("WEIR_CONFIG")
	}
	fileVals := map[string]any{}
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := yaml.Unmarshal(data, &fileVals); err != nil {
			return fmt.Errorf("parse config file %s: %w", configFile, err)
		}
		for k := range fileVals {
			if fs.Lookup(k) == nil || k == "config" {
				return fmt.Errorf("config file %s: unknown setting %q", configFile, k)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" {
			return
		}
		env := "WEIR_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			return
		}
		if v, ok := fileVals[f.Name]; ok {
			if err := f.Value.Set(fmt.Sprint(v)); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %q: %w", f.Name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

func newServeLogger(o *serveOptions, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
}

func runServe(ctx context.Context, o *serveOptions, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	logger, err := newServeLogger(o, os.Stderr)
	if err != nil {
		return err
	}
	// Connectors log through slog.Default (a plugin is handed no logger,
	// as Connect's get log4j's): they get --log-level and --log-format too,
	// not the log package's own lines in the middle of weir's.
	slog.SetDefault(logger)
	logger.Info("garbage collector", "setting", gctune.Apply())
	voters, err := cluster.ParseVoters(o.controllerVoters)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dataDir, _ := filepath.Abs(o.dataDir)
	cfg, err := o.brokerConfig(dataDir, voters, reg)
	if err != nil {
		return err
	}
	b, err := broker.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		b.Close()
		return err
	}
	closing := false // the shutdown below closes the broker, within its deadline
	defer func() {
		if !closing {
			b.Close()
		}
	}()
	kafkaAddr := o.advertisedAddr
	if kafkaAddr == "" {
		kafkaAddr = b.Addr()
	}

	// Bind HTTP before starting extensions so they know its address; it
	// serves once they are up (early clients wait in the listen backlog).
	var httpLn net.Listener
	if o.httpAddr != "" {
		httpLn, err = net.Listen("tcp", o.httpAddr)
		if err != nil {
			return fmt.Errorf("http listen %s: %w", o.httpAddr, err)
		}
		defer httpLn.Close()
	}
	env := serveEnv{Broker: b, KafkaAddr: kafkaAddr, DataDir: dataDir, Logger: logger, Registerer: reg, Checks: &serveChecks{}}
	if httpLn != nil {
		env.HTTPAddr = httpLn.Addr().String()
	}
	var fallback http.Handler
	var stops []func(context.Context) error
	for _, ext := range serveExtensions {
		h, stopExt, err := ext(ctx, env)
		if err != nil {
			shutdownServe(o, logger, nil, stops)
			return fmt.Errorf("start serve extension: %w", err)
		}
		if stopExt != nil {
			stops = append(stops, stopExt)
		}
		if h != nil {
			if fallback != nil {
				shutdownServe(o, logger, nil, stops)
				return errors.New("two serve extensions both want the HTTP root")
			}
			fallback = h
		}
	}

	var srv *http.Server
	httpErr := make(chan error, 1)
	if httpLn != nil {
		srv = &http.Server{Handler: serveHTTPHandler(b, reg, fallback, env.Checks), ReadHeaderTimeout: 10 * time.Second}
		go func() { httpErr <- srv.Serve(httpLn) }()
		logger.Info("http listening", "http_addr", env.HTTPAddr)
		fmt.Fprintf(stdout, "weir serve: kafka on %s, http on %s, data in %s\n", kafkaAddr, env.HTTPAddr, dataDir)
	} else {
		fmt.Fprintf(stdout, "weir serve: kafka on %s, data in %s\n", kafkaAddr, dataDir)
	}

	select {
	case <-ctx.Done():
		logger.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-httpErr:
		logger.Error("http server failed", "err", err)
		shutdownServe(o, logger, srv, stops)
		return err
	}
	// --shutdown-timeout bounds the whole shutdown. Past it weir exits
	// with logs still closing: those lack their clean-shutdown marker and
	// are recovered at the next start, as after kill -9 (nothing
	// acknowledged is lost), but an operator's SIGTERM is never left
	// hanging.
	// A fifth of it (at most 3 s) is kept for the process to exit: with
	// thousands of open segment files and mappings that alone measured
	// 1.4-1.9 s at 6,000 partitions.
	deadline := time.Now().Add(o.shutdownTimeout - min(o.shutdownTimeout/5, 3*time.Second))
	shutdownServe(o, logger, srv, stops)
	closing = true
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-closed:
		if err != nil {
			return fmt.Errorf("close broker: %w", err)
		}
	case <-timer.C:
		logger.Error("shutdown did not finish within --shutdown-timeout; exiting with partition logs still closing (they are recovered at the next start)",
			"shutdown_timeout", o.shutdownTimeout)
		return fmt.Errorf("shutdown took longer than --shutdown-timeout %v", o.shutdownTimeout)
	}
	logger.Info("stopped")
	return nil
}

// brokerConfig turns the flags into a broker.Config and validates it. A
// zero where the broker would take it as "use the default" is refused here,
// so that no flag value is ever silently replaced.
func (o *serveOptions) brokerConfig(dataDir string, voters []cluster.Voter, reg prometheus.Registerer) (broker.Config, error) {
	var errs []error
	atLeast := func(flag string, v, min int64) {
		if v < min {
			errs = append(errs, fmt.Errorf("--%s must be at least %d, got %d", flag, min, v))
		}
	}
	atLeast("node-id", int64(o.nodeID), 1)
	atLeast("num-partitions", int64(o.numPartitions), 1)
	atLeast("offsets-topic-partitions", int64(o.offsetsParts), 1)
	atLeast("max-request-bytes", int64(o.maxRequestBytes), 1024)
	atLeast("max-connections", int64(o.maxConns), 0)
	atLeast("max-connections-per-ip", int64(o.maxConnsPerIP), 0)
	atLeast("queued-max-request-bytes", o.queuedMaxReqBytes, 1)
	atLeast("socket-write-timeout-ms", o.socketWriteTimeout, 1)
	atLeast("max-decompressed-batch-bytes", int64(o.maxDecompressed), 1)
	atLeast("auto-create-topics-max-per-request", int64(o.autoCreatePerReq), 1)
	atLeast("auto-create-topics-per-second", int64(o.autoCreatePerSecond), 1)
	atLeast("group-min-session-timeout-ms", o.groupMinSessionMs, 1)
	atLeast("group-max-session-timeout-ms", o.groupMaxSessionMs, 1)
	atLeast("group-initial-rebalance-delay-ms", o.groupInitialDelayMs, 0)
	atLeast("offsets-retention-minutes", o.offsetsRetentionMin, 1)
	atLeast("default-replication-factor", int64(o.defaultRF), 1)
	atLeast("min-insync-replicas", int64(o.minInsync), 1)
	atLeast("broker-heartbeat-interval-ms", o.heartbeatMs, 1)
	atLeast("replica-lag-time-max-ms", o.replicaLagMs, 1)
	atLeast("broker-session-timeout-ms", o.sessionTimeoutMs, o.heartbeatMs+1)
	if o.uncleanElection {
		errs = append(errs, errors.New("--unclean-leader-election-enable=true is not supported: weir elects leaders from the ISR only, so no acknowledged write is ever lost"))
	}
	if o.raftAddr == "" && len(voters) > 0 && (len(voters) > 1 || voters[0].NodeID != o.nodeID) {
		errs = append(errs, errors.New("--raft-addr is required with --controller-voters naming other nodes"))
	}
	if o.connMaxIdleMs == 0 || o.connMaxIdleMs < -1 {
		errs = append(errs, fmt.Errorf("--connections-max-idle-ms must be positive or -1 (never), got %d", o.connMaxIdleMs))
	}
	if len(errs) > 0 {
		return broker.Config{}, errors.Join(errs...)
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	cfg := broker.Config{
		DataDir:                   dataDir,
		KafkaAddr:                 o.kafkaAddr,
		AdvertisedAddr:            o.advertisedAddr,
		NodeID:                    o.nodeID,
		AutoCreateTopics:          o.autoCreate,
		AutoCreateMaxPerRequest:   o.autoCreatePerReq,
		AutoCreatePerSecond:       o.autoCreatePerSecond,
		DefaultPartitions:         o.numPartitions,
		OffsetsTopicPartitions:    o.offsetsParts,
		MaxRequestBytes:           o.maxRequestBytes,
		SyncOnAppend:              o.fsync,
		ConnectionsMaxIdle:        ms(o.connMaxIdleMs),
		MaxConnections:            o.maxConns,
		MaxConnectionsPerIP:       o.maxConnsPerIP,
		QueuedMaxRequestBytes:     o.queuedMaxReqBytes,
		WriteTimeout:              ms(o.socketWriteTimeout),
		MaxDecompressedBatchBytes: o.maxDecompressed,
		Group: group.Config{
			MinSessionTimeout:     ms(o.groupMinSessionMs),
			MaxSessionTimeout:     ms(o.groupMaxSessionMs),
			InitialRebalanceDelay: ms(o.groupInitialDelayMs),
			OffsetsRetention:      time.Duration(o.offsetsRetentionMin) * time.Minute,
		},
		ControllerVoters:         voters,
		RaftAddr:                 o.raftAddr,
		BrokerRack:               o.brokerRack,
		DefaultReplicationFactor: o.defaultRF,
		HeartbeatInterval:        ms(o.heartbeatMs),
		SessionTimeout:           ms(o.sessionTimeoutMs),
		ReplicaLagTimeMax:        ms(o.replicaLagMs),
		Registerer:               reg,
	}
	if o.minInsync != 1 {
		cfg.TopicDefaults = map[string]string{"min.insync.replicas": strconv.Itoa(o.minInsync)}
	}
	if err := cfg.Validate(); err != nil {
		return broker.Config{}, err
	}
	return cfg, nil
}

func shutdownServe(o *serveOptions, logger *slog.Logger, srv *http.Server, stops []func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			logger.Warn("http shutdown", "err", err)
		}
	}
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](ctx); err != nil {
			logger.Warn("stop serve extension", "err", err)
		}
	}
}

// serveHTTPHandler routes /metrics, /health, /ready and /debug/pprof (on the
// loopback default address only an operator reaches it); every other path goes to
// fallback (the connector runtime's REST API) or 404.
func serveHTTPHandler(b *broker.Broker, g prometheus.Gatherer, fallback http.Handler, checks *serveChecks) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.Handle("/health", healthHandler(b, checks)) // serve_health.go
	mux.Handle("/ready", readyHandler(b, checks))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if fallback != nil {
		mux.Handle("/", fallback)
	}
	return mux
}
