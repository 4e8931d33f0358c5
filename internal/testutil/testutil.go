// Package testutil holds the small helpers that tests, test harnesses and
// benchmark programs used to copy: a free loopback port, a median and
// where test/services keeps its state. It
// imports nothing but the standard library, not even testing, so any
// package in the module can use it without an import cycle and a program
// using it links no test-only code.
package testutil

import (
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
)

// TB is the part of testing.TB that FreePort needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// handedOut holds every port FreeAddr returned in this process. The port
// is free when FreeAddr returns, but nobody binds it until a subprocess
// starts, so a later call could find it still free and hand it out again:
// nine draws from 12,000 ports repeat one with a chance of 0.3%, so a
// dozen 3-node clusters in one CI run did so in a few runs of a hundred.
// A node that cannot bind exits during startup while the others wait for
// a quorum, which is how TestClusterFileStreamSurvivesKill failed in CI
// within 5 s. A port of a killed node must not go to another either: the
// node restarts on it.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreeAddr returns a loopback address with a currently free TCP port below
// Linux's ephemeral range (32768+): a broker restarted on the same port
// must not find it taken by some client's outgoing connection. It never
// returns the same port twice in one process.
func FreeAddr() (string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for range 200 {
		port := 20000 + mrand.IntN(12000)
		if handedOut.ports[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			handedOut.ports[port] = true
			return addr, nil
		}
	}
	return "", errors.New("no free port found in 20000-31999")
}

// FreePort is FreeAddr for a test, which it fails if there is none.
func FreePort(t TB) string {
	t.Helper()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return addr
}

// Median is the median of xs (the mean of the middle two when their number
// is even), NaN if xs is empty. xs is not reordered.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ServicesDir is where test/services keeps its PID files and data
// (WEIR_SERVICES_DIR, /tmp/weir-services by default, as lib.sh has it).
func ServicesDir() string {
	if dir := os.Getenv("WEIR_SERVICES_DIR"); dir != "" {
		return dir
	}
	return "/tmp/weir-services"
}
