package harness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the "test process" of
// TestStartTiedChildDiesWithParent.
func TestMain(m *testing.M) {
	if os.Getenv("WEIR_TIED_HELPER") == "1" {
		tiedHelper()
		return
	}
	os.Exit(m.Run())
}

// tiedHelper starts a tied child from a goroutine that locked its thread
// and then returns, so that thread ends (as with test/cluster's namespace
// dialer), prints the child's pid and waits to be killed.
func tiedHelper() {
	// Keep this goroutine on the main thread, which Go never ends, so the
	// goroutine below runs on another one.
	runtime.LockOSThread()
	cmd := exec.Command("sleep", "300")
	errc := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		errc <- StartTied(cmd)
	}()
	if err := <-errc; err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", cmd.Process.Pid)
	time.Sleep(5 * time.Minute)
}

func alive(pid int) bool {
	// A zombie still answers kill(0); read its state instead.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

func TestStartTiedChildDiesWithParent(t *testing.T) {
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), "WEIR_TIED_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v (%q)", err, line)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "pid "))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if !alive(pid) {
		t.Fatalf("the tied child %d died while its parent lived (its forking thread ended?)", pid)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the tied child %d outlived its killed parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
