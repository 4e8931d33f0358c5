package cluster

import (
	"context"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenIn opens a TCP listener inside namespace ns (same trick as
// DialContext: a socket keeps the namespace it was created in).
func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	ch := make(chan any, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		if err != nil {
			ch <- err
			return
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			ch <- err
			return
		}
		ch <- l
	}()
	switch v := (<-ch).(type) {
	case net.Listener:
		t.Cleanup(func() { v.Close() })
		go func() {
			for {
				c, err := v.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return v
	default:
		t.Fatalf("listen in %s: %v", ns, v)
		return nil
	}
}

// ping is a TCP connect from ns to the listener on ip:9092.
func ping(ns, ip string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := dialFrom(ctx, ns, "tcp", ip+":9092")
	if err == nil {
		c.Close()
	}
	return err
}

// The nemesis itself: nodes reach each other over the bridge, Cut and
// Isolate silence a pair and leave the clients' path alone, Heal restores,
// and every namespace is gone afterwards.
func TestNetCutIsolateHeal(t *testing.T) {
	n := NewNet(t)
	for k := 1; k <= 3; k++ {
		n.AddNode(t, k)
	}
	for k := 1; k <= 3; k++ {
		listenIn(t, n.NodeNS(k), IP(k)+":9092")
	}
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := n.DialContext(ctx, "tcp", IP(1)+":9092")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatalf("client namespace cannot reach node 1: %v", err)
	}
	if err := ping(n.NodeNS(1), IP(2)); err != nil {
		t.Fatalf("node 1 cannot reach node 2 before any fault: %v", err)
	}
	if err := n.Isolate(1); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{2, 3} {
		if err := ping(n.NodeNS(1), IP(k)); err == nil {
			t.Fatalf("isolated node 1 still reaches node %d", k)
		}
		if err := ping(n.NodeNS(k), IP(1)); err == nil {
			t.Fatalf("node %d still reaches isolated node 1", k)
		}
	}
	if err := ping(n.NodeNS(2), IP(3)); err != nil {
		t.Fatalf("the majority side lost its own link: %v", err)
	}
	if err := dial(); err != nil {
		t.Fatalf("isolation cut the client off too: %v", err)
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := ping(n.NodeNS(1), IP(2)); err != nil {
		t.Fatalf("not healed: %v", err)
	}
	if err := n.LinkDown(1); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err == nil {
		t.Fatal("client reaches node 1 with its link down")
	}
	if err := n.LinkUp(1); err != nil {
		t.Fatal(err)
	}
	n.Close()
	out, _ := exec.Command("ip", "netns", "list").Output()
	if len(out) > 0 && strings.Contains(string(out), n.prefix) {
		t.Fatalf("namespaces left behind:\n%s", out)
	}
}
