package runtime

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const fileYAML = `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata:
  name: lines-in
spec:
  class: org.apache.kafka.connect.file.FileStreamSourceConnector
  tasksMax: 1
  config:
    file: %[1]s
    topic: %[3]s
    batch.size: 100
    key.converter: org.apache.kafka.connect.storage.StringConverter
    value.converter: org.apache.kafka.connect.storage.StringConverter
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata:
  name: lines-out
spec:
  class: FileStreamSink
  tasksMax: 1
  state: running
  config:
    file: %[2]s
    topics: %[3]s
    key.converter: org.apache.kafka.connect.storage.StringConverter
    value.converter: org.apache.kafka.connect.storage.StringConverter
`

func expectLines(t *testing.T, path string, n int) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%d lines in %s", n, path), func() (bool, string) {
		got := readLines(path)
		return len(got) >= n, fmt.Sprintf("%d lines", len(got))
	})
}

// TestFilePipelineEndToEnd runs FileStreamSource → topic → FileStreamSink
// from a YAML definition, then pauses, resumes, stops, and reads, alters
// and resets offsets.
func TestFilePipelineEndToEnd(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	writeLines(t, in, 0, 500)
	yml := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(yml, fmt.Appendf(nil, fileYAML, in, out, c.topic("lines")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.ApplyDir(dir); err != nil {
		t.Fatalf("ApplyDir: %v", err)
	}
	waitState(t, w.url, "lines-in", stateRunning, stateRunning)
	waitState(t, w.url, "lines-out", stateRunning, stateRunning)
	expectLines(t, out, 500)
	want := make([]string, 500)
	for i := range want {
		want[i] = fmt.Sprintf("line-%06d", i)
	}
	if got := readLines(out); !slices.Equal(got, want) {
		t.Fatalf("sink file differs from the source file: %d lines, first %q", len(got), got[:min(3, len(got))])
	}

	// Applying the same file again changes nothing (no restart, no duplicates).
	if err := w.ApplyDir(yml); err != nil {
		t.Fatalf("re-apply: %v", err)
	}

	// Pause: appended lines do not flow; resume: they do.
	expectCode(t, call(t, "PUT", w.url+"/connectors/lines-in/pause", nil), http.StatusAccepted, "pause")
	waitState(t, w.url, "lines-in", statePaused, statePaused)
	writeLines(t, in, 500, 600)
	time.Sleep(1500 * time.Millisecond)
	if n := len(readLines(out)); n != 500 {
		t.Fatalf("paused source still delivered: %d lines", n)
	}
	expectCode(t, call(t, "PUT", w.url+"/connectors/lines-in/resume", nil), http.StatusAccepted, "resume")
	waitState(t, w.url, "lines-in", stateRunning, stateRunning)
	expectLines(t, out, 600)

	// Offsets of a running connector cannot be changed.
	r := call(t, "DELETE", w.url+"/connectors/lines-in/offsets", nil)
	expectCode(t, r, http.StatusBadRequest, "reset offsets of a running connector")

	// Stop: no tasks; offsets readable.
	expectCode(t, call(t, "PUT", w.url+"/connectors/lines-in/stop", nil), http.StatusNoContent, "stop")
	waitState(t, w.url, "lines-in", stateStopped)
	var offs connectorOffsets
	eventually(t, 10*time.Second, "source offsets", func() (bool, string) {
		r := call(t, "GET", w.url+"/connectors/lines-in/offsets", nil)
		expectCode(t, r, http.StatusOK, "get offsets")
		r.json(t, &offs)
		return len(offs.Offsets) == 1 && fmt.Sprint(offs.Offsets[0].Offset["position"]) == fmt.Sprint(fileSize(t, in)), string(r.body)
	})
	if offs.Offsets[0].Partition["filename"] != in {
		t.Fatalf("offset partition %v, want filename %s", offs.Offsets[0].Partition, in)
	}

	// PATCH back to the start: the file is read again after resume.
	r = call(t, "PATCH", w.url+"/connectors/lines-in/offsets", map[string]any{"offsets": []any{map[string]any{
		"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": 0}}}})
	expectCode(t, r, http.StatusOK, "patch offsets")
	r = call(t, "GET", w.url+"/connectors/lines-in/offsets", nil)
	r.json(t, &offs)
	if fmt.Sprint(offs.Offsets[0].Offset["position"]) != "0" {
		t.Fatalf("after PATCH, offsets are %s", r.body)
	}
	expectCode(t, call(t, "PUT", w.url+"/connectors/lines-in/resume", nil), http.StatusAccepted, "resume after stop")
	waitState(t, w.url, "lines-in", stateRunning, stateRunning)
	expectLines(t, out, 1200)

	// DELETE resets: no offsets remain.
	expectCode(t, call(t, "PUT", w.url+"/connectors/lines-in/stop", nil), http.StatusNoContent, "stop again")
	waitState(t, w.url, "lines-in", stateStopped)
	r = call(t, "DELETE", w.url+"/connectors/lines-in/offsets", nil)
	expectCode(t, r, http.StatusOK, "delete offsets")
	r = call(t, "GET", w.url+"/connectors/lines-in/offsets", nil)
	r.json(t, &offs)
	if len(offs.Offsets) != 0 {
		t.Fatalf("after DELETE, offsets are %s", r.body)
	}

	// The sink's offsets are its consumer group's.
	eventually(t, 10*time.Second, "sink offsets", func() (bool, string) {
		r := call(t, "GET", w.url+"/connectors/lines-out/offsets", nil)
		r.json(t, &offs)
		offs.Offsets = onlyTopic(offs.Offsets, c.topic("lines"))
		return len(offs.Offsets) == 1 && fmt.Sprint(offs.Offsets[0].Offset["kafka_offset"]) == "1200", string(r.body)
	})
	if got := offs.Offsets[0].Partition["kafka_topic"]; got != c.topic("lines") {
		t.Fatalf("sink offset partition %v", offs.Offsets[0].Partition)
	}
	// Active topics.
	r = call(t, "GET", w.url+"/connectors/lines-in/topics", nil)
	var topics map[string]struct{ Topics []string }
	r.json(t, &topics)
	if !slices.Equal(topics["lines-in"].Topics, []string{c.topic("lines")}) {
		t.Fatalf("active topics: %s", r.body)
	}
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
