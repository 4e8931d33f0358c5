package runtime

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// errorBody checks Kafka Connect's error shape and returns the message.
func errorBody(t *testing.T, r response, code int, what string) string {
	t.Helper()
	expectCode(t, r, code, what)
	var e struct {
		Code    *int    `json:"error_code"`
		Message *string `json:"message"`
	}
	r.json(t, &e)
	if e.Code == nil || *e.Code != code || e.Message == nil || *e.Message == "" {
		t.Fatalf("%s: error body %s, want {\"error_code\":%d,\"message\":...}", what, r.body, code)
	}
	return *e.Message
}

func sourceConfig(file, topic string) map[string]any {
	return map[string]any{
		"connector.class": "FileStreamSource",
		"file":            file,
		"topic":           topic,
		"tasks.max":       1, // numbers are accepted, as Jackson does
	}
}

// TestRESTContract exercises every endpoint's shape, status codes and errors.
func TestRESTContract(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	u := w.url
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, 0, 10)

	// Root and health.
	r := call(t, "GET", u+"/", nil)
	expectCode(t, r, http.StatusOK, "GET /")
	var root map[string]string
	r.json(t, &root)
	if root["version"] == "" || root["kafka_cluster_id"] == "" {
		t.Fatalf("GET / = %s", r.body)
	}
	r = call(t, "GET", u+"/health", nil)
	expectCode(t, r, http.StatusOK, "GET /health")
	if !strings.Contains(string(r.body), `"status":"healthy"`) {
		t.Fatalf("health: %s", r.body)
	}

	// Empty list.
	r = call(t, "GET", u+"/connectors", nil)
	expectCode(t, r, http.StatusOK, "list")
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("empty list: %s", r.body)
	}

	// POST errors: bad JSON, missing name, missing config, unknown plugin,
	// invalid config naming the field, bad initial_state.
	errorBody(t, call(t, "POST", u+"/connectors", `{"name": "x", "config": {`), http.StatusBadRequest, "bad JSON")
	if m := errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"config": sourceConfig(in, "t")}), http.StatusBadRequest, "no name"); !strings.Contains(m, "name") {
		t.Fatalf("missing name message: %s", m)
	}
	errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x"}), http.StatusBadRequest, "no config")
	m := errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": map[string]any{"connector.class": "NoSuchConnector"}}), http.StatusBadRequest, "unknown plugin")
	if !strings.Contains(m, "NoSuchConnector") {
		t.Fatalf("unknown plugin message: %s", m)
	}
	m = errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": map[string]any{"connector.class": "FileStreamSource", "file": in}}), http.StatusBadRequest, "invalid config")
	if !strings.Contains(m, `"topic"`) && !strings.Contains(m, "topic") {
		t.Fatalf("invalid config message does not name the field: %s", m)
	}
	m = errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": map[string]any{"connector.class": "FileStreamSource", "file": in, "topic": "t", "tasks.max": "zero"}}), http.StatusBadRequest, "bad tasks.max")
	if !strings.Contains(m, "tasks.max") {
		t.Fatalf("bad tasks.max message: %s", m)
	}
	errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": sourceConfig(in, "t"), "initial_state": "SLEEPING"}), http.StatusBadRequest, "bad initial_state")
	errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": map[string]any{"connector.class": "FileStreamSource", "file": in, "topic": "t", "name": "y"}}), http.StatusBadRequest, "name mismatch")

	// Create (initial_state PAUSED) → 201 with ConnectorInfo and Location.
	topic := c.topic("rest")
	r = call(t, "POST", u+"/connectors", map[string]any{"name": "src", "config": sourceConfig(in, topic), "initial_state": "PAUSED"})
	expectCode(t, r, http.StatusCreated, "create")
	var info ConnectorInfo
	r.json(t, &info)
	if info.Name != "src" || info.Type != "source" || info.Config["name"] != "src" || info.Config["tasks.max"] != "1" {
		t.Fatalf("create body: %s", r.body)
	}
	errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "src", "config": sourceConfig(in, topic)}), http.StatusConflict, "create twice")
	waitState(t, u, "src", statePaused, statePaused)

	// GET connector, config, tasks, status, task status.
	r = call(t, "GET", u+"/connectors/src", nil)
	expectCode(t, r, http.StatusOK, "get connector")
	r.json(t, &info)
	if len(info.Tasks) != 1 || info.Tasks[0] != (taskID{"src", 0}) {
		t.Fatalf("connector info: %s", r.body)
	}
	r = call(t, "GET", u+"/connectors/src/config", nil)
	expectCode(t, r, http.StatusOK, "get config")
	var cfg map[string]string
	r.json(t, &cfg)
	if cfg["file"] != in || cfg["connector.class"] != "FileStreamSource" {
		t.Fatalf("config: %s", r.body)
	}
	r = call(t, "GET", u+"/connectors/src/tasks", nil)
	expectCode(t, r, http.StatusOK, "get tasks")
	var tasks []struct {
		ID     taskID            `json:"id"`
		Config map[string]string `json:"config"`
	}
	r.json(t, &tasks)
	if len(tasks) != 1 || tasks[0].ID != (taskID{"src", 0}) || tasks[0].Config["file"] != in {
		t.Fatalf("tasks: %s", r.body)
	}
	r = call(t, "GET", u+"/connectors/src/tasks/0/status", nil)
	expectCode(t, r, http.StatusOK, "task status")
	var ts map[string]any
	r.json(t, &ts)
	if ts["id"] != float64(0) || ts["state"] != statePaused || ts["worker_id"] != w.WorkerID() {
		t.Fatalf("task status: %s", r.body)
	}
	errorBody(t, call(t, "GET", u+"/connectors/src/tasks/7/status", nil), http.StatusNotFound, "unknown task status")
	errorBody(t, call(t, "GET", u+"/connectors/src/tasks/x/status", nil), http.StatusNotFound, "non-numeric task")

	// Expand.
	r = call(t, "GET", u+"/connectors?expand=status&expand=info", nil)
	expectCode(t, r, http.StatusOK, "expand")
	var exp map[string]struct {
		Status connectorStateInfo `json:"status"`
		Info   ConnectorInfo      `json:"info"`
	}
	r.json(t, &exp)
	if exp["src"].Status.Connector.State != statePaused || exp["src"].Info.Type != "source" {
		t.Fatalf("expand: %s", r.body)
	}

	// Resume, restart variants.
	expectCode(t, call(t, "PUT", u+"/connectors/src/resume", nil), http.StatusAccepted, "resume")
	waitState(t, u, "src", stateRunning, stateRunning)
	expectCode(t, call(t, "POST", u+"/connectors/src/restart", nil), http.StatusNoContent, "restart connector")
	taskStarts := func() int {
		return strings.Count(w.log.String(), `msg="source task started" component=connect worker_id=`+w.WorkerID()+` connector=src`)
	}
	before := taskStarts()
	r = call(t, "POST", u+"/connectors/src/restart?includeTasks=true", nil)
	expectCode(t, r, http.StatusAccepted, "restart with tasks")
	var st connectorStateInfo
	r.json(t, &st)
	if st.Connector.State != stateRestarting || st.Tasks[0].State != stateRestarting {
		t.Fatalf("restart body: %s", r.body)
	}
	eventually(t, 10*time.Second, "the task to restart", func() (bool, string) { return taskStarts() > before, "" })
	waitState(t, u, "src", stateRunning, stateRunning)
	before = taskStarts()
	r = call(t, "POST", u+"/connectors/src/restart?includeTasks=true&onlyFailed=true", nil)
	expectCode(t, r, http.StatusAccepted, "restart only failed")
	r.json(t, &st)
	if st.Connector.State == stateRestarting || st.Tasks[0].State == stateRestarting {
		t.Fatalf("onlyFailed restarts healthy instances: %s", r.body)
	}
	time.Sleep(time.Second)
	if taskStarts() != before {
		t.Fatalf("onlyFailed restarted a healthy task")
	}
	errorBody(t, call(t, "POST", u+"/connectors/src/restart?includeTasks=maybe", nil), http.StatusBadRequest, "bad bool")
	expectCode(t, call(t, "POST", u+"/connectors/src/tasks/0/restart", nil), http.StatusNoContent, "restart task")
	errorBody(t, call(t, "POST", u+"/connectors/src/tasks/3/restart", nil), http.StatusNotFound, "restart unknown task")
	waitState(t, u, "src", stateRunning, stateRunning)

	// PUT config: 200 on update, 201 on create; PATCH merges and deletes.
	r = call(t, "PUT", u+"/connectors/src/config", map[string]any{"connector.class": "FileStreamSource", "file": in, "topic": topic, "batch.size": "5"})
	expectCode(t, r, http.StatusOK, "put config update")
	r = call(t, "PUT", u+"/connectors/sink/config", map[string]any{"connector.class": "FileStreamSink", "file": filepath.Join(dir, "out.txt"), "topics": topic})
	expectCode(t, r, http.StatusCreated, "put config create")
	r.json(t, &info)
	if info.Type != "sink" {
		t.Fatalf("sink info: %s", r.body)
	}
	errorBody(t, call(t, "PUT", u+"/connectors/sink/config", map[string]any{"connector.class": "FileStreamSink", "topics": topic, "name": "other"}), http.StatusBadRequest, "put name mismatch")
	m = errorBody(t, call(t, "PUT", u+"/connectors/sink/config", map[string]any{"connector.class": "FileStreamSink"}), http.StatusBadRequest, "sink without topics")
	if !strings.Contains(m, "topics") {
		t.Fatalf("sink without topics message: %s", m)
	}
	m = errorBody(t, call(t, "PUT", u+"/connectors/sink/config", map[string]any{"connector.class": "FileStreamSink", "topics": topic, "consumer.override.fetch.magic": "1"}), http.StatusBadRequest, "unsupported override")
	if !strings.Contains(m, "consumer.override.fetch.magic") {
		t.Fatalf("override message: %s", m)
	}
	r = call(t, "PATCH", u+"/connectors/src/config", map[string]any{"batch.size": nil, "errors.log.enable": "true"})
	expectCode(t, r, http.StatusOK, "patch config")
	r.json(t, &info)
	if _, ok := info.Config["batch.size"]; ok || info.Config["errors.log.enable"] != "true" || info.Config["file"] != in {
		t.Fatalf("patched config: %s", r.body)
	}
	errorBody(t, call(t, "PATCH", u+"/connectors/nope/config", map[string]any{"a": "b"}), http.StatusNotFound, "patch unknown")
	errorBody(t, call(t, "PATCH", u+"/connectors/src/config", map[string]any{"tasks.max": "-3"}), http.StatusBadRequest, "patch invalid")

	// 404s for every per-connector endpoint of an unknown connector.
	for _, e := range []struct{ method, path string }{
		{"GET", "/connectors/nope"}, {"GET", "/connectors/nope/config"}, {"GET", "/connectors/nope/status"},
		{"GET", "/connectors/nope/tasks"}, {"GET", "/connectors/nope/tasks/0/status"}, {"POST", "/connectors/nope/restart"},
		{"POST", "/connectors/nope/tasks/0/restart"}, {"PUT", "/connectors/nope/pause"}, {"PUT", "/connectors/nope/resume"},
		{"PUT", "/connectors/nope/stop"}, {"DELETE", "/connectors/nope"}, {"GET", "/connectors/nope/offsets"},
		{"DELETE", "/connectors/nope/offsets"}, {"GET", "/connectors/nope/topics"}, {"PUT", "/connectors/nope/topics/reset"},
	} {
		errorBody(t, call(t, e.method, u+e.path, nil), http.StatusNotFound, e.method+" "+e.path)
	}
	errorBody(t, call(t, "PATCH", u+"/connectors/nope/offsets", map[string]any{"offsets": []any{}}), http.StatusNotFound, "patch offsets unknown")
	errorBody(t, call(t, "GET", u+"/no/such/path", nil), http.StatusNotFound, "unknown path")
	errorBody(t, call(t, "DELETE", u+"/connectors", nil), http.StatusMethodNotAllowed, "wrong method")

	// Offsets: 400 unless stopped; bad bodies.
	errorBody(t, call(t, "PATCH", u+"/connectors/src/offsets", map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": 0}}}}), http.StatusBadRequest, "alter running")
	r = call(t, "GET", u+"/connectors/src/offsets", nil)
	expectCode(t, r, http.StatusOK, "get offsets")
	if !strings.HasPrefix(string(r.body), `{"offsets":[`) {
		t.Fatalf("offsets body: %s", r.body)
	}
	expectCode(t, call(t, "PUT", u+"/connectors/src/stop", nil), http.StatusNoContent, "stop")
	waitState(t, u, "src", stateStopped)
	errorBody(t, call(t, "PATCH", u+"/connectors/src/offsets", `{"offsets": 3}`), http.StatusBadRequest, "offsets not a list")
	errorBody(t, call(t, "PATCH", u+"/connectors/src/offsets", map[string]any{"offsets": []any{}}), http.StatusBadRequest, "empty offsets")
	expectCode(t, call(t, "PATCH", u+"/connectors/src/offsets", map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": 3}}}}), http.StatusOK, "alter stopped")
	expectCode(t, call(t, "PUT", u+"/connectors/sink/stop", nil), http.StatusNoContent, "stop sink")
	waitState(t, u, "sink", stateStopped)
	errorBody(t, call(t, "PATCH", u+"/connectors/sink/offsets", map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"kafka_topic": topic}, "offset": map[string]any{"kafka_offset": 1}}}}), http.StatusBadRequest, "sink offsets without partition")
	expectCode(t, call(t, "PATCH", u+"/connectors/sink/offsets", map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"kafka_topic": topic, "kafka_partition": 0}, "offset": map[string]any{"kafka_offset": 4}}}}), http.StatusOK, "alter sink offsets")
	r = call(t, "GET", u+"/connectors/sink/offsets", nil)
	var offs connectorOffsets
	r.json(t, &offs)
	offs.Offsets = onlyTopic(offs.Offsets, topic) // a shared Kafka may hold older runs' group offsets
	if len(offs.Offsets) != 1 || fmt.Sprint(offs.Offsets[0].Offset["kafka_offset"]) != "4" {
		t.Fatalf("sink offsets after PATCH: %s", r.body)
	}
	r = call(t, "DELETE", u+"/connectors/sink/offsets", nil)
	expectCode(t, r, http.StatusOK, "reset sink offsets")
	if !strings.Contains(string(r.body), "reset successfully") {
		t.Fatalf("reset body: %s", r.body)
	}

	// Topics.
	expectCode(t, call(t, "PUT", u+"/connectors/src/topics/reset", nil), http.StatusAccepted, "reset topics")
	r = call(t, "GET", u+"/connectors/src/topics", nil)
	expectCode(t, r, http.StatusOK, "topics")
	var topics map[string]map[string][]string
	r.json(t, &topics)
	if _, ok := topics["src"]["topics"]; !ok {
		t.Fatalf("topics: %s", r.body)
	}

	// Plugins.
	r = call(t, "GET", u+"/connector-plugins", nil)
	expectCode(t, r, http.StatusOK, "plugins")
	var pls []map[string]string
	r.json(t, &pls)
	var classes []string
	for _, p := range pls {
		classes = append(classes, p["class"])
		if p["type"] != "source" && p["type"] != "sink" {
			t.Fatalf("connectorsOnly listed %v", p)
		}
	}
	if !slices.Contains(classes, "org.apache.kafka.connect.file.FileStreamSourceConnector") {
		t.Fatalf("plugins: %s", r.body)
	}
	r = call(t, "GET", u+"/connector-plugins?connectorsOnly=false", nil)
	r.json(t, &pls)
	if !slices.ContainsFunc(pls, func(p map[string]string) bool { return p["type"] == "converter" }) {
		t.Fatalf("all plugins lack converters: %s", r.body)
	}
	r = call(t, "GET", u+"/connector-plugins/FileStreamSource/config", nil)
	expectCode(t, r, http.StatusOK, "plugin config")
	var keys []map[string]any
	r.json(t, &keys)
	if !slices.ContainsFunc(keys, func(k map[string]any) bool { return k["name"] == "topic" }) || !slices.ContainsFunc(keys, func(k map[string]any) bool { return k["name"] == "errors.tolerance" }) {
		t.Fatalf("plugin config: %s", r.body)
	}
	errorBody(t, call(t, "GET", u+"/connector-plugins/Nope/config", nil), http.StatusNotFound, "unknown plugin config")
	r = call(t, "PUT", u+"/connector-plugins/FileStreamSource/config/validate", map[string]any{"connector.class": "FileStreamSource", "name": "v", "file": in})
	expectCode(t, r, http.StatusOK, "validate")
	var vi struct {
		Name       string `json:"name"`
		ErrorCount int    `json:"error_count"`
		Groups     []string
		Configs    []struct {
			Definition map[string]any `json:"definition"`
			Value      struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	r.json(t, &vi)
	if vi.ErrorCount != 1 || vi.Name != "org.apache.kafka.connect.file.FileStreamSourceConnector" {
		t.Fatalf("validate: %s", r.body)
	}
	for _, c := range vi.Configs {
		if c.Value.Name == "topic" && len(c.Value.Errors) == 0 {
			t.Fatalf("validate did not flag topic: %s", r.body)
		}
	}
	errorBody(t, call(t, "PUT", u+"/connector-plugins/Nope/config/validate", map[string]any{"name": "v"}), http.StatusBadRequest, "validate unknown plugin")
	errorBody(t, call(t, "PUT", u+"/connector-plugins/FileStreamSource/config/validate", map[string]any{"connector.class": "FileStreamSink"}), http.StatusBadRequest, "validate class mismatch")
	errorBody(t, call(t, "PUT", u+"/connector-plugins/FileStreamSource/config/validate", `[1,2]`), http.StatusBadRequest, "validate bad JSON shape")

	// Loggers.
	r = call(t, "GET", u+"/admin/loggers", nil)
	expectCode(t, r, http.StatusOK, "loggers")
	if !strings.Contains(string(r.body), `"root":{"last_modified":null,"level":"INFO"}`) {
		t.Fatalf("loggers: %s", r.body)
	}
	r = call(t, "PUT", u+"/admin/loggers/root", map[string]any{"level": "DEBUG"})
	expectCode(t, r, http.StatusOK, "set logger")
	r = call(t, "GET", u+"/admin/loggers/root", nil)
	if !strings.Contains(string(r.body), `"DEBUG"`) {
		t.Fatalf("logger after PUT: %s", r.body)
	}
	errorBody(t, call(t, "PUT", u+"/admin/loggers/root", map[string]any{"level": "LOUD"}), http.StatusBadRequest, "bad level")
	errorBody(t, call(t, "PUT", u+"/admin/loggers/root", map[string]any{}), http.StatusBadRequest, "no level")

	// Metrics are served and labelled per connector and task.
	r = call(t, "GET", u+"/metrics", nil)
	expectCode(t, r, http.StatusOK, "metrics")
	if !strings.Contains(string(r.body), `weir_connect_task_state{connector="src",state="STOPPED",task="0"}`) &&
		!strings.Contains(string(r.body), `weir_connect_connector_state{connector="src",state="STOPPED"} 1`) {
		t.Fatalf("metrics lack connector state: %.2000s", r.body)
	}

	// Delete → 204, then 404 and gone from the list and statuses.
	expectCode(t, call(t, "DELETE", u+"/connectors/src", nil), http.StatusNoContent, "delete")
	errorBody(t, call(t, "GET", u+"/connectors/src", nil), http.StatusNotFound, "get deleted")
	r = call(t, "GET", u+"/connectors", nil)
	var names []string
	r.json(t, &names)
	if !slices.Equal(names, []string{"sink"}) {
		t.Fatalf("list after delete: %s", r.body)
	}
	eventually(t, 10*time.Second, "status tombstones", func() (bool, string) {
		_, ok := w.statuses.connector("src")
		return !ok, ""
	})
	_ = json.Valid
}

func onlyTopic(offs []connectorOffset, topic string) []connectorOffset {
	var out []connectorOffset
	for _, o := range offs {
		if o.Partition["kafka_topic"] == topic {
			out = append(out, o)
		}
	}
	return out
}
