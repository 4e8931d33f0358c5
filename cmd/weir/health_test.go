package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthURLWildcardBecomesLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:8083":   "http://127.0.0.1:8083/health",
		":8083":          "http://127.0.0.1:8083/health",
		"[::]:8083":      "http://[::1]:8083/health",
		"10.1.2.3:80":    "http://10.1.2.3:80/health",
		"localhost:8083": "http://localhost:8083/health",
	} {
		got, err := healthURL(in)
		if err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := healthURL("nonsense"); err == nil {
		t.Error("healthURL(nonsense): no error")
	}
}

func TestHealthExitCodeFollowsStatus(t *testing.T) {
	code := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"status":"x"}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	if _, err := checkHealth(ctx, addr); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: err = %v, want one naming 503", err)
	}
	code = http.StatusOK
	if _, err := checkHealth(ctx, addr); err != nil {
		t.Fatalf("200: %v", err)
	}
	t.Setenv("WEIR_HTTP_ADDR", addr)
	out, err := runHealth(t)
	if err != nil || !strings.Contains(out, `"status":"x"`) {
		t.Fatalf("weir health = %q, %v", out, err)
	}
	srv.Close()
	if _, err := runHealth(t, "--timeout", "500ms"); err == nil {
		t.Fatal("weir health with nothing listening succeeded")
	}
}

func TestAwaitStartFile(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ready")
	t.Setenv("WEIR_AWAIT_FILE", marker)
	t.Setenv("WEIR_AWAIT_TIMEOUT", "50ms")
	if err := awaitStartFile(); err == nil {
		t.Fatal("no error for a marker that never appears")
	}
	t.Setenv("WEIR_AWAIT_TIMEOUT", "5s")
	go func() {
		time.Sleep(30 * time.Millisecond)
		os.WriteFile(marker, nil, 0o644)
	}()
	start := time.Now()
	if err := awaitStartFile(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 25*time.Millisecond {
		t.Fatal("returned before the marker existed")
	}
}

func runHealth(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newHealthCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}
