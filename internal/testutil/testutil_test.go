package testutil

import (
	"math"
	"net"
	"sync"
	"testing"
)

// Ports handed out are bindable, below the ephemeral range, and never
// repeat, also across goroutines asking at once.
func TestFreePortNeverRepeats(t *testing.T) {
	const n = 200
	addrs := make([]string, n)
	var wg sync.WaitGroup
	for i := range addrs {
		wg.Go(func() { addrs[i] = FreePort(t) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not free: %v", a, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port < 20000 || port >= 32000 {
			t.Fatalf("port %d outside 20000-31999", port)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tc.in...)
		if got := Median(in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("Median reordered its argument: %v", in)
			}
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}
