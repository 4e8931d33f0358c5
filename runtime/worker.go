package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
)

// Connector and task states, as Kafka Connect's REST API spells them.
const (
	stateUnassigned = "UNASSIGNED"
	stateRunning    = "RUNNING"
	statePaused     = "PAUSED"
	stateFailed     = "FAILED"
	stateRestarting = "RESTARTING"
	stateStopped    = "STOPPED"
)

const (
	// defaultFetchMaxWait is Kafka's fetch.max.wait.ms default: an idle
	// worker's three state-topic readers (and sink consumers) long-poll
	// the broker, which answers as soon as records arrive, so a longer
	// wait costs no latency, only fewer empty fetches (200 ms made an idle
	// worker send 15 fetches a second).
	defaultFetchMaxWait  = 500 * time.Millisecond
	taskShutdownTimeout  = 5 * time.Second
	stateTopicReadLimit  = 30 * time.Second
	stateTopicLeaderWait = 5 * time.Minute
	restartCountResetsIn = time.Minute
)

type taskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

func (t taskID) String() string { return fmt.Sprintf("%s-%d", t.Connector, t.Task) }

// Worker runs connectors and tasks and serves the Connect REST API. In
// standalone mode it runs everything in its config topic; in distributed
// mode (Config.GroupID) it runs what the group leader assigns it.
//
// One goroutine, the herder loop, owns the running connectors and tasks and
// is the only one that starts or stops them; everything else (REST calls,
// state-topic readers, finished tasks, the group member) tells it that
// something changed by kicking it, and it reconciles what runs with what
// the config topic and the assignment say should run.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	secrets  *secrets
	envAllow *regexp.Regexp // nil: no environment variable may be resolved
	m        *metrics
	gatherer prometheus.Gatherer

	prod *kgo.Client // state topics and dead letter queues
	adm  *kadm.Client

	configs   *configStore
	offsets   *offsetStore
	statuses  *statusStore
	configLog *topicLog
	offsetLog *topicLog
	statusLog *topicLog

	kickCh   chan struct{}
	caughtUp atomic.Bool
	started  atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu           sync.Mutex
	restarts     []restartRequest
	reconfig     map[string]bool
	connFails    map[string]error // RaiseError from connectors
	group        *member          // nil in standalone mode
	noted        map[taskID]map[string]bool
	created      map[string]bool
	levels       map[string]*slog.LevelVar
	clusterID    string
	txnKnown     bool
	txnSupported bool

	handlerOnce sync.Once
	handler     http.Handler
	closeOnce   sync.Once

	passMu      sync.Mutex
	passCond    *sync.Cond
	passStarted int64
	passDone    int64

	// herder-loop only
	conns map[string]*runConnector
	tasks map[taskID]*runTask
}

// New builds a worker; it does not talk to the cluster until Start.
func New(cfg Config, logger *slog.Logger) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	sec := newSecrets()
	root := new(slog.LevelVar)
	logger = slog.New(maskingHandler{h: levelHandler{h: logger.Handler(), lv: root}, s: sec}).With("component", "connect", "worker_id", cfg.WorkerID)
	w := &Worker{
		cfg: cfg, log: logger, secrets: sec,
		configs: newConfigStore(), offsets: newOffsetStore(), statuses: newStatusStore(),
		kickCh: make(chan struct{}, 1), reconfig: map[string]bool{}, connFails: map[string]error{},
		conns: map[string]*runConnector{}, tasks: map[taskID]*runTask{},
		levels: map[string]*slog.LevelVar{"root": root},
	}
	w.passCond = sync.NewCond(&w.passMu)
	w.envAllow, _ = compileEnvAllowlist(cfg.EnvAllowlistPattern) // validated above
	reg := cfg.Registerer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, w.gatherer = r, r
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	w.m = m
	w.configs.onMalformed = func(key string, offset int64, reason string) {
		w.m.malformedConfigs.Inc()
		w.log.Error("skipping a config topic record that cannot be understood", "topic", w.cfg.ConfigTopic, "key", key, "offset", offset, "reason", reason)
	}
	if cfg.distributed() {
		w.group = newMember(w)
	}
	w.configs.onChange = func(r *restartRequest) {
		if r != nil && w.caughtUp.Load() {
			w.mu.Lock()
			w.restarts = append(w.restarts, *r)
			w.mu.Unlock()
		}
		w.kick()
		if w.group != nil {
			w.group.configChanged()
		}
	}
	return w, nil
}

// Gatherer is the worker's own Prometheus registry when Config.Registerer
// was nil, else nil.
func (w *Worker) Gatherer() prometheus.Gatherer { return w.gatherer }

// WorkerID is the id shown in status responses.
func (w *Worker) WorkerID() string { return w.cfg.WorkerID }

// Start creates the state topics if needed, reads them, and starts running
// connectors. It returns once the worker is ready to serve.
func (w *Worker) Start(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("worker already started")
	}
	prod, err := kgo.NewClient(
		kgo.SeedBrokers(w.cfg.BootstrapServers...),
		kgo.ClientID("weir-connect-"+w.cfg.WorkerID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	w.prod = prod
	w.adm = kadm.NewClient(prod)
	w.ctx, w.cancel = context.WithCancel(context.Background())

	// The state topics may have no leader for a while (a fresh cluster
	// electing, a broker that died): that is waited out, logged, for up to
	// stateTopicLeaderWait; reading them once they answer, for up to
	// stateTopicReadLimit.
	lctx, lcancel := context.WithTimeout(ctx, stateTopicLeaderWait)
	defer lcancel()
	for _, t := range []struct {
		name  string
		parts int32
	}{{w.cfg.ConfigTopic, 1}, {w.cfg.OffsetTopic, w.cfg.OffsetTopicPartitions}, {w.cfg.StatusTopic, w.cfg.StatusTopicPartitions}} {
		if err := ensureTopic(lctx, w.adm, w.log, t.name, t.parts, w.cfg.TopicReplicationFactor); err != nil {
			return err
		}
	}
	mk := func(topic string, apply func(*kgo.Record)) (*topicLog, error) {
		return newTopicLog(w.cfg.BootstrapServers, topic, prod, w.adm, w.log, apply)
	}
	if w.offsetLog, err = mk(w.cfg.OffsetTopic, w.offsets.apply); err != nil {
		return err
	}
	if w.statusLog, err = mk(w.cfg.StatusTopic, w.statuses.apply); err != nil {
		return err
	}
	if w.configLog, err = mk(w.cfg.ConfigTopic, w.configs.apply); err != nil {
		return err
	}
	for _, l := range []*topicLog{w.offsetLog, w.statusLog, w.configLog} {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); l.run(w.ctx) }()
	}
	for _, l := range []*topicLog{w.offsetLog, w.statusLog, w.configLog} {
		if _, err := l.endOffsets(lctx); err != nil {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, stateTopicReadLimit)
	defer cancel()
	for _, l := range []*topicLog{w.offsetLog, w.statusLog, w.configLog} {
		if err := l.readToEnd(sctx); err != nil {
			return err
		}
	}
	w.caughtUp.Store(true)
	if w.group != nil {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); w.group.run(w.ctx) }()
	}
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.loop(w.ctx) }()
	w.kick()
	w.log.Info("connect worker started", "mode", map[bool]string{true: "distributed", false: "standalone"}[w.cfg.distributed()], "group", w.cfg.GroupID)
	return nil
}

// Close stops every task and connector (committing their offsets) and
// leaves the group.
func (w *Worker) Close() error {
	if !w.started.Load() || w.cancel == nil {
		return nil
	}
	w.closeOnce.Do(w.close)
	return nil
}

func (w *Worker) close() {
	w.cancel()
	w.wg.Wait()
	for _, l := range []*topicLog{w.offsetLog, w.statusLog, w.configLog} {
		if l != nil {
			l.close()
		}
	}
	if w.prod != nil {
		w.prod.Close()
	}
}

func (w *Worker) kick() {
	select {
	case w.kickCh <- struct{}{}:
	default:
	}
}

// assignment is what this worker should run.
type assignment struct {
	connectors map[string]bool
	tasks      map[taskID]bool
}

func (w *Worker) assignmentFor(snap *configSnapshot) assignment {
	if w.group != nil {
		return w.group.assignment()
	}
	a := assignment{connectors: map[string]bool{}, tasks: map[taskID]bool{}}
	for c := range snap.connectors {
		a.connectors[c] = true
		for n := range snap.tasks[c] {
			a.tasks[taskID{c, n}] = true
		}
	}
	return a
}

func (w *Worker) generation() int64 {
	if w.group != nil {
		return int64(w.group.generation())
	}
	return 0
}

// loop is the herder: it reconciles what runs with what should run.
func (w *Worker) loop(ctx context.Context) {
	tick := time.NewTicker(time.Second) // restart backoffs, failed tasks
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stopAll()
			return
		case <-w.kickCh:
		case <-tick.C:
		}
		w.passMu.Lock()
		w.passStarted++
		n := w.passStarted
		w.passMu.Unlock()
		w.reconcile(ctx)
		w.passMu.Lock()
		w.passDone = n
		w.passCond.Broadcast()
		w.passMu.Unlock()
	}
}

// reconcileAndWait returns after a herder pass that started after the call
// has finished (or ctx is done).
func (w *Worker) reconcileAndWait(ctx context.Context) {
	w.passMu.Lock()
	want := w.passStarted + 1
	w.passMu.Unlock()
	w.kick()
	stop := context.AfterFunc(ctx, func() {
		w.passMu.Lock()
		w.passCond.Broadcast()
		w.passMu.Unlock()
	})
	defer stop()
	w.passMu.Lock()
	defer w.passMu.Unlock()
	for w.passDone < want && ctx.Err() == nil {
		w.passCond.Wait()
	}
}

func (w *Worker) stopAll() {
	var wg sync.WaitGroup
	for _, t := range w.tasks {
		wg.Add(1)
		go func() { defer wg.Done(); t.stop() }()
	}
	wg.Wait()
	for _, c := range w.conns {
		c.stop()
	}
}

func (w *Worker) reconcile(ctx context.Context) {
	snap := w.configs.snapshot()
	asg := w.assignmentFor(snap)
	w.mu.Lock()
	restarts := w.restarts
	w.restarts = nil
	reconfig := w.reconfig
	w.reconfig = map[string]bool{}
	fails := w.connFails
	w.connFails = map[string]error{}
	w.mu.Unlock()
	now := time.Now()

	restartConn := map[string]bool{}
	restartTask := map[taskID]bool{}
	for _, r := range restarts {
		if r.Task != nil {
			restartTask[taskID{r.Connector, *r.Task}] = true
			continue
		}
		if c, ok := w.conns[r.Connector]; ok && (!r.OnlyFailed || c.state == stateFailed) {
			restartConn[r.Connector] = true
		}
		if r.IncludeTasks {
			for id, t := range w.tasks {
				if id.Connector == r.Connector && (!r.OnlyFailed || t.failed()) {
					restartTask[id] = true
				}
			}
		}
	}

	// Connectors.
	for name, c := range w.conns {
		cfg, exists := snap.connectors[name]
		if !exists || !asg.connectors[name] {
			c.stop()
			delete(w.conns, name)
			w.m.connectorState.DeletePartialMatch(prometheus.Labels{"connector": name})
			continue
		}
		target := snap.target(name)
		switch {
		case restartConn[name], !maps.Equal(cfg, c.raw), c.born != snap.born[name]:
			c.stop()
			delete(w.conns, name)
			if restartConn[name] {
				w.putConnectorStatus(name, stateRestarting, nil)
			}
		case (target == TargetStopped) != (c.state == stateStopped):
			c.stop()
			delete(w.conns, name)
		case c.state == stateFailed && c.autoRestart && now.After(c.nextRestart):
			w.log.Info("restarting failed connector", "connector", name, "attempt", c.restarts+1)
			w.putConnectorStatus(name, stateRestarting, nil)
			c.stop()
			delete(w.conns, name)
			w.conns[name] = &runConnector{name: name, restarts: c.restarts + 1, state: stateRestarting, born: c.born}
			w.conns[name].prevBackoff = c.prevBackoff
		}
	}
	for name, err := range fails {
		if c, ok := w.conns[name]; ok && c.state != stateFailed {
			c.fail(w, err)
		}
	}
	for _, name := range snap.names() {
		if !asg.connectors[name] {
			continue
		}
		cfg := snap.connectors[name]
		target := snap.target(name)
		c, ok := w.conns[name]
		if ok && c.started {
			if c.state != stateFailed && c.state != stateStopped {
				want := stateRunning
				if target == TargetPaused {
					want = statePaused
				}
				if c.state != want {
					c.state = want
					w.putConnectorStatus(name, want, nil)
				}
				if target != TargetStopped && reconfig[name] {
					w.generateTaskConfigs(ctx, c, snap)
				}
			}
			continue
		}
		prev := c
		c = &runConnector{name: name}
		if prev != nil {
			c.restarts, c.prevBackoff = prev.restarts, prev.prevBackoff
		}
		w.conns[name] = c
		c.start(w, ctx, cfg, target, snap)
	}

	// Tasks.
	for id, t := range w.tasks {
		want, have := w.wantTask(snap, asg, id)
		switch {
		case !have:
			if _, exists := snap.connectors[id.Connector]; !exists {
				t.quiet() // deleted: its statuses get tombstones instead
			}
			w.dropTask(id, t)
		case restartTask[id], !maps.Equal(want, t.raw):
			t.stop()
			delete(w.tasks, id)
			if restartTask[id] {
				w.putTaskStatus(id, stateRestarting, nil)
			}
		case t.failed():
			if t.nextRestart.IsZero() {
				t.scheduleRestart(w)
			}
			if t.autoRestart && now.After(t.nextRestart) {
				w.log.Info("restarting failed task", "connector", id.Connector, "task", id.Task, "attempt", t.restarts+1)
				w.putTaskStatus(id, stateRestarting, nil)
				delete(w.tasks, id)
				nt := w.startTask(ctx, id, want, snap)
				nt.restarts, nt.prevBackoff = t.restarts+1, t.prevBackoff
			}
		default:
			t.setPaused(snap.target(id.Connector) == TargetPaused)
			if t.restarts > 0 && time.Since(t.startedAt) > restartCountResetsIn {
				t.restarts, t.prevBackoff = 0, 0
			}
		}
	}
	for id := range asg.tasks {
		if _, running := w.tasks[id]; running {
			continue
		}
		want, have := w.wantTask(snap, asg, id)
		if !have {
			continue
		}
		w.startTask(ctx, id, want, snap)
	}
}

// dropTask stops a task this worker no longer runs (it makes its final
// offset commit as it ends) and forgets it and its metrics.
func (w *Worker) dropTask(id taskID, t *runTask) {
	t.stop()
	delete(w.tasks, id)
	w.m.forgetTask(id.Connector, id.Task)
}

// wantTask returns the config task id should run with, if it should run.
func (w *Worker) wantTask(snap *configSnapshot, asg assignment, id taskID) (map[string]string, bool) {
	if !asg.tasks[id] {
		return nil, false
	}
	if _, ok := snap.connectors[id.Connector]; !ok || snap.target(id.Connector) == TargetStopped {
		return nil, false
	}
	ts := snap.tasks[id.Connector]
	if id.Task >= len(ts) {
		return nil, false
	}
	return ts[id.Task], true
}

// taskClass names a connector's task class as Kafka Connect's task.class
// does: weir's tasks are not Java classes, so the name follows Kafka's
// convention (FileStreamSourceConnector → FileStreamSourceTask).
func (w *Worker) taskClass(class string) string {
	if r, ok := w.cfg.Plugins.Lookup(class); ok {
		class = r.Class
	}
	return strings.TrimSuffix(class, "Connector") + "Task"
}

// connectorType is "source", "sink" or "unknown" for a class name.
func (w *Worker) connectorType(class string) string {
	r, ok := w.cfg.Plugins.Lookup(class)
	if !ok {
		return "unknown"
	}
	switch r.Type {
	case plugins.PluginSource, plugins.PluginSink:
		return string(r.Type)
	}
	return "unknown"
}

// pluginVersion is the version of a connector class on this worker ("" if
// it has no such plugin).
func (w *Worker) pluginVersion(class string) string {
	if r, ok := w.cfg.Plugins.Lookup(class); ok {
		return r.Version
	}
	return ""
}

// connectorVersion is the plugin version of a configured connector.
func (w *Worker) connectorVersion(name string) string {
	return w.pluginVersion(w.configs.snapshot().connectors[name][cfgClass])
}

// putConnectorStatus writes a connector's state to the status topic.
func (w *Worker) putConnectorStatus(name, state string, trace error) {
	w.m.setConnectorState(name, state)
	w.putStatus("status-connector-"+name, state, w.connectorVersion(name), trace)
}

func (w *Worker) putTaskStatus(id taskID, state string, trace error) {
	w.m.setTaskState(id.Connector, id.Task, state)
	w.putStatus(fmt.Sprintf("status-task-%s-%d", id.Connector, id.Task), state, w.connectorVersion(id.Connector), trace)
}

func (w *Worker) putStatus(key, state, version string, trace error) {
	rec := stateRecord{State: state, WorkerID: w.cfg.WorkerID, Generation: w.generation(), Version: version}
	if trace != nil {
		s := w.secrets.mask(fmt.Sprintf("%+v", trace))
		rec.Trace = &s
	}
	b, _ := json.Marshal(rec)
	w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: []byte(key), Value: b}, func(_ *kgo.Record, err error) {
		if err != nil {
			w.log.Warn("writing status", "key", key, "err", err)
		}
	})
}

// writeConfig writes records to the config topic in order and waits until
// the worker has read them back.
func (w *Worker) writeConfig(ctx context.Context, kvs ...configKV) error {
	for _, kv := range kvs {
		var v []byte
		if kv.value != nil {
			b, err := json.Marshal(kv.value)
			if err != nil {
				return err
			}
			v = b
		}
		if err := w.configLog.send(ctx, kv.key, v); err != nil {
			return err
		}
	}
	return w.configLog.readToEnd(ctx)
}

type configKV struct {
	key   string
	value any // nil: tombstone
}

// generateTaskConfigs asks a started connector for task configs and, when
// they differ from the committed ones, writes them (Kafka's
// reconfigureConnector).
func (w *Worker) generateTaskConfigs(ctx context.Context, c *runConnector, snap *configSnapshot) {
	tasks, err := c.conn.TaskConfigs(c.cc.tasksMax)
	if err != nil {
		c.fail(w, fmt.Errorf("TaskConfigs: %w", err))
		return
	}
	if len(tasks) > c.cc.tasksMax {
		tasks = tasks[:c.cc.tasksMax]
	}
	out := make([]map[string]string, len(tasks))
	for i, t := range tasks {
		m := maps.Clone(map[string]string(t))
		if m == nil {
			m = map[string]string{}
		}
		// Kafka adds task.class; weir also adds the connector's class, so a
		// task can be instantiated from its config alone.
		m[cfgClass] = c.raw[cfgClass]
		m[cfgTaskClass] = w.taskClass(c.raw[cfgClass])
		out[i] = m
	}
	reverseSecrets(c.raw, c.resolved, out)
	if slices.EqualFunc(out, snap.tasks[c.name], func(a, b map[string]string) bool { return maps.Equal(a, b) }) {
		return
	}
	kvs := make([]configKV, 0, len(out)+1)
	for i, t := range out {
		kvs = append(kvs, configKV{fmt.Sprintf("task-%s-%d", c.name, i), map[string]any{"properties": t}})
	}
	kvs = append(kvs, configKV{"commit-" + c.name, map[string]any{"tasks": len(out)}})
	wctx, cancel := context.WithTimeout(ctx, w.cfg.OffsetFlushTimeout*2)
	defer cancel()
	if err := w.writeConfig(wctx, kvs...); err != nil {
		w.log.Error("writing task configs", "connector", c.name, "err", err)
		w.mu.Lock()
		w.reconfig[c.name] = true // try again on the next pass
		w.mu.Unlock()
	}
}

// runConnector is a connector instance on this worker (herder loop only).
type runConnector struct {
	name        string
	conn        plugins.Connector
	cc          *connectorConfig
	raw         map[string]string
	born        int64 // configSnapshot.born when started
	resolved    map[string]string
	state       string
	started     bool
	autoRestart bool
	restarts    int
	prevBackoff time.Duration
	nextRestart time.Time
}

type connCtx struct {
	w    *Worker
	name string
}

func (c connCtx) RequestTaskReconfiguration() {
	c.w.mu.Lock()
	c.w.reconfig[c.name] = true
	c.w.mu.Unlock()
	c.w.kick()
}

func (c connCtx) RaiseError(err error) {
	c.w.mu.Lock()
	c.w.connFails[c.name] = err
	c.w.mu.Unlock()
	c.w.kick()
}

func (c *runConnector) start(w *Worker, ctx context.Context, raw map[string]string, target TargetState, snap *configSnapshot) {
	c.raw = raw
	c.born = snap.born[c.name]
	c.started = true
	log := w.log.With("connector", c.name)
	cc, err := parseConnectorConfig(raw)
	c.cc = cc
	c.autoRestart = *w.cfg.AutoRestart && cc.autoRestart
	if target == TargetStopped {
		// This worker's tasks of the connector end first, each with its
		// final offset commit, so that STOPPED with no tasks means their
		// offsets are written: a GET or PATCH of offsets that follows
		// sees where they stopped, not an earlier commit.
		for id, t := range w.tasks {
			if id.Connector == c.name {
				w.dropTask(id, t)
			}
		}
		c.state = stateStopped
		w.putConnectorStatus(c.name, stateStopped, nil)
		if len(snap.tasks[c.name]) > 0 {
			wctx, cancel := context.WithTimeout(ctx, w.cfg.OffsetFlushTimeout*2)
			defer cancel()
			if err := w.writeConfig(wctx, configKV{"commit-" + c.name, map[string]any{"tasks": 0}}); err != nil {
				log.Error("writing empty task configs for a stopped connector", "err", err)
			}
		}
		return
	}
	if err != nil {
		c.fail(w, err)
		return
	}
	resolved, err := w.secrets.resolve(raw, w.providerPolicy(w.connectorDef(raw)))
	if err != nil {
		c.fail(w, err)
		return
	}
	c.resolved = resolved
	conn, _, err := w.cfg.Plugins.NewConnector(raw[cfgClass])
	if err != nil {
		c.fail(w, err)
		return
	}
	if err := conn.Start(connCtx{w, c.name}, plugins.Config(resolved)); err != nil {
		c.fail(w, fmt.Errorf("start connector: %w", err))
		return
	}
	c.conn = conn
	c.state = stateRunning
	if target == TargetPaused {
		c.state = statePaused
	}
	log.Info("connector started", "class", raw[cfgClass], "state", c.state)
	w.putConnectorStatus(c.name, c.state, nil)
	if target != TargetStopped {
		w.generateTaskConfigs(ctx, c, snap)
	}
}

func (c *runConnector) fail(w *Worker, err error) {
	w.log.Error("connector failed", "connector", c.name, "err", err)
	if c.conn != nil {
		_ = c.conn.Stop()
		c.conn = nil
	}
	c.state = stateFailed
	c.backoff(w)
	w.putConnectorStatus(c.name, stateFailed, err)
}

func (c *runConnector) backoff(w *Worker) {
	d := w.cfg.RestartBackoffMin
	if c.prevBackoff > 0 {
		d = min(c.prevBackoff*2, w.cfg.RestartBackoffMax)
	}
	c.prevBackoff = d
	if c.cc != nil && c.cc.maxRestarts >= 0 && c.restarts >= c.cc.maxRestarts {
		c.autoRestart = false
	}
	c.nextRestart = time.Now().Add(d)
}

func (c *runConnector) stop() {
	if c.conn != nil {
		_ = c.conn.Stop()
		c.conn = nil
	}
}

// runTask is a task goroutine's handle (herder loop only, except the
// fields behind mu).
type runTask struct {
	id          taskID
	raw         map[string]string
	cancel      context.CancelFunc
	stopTask    func() // asks the plugin to stop, from the herder goroutine; never overlaps its Start
	done        chan struct{}
	startedAt   time.Time
	autoRestart bool
	restarts    int
	prevBackoff time.Duration
	nextRestart time.Time
	maxRestarts int

	mu       sync.Mutex
	err      error
	stopping bool
	silent   bool
	paused   bool
	pauseCh  chan struct{} // closed and replaced on every pause change
	finished bool
}

func (t *runTask) failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished && t.err != nil
}

func (t *runTask) scheduleRestart(w *Worker) {
	d := w.cfg.RestartBackoffMin
	if t.prevBackoff > 0 {
		d = min(t.prevBackoff*2, w.cfg.RestartBackoffMax)
	}
	t.prevBackoff = d
	if t.maxRestarts >= 0 && t.restarts >= t.maxRestarts {
		t.autoRestart = false
	}
	t.nextRestart = time.Now().Add(d)
}

func (t *runTask) setPaused(p bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.paused != p {
		t.paused = p
		close(t.pauseCh)
		t.pauseCh = make(chan struct{})
	}
}

// waitWhilePaused blocks while the task is paused; onPause runs once when
// it enters the paused state, onResume when it leaves it.
func (t *runTask) waitWhilePaused(ctx context.Context, onPause, onResume func()) bool {
	t.mu.Lock()
	p, ch := t.paused, t.pauseCh
	t.mu.Unlock()
	if !p {
		return true
	}
	onPause()
	for p {
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
		t.mu.Lock()
		p, ch = t.paused, t.pauseCh
		t.mu.Unlock()
	}
	onResume()
	return true
}

func (t *runTask) quiet() {
	t.mu.Lock()
	t.silent = true
	t.mu.Unlock()
}

func (t *runTask) stop() {
	t.mu.Lock()
	t.stopping = true
	t.mu.Unlock()
	t.cancel()
	if t.stopTask != nil {
		t.stopTask()
	}
	select {
	case <-t.done:
	case <-time.After(taskShutdownTimeout):
	}
}

// startTask starts a task goroutine.
func (w *Worker) startTask(ctx context.Context, id taskID, raw map[string]string, snap *configSnapshot) *runTask {
	tctx, cancel := context.WithCancel(ctx)
	t := &runTask{id: id, raw: raw, cancel: cancel, done: make(chan struct{}), startedAt: time.Now(), pauseCh: make(chan struct{}), maxRestarts: -1}
	t.paused = snap.target(id.Connector) == TargetPaused
	w.tasks[id] = t
	log := w.log.With("connector", id.Connector, "task", id.Task)

	cc, err := parseConnectorConfig(snap.connectors[id.Connector])
	t.autoRestart = *w.cfg.AutoRestart && (cc == nil || cc.autoRestart)
	if cc != nil {
		t.maxRestarts = cc.maxRestarts
	}
	finish := func(err error) {
		t.mu.Lock()
		t.finished, t.err = true, err
		stopping, silent := t.stopping, t.silent
		t.mu.Unlock()
		switch {
		case err != nil && !stopping && !errors.Is(err, context.Canceled):
			log.Error("task failed", "err", err)
			w.putTaskStatus(id, stateFailed, err)
		case stopping && !silent && w.ctx.Err() == nil:
			// Kafka's onShutdown: the task runs nowhere until someone
			// else reports it (with a newer generation).
			w.putTaskStatus(id, stateUnassigned, nil)
			log.Info("task stopped")
		}
		close(t.done)
		w.kick()
	}
	if err != nil {
		finish(err)
		return t
	}
	pol := w.providerPolicy(w.connectorDef(snap.connectors[id.Connector]))
	connCfg, err := w.secrets.resolve(snap.connectors[id.Connector], pol)
	if err != nil {
		finish(err)
		return t
	}
	taskCfg, err := w.secrets.resolve(raw, pol)
	if err != nil {
		finish(err)
		return t
	}
	conn, reg, err := w.cfg.Plugins.NewConnector(raw[cfgClass])
	if err != nil {
		finish(err)
		return t
	}
	switch c := conn.(type) {
	case plugins.SourceConnector:
		st := &sourceTask{w: w, id: id, rt: t, cc: cc, connCfg: connCfg, cfg: taskCfg, task: c.NewTask(), log: log}
		t.stopTask = st.requestStop
		go func() { finish(st.run(tctx)) }()
	case plugins.SinkConnector:
		st := &sinkTask{w: w, id: id, rt: t, cc: cc, connCfg: connCfg, cfg: taskCfg, task: c.NewTask(), log: log}
		go func() { finish(st.run(tctx)) }()
	default:
		finish(fmt.Errorf("%s is a %s plugin, neither source nor sink", reg.Class, reg.Type))
	}
	return t
}

// statusOf returns the REST view of a connector's state.
func (w *Worker) statusOf(name string, snap *configSnapshot) connectorStateInfo {
	cfg := snap.connectors[name]
	out := connectorStateInfo{Name: name, Type: w.connectorType(cfg[cfgClass]), Tasks: []taskStateInfo{}}
	// The version the reporting worker ran; this worker's plugin for an
	// entry written by an older weir or by Kafka Connect before 4.1.
	version := func(v string) string {
		if v == "" {
			v = w.pluginVersion(cfg[cfgClass])
		}
		return v
	}
	if st, ok := w.statuses.connector(name); ok {
		out.Connector = connectorState{State: st.State, WorkerID: st.WorkerID, Trace: st.Trace, Version: version(st.Version)}
	} else {
		out.Connector = connectorState{State: stateUnassigned, WorkerID: w.cfg.WorkerID, Version: version("")}
	}
	for n := range snap.tasks[name] {
		ts := taskStateInfo{ID: n, State: stateUnassigned, WorkerID: w.cfg.WorkerID, Version: version("")}
		if st, ok := w.statuses.task(name, n); ok {
			ts.State, ts.WorkerID, ts.Trace, ts.Version = st.State, st.WorkerID, st.Trace, version(st.Version)
		}
		out.Tasks = append(out.Tasks, ts)
	}
	return out
}

// ServeHTTP lets a *Worker be mounted directly.
func (w *Worker) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.Handler().ServeHTTP(rw, r) }
