package gctune

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

func TestApplyDefault(t *testing.T) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		t.Setenv("GOGC", v) // restored after the test
		os.Unsetenv("GOGC")
	}
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if got := Apply(); !strings.Contains(got, "GOGC=200") {
		t.Fatalf("Apply() = %q", got)
	}
	if p := debug.SetGCPercent(100); p != DefaultPercent {
		t.Fatalf("GC percent after Apply = %d, want %d", p, DefaultPercent)
	}
}

func TestApplyLeavesTheEnvironmentsSetting(t *testing.T) {
	t.Setenv("GOGC", "50")
	old := debug.SetGCPercent(50) // what the runtime did at start with GOGC=50
	defer debug.SetGCPercent(old)
	if got := Apply(); got != "GOGC=50 (from the environment)" {
		t.Fatalf("Apply() = %q", got)
	}
	if p := debug.SetGCPercent(50); p != 50 {
		t.Fatalf("GC percent after Apply = %d, want 50 (the environment's)", p)
	}
}
