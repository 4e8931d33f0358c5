package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirlog/weir/plugins"
)

// The herder's operations behind the REST API. Writes go to the config
// topic and return once this worker has read them back; the herder loop
// then makes the cluster converge. In distributed mode they run on the
// leader only (the REST layer forwards).

// RESTError is an error with an HTTP status, rendered as Kafka Connect's
// {"error_code":..,"message":..}.
type RESTError struct {
	Code    int
	Message string
}

func (e *RESTError) Error() string { return e.Message }

func restErr(code int, format string, args ...any) *RESTError {
	return &RESTError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(c string) *RESTError { return restErr(http.StatusNotFound, "Connector %s not found", c) }

// ConnectorInfo is GET /connectors/{c}'s body.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []taskID          `json:"tasks"`
	Type   string            `json:"type"`
}

// connectorState and taskStateInfo carry the plugin's version, as Kafka
// 4.1's status entries do (KIP-891).
type connectorState struct {
	State    string  `json:"state"`
	WorkerID string  `json:"worker_id"`
	Version  string  `json:"version,omitempty"`
	Trace    *string `json:"trace,omitempty"`
}

type taskStateInfo struct {
	ID       int     `json:"id"`
	State    string  `json:"state"`
	WorkerID string  `json:"worker_id"`
	Version  string  `json:"version,omitempty"`
	Trace    *string `json:"trace,omitempty"`
}

type connectorStateInfo struct {
	Name      string          `json:"name"`
	Connector connectorState  `json:"connector"`
	Tasks     []taskStateInfo `json:"tasks"`
	Type      string          `json:"type"`
}

// maskConfig hides resolved secrets that somehow made it into a stored
// config (e.g. a task config a connector built by concatenation).
func (w *Worker) maskConfig(cfg map[string]string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		out[k] = w.secrets.mask(v)
	}
	return out
}

func (w *Worker) info(name string, snap *configSnapshot) (ConnectorInfo, bool) {
	cfg, ok := snap.connectors[name]
	if !ok {
		return ConnectorInfo{}, false
	}
	ci := ConnectorInfo{Name: name, Config: w.maskConfig(cfg), Tasks: []taskID{}, Type: w.connectorType(cfg[cfgClass])}
	for n := range snap.tasks[name] {
		ci.Tasks = append(ci.Tasks, taskID{name, n})
	}
	return ci, true
}

// validateConnector validates cfg as Kafka's AbstractHerder.validateConnectorConfig
// does: the runtime's keys, the plugin's keys, converters and transforms.
func (w *Worker) validateConnector(cfg map[string]string) (plugins.ConfigInfos, *RESTError) {
	class := strings.TrimSpace(cfg[cfgClass])
	if class == "" {
		return plugins.ConfigInfos{}, restErr(http.StatusBadRequest, "Connector config %s contains no connector type (set %s)", fmtConfig(w.maskConfig(cfg)), cfgClass)
	}
	reg, ok := w.cfg.Plugins.Lookup(class)
	if !ok || (reg.Type != plugins.PluginSource && reg.Type != plugins.PluginSink) {
		return plugins.ConfigInfos{}, restErr(http.StatusBadRequest, "Failed to find any class that implements Connector and which name matches %s, available connectors are: %s", class, w.connectorClassList())
	}
	conn, _, err := w.cfg.Plugins.NewConnector(class)
	if err != nil {
		return plugins.ConfigInfos{}, restErr(http.StatusBadRequest, "%s: %v", cfgClass, err)
	}
	base := sourceConfigDef()
	if reg.Type == plugins.PluginSink {
		base = sinkConfigDef()
	}
	// Which keys may use config providers depends on the declared types,
	// so the definition comes from the raw config (transform aliases and
	// classes are never secrets).
	resolved, rerr := w.secrets.resolve(cfg, w.providerPolicy(plugins.EnrichConfigDef(w.cfg.Plugins, base.Merge(conn.ConfigDef()), plugins.Config(cfg))))
	def := plugins.EnrichConfigDef(w.cfg.Plugins, base.Merge(conn.ConfigDef()), plugins.Config(resolved))
	infos := def.ValidateInfos(reg.Class, plugins.Config(resolved))
	if rerr != nil {
		key, _, _ := strings.Cut(strings.TrimPrefix(rerr.Error(), "config "), ":")
		infos.AddErrors(key, rerr.Error())
	}
	if reg.Type == plugins.PluginSink {
		hasTopics, hasRegex := strings.TrimSpace(cfg[cfgTopics]) != "", strings.TrimSpace(cfg[cfgTopicsRegex]) != ""
		switch {
		case hasTopics && hasRegex:
			infos.AddErrors(cfgTopics, "Must configure one of topics or topics.regex, not both")
		case !hasTopics && !hasRegex:
			infos.AddErrors(cfgTopics, "Must configure one of topics or topics.regex")
		}
		if dlq := strings.TrimSpace(cfg[cfgDLQTopic]); dlq != "" && slices.Contains(splitList(cfg[cfgTopics]), dlq) {
			infos.AddErrors(cfgDLQTopic, fmt.Sprintf("The DLQ topic '%s' may not be included in the list of topics ('%s=%s') consumed by the connector", dlq, cfgTopics, cfg[cfgTopics]))
		}
	}
	if infos.ErrorCount == 0 {
		// The definitions passed; configuring the transforms may still fail.
		if ch, err := buildChain(w.cfg.Plugins, resolved); err != nil {
			infos.AddErrors(cfgTransforms, err.Error())
		} else {
			ch.close()
		}
	}
	for _, producer := range []bool{false, true} {
		if _, _, err := clientOverrides(resolved, producer); err != nil {
			key := cfgConsumerOverride + "*"
			if producer {
				key = cfgProducerOverride + "*"
			}
			infos.AddErrors(key, err.Error())
		}
	}
	if _, err := newConverters(w.cfg.Plugins, w.cfg, resolved); err != nil {
		key := cfgValueConverter
		if strings.Contains(err.Error(), cfgKeyConverter) {
			key = cfgKeyConverter
		}
		infos.AddErrors(key, err.Error())
	}
	return infos, nil
}

func fmtConfig(cfg map[string]string) string {
	b, _ := json.Marshal(cfg)
	return string(b)
}

func (w *Worker) connectorClassList() string {
	var names []string
	for _, p := range w.cfg.Plugins.List(plugins.PluginSource, plugins.PluginSink) {
		names = append(names, p.Class)
	}
	return strings.Join(names, ", ")
}

// checkValid returns a 400 naming every invalid field.
func (w *Worker) checkValid(cfg map[string]string) *RESTError {
	infos, rerr := w.validateConnector(cfg)
	if rerr != nil {
		return rerr
	}
	if infos.ErrorCount == 0 {
		return nil
	}
	var msgs []string
	for _, c := range infos.Configs {
		for _, e := range c.Value.Errors {
			if !strings.Contains(e, c.Value.Name) {
				e = c.Value.Name + ": " + e
			}
			msgs = append(msgs, e)
		}
	}
	return restErr(http.StatusBadRequest, "Connector configuration is invalid and contains the following %d error(s):\n%s\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`",
		infos.ErrorCount, strings.Join(msgs, "\n"))
}

func validName(name string) *RESTError {
	if strings.TrimSpace(name) == "" {
		return restErr(http.StatusBadRequest, "Connector name is required (the \"name\" field)")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' {
			return restErr(http.StatusBadRequest, "Connector name %q must not contain control characters or '/'", name)
		}
	}
	return nil
}

// putConnector creates or updates a connector. allowReplace=false is POST
// /connectors (409 when it exists).
func (w *Worker) putConnector(ctx context.Context, name string, cfg map[string]string, allowReplace bool, initial TargetState) (ConnectorInfo, bool, error) {
	if err := validName(name); err != nil {
		return ConnectorInfo{}, false, err
	}
	cfg = maps.Clone(cfg)
	if n, ok := cfg[cfgName]; ok && n != name {
		return ConnectorInfo{}, false, restErr(http.StatusBadRequest, "Connector name configuration (%s) doesn't match connector name in the URL (%s)", n, name)
	}
	cfg[cfgName] = name
	snap := w.configs.snapshot()
	_, exists := snap.connectors[name]
	if exists && !allowReplace {
		return ConnectorInfo{}, false, restErr(http.StatusConflict, "Connector %s already exists", name)
	}
	if err := w.checkValid(cfg); err != nil {
		return ConnectorInfo{}, false, err
	}
	for _, u := range w.UnknownKeys(cfg) {
		w.log.Warn("connector config has a key nothing declares", "connector", name, "key", u.Key, "did_you_mean", u.Suggestion)
	}
	var kvs []configKV
	if !exists && initial != "" && initial != TargetStarted {
		kvs = append(kvs, configKV{"target-state-" + name, map[string]any{"state": string(initial), "state.v2": string(initial)}})
	}
	kvs = append(kvs, configKV{"connector-" + name, map[string]any{"properties": cfg}})
	if err := w.writeConfig(ctx, kvs...); err != nil {
		return ConnectorInfo{}, false, err
	}
	// As Kafka's herders answer: the config just written with the tasks
	// committed before it (none for a new connector), not whatever the
	// herder may have generated since the write was read back.
	info := ConnectorInfo{Name: name, Config: w.maskConfig(cfg), Tasks: []taskID{}, Type: w.connectorType(cfg[cfgClass])}
	for n := range snap.tasks[name] {
		info.Tasks = append(info.Tasks, taskID{name, n})
	}
	return info, !exists, nil
}

// patchConnector merges patch into the config; a null value removes a key.
func (w *Worker) patchConnector(ctx context.Context, name string, patch map[string]*string) (ConnectorInfo, error) {
	snap := w.configs.snapshot()
	cur, ok := snap.connectors[name]
	if !ok {
		return ConnectorInfo{}, notFound(name)
	}
	next := maps.Clone(cur)
	for k, v := range patch {
		if v == nil {
			delete(next, k)
		} else {
			next[k] = *v
		}
	}
	info, _, err := w.putConnector(ctx, name, next, true, "")
	return info, err
}

func (w *Worker) deleteConnector(ctx context.Context, name string) error {
	snap := w.configs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return notFound(name)
	}
	if err := w.writeConfig(ctx, configKV{"connector-" + name, nil}, configKV{"target-state-" + name, nil}); err != nil {
		return err
	}
	// Statuses of a deleted connector are removed (tombstones), as Kafka does.
	keys := []string{"status-connector-" + name}
	for n := range snap.tasks[name] {
		keys = append(keys, fmt.Sprintf("status-task-%s-%d", name, n))
	}
	for _, t := range w.statuses.activeTopics(name) {
		keys = append(keys, fmt.Sprintf("status-topic-%s:connector-%s", t, name))
	}
	// Give the owner a moment to stop first, so its last status write does
	// not outlive the tombstones.
	time.AfterFunc(500*time.Millisecond, func() {
		if _, back := w.configs.snapshot().connectors[name]; back {
			return // created again meanwhile: its statuses are the new ones
		}
		for _, k := range keys {
			w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: []byte(k)}, nil)
		}
	})
	return nil
}

func (w *Worker) setTarget(ctx context.Context, name string, t TargetState) error {
	snap := w.configs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return restErr(http.StatusNotFound, "Unknown connector %s", name) // AbstractHerder.pauseConnector's words
	}
	return w.writeConfig(ctx, configKV{"target-state-" + name, map[string]any{"state": string(t), "state.v2": string(t)}})
}

// restartConnector implements POST /connectors/{c}/restart. It returns the
// status to answer with when includeTasks or onlyFailed are set.
func (w *Worker) restartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (*connectorStateInfo, error) {
	snap := w.configs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return nil, restErr(http.StatusNotFound, "Unknown connector: %s", name) // DistributedHerder.restartConnector's words
	}
	req := restartRequest{IncludeTasks: includeTasks, OnlyFailed: onlyFailed}
	if err := w.writeConfig(ctx, configKV{"restart-connector-" + name, req}); err != nil {
		return nil, err
	}
	st := w.statusOf(name, snap)
	if st.Connector.State != "" && (!onlyFailed || st.Connector.State == stateFailed) {
		st.Connector.State = stateRestarting
	}
	if includeTasks {
		for i := range st.Tasks {
			if !onlyFailed || st.Tasks[i].State == stateFailed {
				st.Tasks[i].State = stateRestarting
			}
		}
	}
	return &st, nil
}

func (w *Worker) restartTask(ctx context.Context, name string, task int) error {
	snap := w.configs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return restErr(http.StatusNotFound, "Unknown connector: %s", name)
	}
	if task < 0 || task >= len(snap.tasks[name]) {
		return restErr(http.StatusNotFound, "Unknown task: %s-%d", name, task)
	}
	return w.writeConfig(ctx, configKV{"restart-connector-" + name, restartRequest{Task: &task}})
}

// Offsets bodies (KIP-875).
type connectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

type connectorOffsets struct {
	Offsets []connectorOffset `json:"offsets"`
}

func (w *Worker) isSink(cfg map[string]string) bool {
	return w.connectorType(cfg[cfgClass]) == string(plugins.PluginSink)
}

func (w *Worker) getOffsets(ctx context.Context, name string) (connectorOffsets, error) {
	snap := w.configs.snapshot()
	cfg, ok := snap.connectors[name]
	if !ok {
		return connectorOffsets{}, notFound(name)
	}
	out := connectorOffsets{Offsets: []connectorOffset{}}
	if w.isSink(cfg) {
		offs, err := w.adm.FetchOffsets(ctx, sinkGroup(name))
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return out, fmt.Errorf("fetch offsets of group %s: %w", sinkGroup(name), err)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || o.At < 0 {
				return
			}
			out.Offsets = append(out.Offsets, connectorOffset{
				Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": o.Partition},
				Offset:    map[string]any{"kafka_offset": o.At},
			})
		})
		slices.SortFunc(out.Offsets, func(a, b connectorOffset) int {
			return strings.Compare(fmt.Sprint(a.Partition), fmt.Sprint(b.Partition))
		})
		return out, nil
	}
	if snap.target(name) == TargetStopped {
		// A task on another worker may still be making its final commit;
		// its status leaves RUNNING only after that commit is written.
		// Past the wait the offsets are served as they stand.
		_ = w.waitTasksEnded(ctx, name, 15*time.Second)
	}
	rctx, cancel := context.WithTimeout(ctx, stateTopicReadLimit)
	defer cancel()
	if err := w.offsetLog.readToEnd(rctx); err != nil {
		return out, err
	}
	for _, o := range w.offsets.all(name) {
		out.Offsets = append(out.Offsets, connectorOffset(o))
	}
	return out, nil
}

// requireStopped enforces KIP-875's precondition for altering offsets and
// waits until no task of the connector still runs.
func (w *Worker) requireStopped(ctx context.Context, name string) (map[string]string, error) {
	snap := w.configs.snapshot()
	cfg, ok := snap.connectors[name]
	if !ok {
		return nil, notFound(name)
	}
	if snap.target(name) != TargetStopped {
		return nil, restErr(http.StatusBadRequest, "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint", name)
	}
	if err := w.waitTasksEnded(ctx, name, 15*time.Second); err != nil {
		return nil, err
	}
	return cfg, nil
}

// waitTasksEnded waits until a connector has no task configs and no task
// reported RUNNING or PAUSED, i.e. every task ended with its final offset
// commit (a task's status changes only after that commit). It fails with
// 409 after limit.
func (w *Worker) waitTasksEnded(ctx context.Context, name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		running := len(w.configs.snapshot().tasks[name]) > 0
		for n := 0; n < 64 && !running; n++ {
			if st, ok := w.statuses.task(name, n); ok && (st.State == stateRunning || st.State == statePaused) {
				running = true
			}
		}
		if !running {
			return nil
		}
		if time.Now().After(deadline) {
			return restErr(http.StatusConflict, "Connector %s still has running tasks; try again shortly", name)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func (w *Worker) alterOffsets(ctx context.Context, name string, body connectorOffsets) error {
	cfg, err := w.requireStopped(ctx, name)
	if err != nil {
		return err
	}
	if len(body.Offsets) == 0 {
		return restErr(http.StatusBadRequest, "The offsets to be modified must not be null or empty (the \"offsets\" field)")
	}
	if w.isSink(cfg) {
		commit := kadm.Offsets{}
		del := map[string][]int32{}
		for i, o := range body.Offsets {
			t, _ := o.Partition["kafka_topic"].(string)
			p, okp := asInt(o.Partition["kafka_partition"])
			if t == "" || !okp {
				return restErr(http.StatusBadRequest, "offsets[%d].partition: sink partitions need \"kafka_topic\" (string) and \"kafka_partition\" (integer)", i)
			}
			if o.Offset == nil {
				del[t] = append(del[t], int32(p))
				continue
			}
			off, ok := asInt(o.Offset["kafka_offset"])
			if !ok || off < 0 {
				return restErr(http.StatusBadRequest, "offsets[%d].offset: \"kafka_offset\" must be a non-negative integer", i)
			}
			commit.Add(kadm.Offset{Topic: t, Partition: int32(p), At: off, LeaderEpoch: -1})
		}
		if len(commit) > 0 {
			resp, err := w.adm.CommitOffsets(ctx, sinkGroup(name), commit)
			if err == nil {
				err = resp.Error()
			}
			if err != nil {
				return fmt.Errorf("commit offsets of group %s: %w", sinkGroup(name), err)
			}
		}
		if len(del) > 0 {
			ts := kadm.TopicsSet{}
			for t, ps := range del {
				ts.Add(t, ps...)
			}
			resp, err := w.adm.DeleteOffsets(ctx, sinkGroup(name), ts)
			if err == nil {
				err = resp.Error()
			}
			if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
				return fmt.Errorf("delete offsets of group %s: %w", sinkGroup(name), err)
			}
		}
		return nil
	}
	recs := make([]*kgo.Record, 0, len(body.Offsets))
	for i, o := range body.Offsets {
		if o.Partition == nil {
			return restErr(http.StatusBadRequest, "offsets[%d].partition must not be null", i)
		}
		k, err := offsetKey(name, o.Partition)
		if err != nil {
			return restErr(http.StatusBadRequest, "offsets[%d].partition: %v", i, err)
		}
		var v []byte
		if o.Offset != nil {
			v, _ = json.Marshal(o.Offset)
		}
		recs = append(recs, &kgo.Record{Topic: w.cfg.OffsetTopic, Key: k, Value: v})
	}
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write offsets: %w", err)
	}
	return w.offsetLog.readToEnd(ctx)
}

func (w *Worker) resetOffsets(ctx context.Context, name string) error {
	cfg, err := w.requireStopped(ctx, name)
	if err != nil {
		return err
	}
	if w.isSink(cfg) {
		resp, err := w.adm.DeleteGroup(ctx, sinkGroup(name))
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return fmt.Errorf("delete group %s: %w", sinkGroup(name), err)
		}
		return nil
	}
	if err := w.offsetLog.readToEnd(ctx); err != nil {
		return err
	}
	var recs []*kgo.Record
	for _, o := range w.offsets.all(name) {
		k, _ := offsetKey(name, o.Partition)
		recs = append(recs, &kgo.Record{Topic: w.cfg.OffsetTopic, Key: k})
	}
	if len(recs) == 0 {
		return nil
	}
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write offset tombstones: %w", err)
	}
	return w.offsetLog.readToEnd(ctx)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	}
	return 0, false
}

func (w *Worker) resetActiveTopics(name string) error {
	snap := w.configs.snapshot()
	if _, ok := snap.connectors[name]; !ok {
		return notFound(name)
	}
	for _, t := range w.statuses.activeTopics(name) {
		w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: fmt.Appendf(nil, "status-topic-%s:connector-%s", t, name)}, nil)
	}
	w.mu.Lock()
	for k := range w.noted {
		if k.Connector == name {
			delete(w.noted, k)
		}
	}
	w.mu.Unlock()
	return nil
}

// noteActiveTopic records that a connector used a topic (KIP-558).
func (w *Worker) noteActiveTopic(id taskID, topic string) {
	k := taskID{id.Connector, 0}
	w.mu.Lock()
	if w.noted == nil {
		w.noted = map[taskID]map[string]bool{}
	}
	if w.noted[k][topic] {
		w.mu.Unlock()
		return
	}
	if w.noted[k] == nil {
		w.noted[k] = map[string]bool{}
	}
	w.noted[k][topic] = true
	w.mu.Unlock()
	var ts topicStatus
	ts.Topic.Name, ts.Topic.Connector, ts.Topic.Task, ts.Topic.Discover = topic, id.Connector, id.Task, time.Now().UnixMilli()
	b, _ := json.Marshal(ts)
	w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: fmt.Appendf(nil, "status-topic-%s:connector-%s", topic, id.Connector), Value: b}, nil)
}

// ensureDataTopic creates a topic records are written to, once.
func (w *Worker) ensureDataTopic(ctx context.Context, topic string, rf int16) error {
	w.mu.Lock()
	if w.created == nil {
		w.created = map[string]bool{}
	}
	done := w.created[topic]
	w.mu.Unlock()
	if done {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	parts := int32(-1)
	for {
		resp, err := w.adm.CreateTopic(cctx, parts, rf, nil, topic)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			w.mu.Lock()
			w.created[topic] = true
			w.mu.Unlock()
			return nil
		case (parts == -1 || rf == -1) && (errors.Is(err, kerr.InvalidReplicationFactor) || errors.Is(err, kerr.InvalidPartitions) || errors.Is(err, kerr.InvalidRequest) || errors.Is(err, kerr.UnsupportedVersion)):
			parts, rf = 1, 1
		default:
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
}

// exactlyOnce decides whether a source task writes transactionally
// (KIP-618): the worker must enable it and the cluster must support
// transactions; a connector with exactly.once.support=required fails
// otherwise, one with "requested" (the default) falls back to
// at-least-once delivery.
func (w *Worker) exactlyOnce(ctx context.Context, cfg map[string]string, log *slog.Logger) (bool, error) {
	required := strings.EqualFold(strings.TrimSpace(cfg[cfgExactlyOnce]), "required")
	if w.cfg.ExactlyOnceSourceSupport != "enabled" {
		if required {
			return false, fmt.Errorf("%s=required, but this worker's exactly.once.source.support is %s", cfgExactlyOnce, w.cfg.ExactlyOnceSourceSupport)
		}
		return false, nil
	}
	ok, err := w.transactionsSupported(ctx)
	if err != nil {
		return false, err
	}
	if !ok {
		if required {
			return false, fmt.Errorf("%s=required, but the Kafka cluster does not support transactions", cfgExactlyOnce)
		}
		log.Warn("exactly-once source support is not available: the cluster does not support transactions; delivering at least once, with offsets committed after the records are acknowledged")
		return false, nil
	}
	log.Info("source task writes transactionally (exactly-once, transaction.boundary=poll)")
	return true, nil
}

func (w *Worker) transactionsSupported(ctx context.Context) (bool, error) {
	w.mu.Lock()
	known, v := w.txnKnown, w.txnSupported
	w.mu.Unlock()
	if known {
		return v, nil
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	vs, err := w.adm.ApiVersions(actx)
	if err != nil {
		return false, fmt.Errorf("api versions: %w", err)
	}
	ok := len(vs) > 0
	vs.Each(func(b kadm.BrokerApiVersions) {
		for _, k := range []int16{kmsg.InitProducerID.Int16(), kmsg.AddPartitionsToTxn.Int16(), kmsg.EndTxn.Int16()} {
			if _, has := b.KeyMaxVersion(k); b.Err != nil || !has {
				ok = false
			}
		}
	})
	w.mu.Lock()
	w.txnKnown, w.txnSupported = true, ok
	w.mu.Unlock()
	return ok, nil
}
