package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startServeForTest runs `weir serve` in-process with the connector
// runtime and returns its HTTP base URL.
func startServeForTest(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := defaultServeOptions()
	o.dataDir = filepath.Join(t.TempDir(), "data")
	o.kafkaAddr, o.httpAddr = "127.0.0.1:0", "127.0.0.1:0"
	o.offsetsParts = 2
	o.logLevel = "warn"
	o.shutdownTimeout = 5 * time.Second
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, o, pw)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`http on (\S+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("startup line %q", line)
	}
	return "http://" + m[1]
}

func getStatus(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b map[string]string
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("%s: %d %s is not {\"status\",\"message\"}: %v", url, resp.StatusCode, body, err)
	}
	return resp.StatusCode, b
}

// TestServeHealthAndReady: weir serve's /health is KIP-1017-shaped and
// turns 500 unhealthy while a connector's task is FAILED; /ready stays 200.
func TestServeHealthAndReady(t *testing.T) {
	base := startServeForTest(t)
	if code, b := getStatus(t, base+"/health"); code != 200 || b["status"] != "healthy" || b["message"] == "" || b["kafka_addr"] == "" {
		t.Fatalf("/health: %d %v", code, b)
	}
	if code, b := getStatus(t, base+"/ready"); code != 200 || b["status"] != "ready" {
		t.Fatalf("/ready: %d %v", code, b)
	}
	// A sink whose file is a directory fails its task at start.
	dir := allowedTestDir(t)
	body, _ := json.Marshal(map[string]any{"name": "broken", "config": map[string]string{
		"connector.class": "FileStreamSink", "topics": "broken-in", "file": dir, "auto.restart.enabled": "false"}})
	resp, err := http.Post(base+"/connectors", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b := getStatus(t, base+"/health")
		if code == 500 && b["status"] == "unhealthy" && strings.Contains(b["message"], "task broken-0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health never turned unhealthy: %d %v", code, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, b := getStatus(t, base+"/ready"); code != 200 {
		t.Fatalf("/ready with a FAILED task: %d %v", code, b)
	}
}

// TestConnectorStatusExitsNonZeroOnFailed: weir connector status prints
// the states and traces, then exits 1 when something is FAILED.
func TestConnectorStatusExitsNonZeroOnFailed(t *testing.T) {
	url := startConnectWorker(t)
	dir := allowedTestDir(t)
	mustConnectorCLI(t, url, "apply", "-f", writeDef(t, `{"name": "bad", "config": {"connector.class": "FileStreamSink", "topics": "bad-in", "file": "`+dir+`", "auto.restart.enabled": "false"}}`))
	waitCLI(t, "the task to fail", func() bool {
		out, _, _ := runConnectorCLI(t, url, "status", "bad")
		return strings.Contains(out, "FAILED")
	})
	for _, args := range [][]string{{"status", "bad"}, {"status", "bad", "--json"}} {
		out, _, err := runConnectorCLI(t, url, args...)
		if err == nil || !strings.Contains(err.Error(), "task 0 FAILED") || !strings.Contains(out, "FAILED") {
			t.Fatalf("weir connector %s: err %v, out %s", strings.Join(args, " "), err, out)
		}
	}
	mustConnectorCLI(t, url, "apply", "-f", writeDef(t, `{"name": "good", "config": {"connector.class": "FileStreamSink", "topics": "good-in", "file": "`+filepath.Join(dir, "out.txt")+`"}}`))
	waitCLI(t, "the good task to run", func() bool {
		out, _, err := runConnectorCLI(t, url, "status", "good")
		return err == nil && strings.Contains(out, "RUNNING")
	})
}

func writeDef(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "def.json")
	if err := writeFileString(p, body); err != nil {
		t.Fatal(err)
	}
	return p
}

// allowedTestDir is a fresh directory FileStream connectors may use.
func allowedTestDir(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

func writeFileString(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
