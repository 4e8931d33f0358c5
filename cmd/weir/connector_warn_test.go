package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectorKeyWarnings: weir connector validate (offline) and apply
// (through the worker's validate endpoint) warn about config keys nothing
// declares, with the nearest known key, and still succeed; a misspelt
// field of the definition itself is an error at its line.
func TestConnectorKeyWarnings(t *testing.T) {
	url := startConnectWorker(t)
	dir := t.TempDir()
	def := filepath.Join(dir, "w.yaml")
	os.WriteFile(def, fmt.Appendf(nil, "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata: {name: warned}\nspec:\n  class: FileStreamSink\n  config:\n    topics: w\n    file: %s\n    flie.mode: append\n", filepath.Join(dir, "out.txt")), 0o644)
	want := def + `:9: connector warned: warning: unknown config key "flie.mode"`
	for _, args := range [][]string{{"validate", "-f", def}, {"apply", "-f", def}} {
		u := url
		if args[0] == "validate" {
			u = ""
		}
		out, errOut, err := runConnectorCLI(t, u, args...)
		if err != nil || !strings.Contains(errOut, want) {
			t.Fatalf("weir connector %s: err %v\nstdout %s\nstderr %s\nwant %s", args[0], err, out, errOut, want)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata: {name: b}\nspec:\n  class: FileStreamSink\n  taskMax: 2\n"), 0o644)
	for _, args := range [][]string{{"validate", "-f", bad}, {"apply", "-f", bad}} {
		_, _, err := runConnectorCLI(t, url, args...)
		if err == nil || !strings.Contains(err.Error(), bad+`:6:3: unknown field "taskMax" in spec (did you mean "tasksMax"?)`) {
			t.Fatalf("weir connector %s of a misspelt field: %v", args[0], err)
		}
	}
}
