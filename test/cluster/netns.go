package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Net is a private network for a cluster on one Linux host: a hub
// namespace holding a bridge, one namespace per node and one for the test's
// clients, each joined to the bridge by a veth pair, with addresses
// 10.99.0.K/24 that exist only inside those namespaces. Faults are routes
// and link states inside the namespaces; nothing on the host changes. It
// needs CAP_NET_ADMIN (root) and the ip tool; NewNet fails the test, it
// never skips it.
type Net struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	nodes  map[int]string // node number → namespace
	cuts   map[[2]int]bool
}

const (
	netSubnet = "10.99.0."
	clientNum = 250
)

// NewNet creates the hub and client namespaces; everything is deleted when
// t ends (after the cluster's processes, which Cleanup stops first because
// they were registered later).
func NewNet(t testing.TB) *Net {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := &Net{t: t, prefix: "wc" + hex.EncodeToString(b[:]), nodes: map[int]string{}, cuts: map[[2]int]bool{}}
	t.Cleanup(n.Close)
	if err := n.run("ip", "netns", "add", n.hub()); err != nil {
		t.Fatalf("network namespaces unavailable (need root and ip): %v", err)
	}
	for _, c := range [][]string{
		{"ip", "-n", n.hub(), "link", "set", "lo", "up"},
		{"ip", "-n", n.hub(), "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", n.hub(), "link", "set", "br0", "up"},
	} {
		if err := n.run(c...); err != nil {
			t.Fatalf("hub namespace: %v", err)
		}
	}
	n.attach(n.ClientNS(), clientNum)
	return n
}

func (n *Net) hub() string { return n.prefix + "-hub" }

// ClientNS is the namespace the test's clients dial from.
func (n *Net) ClientNS() string { return n.prefix + "-c" }

// NodeNS is node k's namespace.
func (n *Net) NodeNS(k int) string { return fmt.Sprintf("%s-n%d", n.prefix, k) }

// IP is node k's address.
func IP(k int) string { return fmt.Sprintf("%s%d", netSubnet, k) }

// AddNode creates node k's namespace and returns its address.
func (n *Net) AddNode(t testing.TB, k int) string {
	n.mu.Lock()
	n.nodes[k] = n.NodeNS(k)
	n.mu.Unlock()
	n.attach(n.NodeNS(k), k)
	return IP(k)
}

func (n *Net) attach(ns string, k int) {
	hubIf := fmt.Sprintf("h%d", k)
	for _, c := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "link", "add", "e0", "netns", ns, "type", "veth", "peer", "name", hubIf, "netns", n.hub()},
		{"ip", "-n", ns, "addr", "add", IP(k) + "/24", "dev", "e0"},
		{"ip", "-n", ns, "link", "set", "e0", "up"},
		{"ip", "-n", n.hub(), "link", "set", hubIf, "master", "br0"},
		{"ip", "-n", n.hub(), "link", "set", hubIf, "up"},
	} {
		if err := n.run(c...); err != nil {
			n.t.Fatalf("namespace %s: %v", ns, err)
		}
	}
}

func (n *Net) run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Cut drops traffic between nodes a and b both ways (blackhole routes:
// packets vanish silently, as with Jepsen's iptables DROP).
func (n *Net) Cut(a, b int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := [2]int{min(a, b), max(a, b)}
	if n.cuts[k] {
		return nil
	}
	if err := n.run("ip", "-n", n.NodeNS(a), "route", "add", "blackhole", IP(b)+"/32"); err != nil {
		return err
	}
	if err := n.run("ip", "-n", n.NodeNS(b), "route", "add", "blackhole", IP(a)+"/32"); err != nil {
		return err
	}
	n.cuts[k] = true
	return nil
}

// Isolate cuts node k from every other node; the clients still reach it,
// so they can see that it stops acknowledging.
func (n *Net) Isolate(k int) error {
	n.mu.Lock()
	var others []int
	for j := range n.nodes {
		if j != k {
			others = append(others, j)
		}
	}
	n.mu.Unlock()
	for _, j := range others {
		if err := n.Cut(k, j); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes every cut.
func (n *Net) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.cuts {
		a, b := k[0], k[1]
		if err := n.run("ip", "-n", n.NodeNS(a), "route", "del", "blackhole", IP(b)+"/32"); err != nil {
			return err
		}
		if err := n.run("ip", "-n", n.NodeNS(b), "route", "del", "blackhole", IP(a)+"/32"); err != nil {
			return err
		}
		delete(n.cuts, k)
	}
	return nil
}

// LinkDown takes node k's only interface down (full isolation, clients
// included); LinkUp brings it back.
func (n *Net) LinkDown(k int) error {
	return n.run("ip", "-n", n.NodeNS(k), "link", "set", "e0", "down")
}

// LinkUp undoes LinkDown.
func (n *Net) LinkUp(k int) error { return n.run("ip", "-n", n.NodeNS(k), "link", "set", "e0", "up") }

// Close deletes every namespace Net created (their veths go with them).
func (n *Net) Close() {
	n.mu.Lock()
	nss := []string{n.ClientNS()}
	for _, ns := range n.nodes {
		nss = append(nss, ns)
	}
	n.mu.Unlock()
	for _, ns := range append(nss, n.hub()) {
		_ = n.run("ip", "netns", "del", ns)
	}
}

// DialContext opens a TCP connection from the client namespace: the socket
// is created on an OS thread switched into that namespace, and a socket
// keeps its namespace for life. The thread is never unlocked, so Go retires
// it with the goroutine instead of reusing it in the wrong namespace.
func (n *Net) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialFrom(ctx, n.ClientNS(), network, addr)
}

// dialFrom dials addr from namespace ns.
func dialFrom(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, fmt.Errorf("open namespace %s: %w", ns, err)}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			ch <- res{nil, fmt.Errorf("enter namespace %s: %w", ns, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
