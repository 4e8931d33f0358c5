package runtime

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigProvidersOnlyInSecretKeys: ${env:…} and ${file:…} resolve only
// in keys the plugin declares PASSWORD (or the worker allowlists), and
// ${env:…} only for variables the worker's pattern matches; anything else
// is refused at validation, so a secret can never become a topic name.
func TestConfigProvidersOnlyInSecretKeys(t *testing.T) {
	t.Setenv("WEIR_P23_SECRET", "p23-secret-value")
	t.Setenv("OTHER_P23_SECRET", "other-secret-value")
	props := filepath.Join(t.TempDir(), "creds.properties")
	os.WriteFile(props, []byte("password=from-file-23\n"), 0o600)
	c := startCluster(t)
	w := c.startWorker(t, func(cfg *Config) { cfg.EnvAllowlistPattern = "WEIR_P23_.*" })
	u := w.url
	conf := func(kv ...string) map[string]any {
		m := map[string]any{"connector.class": "io.weir.test.TestSourceConnector", "topic": c.topic("p23"), "count": "1"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, e := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"env in the topic", conf("topic", "x-${env:WEIR_P23_SECRET}"), "config topic: config provider references"},
		{"file in a plain key", conf("fail.message", "${file:"+props+":password}"), "config fail.message: config provider references"},
		{"env not on the allowlist", conf("secret", "${env:OTHER_P23_SECRET}"), "allowlist pattern for environment variables does not match OTHER_P23_SECRET"},
		{"a partial match is no match", conf("secret", "${env:XWEIR_P23_SECRET}"), "does not match XWEIR_P23_SECRET"},
	} {
		m := errorBody(t, call(t, "POST", u+"/connectors", map[string]any{"name": "p23", "config": e.cfg}), http.StatusBadRequest, e.name)
		if !strings.Contains(m, e.want) {
			t.Errorf("%s: message %q, want %q", e.name, m, e.want)
		}
		if strings.Contains(m, "secret-value") || strings.Contains(m, "from-file-23") {
			t.Errorf("%s: the refusal shows the secret: %s", e.name, m)
		}
		e.cfg["name"] = "p23"
		r := call(t, "PUT", u+"/connector-plugins/io.weir.test.TestSourceConnector/config/validate", e.cfg)
		expectCode(t, r, http.StatusOK, e.name+" validate")
		if !strings.Contains(string(r.body), `"error_count":1`) {
			t.Errorf("%s: validate: %s", e.name, r.body)
		}
	}
	r := call(t, "GET", u+"/connectors", nil)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("a refused connector exists: %s", r.body)
	}
	// In a PASSWORD key providers resolve.
	expectCode(t, call(t, "POST", u+"/connectors", map[string]any{"name": "ok", "config": conf("secret", "${env:WEIR_P23_SECRET}")}), http.StatusCreated, "env in a PASSWORD key")
	expectCode(t, call(t, "POST", u+"/connectors", map[string]any{"name": "ok2", "config": conf("secret", "${file:"+props+":password}")}), http.StatusCreated, "file in a PASSWORD key")
	pol := w.providerPolicy(nil)
	if !pol.keyAllowed("producer.override.sasl.jaas.config") || !pol.keyAllowed("value.converter.basic.auth.user.info") || pol.keyAllowed("producer.override.client.id") {
		t.Fatal("client and converter secrets under free-form prefixes")
	}
	waitState(t, u, "ok", stateRunning, stateRunning)
}

// TestConfigProvidersNoEnvByDefault: a worker without an allowlist
// pattern resolves no environment variable at all.
func TestConfigProvidersNoEnvByDefault(t *testing.T) {
	t.Setenv("WEIR_P23_SECRET", "p23-secret-value")
	s := newSecrets()
	w := &Worker{cfg: Config{}.withDefaults()}
	_, err := s.resolve(map[string]string{"secret": "${env:WEIR_P23_SECRET}"}, w.providerPolicy(testDef))
	if err == nil || !strings.Contains(err.Error(), "--connect-env-allowlist-pattern") {
		t.Fatalf("resolve without a pattern: %v", err)
	}
}
