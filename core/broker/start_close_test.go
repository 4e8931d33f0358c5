package broker_test

import (
	"net"
	"testing"
	"time"

	"github.com/weirlog/weir/core/broker"
)

// A Close that comes while Start is under way (a test's cleanup after
// another node failed to start) must wait for it: Close used to read the
// listener and controller while Start wrote them (-race saw it), and a
// Close that ran first left the Start after it listening on closed logs.
func TestCloseRacingStart(t *testing.T) {
	// Start fails after it has listened: the advertised address has no port.
	t.Run("failing", func(t *testing.T) {
		for range 20 {
			b, err := broker.New(broker.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", AdvertisedAddr: "no-port"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- b.Start(ctxT(t)) }()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err == nil {
				t.Fatal("Start with an advertised address without a port succeeded")
			}
		}
	})
	// Start succeeds unless Close came first; either way nothing listens
	// once both returned.
	t.Run("succeeding", func(t *testing.T) {
		for range 20 {
			b, err := broker.New(broker.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- b.Start(ctxT(t)) }()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			startErr := <-errc
			addr := b.Addr()
			if addr == "" {
				continue
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Fatalf("Start returned %v and Close returned, yet %s still accepts connections", startErr, addr)
			}
		}
	})
	t.Run("after close", func(t *testing.T) {
		b, err := broker.New(broker.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctxT(t)); err == nil {
			b.Close()
			t.Fatalf("Start after Close succeeded, listening on %s", b.Addr())
		}
		if addr := b.Addr(); addr != "" {
			t.Fatalf("Start after Close failed yet listened on %s", addr)
		}
	})
}
