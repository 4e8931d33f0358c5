//go:build services

package services_test

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func addr(portEnv, defPort string) string {
	return "127.0.0.1:" + envOr(portEnv, defPort)
}

// unique returns a name unique to this run, so tests can rerun against
// long-lived services.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func hint(t *testing.T, script string, err error) {
	t.Helper()
	t.Fatalf("%v\n(is it running? bash test/services/%s.sh start)", err, script)
}
