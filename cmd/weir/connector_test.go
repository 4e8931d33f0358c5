package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/weirlog/weir/core/broker/brokertest"
	"github.com/weirlog/weir/runtime"
)

// startConnectWorker runs a standalone connect worker against an
// in-process broker and returns its REST URL.
func startConnectWorker(t *testing.T) string {
	t.Helper()
	b := brokertest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w, err := runtime.New(runtime.Config{
		BootstrapServers: []string{b.Addr()}, HTTPAddr: ln.Addr().String(),
		OffsetTopicPartitions: 2, StatusTopicPartitions: 1, TopicReplicationFactor: 1,
		OffsetFlushInterval: 200 * time.Millisecond,
	}, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); w.Close() })
	return "http://" + ln.Addr().String()
}

func runConnectorCLI(t *testing.T, url string, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "weir", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newConnectorCmd())
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	args = append([]string{"connector"}, args...)
	if url != "" {
		args = append(args, "--url", url)
	}
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func mustConnectorCLI(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, errOut, err := runConnectorCLI(t, url, args...)
	if err != nil {
		t.Fatalf("weir %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func waitCLI(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConnectorCLI(t *testing.T) {
	url := startConnectWorker(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	if err := os.WriteFile(in, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	topic := fmt.Sprintf("cli-lines-%d", time.Now().UnixNano()%1e6)
	yml := filepath.Join(dir, "p.yaml")
	os.WriteFile(yml, fmt.Appendf(nil, `apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata: {name: cli-in}
spec:
  class: FileStreamSource
  config: {file: %q, topic: %s, value.converter: org.apache.kafka.connect.storage.StringConverter}
---
{"name": "cli-out", "config": {"connector.class": "FileStreamSink", "file": %q, "topics": %q,
 "value.converter": "org.apache.kafka.connect.storage.StringConverter"}}
`, in, topic, out, topic), 0o644)

	if got := mustConnectorCLI(t, "", "validate", "-f", yml); !strings.Contains(got, "connector/cli-in is valid") {
		t.Fatalf("validate: %s", got)
	}
	got := mustConnectorCLI(t, url, "apply", "-f", yml)
	if !strings.Contains(got, "connector/cli-in created") || !strings.Contains(got, "connector/cli-out created") {
		t.Fatalf("apply: %s", got)
	}
	if got := mustConnectorCLI(t, url, "apply", "-f", dir); !strings.Contains(got, "connector/cli-in configured") {
		t.Fatalf("re-apply: %s", got)
	}
	waitCLI(t, "sink output", func() bool { b, _ := os.ReadFile(out); return string(b) == "a\nb\nc\n" })
	waitCLI(t, "list shows both running", func() bool {
		got := mustConnectorCLI(t, url, "list")
		return strings.Count(got, "1/1 running") == 2
	})
	if got := mustConnectorCLI(t, url, "status", "cli-in"); !strings.Contains(got, "connector cli-in (source)") || !strings.Contains(got, "task 0") {
		t.Fatalf("status: %s", got)
	}
	mustConnectorCLI(t, url, "pause", "cli-in")
	waitCLI(t, "paused", func() bool { return strings.Contains(mustConnectorCLI(t, url, "status", "cli-in"), "PAUSED") })
	mustConnectorCLI(t, url, "resume", "cli-in")
	mustConnectorCLI(t, url, "restart", "cli-in", "--include-tasks")
	mustConnectorCLI(t, url, "stop", "cli-in")
	waitCLI(t, "stopped", func() bool { return strings.Contains(mustConnectorCLI(t, url, "status", "cli-in"), "STOPPED") })
	if got := mustConnectorCLI(t, url, "offsets", "cli-in"); !strings.Contains(got, `"position": 6`) {
		t.Fatalf("offsets: %s", got)
	}
	if got := mustConnectorCLI(t, url, "offsets", "cli-in", "--reset"); !strings.Contains(got, "reset successfully") {
		t.Fatalf("offsets --reset: %s", got)
	}
	mustConnectorCLI(t, url, "delete", "cli-in")
	_, _, err := runConnectorCLI(t, url, "status", "cli-in")
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("status of a deleted connector: %v", err)
	}

	// validate reports problems with file and line.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  name: b\nspec:\n  class: FileStreamSource\n  config:\n    file: /x\n    batch.size: many\n"), 0o644)
	_, errOut, err := runConnectorCLI(t, "", "validate", "-f", bad)
	if err == nil || !strings.Contains(errOut, bad+":9: connector b: Invalid value many for configuration batch.size") || !strings.Contains(errOut, bad+":7: ") {
		t.Fatalf("validate bad: %v\n%s", err, errOut)
	}
	_, _, err = runConnectorCLI(t, "http://127.0.0.1:1", "list")
	if err == nil || !strings.Contains(err.Error(), "--url") {
		t.Fatalf("unreachable worker: %v", err)
	}
}
