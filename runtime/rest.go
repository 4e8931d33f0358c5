package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/weirlog/weir/internal/buildinfo"
	"github.com/weirlog/weir/plugins"
)

const (
	restWriteTimeout = 90 * time.Second // Kafka's REQUEST_TIMEOUT_MS
	// leaderWait bounds how long a write waits for a forming group to
	// name its leader before answering 409.
	leaderWait      = 20 * time.Second
	forwardedHeader = "X-Weir-Forwarded"
	// maxRESTBody bounds a request body; a larger one is refused with 413
	// before it is parsed.
	maxRESTBody = 16 << 20
)

// Handler returns the Kafka Connect REST API. Paths, JSON shapes, status
// codes and {"error_code","message"} errors follow Kafka Connect's
// ConnectorsResource, ConnectorPluginsResource, LoggingResource and
// RootResource.
func (w *Worker) Handler() http.Handler {
	w.handlerOnce.Do(func() { w.handler = w.newHandler() })
	return w.handler
}

func (w *Worker) newHandler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(rw http.ResponseWriter, r *http.Request) {
			if err := f(rw, r); err != nil {
				w.writeError(rw, err)
			}
		})
	}
	// Everything under /connectors needs the config topic read first (503
	// until then). Writes are forwarded before the check, so a follower
	// that is still starting hands them to the leader.
	ready := func(f func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
		return func(rw http.ResponseWriter, r *http.Request) error {
			if err := w.ready(); err != nil {
				return err
			}
			return f(rw, r)
		}
	}
	// writes are forwarded to the leader in distributed mode.
	wr := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		h(pattern, func(rw http.ResponseWriter, r *http.Request) error {
			if w.forward(rw, r) {
				return nil
			}
			return f(rw, r)
		})
	}
	h("GET /{$}", w.getRoot)
	h("GET /health", w.getHealth)
	h("GET /ready", w.getReady)
	h("GET /connectors", ready(w.listConnectors))
	wr("POST /connectors", ready(w.createConnector))
	h("GET /connectors/{c}", ready(w.getConnector))
	h("GET /connectors/{c}/config", ready(w.getConfig))
	wr("PUT /connectors/{c}/config", ready(w.putConfig))
	wr("PATCH /connectors/{c}/config", ready(w.patchConfig))
	h("GET /connectors/{c}/status", ready(w.getStatus))
	h("GET /connectors/{c}/tasks", ready(w.getTasks))
	h("GET /connectors/{c}/tasks/{t}/status", ready(w.getTaskStatus))
	wr("POST /connectors/{c}/tasks/{t}/restart", ready(w.postTaskRestart))
	wr("POST /connectors/{c}/restart", ready(w.postRestart))
	wr("PUT /connectors/{c}/pause", ready(w.targetHandler(TargetPaused, http.StatusAccepted)))
	wr("PUT /connectors/{c}/resume", ready(w.targetHandler(TargetStarted, http.StatusAccepted)))
	wr("PUT /connectors/{c}/stop", ready(w.targetHandler(TargetStopped, http.StatusNoContent)))
	wr("DELETE /connectors/{c}", ready(w.deleteConnectorH))
	h("GET /connectors/{c}/offsets", ready(w.getOffsetsH))
	wr("PATCH /connectors/{c}/offsets", ready(w.patchOffsets))
	wr("DELETE /connectors/{c}/offsets", ready(w.deleteOffsets))
	h("GET /connectors/{c}/topics", ready(w.getTopics))
	h("PUT /connectors/{c}/topics/reset", ready(w.resetTopics))
	h("GET /connector-plugins", w.listPlugins)
	h("GET /connector-plugins/{p}/config", w.pluginConfig)
	h("PUT /connector-plugins/{p}/config/validate", w.validate)
	h("GET /admin/loggers", w.getLoggers)
	h("GET /admin/loggers/{l}", w.getLogger)
	h("PUT /admin/loggers/{l}", w.putLogger)
	if w.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(w.gatherer, promhttp.HandlerOpts{}))
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// Same JSON error shape for unknown paths and methods.
			probe := r.Clone(r.Context())
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				probe.Method = m
				if _, p := mux.Handler(probe); p != "" {
					w.writeError(rw, restErr(http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed"))
					return
				}
			}
			w.writeError(rw, restErr(http.StatusNotFound, "HTTP 404 Not Found"))
			return
		}
		mux.ServeHTTP(rw, r)
	})
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	if v != nil {
		_ = json.NewEncoder(rw).Encode(v)
	}
}

func (w *Worker) writeError(rw http.ResponseWriter, err error) {
	var re *RESTError
	if !errors.As(err, &re) {
		re = &RESTError{Code: http.StatusInternalServerError, Message: err.Error()}
		if errors.Is(err, context.DeadlineExceeded) {
			// Kafka's HerderRequestHandler: a timed-out operation is a 500
			// with exactly this message.
			re.Message = "Request timed out"
		}
	}
	writeJSON(rw, re.Code, map[string]any{"error_code": re.Code, "message": w.secrets.mask(re.Message)})
}

func (w *Worker) ready() error {
	if !w.caughtUp.Load() {
		return restErr(http.StatusServiceUnavailable, "Worker is still starting up: the config topic has not been read yet")
	}
	return nil
}

// readBody reads a request body of at most maxRESTBody bytes (413 beyond).
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRESTBody+1))
	if err != nil {
		return nil, restErr(http.StatusBadRequest, "reading request body: %v", err)
	}
	if len(b) > maxRESTBody {
		return nil, restErr(http.StatusRequestEntityTooLarge, "Request body is larger than the %d bytes a Connect REST request may have", maxRESTBody)
	}
	return b, nil
}

// decodeBody decodes a JSON body, answering 400 with the decoder's message.
func decodeBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return restErr(http.StatusBadRequest, "Request body must be a JSON object; got an empty body")
	}
	return decodeJSONBody(b, v)
}

func decodeJSONBody(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return restErr(http.StatusBadRequest, "Invalid JSON in request body: %v", err)
	}
	return nil
}

// stringMap turns a JSON object into a Connect config: Jackson accepts
// numbers and booleans for Map<String,String> values, so do we.
func stringMap(field string, m map[string]any, keepNull bool) (map[string]*string, error) {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			if !keepNull {
				return nil, restErr(http.StatusBadRequest, "%s%s: null is not a valid config value", field, k)
			}
			out[k] = nil
		case string:
			out[k] = &x
		case json.Number:
			s := x.String()
			out[k] = &s
		case bool:
			s := strconv.FormatBool(x)
			out[k] = &s
		default:
			return nil, restErr(http.StatusBadRequest, "%s%s: config values must be strings, not %T", field, k, v)
		}
	}
	return out, nil
}

func flatten(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func (w *Worker) getRoot(rw http.ResponseWriter, r *http.Request) error {
	if w.clusterID == "" && w.adm != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		md, err := w.adm.BrokerMetadata(ctx)
		cancel()
		if err == nil {
			w.mu.Lock()
			w.clusterID = md.Cluster
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	id := w.clusterID
	w.mu.Unlock()
	writeJSON(rw, http.StatusOK, map[string]string{"version": buildinfo.Version(), "commit": buildinfo.Commit(), "kafka_cluster_id": id})
	return nil
}

// Health reports whether this worker is well (Kafka Connect's KIP-1017
// GET /health, plus weir's rule that a FAILED connector or task makes its
// worker unhealthy): nil, ErrStarting while the config topic has not been
// read, or an error naming what FAILED on this worker.
func (w *Worker) Health() error {
	if !w.caughtUp.Load() {
		return ErrStarting
	}
	if failed := w.failures(); len(failed) > 0 {
		return fmt.Errorf("%s FAILED on this worker (GET /connectors/{name}/status has the trace): %s",
			plural(len(failed), "connector or task is", "connectors or tasks are"), strings.Join(failed, "; "))
	}
	return nil
}

// Ready reports whether the worker can serve the REST API: nil once the
// config topic has been read. A FAILED connector does not make it unready.
func (w *Worker) Ready() error {
	if !w.caughtUp.Load() {
		return ErrStarting
	}
	return nil
}

// ErrStarting is Health's and Ready's answer while the worker starts.
var ErrStarting = errors.New("Worker is still starting up.")

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// failures lists the connectors and tasks whose latest status, reported by
// this worker, is FAILED, each with the first line of its trace.
func (w *Worker) failures() []string {
	snap := w.configs.snapshot()
	var out []string
	add := func(what string, st stateRecord) {
		if st.State != stateFailed || st.WorkerID != w.cfg.WorkerID {
			return
		}
		if st.Trace != nil {
			line, _, _ := strings.Cut(*st.Trace, "\n")
			if len(line) > 200 {
				line = line[:200] + "…"
			}
			what += ": " + line
		}
		out = append(out, what)
	}
	for _, c := range snap.names() {
		if st, ok := w.statuses.connector(c); ok {
			add("connector "+c, st)
		}
		for n := range snap.tasks[c] {
			if st, ok := w.statuses.task(c, n); ok {
				add(fmt.Sprintf("task %s-%d", c, n), st)
			}
		}
	}
	return out
}

// getHealth answers GET /health in KIP-1017's shape
// {"status","message"}: 200 healthy, 503 starting, 500 unhealthy.
func (w *Worker) getHealth(rw http.ResponseWriter, r *http.Request) error {
	switch err := w.Health(); {
	case err == nil:
		writeJSON(rw, http.StatusOK, map[string]string{"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."})
	case errors.Is(err, ErrStarting):
		writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "starting", "message": err.Error()})
	default:
		writeJSON(rw, http.StatusInternalServerError, map[string]string{"status": "unhealthy", "message": w.secrets.mask(err.Error())})
	}
	return nil
}

// getReady answers GET /ready: 200 once the worker can serve, else 503.
func (w *Worker) getReady(rw http.ResponseWriter, r *http.Request) error {
	if err := w.Ready(); err != nil {
		writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "starting", "message": err.Error()})
		return nil
	}
	writeJSON(rw, http.StatusOK, map[string]string{"status": "ready", "message": "Worker has read the config topic and serves requests."})
	return nil
}

func (w *Worker) listConnectors(rw http.ResponseWriter, r *http.Request) error {
	snap := w.configs.snapshot()
	names := snap.names()
	expand := r.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(rw, http.StatusOK, names)
		return nil
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		e := map[string]any{}
		for _, x := range expand {
			switch x {
			case "status":
				e["status"] = w.statusOf(n, snap)
			case "info":
				e["info"], _ = w.info(n, snap)
			}
		}
		out[n] = e
	}
	writeJSON(rw, http.StatusOK, out)
	return nil
}

func parseInitialState(s string) (TargetState, error) {
	switch strings.ToUpper(s) {
	case "":
		return "", nil
	case "RUNNING":
		return TargetStarted, nil
	case "PAUSED":
		return TargetPaused, nil
	case "STOPPED":
		return TargetStopped, nil
	}
	return "", restErr(http.StatusBadRequest, "initial_state: invalid value %q (RUNNING, PAUSED or STOPPED)", s)
}

// createRequestFields are the fields of Kafka's CreateConnectorRequest.
var createRequestFields = []string{"name", "config", "initial_state"}

// unknownFields refuses a JSON object with fields outside known, naming
// each (a misspelt "config" would otherwise silently create a connector
// without one).
func unknownFields(raw map[string]json.RawMessage, known []string) error {
	var msgs []string
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(known, k) {
			msgs = append(msgs, strconv.Quote(k)+didYouMean(k, known))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return restErr(http.StatusBadRequest, "Unrecognized field(s) in the request body: %s; a connector request has only the fields %s",
		strings.Join(msgs, ", "), `"name", "config" and "initial_state"`)
}

func (w *Worker) createConnector(rw http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	if err := unknownFields(raw, createRequestFields); err != nil {
		return err
	}
	var body struct {
		Name         *string        `json:"name"`
		Config       map[string]any `json:"config"`
		InitialState string         `json:"initial_state"`
	}
	b, _ := json.Marshal(raw)
	if err := decodeJSONBody(b, &body); err != nil {
		return err
	}
	if body.Config == nil {
		return restErr(http.StatusBadRequest, "Connector config is required (the \"config\" field)")
	}
	cfg, err := stringMap("config.", body.Config, false)
	if err != nil {
		return err
	}
	name := ""
	if body.Name != nil {
		name = strings.TrimSpace(*body.Name)
	}
	st, err := parseInitialState(body.InitialState)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	info, _, err := w.putConnector(ctx, name, flatten(cfg), false, st)
	if err != nil {
		return err
	}
	rw.Header().Set("Location", "/connectors/"+name)
	writeJSON(rw, http.StatusCreated, info)
	return nil
}

func (w *Worker) getConnector(rw http.ResponseWriter, r *http.Request) error {
	info, ok := w.info(r.PathValue("c"), w.configs.snapshot())
	if !ok {
		return notFound(r.PathValue("c"))
	}
	writeJSON(rw, http.StatusOK, info)
	return nil
}

func (w *Worker) getConfig(rw http.ResponseWriter, r *http.Request) error {
	cfg, ok := w.configs.snapshot().connectors[r.PathValue("c")]
	if !ok {
		return notFound(r.PathValue("c"))
	}
	writeJSON(rw, http.StatusOK, w.maskConfig(cfg))
	return nil
}

func (w *Worker) putConfig(rw http.ResponseWriter, r *http.Request) error {
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	cfg, err := stringMap("", body, false)
	if err != nil {
		return err
	}
	name := r.PathValue("c")
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	info, created, err := w.putConnector(ctx, name, flatten(cfg), true, "")
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		rw.Header().Set("Location", "/connectors/"+name)
	}
	writeJSON(rw, code, info)
	return nil
}

func (w *Worker) patchConfig(rw http.ResponseWriter, r *http.Request) error {
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	patch, err := stringMap("", body, true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	info, err := w.patchConnector(ctx, r.PathValue("c"), patch)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, info)
	return nil
}

func (w *Worker) getStatus(rw http.ResponseWriter, r *http.Request) error {
	snap := w.configs.snapshot()
	c := r.PathValue("c")
	if _, ok := snap.connectors[c]; !ok {
		return restErr(http.StatusNotFound, "No status found for connector %s", c)
	}
	writeJSON(rw, http.StatusOK, w.statusOf(c, snap))
	return nil
}

func (w *Worker) getTasks(rw http.ResponseWriter, r *http.Request) error {
	snap := w.configs.snapshot()
	c := r.PathValue("c")
	if _, ok := snap.connectors[c]; !ok {
		return notFound(c)
	}
	type taskInfo struct {
		ID     taskID            `json:"id"`
		Config map[string]string `json:"config"`
	}
	out := []taskInfo{}
	for n, cfg := range snap.tasks[c] {
		out = append(out, taskInfo{ID: taskID{c, n}, Config: w.maskConfig(cfg)})
	}
	writeJSON(rw, http.StatusOK, out)
	return nil
}

func taskParam(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("t"))
	if err != nil || n < 0 {
		return 0, restErr(http.StatusNotFound, "Task %s-%s not found", r.PathValue("c"), r.PathValue("t"))
	}
	return n, nil
}

func (w *Worker) getTaskStatus(rw http.ResponseWriter, r *http.Request) error {
	c := r.PathValue("c")
	n, err := taskParam(r)
	if err != nil {
		return err
	}
	snap := w.configs.snapshot()
	if _, ok := snap.connectors[c]; !ok || n >= len(snap.tasks[c]) {
		return restErr(http.StatusNotFound, "No status found for task %s-%d", c, n)
	}
	for _, t := range w.statusOf(c, snap).Tasks {
		if t.ID == n {
			writeJSON(rw, http.StatusOK, t)
			return nil
		}
	}
	return restErr(http.StatusNotFound, "No status found for task %s-%d", c, n)
}

func (w *Worker) postTaskRestart(rw http.ResponseWriter, r *http.Request) error {
	n, err := taskParam(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	if err := w.restartTask(ctx, r.PathValue("c"), n); err != nil {
		return err
	}
	rw.WriteHeader(http.StatusNoContent)
	return nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, restErr(http.StatusBadRequest, "query parameter %s: %q is not a boolean", name, v)
	}
	return b, nil
}

func (w *Worker) postRestart(rw http.ResponseWriter, r *http.Request) error {
	inc, err := boolParam(r, "includeTasks")
	if err != nil {
		return err
	}
	only, err := boolParam(r, "onlyFailed")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	st, err := w.restartConnector(ctx, r.PathValue("c"), inc, only)
	if err != nil {
		return err
	}
	if !inc && !only {
		rw.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(rw, http.StatusAccepted, st)
	return nil
}

func (w *Worker) targetHandler(t TargetState, code int) func(http.ResponseWriter, *http.Request) error {
	return func(rw http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
		defer cancel()
		if err := w.setTarget(ctx, r.PathValue("c"), t); err != nil {
			return err
		}
		rw.WriteHeader(code)
		return nil
	}
}

func (w *Worker) deleteConnectorH(rw http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	if err := w.deleteConnector(ctx, r.PathValue("c")); err != nil {
		return err
	}
	rw.WriteHeader(http.StatusNoContent)
	return nil
}

func (w *Worker) getOffsetsH(rw http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	offs, err := w.getOffsets(ctx, r.PathValue("c"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, offs)
	return nil
}

func (w *Worker) patchOffsets(rw http.ResponseWriter, r *http.Request) error {
	var raw struct {
		Offsets []struct {
			Partition json.RawMessage `json:"partition"`
			Offset    json.RawMessage `json:"offset"`
		} `json:"offsets"`
	}
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	var body connectorOffsets
	for i, o := range raw.Offsets {
		var co connectorOffset
		if len(o.Partition) > 0 && string(o.Partition) != "null" {
			if err := decodeJSON(o.Partition, &co.Partition); err != nil {
				return restErr(http.StatusBadRequest, "offsets[%d].partition: %v", i, err)
			}
		}
		if len(o.Offset) > 0 && string(o.Offset) != "null" {
			if err := decodeJSON(o.Offset, &co.Offset); err != nil {
				return restErr(http.StatusBadRequest, "offsets[%d].offset: %v", i, err)
			}
		}
		body.Offsets = append(body.Offsets, co)
	}
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	if err := w.alterOffsets(ctx, r.PathValue("c"), body); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]string{"message": "The offsets for this connector have been altered successfully"})
	return nil
}

func (w *Worker) deleteOffsets(rw http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	if err := w.resetOffsets(ctx, r.PathValue("c")); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]string{"message": "The offsets for this connector have been reset successfully"})
	return nil
}

func (w *Worker) getTopics(rw http.ResponseWriter, r *http.Request) error {
	c := r.PathValue("c")
	if _, ok := w.configs.snapshot().connectors[c]; !ok {
		return notFound(c)
	}
	topics := w.statuses.activeTopics(c)
	writeJSON(rw, http.StatusOK, map[string]any{c: map[string]any{"topics": topics}})
	return nil
}

func (w *Worker) resetTopics(rw http.ResponseWriter, r *http.Request) error {
	if err := w.resetActiveTopics(r.PathValue("c")); err != nil {
		return err
	}
	rw.WriteHeader(http.StatusAccepted)
	return nil
}

func (w *Worker) listPlugins(rw http.ResponseWriter, r *http.Request) error {
	only := true
	if v := r.URL.Query().Get("connectorsOnly"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return restErr(http.StatusBadRequest, "query parameter connectorsOnly: %q is not a boolean", v)
		}
		only = b
	}
	var list []plugins.PluginInfo
	if only {
		list = w.cfg.Plugins.List(plugins.PluginSource, plugins.PluginSink)
	} else {
		list = w.cfg.Plugins.List()
	}
	if list == nil {
		list = []plugins.PluginInfo{}
	}
	writeJSON(rw, http.StatusOK, list)
	return nil
}

func (w *Worker) pluginConfig(rw http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("p")
	def, reg, err := w.cfg.Plugins.PluginConfigDef(p)
	if err != nil {
		return restErr(http.StatusNotFound, "Unknown plugin %s.", p)
	}
	switch reg.Type {
	case plugins.PluginSource:
		def = sourceConfigDef().Merge(def)
	case plugins.PluginSink:
		def = sinkConfigDef().Merge(def)
	}
	writeJSON(rw, http.StatusOK, def.KeyInfos())
	return nil
}

// normalizedPluginName is Kafka's: the simple name without "Connector".
func normalizedPluginName(s string) string {
	s = s[strings.LastIndexByte(s, '.')+1:]
	return strings.TrimSuffix(s, "Connector")
}

func (w *Worker) validate(rw http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("p")
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	cfg, err := stringMap("", body, false)
	if err != nil {
		return err
	}
	flat := flatten(cfg)
	if inc, ok := flat[cfgClass]; ok && !strings.HasSuffix(normalizedPluginName(inc), normalizedPluginName(p)) {
		return restErr(http.StatusBadRequest, "Included connector type %s does not match request type %s", inc, p)
	}
	flat[cfgClass] = p
	infos, rerr := w.validateConnector(flat)
	if rerr != nil {
		return rerr
	}
	writeJSON(rw, http.StatusOK, infos)
	return nil
}

// Loggers: weir has one level per named logger; "root" is the worker's.
func (w *Worker) loggerLevels() map[string]any {
	out := map[string]any{}
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, lv := range w.levels {
		out[n] = map[string]any{"level": levelName(lv.Level()), "last_modified": nil}
	}
	return out
}

func levelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug-4:
		return "TRACE"
	case l <= slog.LevelDebug:
		return "DEBUG"
	case l <= slog.LevelInfo:
		return "INFO"
	case l <= slog.LevelWarn:
		return "WARN"
	}
	return "ERROR"
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToUpper(s) {
	case "TRACE":
		return slog.LevelDebug - 4, true
	case "DEBUG":
		return slog.LevelDebug, true
	case "INFO":
		return slog.LevelInfo, true
	case "WARN":
		return slog.LevelWarn, true
	case "ERROR", "FATAL":
		return slog.LevelError, true
	case "OFF":
		return slog.LevelError + 100, true
	}
	return 0, false
}

func (w *Worker) getLoggers(rw http.ResponseWriter, r *http.Request) error {
	writeJSON(rw, http.StatusOK, w.loggerLevels())
	return nil
}

func (w *Worker) getLogger(rw http.ResponseWriter, r *http.Request) error {
	l := r.PathValue("l")
	all := w.loggerLevels()
	v, ok := all[l]
	if !ok {
		// Kafka reports the effective (root) level of unknown loggers.
		v, ok = all["root"]
	}
	if !ok {
		return restErr(http.StatusNotFound, "Logger %s not found.", l)
	}
	writeJSON(rw, http.StatusOK, v)
	return nil
}

func (w *Worker) putLogger(rw http.ResponseWriter, r *http.Request) error {
	l := r.PathValue("l")
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	s, _ := body["level"].(string)
	if s == "" {
		return restErr(http.StatusBadRequest, "Desired 'level' parameter was not specified in request.")
	}
	lvl, ok := parseLevel(s)
	if !ok {
		return restErr(http.StatusBadRequest, "Invalid log level '%s'.", s)
	}
	w.mu.Lock()
	lv, ok := w.levels[l]
	if !ok {
		lv = new(slog.LevelVar)
		w.levels[l] = lv
	}
	lv.Set(lvl)
	names := slices.Sorted(maps.Keys(w.levels))
	w.mu.Unlock()
	if r.URL.Query().Get("scope") == "cluster" {
		rw.WriteHeader(http.StatusNoContent)
		return nil
	}
	affected := []string{l}
	if l == "root" {
		affected = names
	}
	writeJSON(rw, http.StatusOK, affected)
	return nil
}

// forward proxies a write to the leader when this worker is a follower
// (Kafka's completeOrForwardRequest). It reports whether it answered.
func (w *Worker) forward(rw http.ResponseWriter, r *http.Request) bool {
	if w.group == nil || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	leader, isLeader := w.group.leaderURL()
	if !isLeader && leader == "" {
		// The group round is still under way (a worker that just started,
		// or one that lost its membership): wait for it.
		ctx, cancel := context.WithTimeout(r.Context(), leaderWait)
		leader, isLeader = w.group.awaitLeader(ctx)
		cancel()
	}
	if isLeader {
		return false
	}
	if leader == "" {
		w.writeError(rw, restErr(http.StatusConflict, "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."))
		return true
	}
	body, err := readBody(r)
	if err != nil {
		w.writeError(rw, err)
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), restWriteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, leader+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		w.writeError(rw, err)
		return true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(forwardedHeader, w.cfg.WorkerID)
	w.log.Info("forwarding a REST write to the leader", "method", r.Method, "path", r.URL.Path, "leader", leader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.writeError(rw, restErr(http.StatusConflict, "Cannot forward the request to the leader %s: %v", leader, err))
		return true
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "Location"} {
		if v := resp.Header.Get(k); v != "" {
			rw.Header().Set(k, v)
		}
	}
	rw.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(rw, resp.Body)
	return true
}
