package cluster

import (
	"context"
	"os"
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
