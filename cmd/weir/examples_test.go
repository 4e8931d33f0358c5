package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/weirlog/weir/connectors/file"
)

// TestExamplesAreValid keeps examples/ honest: every connector definition we
// ship must pass `weir connector validate`, and a broken one must not.
func TestExamplesAreValid(t *testing.T) {
	// With the default allowed directory (connect-files under the working
	// directory), as a newcomer runs them: no /tmp paths.
	t.Setenv(file.AllowedDirsEnv, "")
	file.SetAllowedDirs(nil)
	cmd := newConnectorValidateCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"-f", "../../examples/connectors"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("examples/connectors: %v\n%s", err, errOut.String())
	}
	if n := strings.Count(out.String(), " is valid"); n < 2 {
		t.Fatalf("expected at least 2 valid definitions, got %d:\n%s", n, out.String())
	}

	bad := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnector\nmetadata:\n  name: x\nspec:\n  class: NoSuchConnector\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = newConnectorValidateCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"-f", bad})
	if err := cmd.Execute(); err == nil {
		t.Fatal("an unknown connector class validated")
	}
}
