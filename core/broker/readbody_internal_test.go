package broker

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
)

// A multi-MiB produce frame goes straight into an idle buffer that can hold
// it: growing one piecemeal copied every byte produced once more (issue 16).
func TestLargeFrameReadsIntoIdleBuffer(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(b, server)
	defer c.cancel()

	const size = 6 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	go client.Write(want)

	// Only an 8 MiB buffer is idle; the classes a piecemeal read grows
	// through are empty, so growing would have to allocate.
	frames.drain()
	idle := make([]byte, 8<<20)
	putBuf(&idle)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	bufp, err := c.readBody(size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if &(*bufp)[0] != &idle[0] {
		t.Error("the frame was not read into the idle buffer")
	}
	if !bytes.Equal((*bufp)[:size], want) {
		t.Fatal("frame bytes differ")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading a %d MiB frame allocated %d KiB with an idle buffer to hand", size>>20, alloc>>10)
	}
	c.release(size)
}

// A connection that has delivered a multi-MiB frame gets its next frames
// of up to that size read into a buffer sized from the length prefix, even
// with nothing idle: growing through 1, 2, 4 and 8 MiB allocated twice the
// frame and copied it once more (issue 16: with 16 producers against
// --fsync the free list was empty for most 5 MiB frames). A fresh
// connection still grows its buffer only as bytes arrive.
func TestProvenFrameSizeReadWhole(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(b, server)
	defer c.cancel()

	const size = 6 << 20
	frame := make([]byte, size)
	for i := range frame {
		frame[i] = byte(i * 13)
	}
	read := func() uint64 {
		t.Helper()
		frames.drain()
		go client.Write(frame)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		bufp, err := c.readBody(size)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal((*bufp)[:size], frame) {
			t.Fatal("frame bytes differ")
		}
		c.release(size)
		return after.TotalAlloc - before.TotalAlloc
	}
	if first := read(); first < 12<<20 {
		t.Errorf("first %d MiB frame allocated %d KiB: it should have grown piecemeal", size>>20, first>>10)
	}
	if second := read(); second > 9<<20 {
		t.Errorf("second %d MiB frame allocated %d KiB: want one 8 MiB buffer", size>>20, second>>10)
	}
}

// A free list keeps at most its limit idle over all classes.
func TestIdleBuffersBounded(t *testing.T) {
	p := newFramePool(20<<20, maxIdleClassBytes)
	for range 8 {
		b := make([]byte, 4<<20)
		p.put(&b)
	}
	if got := p.idle.Load(); got != 20<<20 {
		t.Errorf("idle %d MiB, want the 20 MiB limit", got>>20)
	}
	if got := len(p.free[10]); got != 5 {
		t.Errorf("%d idle 4 MiB buffers, want 5", got)
	}
	if b := p.get(3 << 20); cap(*b) != 4<<20 || p.idle.Load() != 16<<20 {
		t.Errorf("get: a %d MiB buffer, %d MiB left idle; want 4 and 16", cap(*b)>>20, p.idle.Load()>>20)
	}
}
