package runtime

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirlog/weir/internal/buildinfo"
)

// TestRESTBodyLimitAndUnknownFields: a body over the limit is a 413 in
// Connect's error shape; unknown top-level fields of a connector request
// are refused by name.
func TestRESTBodyLimitAndUnknownFields(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	u := w.url
	big := `{"name":"big","config":{"connector.class":"FileStreamSource","x":"` + strings.Repeat("a", maxRESTBody) + `"}}`
	for _, e := range []struct{ method, path string }{{"POST", "/connectors"}, {"PUT", "/connectors/big/config"}, {"PUT", "/connector-plugins/FileStreamSource/config/validate"}} {
		m := errorBody(t, call(t, e.method, u+e.path, big), http.StatusRequestEntityTooLarge, e.method+" "+e.path+" oversized")
		if !strings.Contains(m, "larger than") {
			t.Fatalf("413 message: %s", m)
		}
	}
	dir := t.TempDir()
	m := errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "u", "configs": sourceConfig(filepath.Join(dir, "in"), c.topic("u")), "initialState": "PAUSED"}),
		http.StatusBadRequest, "unknown fields")
	for _, want := range []string{`"configs" (did you mean "config"?)`, `"initialState" (did you mean "initial_state"?)`} {
		if !strings.Contains(m, want) {
			t.Fatalf("unknown-field message %q lacks %q", m, want)
		}
	}
	r := call(t, "GET", u+"/connectors", nil)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("a refused request created something: %s", r.body)
	}
}

// TestRESTKafkaFidelity: the details Kafka Connect clients read — plugin
// versions in status entries, task.class in task configs, creation order,
// the 201 body, and Connect's error messages.
func TestRESTKafkaFidelity(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	u := w.url
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeLines(t, in, 0, 3)

	// The 201 body of a new connector: exactly Connect's ConnectorInfo,
	// tasks an empty list.
	r := call(t, "POST", u+"/connectors", map[string]any{"name": "zeta", "config": sourceConfig(in, c.topic("f"))})
	expectCode(t, r, http.StatusCreated, "create zeta")
	var body map[string]json.RawMessage
	r.json(t, &body)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range body {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"config", "name", "tasks", "type"}) || string(body["tasks"]) != "[]" || string(body["type"]) != `"source"` || string(body["name"]) != `"zeta"` {
		t.Fatalf("201 body: %s", r.body)
	}
	var cfg map[string]string
	json.Unmarshal(body["config"], &cfg)
	if cfg["name"] != "zeta" || cfg["file"] != in || len(cfg) != 5 {
		t.Fatalf("201 config: %v", cfg)
	}
	if loc := r.code; loc != http.StatusCreated {
		t.Fatal(loc)
	}
	for _, n := range []string{"alpha", "mid"} {
		expectCode(t, call(t, "POST", u+"/connectors", map[string]any{"name": n, "config": sourceConfig(in, c.topic("f")), "initial_state": "STOPPED"}), http.StatusCreated, "create "+n)
	}
	r = call(t, "GET", u+"/connectors", nil)
	var names []string
	r.json(t, &names)
	if !slices.Equal(names, []string{"zeta", "alpha", "mid"}) {
		t.Fatalf("list %v, want creation order [zeta alpha mid]", names)
	}
	expectCode(t, call(t, "DELETE", u+"/connectors/zeta", nil), http.StatusNoContent, "delete zeta")
	expectCode(t, call(t, "POST", u+"/connectors", map[string]any{"name": "zeta", "config": sourceConfig(in, c.topic("f"))}), http.StatusCreated, "re-create zeta")
	r = call(t, "GET", u+"/connectors", nil)
	r.json(t, &names)
	if !slices.Equal(names, []string{"alpha", "mid", "zeta"}) {
		t.Fatalf("list %v after re-creating zeta, want [alpha mid zeta]", names)
	}

	// Versions in status entries; task.class in task configs.
	waitState(t, u, "zeta", stateRunning, stateRunning)
	r = call(t, "GET", u+"/connectors/zeta/status", nil)
	var st struct {
		Connector map[string]any   `json:"connector"`
		Tasks     []map[string]any `json:"tasks"`
	}
	r.json(t, &st)
	if st.Connector["version"] == nil || st.Connector["version"] == "" || len(st.Tasks) != 1 || st.Tasks[0]["version"] != st.Connector["version"] {
		t.Fatalf("status without versions: %s", r.body)
	}
	r = call(t, "GET", u+"/connectors/zeta/tasks/0/status", nil)
	if !strings.Contains(string(r.body), `"version":`) {
		t.Fatalf("task status without version: %s", r.body)
	}
	r = call(t, "GET", u+"/connectors/zeta/tasks", nil)
	var tasks []struct {
		Config map[string]string `json:"config"`
	}
	r.json(t, &tasks)
	if len(tasks) != 1 || tasks[0].Config["task.class"] != "org.apache.kafka.connect.file.FileStreamSourceTask" {
		t.Fatalf("task configs: %s", r.body)
	}

	// Error messages a client may match on, word for word as Kafka's
	// herders and resources write them.
	for _, e := range []struct {
		method, path string
		body         any
		code         int
		msg          string
	}{
		{"GET", "/connectors/nope", nil, 404, "Connector nope not found"},
		{"GET", "/connectors/nope/status", nil, 404, "No status found for connector nope"},
		{"GET", "/connectors/zeta/tasks/5/status", nil, 404, "No status found for task zeta-5"},
		{"PUT", "/connectors/nope/pause", nil, 404, "Unknown connector nope"},
		{"PUT", "/connectors/nope/resume", nil, 404, "Unknown connector nope"},
		{"PUT", "/connectors/nope/stop", nil, 404, "Unknown connector nope"},
		{"POST", "/connectors/nope/restart", nil, 404, "Unknown connector: nope"},
		{"POST", "/connectors/zeta/tasks/5/restart", nil, 404, "Unknown task: zeta-5"},
		{"POST", "/connectors", map[string]any{"name": "zeta", "config": sourceConfig(in, "x")}, 409, "Connector zeta already exists"},
		{"PUT", "/connectors/zeta/config", map[string]any{"name": "other", "connector.class": "FileStreamSource"}, 400, "Connector name configuration (other) doesn't match connector name in the URL (zeta)"},
		{"GET", "/connector-plugins/Nope/config", nil, 404, "Unknown plugin Nope."},
	} {
		if m := errorBody(t, call(t, e.method, u+e.path, e.body), e.code, e.method+" "+e.path); m != e.msg {
			t.Errorf("%s %s: message %q, want Kafka's %q", e.method, e.path, m, e.msg)
		}
	}
	m := errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": map[string]any{"file": in}}), 400, "no class")
	if !strings.HasPrefix(m, "Connector config {") || !strings.Contains(m, "} contains no connector type") {
		t.Errorf("no-class message %q", m)
	}
	m = errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "x", "config": map[string]any{"connector.class": "Nope"}}), 400, "unknown class")
	if !strings.HasPrefix(m, "Failed to find any class that implements Connector and which name matches Nope, available connectors are: ") {
		t.Errorf("unknown-class message %q", m)
	}
}

// TestRootReportsBuild: GET / reports the version and commit of the build
// (stamped by the Makefile, else the toolchain's VCS info), not constants.
func TestRootReportsBuild(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	r := call(t, "GET", w.url+"/", nil)
	expectCode(t, r, http.StatusOK, "GET /")
	var root map[string]string
	r.json(t, &root)
	if root["version"] != buildinfo.Version() || root["commit"] != buildinfo.Commit() || root["kafka_cluster_id"] == "" {
		t.Fatalf("GET / = %s, want version %s commit %s", r.body, buildinfo.Version(), buildinfo.Commit())
	}
}
