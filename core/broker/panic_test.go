package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	key := kmsg.DescribeCluster.Int16()
	orig := handlers[key]
	handlers[key] = func(*Broker, *reqCtx, kmsg.Request) kmsg.Response { panic("boom") }
	defer func() { handlers[key] = orig }()

	send := func(req kmsg.Request) (int, error) {
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(frame(req, 1))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		return io.ReadFull(nc, buf)
	}
	if _, err := send(kmsg.NewPtrDescribeClusterRequest()); err == nil {
		t.Fatal("a panicking handler still produced a response")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection left open after a handler panic")
	}
	if _, err := send(kmsg.NewPtrApiVersionsRequest()); err != nil {
		t.Fatalf("broker stopped serving after a handler panic: %v", err)
	}
}

func TestFetchSessionEviction(t *testing.T) {
	s := newFetchSessions(2)
	a, b := s.create(), s.create()
	if a == nil || b == nil {
		t.Fatal("could not create sessions below the limit")
	}
	if s.create() != nil {
		t.Fatal("a busy cache evicted a session used less than a second ago")
	}
	a.lastUsed.Store(time.Now().Add(-time.Minute).UnixNano())
	c := s.create()
	if c == nil || s.get(a.id) != nil || s.get(b.id) == nil {
		t.Fatal("the least recently used session was not the one evicted")
	}
}
