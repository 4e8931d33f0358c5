package runtime

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirlog/weir/connectors/file"
)

// TestFileConnectorOutsideAllowedDirs: creating or validating a FileStream
// connector whose file lies outside the worker's allowed directories is a
// 400 naming the setting (symlinks and ".." resolved first).
func TestFileConnectorOutsideAllowedDirs(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	allowedDir := t.TempDir()
	if err := file.SetAllowedDirs([]string{allowedDir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.SetAllowedDirs(nil) })
	os.Symlink("/etc", filepath.Join(allowedDir, "etc"))
	for _, e := range []struct{ class, key, path string }{
		{"FileStreamSource", "topic", "/etc/passwd"},
		{"FileStreamSource", "topic", allowedDir + "/../../etc/passwd"},
		{"FileStreamSource", "topic", filepath.Join(allowedDir, "etc", "passwd")},
		{"FileStreamSink", "topics", "/tmp/weir-written-by-rest.txt"},
	} {
		cfg := map[string]any{"name": "fd", "connector.class": e.class, e.key: c.topic("fd"), "file": e.path}
		m := errorBody(t, call(t, "POST", w.url+"/connectors", map[string]any{"name": "fd", "config": cfg}), http.StatusBadRequest, e.class+" "+e.path)
		if !strings.Contains(m, "--connect-file-allowed-dirs") || !strings.Contains(m, allowedDir) {
			t.Fatalf("%s %s: message %q does not name the setting and its value", e.class, e.path, m)
		}
		r := call(t, "PUT", w.url+"/connector-plugins/"+e.class+"/config/validate", cfg)
		expectCode(t, r, http.StatusOK, "validate")
		if !strings.Contains(string(r.body), `"error_count":1`) {
			t.Fatalf("validate %s: %s", e.path, r.body)
		}
	}
	if _, err := os.Stat("/tmp/weir-written-by-rest.txt"); err == nil {
		t.Fatal("a refused sink created its file")
	}
	cfg := map[string]any{"connector.class": "FileStreamSink", "topics": c.topic("fd"), "file": filepath.Join(allowedDir, "out.txt")}
	expectCode(t, call(t, "POST", w.url+"/connectors", map[string]any{"name": "fd", "config": cfg}), http.StatusCreated, "inside")
	waitState(t, w.url, "fd", stateRunning, stateRunning)
}
