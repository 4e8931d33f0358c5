package log

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9 runs a writer in a child process, SIGKILLs it mid-stream and
// recovers: every acknowledged append is there, nothing served is corrupt,
// and the log continues. The child acknowledges an append (prints its end
// offset) only after Flush, so the promise checked is "nothing fsynced is
// lost"; unflushed appends may or may not survive.
func TestKill9(t *testing.T) {
	if os.Getenv("WEIR_KILL9_CHILD") != "" {
		kill9Child()
		return
	}
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), "WEIR_KILL9_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read acknowledgements in the background so the child never
		// blocks on its stdout, and kill it at an arbitrary moment.
		ackc := make(chan int64, 1)
		go func() {
			sc := bufio.NewScanner(out)
			var last int64
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
					last, _ = strconv.ParseInt(v, 10, 64)
					select {
					case <-ackc:
					default:
					}
					ackc <- last
				}
			}
		}()
		time.Sleep(time.Duration(150+70*round) * time.Millisecond)
		var acked int64
		select {
		case acked = <-ackc: // an acknowledgement printed before the kill
		case <-time.After(5 * time.Second):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if acked == 0 {
			t.Fatal("child acknowledged nothing")
		}
		cfg := smallSegments()
		cfg.SegmentBytes = 64 << 10
		l, err := Open(dir, cfg, testOpts(newClock()))
		if err != nil {
			t.Fatalf("recovery after kill -9: %v", err)
		}
		if l.EndOffset() < acked {
			t.Fatalf("acknowledged (fsynced) offsets lost: end %d < acked %d", l.EndOffset(), acked)
		}
		t.Logf("round %d: acked %d, recovered end %d", round, acked, l.EndOffset())
		hs := readAll(t, l, 0)
		for i, h := range hs {
			if h.BaseOffset != int64(i)*3 {
				t.Fatalf("batch %d at offset %d", i, h.BaseOffset)
			}
		}
		if res, err := l.Append(simpleBatch(t, 3, 1), AppendOptions{}); err != nil || res.BaseOffset != l.EndOffset()-3 {
			t.Fatalf("append after recovery: %+v %v", res, err)
		}
		l.Close()
	}
}

func kill9Child() {
	dir := os.Getenv("WEIR_KILL9_CHILD")
	cfg := smallSegments()
	cfg.SegmentBytes = 64 << 10
	l, err := Open(dir, cfg, Options{Logger: discardLogger()})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	b := simpleBatch(nopTB{}, 3, 1)
	for i := 0; ; i++ {
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		if i%20 == 19 {
			if err := l.Flush(); err != nil {
				fmt.Println("flush:", err)
				os.Exit(1)
			}
			fmt.Printf("acked %d\n", l.EndOffset())
		}
	}
}

// nopTB lets the child build batches without a *testing.T.
type nopTB struct{ testing.TB }

func (nopTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (nopTB) Helper()           {}
