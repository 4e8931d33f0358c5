package runtime

import (
	"maps"
	"strings"
	"testing"
)

func TestParseDefinitions(t *testing.T) {
	defs, err := ParseDefinitions("p.yaml", []byte(`# two connectors
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaConnector
metadata:
  name: src
  labels: {strimzi.io/cluster: my-connect}
spec:
  class: FileStreamSource
  tasksMax: 2
  state: paused
  autoRestart:
    enabled: false
    maxRestarts: 3
  config:
    file: /tmp/in
    topic: lines
    transforms: [a, b]
    batch.size: 10
---
{"name": "sink", "config": {"connector.class": "FileStreamSink", "topics": "lines", "tasks.max": 1}, "initial_state": "STOPPED"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 2 {
		t.Fatalf("%d definitions", len(defs))
	}
	want := map[string]string{"name": "src", "connector.class": "FileStreamSource", "tasks.max": "2", "file": "/tmp/in", "topic": "lines",
		"transforms": "a,b", "batch.size": "10", "auto.restart.enabled": "false", "auto.restart.max.restarts": "3"}
	if !maps.Equal(defs[0].Config, want) || defs[0].State != TargetPaused || defs[0].Name != "src" {
		t.Fatalf("first: %+v", defs[0])
	}
	if defs[0].KeyLines["batch.size"] != 18 || defs[0].ConfigLine != 14 || defs[0].Line != 2 {
		t.Fatalf("lines: %+v config line %d", defs[0].KeyLines, defs[0].ConfigLine)
	}
	if defs[1].Name != "sink" || defs[1].Config["tasks.max"] != "1" || defs[1].State != TargetStopped || defs[1].Config["name"] != "sink" {
		t.Fatalf("second: %+v", defs[1])
	}
}

func TestParseDefinitionErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"syntax", "kind: KafkaConnector\nmetadata:\n  name: [x\n", "f.yaml:3:"},
		{"no name", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  labels: {}\nspec:\n  class: X\n", "f.yaml:4:9: metadata.name is required"},
		{"wrong kind", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnect\nmetadata: {name: a}\n", "f.yaml:2:7: kind must be KafkaConnector"},
		{"no class", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata: {name: a}\nspec:\n  config: {a: b}\n", "f.yaml:5:9: spec.class is required"},
		{"bad tasksMax", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata: {name: a}\nspec:\n  class: X\n  tasksMax: two\n", "f.yaml:6:13: spec.tasksMax must be a positive integer"},
		{"bad state", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata: {name: a}\nspec:\n  class: X\n  state: sleeping\n", "f.yaml:6:10: spec.state must be running, paused or stopped"},
		{"nested value", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata: {name: a}\nspec:\n  class: X\n  config:\n    a:\n      b: c\n", "f.yaml:8:"},
		{"json without name", `{"config": {"a": "b"}}`, "f.yaml:1:"},
		{"duplicate key", "name: a\nname: b\nconfig: {}\n", "f.yaml:2:1:"},
		{"empty", "# nothing\n", "no connector definitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDefinitions("f.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
