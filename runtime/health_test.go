package runtime

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHealthUnhealthyWhileFailed: GET /health answers KIP-1017's
// {"status","message"}; a FAILED task on this worker makes it 500
// "unhealthy" naming the task and its error, until the task is gone.
// GET /ready stays 200 throughout.
func TestHealthUnhealthyWhileFailed(t *testing.T) {
	c := startCluster(t)
	off := false
	w := c.startWorker(t, func(cfg *Config) { cfg.AutoRestart = &off })
	health := func() (int, map[string]string) {
		r := call(t, "GET", w.url+"/health", nil)
		var b map[string]string
		r.json(t, &b)
		return r.code, b
	}
	if code, b := health(); code != http.StatusOK || b["status"] != "healthy" || b["message"] == "" {
		t.Fatalf("health of an idle worker: %d %v", code, b)
	}
	expectCode(t, call(t, "POST", w.url+"/connectors", map[string]any{"name": "h", "config": map[string]any{
		"connector.class": "io.weir.test.TestSourceConnector", "topic": c.topic("h"), "fail.starts": "1000", "fail.message": "disk on fire"}}), http.StatusCreated, "create")
	waitState(t, w.url, "h", stateRunning, stateFailed)
	code, b := health()
	if code != http.StatusInternalServerError || b["status"] != "unhealthy" || !strings.Contains(b["message"], "task h-0: ") || !strings.Contains(b["message"], "disk on fire") {
		t.Fatalf("health with a FAILED task: %d %v", code, b)
	}
	if err := w.Health(); err == nil {
		t.Fatal("Worker.Health() = nil with a FAILED task")
	}
	r := call(t, "GET", w.url+"/ready", nil)
	expectCode(t, r, http.StatusOK, "ready while a task is FAILED")
	if !strings.Contains(string(r.body), `"status":"ready"`) {
		t.Fatalf("ready: %s", r.body)
	}
	expectCode(t, call(t, "DELETE", w.url+"/connectors/h", nil), http.StatusNoContent, "delete")
	eventually(t, 10*time.Second, "health to recover", func() (bool, string) {
		code, b := health()
		return code == http.StatusOK && b["status"] == "healthy", b["message"]
	})
}
