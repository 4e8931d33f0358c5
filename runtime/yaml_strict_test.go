package runtime

import (
	"strings"
	"testing"
)

// TestDefinitionsRejectUnknownFields: a field a KafkaConnector resource or
// a Connect JSON body does not have is an error at its file:line, with the
// nearest real field.
func TestDefinitionsRejectUnknownFields(t *testing.T) {
	const head = "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  name: a\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"taskMax", head + "spec:\n  class: FileStreamSource\n  taskMax: 2\n", `c.yaml:7:3: unknown field "taskMax" in spec (did you mean "tasksMax"?)`},
		{"confg", head + "spec:\n  class: FileStreamSource\n  confg: {file: x}\n", `c.yaml:7:3: unknown field "confg" in spec (did you mean "config"?)`},
		{"autoRestart.enable", head + "spec:\n  class: X\n  autoRestart:\n    enable: true\n", `c.yaml:8:5: unknown field "enable" in spec.autoRestart (did you mean "enabled"?)`},
		{"top level", head + "spec:\n  class: X\nspek: {}\n", `c.yaml:7:1: unknown field "spek" in the KafkaConnector resource (did you mean "spec"?)`},
		{"metadata", "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  name: a\n  lables: {x: y}\nspec:\n  class: X\n", `c.yaml:5:3: unknown field "lables" in metadata (did you mean "labels"?)`},
		{"listOffsets", head + "spec:\n  class: X\n  listOffsets: {toConfigMap: {name: o}}\n", "c.yaml:7:3: spec.listOffsets is not supported by weir"},
		{"json configs", "{\"name\": \"a\",\n \"configs\": {\"connector.class\": \"X\"}}\n", `c.yaml:2:2: unknown field "configs" in the connector definition`},
		{"json initialState", "{\"name\": \"a\", \"config\": {}, \"initialState\": \"PAUSED\"}\n", `(did you mean "initial_state"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDefinitions("c.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Fields of a real kubectl export are fine.
	ok := "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  name: a\n  namespace: kafka\n  labels: {strimzi.io/cluster: c}\n  uid: 1\n" +
		"spec:\n  class: X\n  tasksMax: 1\n  state: running\n  autoRestart: {enabled: true, maxRestarts: 3}\n  config: {a: b}\nstatus:\n  conditions: []\n"
	if _, err := ParseDefinitions("ok.yaml", []byte(ok)); err != nil {
		t.Fatalf("a kubectl-style resource: %v", err)
	}
}

// TestUnknownConfigKeysWarned: config keys that no component declares are
// warnings at their line with the nearest declared key; keys handed to
// converters, client overrides and declared transforms are not.
func TestUnknownConfigKeysWarned(t *testing.T) {
	w, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  name: a\nspec:\n  class: FileStreamSource\n  config:\n" +
		"    fiel: in.txt\n" + // line 8
		"    topic: t\n" +
		"    batch.sise: 10\n" + // line 10
		"    value.converter: org.apache.kafka.connect.json.JsonConverter\n" +
		"    value.converter.schemas.enable: false\n" +
		"    producer.override.linger.ms: 5\n" +
		"    transforms: tag\n" +
		"    transforms.tag.type: org.apache.kafka.connect.transforms.InsertHeader\n" +
		"    transforms.tag.header: via\n" +
		"    transforms.tag.value.literal: weir\n" +
		"    transforms.tag.heder: x\n" + // line 18
		"    completely.different: 1\n" // line 19
	defs, err := ParseDefinitions("w.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range w.DefinitionWarnings(defs[0]) {
		got = append(got, e.Error())
	}
	want := []string{
		`w.yaml:10: connector a: warning: unknown config key "batch.sise" (did you mean "batch.size"?)`,
		`w.yaml:19: connector a: warning: unknown config key "completely.different";`,
		`w.yaml:8: connector a: warning: unknown config key "fiel" (did you mean "file"?)`,
		`w.yaml:18: connector a: warning: unknown config key "transforms.tag.heder" (did you mean "transforms.tag.header"?)`,
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d: %s\nwant prefix %s", i, got[i], want[i])
		}
	}
	if errs := w.ValidateDefinition(defs[0]); len(errs) != 0 {
		t.Fatalf("unknown keys must not be errors: %v", errs)
	}
}
