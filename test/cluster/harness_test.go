package cluster

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirlog/weir/test/compat/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// The harness on what weir has today, a one-voter cluster: start through
// the cluster flags, find the leader, kill -9 and restart on the same data,
// SIGSTOP/SIGCONT, and nothing acknowledged is lost — on loopback and
// inside a Net.
func TestHarnessOneNode(t *testing.T) {
	for _, inNet := range []bool{false, true} {
		name := "loopback"
		if inNet {
			name = "netns"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{Nodes: 1}
			if inNet {
				cfg.Net = NewNet(t)
			}
			c := Start(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			topic := harness.Name("harness")
			if err := c.CreateTopic(ctx, topic, 2, 1, nil); err != nil {
				t.Fatal(err)
			}
			w := NewWorkload(c, topic, 1)
			w.Produce(ctx, 50)
			n := c.Nodes[0]
			n.Kill()
			if n.Running() {
				t.Fatal("killed node still running")
			}
			if err := n.Start(); err != nil {
				t.Fatal(err)
			}
			if err := n.Pause(); err != nil {
				t.Fatal(err)
			}
			if !n.Paused() {
				t.Fatal("Paused is false after Pause")
			}
			if err := n.Resume(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.WaitLeader(ctx, topic, 0, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			w.Produce(ctx, 50)
			h := w.History()
			for p := int32(0); p < 2; p++ {
				rd, err := c.ReadAll(ctx, topic, p, "final")
				if err != nil {
					t.Fatal(err)
				}
				h.Reads = append(h.Reads, rd)
			}
			res := Check(h)
			res.Print(testWriter{t})
			if !res.OK() || res.Total.Acknowledged != 100 {
				t.Fatalf("checker: %+v", res.Total)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log("\n" + string(b)); return len(b), nil }

// A node that ends without the harness asking (here a SIGTERM sent from
// outside it) leaves the process list of that moment in its log, so a
// stray signal's sender can be found afterwards.
func TestHarnessNotesForeignExit(t *testing.T) {
	c := Start(t, Config{Nodes: 1})
	n := c.Nodes[0]
	n.mu.Lock()
	pid, done := n.cmd.Process.Pid, n.done
	n.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("weir serve still running 60 s after SIGTERM")
	}
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "while the harness counted it as running") || !strings.Contains(log, "PPID") {
		t.Fatalf("no process list in the node's log after a foreign SIGTERM; log tail:\n%s", Tail(n.LogPath, 20))
	}
}
