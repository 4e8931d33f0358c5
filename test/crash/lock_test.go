package crash_test

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/internal/testutil"
	"github.com/weirlog/weir/test/compat/harness"
)

// TestSecondServeOnSameDataDirExits: two real `weir serve` processes on one
// data directory. The second exits at once, non-zero, naming the directory
// and the first's pid, instead of hanging (issue 8, item 14). After the
// first is killed with -9, the kernel has released the lock: a restart on
// the same directory works.
func TestSecondServeOnSameDataDirExits(t *testing.T) {
	first := harness.StartWeir(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, first.Bin, "serve", "--data-dir", first.DataDir,
		"--kafka-addr", testutil.FreePort(t), "--http-addr", testutil.FreePort(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("second weir serve still running after %v; output:\n%s", took, out.String())
	}
	if err == nil {
		t.Fatalf("second weir serve exited 0; output:\n%s", out.String())
	}
	if took > 5*time.Second {
		t.Errorf("second weir serve took %v to give up", took)
	}
	msg := out.String()
	if !strings.Contains(msg, "another weir process is using "+first.DataDir) {
		t.Fatalf("second weir serve said:\n%s", msg)
	}
	if pid := first.Pid(); pid > 0 && !strings.Contains(msg, "pid "+strconv.Itoa(pid)) {
		t.Errorf("message does not name the holder's pid %d:\n%s", pid, msg)
	}

	first.Kill()
	if err := first.Start(); err != nil {
		t.Fatalf("restart on the same data dir after kill -9: %v", err)
	}
}
