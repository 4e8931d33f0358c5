package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// rawFrame encodes req as one request frame (header v1 or v2).
func rawFrame(req kmsg.Request, corr int32) []byte {
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, uint32(corr))
	body = append(body, 0, 4, 't', 'e', 's', 't')
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// closedWithin reports whether the server closes nc (EOF or reset) within d.
func closedWithin(nc net.Conn, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

// answers sends ApiVersions on nc and reports whether a response arrives
// within d.
func answers(t *testing.T, nc net.Conn, d time.Duration) bool {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "t", "1"
	if _, err := nc.Write(rawFrame(req, 7)); err != nil {
		return false
	}
	nc.SetReadDeadline(time.Now().Add(d))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return false
	}
	_, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(size[:])))
	return err == nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// TestNegativeArrayLengthRefused: Metadata with a topics length of -2 was
// decoded as null ("every topic") and answered with all of them; Kafka
// refuses any negative length but -1 as a malformed request (issue 8,
// item 8).
func TestNegativeArrayLengthRefused(t *testing.T) {
	b := brokertest.Start(t)
	cl := client(t, b)
	createTopic(t, cl, "secret-a", 1, nil)
	for _, v := range []int16{4, 9} { // classic and flexible encodings
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		fr := rawFrame(req, 1) // Topics nil: length -1 (int32) or 0 (uvarint)
		hdr := 4 + 2 + 2 + 4 + 2 + 4
		if v >= 9 {
			hdr++ // header tags
			if fr[hdr] != 0 {
				t.Fatalf("v%d: unexpected encoding %x", v, fr)
			}
			fr[hdr] = 0xff // uvarint 2^32-1 -> length -2 as kmsg reads it
			fr = append(fr[:hdr+1], append([]byte{0xff, 0xff, 0xff, 0x0f}, fr[hdr+1:]...)...)
			binary.BigEndian.PutUint32(fr, uint32(len(fr)-4))
		} else {
			binary.BigEndian.PutUint32(fr[hdr:], uint32(0xfffffffe)) // -2
		}
		nc := dial(t, b.Addr())
		nc.Write(fr)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(nc)
		if bytes.Contains(got, []byte("secret-a")) {
			t.Fatalf("Metadata v%d with topics length -2 listed every topic", v)
		}
		if len(got) != 0 {
			t.Fatalf("Metadata v%d with topics length -2 was answered (%d bytes), want the connection closed", v, len(got))
		}
	}
	// Null (-1) still means every topic.
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(4)
	resp := roundTrip(t, b.Addr(), req).(*kmsg.MetadataResponse)
	// (secret-a alone: a fresh node creates __consumer_offsets on first
	// group use.)
	if len(resp.Topics) < 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "secret-a" {
		t.Fatalf("Metadata with null topics listed %d topics, want secret-a", len(resp.Topics))
	}
}

// TestHostileFramesMemoryBounded: waves of 20 connections that announce a
// 100 MiB frame, send 3 MiB and stall. The frame buffer grows with the bytes
// that arrive, so the heap stays near 20×4 MiB per wave (it was 20×100 MiB)
// and returns once they close (issue 8, item 8).
func TestHostileFramesMemoryBounded(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) { c.MaxRequestBytes = 100 << 20 })
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	chunk := make([]byte, 3<<20)
	var peak uint64
	for wave := 0; wave < 3; wave++ {
		var conns []net.Conn
		for range 20 {
			nc := dial(t, b.Addr())
			hdr := binary.BigEndian.AppendUint32(nil, 100<<20)
			hdr = append(hdr, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0) // Produce v4 header
			nc.Write(hdr)
			nc.Write(chunk)
			conns = append(conns, nc)
		}
		time.Sleep(300 * time.Millisecond) // the broker reads what was sent
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		for _, nc := range conns {
			nc.Close()
		}
	}
	time.Sleep(300 * time.Millisecond)
	after := heap()
	t.Logf("heap: base %d MiB, peak %d MiB, after close %d MiB", base>>20, peak>>20, after>>20)
	if peak > base+400<<20 {
		t.Fatalf("heap peaked at %d MiB over a base of %d MiB: frame buffers sized from the length prefix", peak>>20, base>>20)
	}
	if after > base+120<<20 {
		t.Fatalf("heap %d MiB after the connections closed, base %d MiB", after>>20, base>>20)
	}
}

// TestIdleConnectionsClosed: connections.max.idle.ms closes a silent
// connection, not one that keeps sending (issue 8, item 7).
func TestIdleConnectionsClosed(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) { c.ConnectionsMaxIdle = 300 * time.Millisecond })
	silent := dial(t, b.Addr())
	busy := dial(t, b.Addr())
	deadline := time.Now().Add(900 * time.Millisecond)
	for time.Now().Before(deadline) {
		if !answers(t, busy, 2*time.Second) {
			t.Fatal("a connection sending a request every 100ms was closed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !closedWithin(silent, 3*time.Second) {
		t.Fatal("a silent connection outlived connections.max.idle.ms")
	}
	if n := counterValue(t, b, "weir_broker_connections_idle_closed_total"); n < 1 {
		t.Fatalf("idle closes counted %v", n)
	}
}

// TestMaxConnections: max.connections.per.ip and max.connections close new
// connections past the limit at once, and free the slot when one closes.
func TestMaxConnections(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) { c.MaxConnectionsPerIP = 2 })
	c1, c2 := dial(t, b.Addr()), dial(t, b.Addr())
	if !answers(t, c1, 2*time.Second) || !answers(t, c2, 2*time.Second) {
		t.Fatal("connections within the limit not served")
	}
	c3 := dial(t, b.Addr())
	if !closedWithin(c3, 2*time.Second) {
		t.Fatal("a third connection from one IP was served with max.connections.per.ip=2")
	}
	c1.Close()
	time.Sleep(100 * time.Millisecond)
	if c4 := dial(t, b.Addr()); !answers(t, c4, 2*time.Second) {
		t.Fatal("slot not freed when a connection closed")
	}

	b2 := brokertest.StartWith(t, func(c *broker.Config) { c.MaxConnections = 1 })
	d1 := dial(t, b2.Addr())
	if !answers(t, d1, 2*time.Second) {
		t.Fatal("first connection not served")
	}
	if d2 := dial(t, b2.Addr()); !closedWithin(d2, 2*time.Second) {
		t.Fatal("a second connection was served with max.connections=1")
	}
	if n := counterValue(t, b2, "weir_broker_connections_rejected_total"); n < 1 {
		t.Fatalf("rejected connections counted %v", n)
	}
}

// TestQueuedMaxRequestBytes: request bytes read but not handled are capped
// broker-wide; a stalled half frame holds its share, others wait for room.
func TestQueuedMaxRequestBytes(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) {
		c.MaxRequestBytes = 1 << 20
		c.QueuedMaxRequestBytes = 1 << 20
	})
	other := dial(t, b.Addr())
	if !answers(t, other, 2*time.Second) {
		t.Fatal("not served before the hog")
	}
	hog := dial(t, b.Addr())
	hdr := binary.BigEndian.AppendUint32(nil, 1<<20)
	hog.Write(append(hdr, make([]byte, 512<<10)...))
	time.Sleep(200 * time.Millisecond)
	if answers(t, other, 500*time.Millisecond) {
		t.Fatal("served while another connection held all of queued.max.request.bytes")
	}
	hog.Close()
	// The earlier request is still owed: its answer comes once room frees.
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(other, size[:]); err != nil {
		t.Fatalf("not served after the hog closed: %v", err)
	}
}

// TestWriteTimeoutClosesStalledReader: a client that pipelines fetches and
// never reads is disconnected after the write timeout, releasing what its
// responses pinned (issue 8, item 7).
func TestWriteTimeoutClosesStalledReader(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) { c.WriteTimeout = 300 * time.Millisecond })
	cl := client(t, b)
	createTopic(t, cl, "big", 1, nil)
	val := make([]byte, 512<<10)
	for range 16 {
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "big", Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	topicID := topicIDOf(t, b, "big")
	nc := dial(t, b.Addr())
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	for i := range 30 {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(13)
		req.MaxBytes, req.ReplicaID, req.SessionEpoch = 8<<20, -1, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 8 << 20
		rp.FetchOffset = 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Write(rawFrame(req, int32(i))); err != nil {
			break // the broker already gave up on us
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(t, b, "weir_broker_connections_write_timeouts_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("a client that stopped reading was not disconnected")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func topicIDOf(t *testing.T, b *broker.Broker, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = &topic
	req.Topics = append(req.Topics, rt)
	resp := roundTrip(t, b.Addr(), req).(*kmsg.MetadataResponse)
	return resp.Topics[0].TopicID
}

// TestBadFrameWarningsRateLimited: a client reconnecting with the same
// bad request is logged once per interval, not once per attempt.
func TestBadFrameWarningsRateLimited(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	b, err := broker.New(broker.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1},
		slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for range 50 {
		nc := dial(t, b.Addr())
		nc.Write([]byte{0xff, 0xff, 0xff, 0xff})
		closedWithin(nc, 2*time.Second)
	}
	if n := counterValue(t, b, "weir_broker_bad_frames_total"); n != 50 {
		t.Fatalf("bad frames counted %v, want 50", n)
	}
	mu.Lock()
	lines := strings.Count(logs.String(), "closing client connection")
	mu.Unlock()
	if lines > 2 {
		t.Fatalf("%d warnings for 50 bad frames in a burst", lines)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
