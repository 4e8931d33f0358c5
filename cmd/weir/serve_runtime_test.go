package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeRunsConnectRuntime starts `weir serve` as a user would (the real
// extensions registered) with --connectors pointing at a YAML file, and checks
// that the Kafka Connect REST API is mounted and the connector is running.
func TestServeRunsConnectRuntime(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defs := filepath.Join(dir, "connectors")
	if err := os.Mkdir(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata:
  name: lines
spec:
  class: org.apache.kafka.connect.file.FileStreamSourceConnector
  tasksMax: 1
  config:
    file: ` + in + `
    topic: lines
`
	if err := os.WriteFile(filepath.Join(defs, "lines.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := serveConnect
	defer func() { serveConnect = saved }()
	defer slog.SetDefault(slog.Default())
	serveConnect.connectorsDir = defs

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := defaultServeOptions()
	o.dataDir = filepath.Join(dir, "data")
	o.kafkaAddr = "127.0.0.1:0"
	o.httpAddr = "127.0.0.1:0"
	o.nodeID = 1
	o.autoCreate = true
	o.numPartitions = 1
	o.offsetsParts = 2
	o.maxRequestBytes = 1 << 20
	o.logLevel = "warn"
	o.logFormat = "text"
	o.shutdownTimeout = 5 * time.Second
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, o, pw)
		pw.Close()
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v (serve: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`http on (\S+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("startup line %q", line)
	}
	base := "http://" + m[1]
	// Connectors log through slog.Default: it is serve's logger, at
	// --log-level warn.
	if slog.Default().Enabled(ctx, slog.LevelInfo) || !slog.Default().Enabled(ctx, slog.LevelWarn) {
		t.Error("slog.Default is not serve's --log-level warn logger: connectors' logs bypass it")
	}

	var body []byte
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(base + "/connectors/lines/status")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		var st struct {
			Connector struct{ State string }   `json:"connector"`
			Tasks     []struct{ State string } `json:"tasks"`
		}
		if resp.StatusCode == 200 && json.Unmarshal(body, &st) == nil &&
			st.Connector.State == "RUNNING" && len(st.Tasks) == 1 && st.Tasks[0].State == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connector from --connectors never ran: %d %s", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(base + "/connector-plugins")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "org.apache.kafka.connect.file.FileStreamSinkConnector") {
		t.Fatalf("/connector-plugins: %s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}
