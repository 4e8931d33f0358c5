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
	for i := range bufFree {
		for len(bufFree[i]) > 0 {
			<-bufFree[i]
		}
	}
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
