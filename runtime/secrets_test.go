package runtime

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSecrets(t *testing.T) {
	t.Setenv("WEIR_T_PW", "pa55word!")
	props := filepath.Join(t.TempDir(), "db.properties")
	os.WriteFile(props, []byte("! comment\nuser: admin\npassword=from-file-1\n"), 0o600)
	s := newSecrets()
	out, err := s.resolve(map[string]string{
		"a": "${env:WEIR_T_PW}",
		"b": "jdbc:postgresql://h/db?user=${file:" + props + ":user}&password=${file:" + props + ":password}",
		"c": "plain ${not a placeholder",
	}, providerPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if out["a"] != "pa55word!" || out["b"] != "jdbc:postgresql://h/db?user=admin&password=from-file-1" || out["c"] != "plain ${not a placeholder" {
		t.Fatalf("resolved %v", out)
	}
	if got := s.mask("login pa55word! and from-file-1"); got != "login [hidden] and [hidden]" {
		t.Fatalf("mask: %q", got)
	}
	for _, bad := range []string{"${env:WEIR_T_UNSET}", "${file:/nonexistent:k}", "${file:" + props + ":nokey}", "${vault:x:y}"} {
		if _, err := s.resolve(map[string]string{"k": bad}, providerPolicy{}); err == nil || !strings.Contains(err.Error(), "config k") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
	// Task configs derived from resolved values keep the placeholders.
	raw := map[string]string{"pw": "${env:WEIR_T_PW}", "x": "1"}
	res, _ := s.resolve(raw, providerPolicy{})
	tasks := []map[string]string{{"pw": res["pw"], "x": "1"}}
	reverseSecrets(raw, res, tasks)
	if tasks[0]["pw"] != "${env:WEIR_T_PW}" {
		t.Fatalf("reverse: %v", tasks)
	}
}

func TestMaskingHandler(t *testing.T) {
	s := newSecrets()
	s.remember("topsecret")
	var buf bytes.Buffer
	log := slog.New(maskingHandler{h: slog.NewTextHandler(&buf, nil), s: s}).With("conn", "dsn=topsecret")
	log.Info("connect with topsecret", "err", errors.New("auth topsecret failed"), "n", 3, slog.Group("g", "v", "topsecret"))
	if strings.Contains(buf.String(), "topsecret") || strings.Count(buf.String(), "[hidden]") != 4 {
		t.Fatalf("log line: %s", buf.String())
	}
}

func TestOffsetKeyMatchesKafka(t *testing.T) {
	k, err := offsetKey("lines-in", map[string]any{"filename": "/tmp/in.txt"})
	if err != nil || string(k) != `["lines-in",{"filename":"/tmp/in.txt"}]` {
		t.Fatalf("%s %v", k, err)
	}
}
