package log

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, dir, DefaultConfig(), testOpts(c))
	var want [][]byte
	for i := 0; i < 10; i++ {
		b := simpleBatch(t, 3, c.ms()+int64(i))
		res := mustAppend(t, l, b)
		if res.BaseOffset != int64(i*3) || res.LastOffset != int64(i*3+2) || res.LogEndOffset != int64(i*3+3) || res.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v", i, res)
		}
		want = append(want, append([]byte(nil), b...))
	}
	check := func(l *Log) {
		t.Helper()
		if l.StartOffset() != 0 || l.EndOffset() != 30 {
			t.Fatalf("offsets [%d, %d)", l.StartOffset(), l.EndOffset())
		}
		r, err := l.Read(4, 1<<20, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Bytes()
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
		// Offset 4 is in the second batch: whole batches from there.
		if !bytes.Equal(got, bytes.Join(want[1:], nil)) {
			t.Fatalf("read mismatch: %d bytes vs %d", len(got), len(bytes.Join(want[1:], nil)))
		}
		// Upper bound: batches ending below offset 9 (batches 1 and 2).
		r, err = l.Read(3, 1<<20, 9)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = r.Bytes()
		r.Release()
		if !bytes.Equal(got, bytes.Join(want[1:3], nil)) {
			t.Fatalf("maxOffset read: %d bytes", len(got))
		}
		// maxBytes smaller than one batch still returns one batch.
		r, _ = l.Read(0, 1, -1)
		if r.Size() != int64(len(want[0])) {
			t.Fatalf("minimum one batch: %d", r.Size())
		}
		r.Release()
		// The end offset is a valid, empty read; past it is out of range.
		r, err = l.Read(30, 100, -1)
		if err != nil || r.Size() != 0 {
			t.Fatalf("read at end: %v %v", r, err)
		}
		r.Release()
		if _, err := l.Read(31, 100, -1); !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Fatalf("read past end: %v", err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownName)); err != nil {
		t.Fatalf("no clean marker: %v", err)
	}
	l = mustOpen(t, dir, DefaultConfig(), testOpts(c))
	check(l)
	if res := mustAppend(t, l, simpleBatch(t, 1, c.ms())); res.BaseOffset != 30 {
		t.Fatalf("append after reopen at %d", res.BaseOffset)
	}
	l.Close()
}

func TestAppendRejectsCorrupt(t *testing.T) {
	l := mustOpen(t, t.TempDir(), DefaultConfig(), testOpts(newClock()))
	defer l.Close()
	b := simpleBatch(t, 2, 1)
	b[len(b)-1] ^= 1
	if _, err := l.Append(b, AppendOptions{}); !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("flipped bit: %v", err)
	}
	b = simpleBatch(t, 2, 1)
	if _, err := l.Append(b[:len(b)-3], AppendOptions{}); !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("truncated batch: %v", err)
	}
	b = simpleBatch(t, 2, 1)
	b[magicOff] = 1
	if _, err := l.Append(b, AppendOptions{}); !errors.Is(err, kerr.UnsupportedForMessageFormat) {
		t.Fatalf("magic 1: %v", err)
	}
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 50
	l.SetConfig(cfg)
	if _, err := l.Append(simpleBatch(t, 2, 1), AppendOptions{}); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if l.EndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("something was written: end %d size %d", l.EndOffset(), l.Size())
	}
}

func TestWriteToSendfile(t *testing.T) {
	l := mustOpen(t, t.TempDir(), DefaultConfig(), testOpts(newClock()))
	defer l.Close()
	var all []byte
	for i := 0; i < 50; i++ {
		b := simpleBatch(t, 10, int64(i))
		all = append(all, b...)
		mustAppend(t, l, b)
	}
	for i := 0; i < 50; i++ {
		setBaseOffset(all[i*len(all)/50:], int64(i*10))
		setLeaderEpoch(all[i*len(all)/50:], 0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(c)
		got <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Read(0, 1<<30, -1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.WriteTo(conn)
	r.Release()
	conn.Close()
	if err != nil || n != int64(len(all)) {
		t.Fatalf("WriteTo: %d %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, all) {
		t.Fatalf("received %d bytes, differ", len(b))
	}
	// Fallback path: a plain writer.
	var buf bytes.Buffer
	r, _ = l.Read(0, 1<<30, -1)
	if _, err := r.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), all) {
		t.Fatalf("copy fallback: %v", err)
	}
	r.Release()
}

// A fetch larger than the socket buffers makes sendfile hit EAGAIN; the
// poller must resume it until every byte is sent.
func TestWriteToSendfileBackpressure(t *testing.T) {
	l := mustOpen(t, t.TempDir(), DefaultConfig(), testOpts(newClock()))
	defer l.Close()
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte(i)
	}
	for i := 0; i < 80; i++ { // ~8 MB
		mustAppend(t, l, buildBatch(t, batchSpec{records: []rec{{key: []byte("k"), value: big, ts: 1}}}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		time.Sleep(50 * time.Millisecond) // let the sender block
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Read(0, 1<<30, -1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.WriteTo(conn)
	r.Release()
	conn.Close()
	if err != nil || n != r.Size() || n != l.Size() {
		t.Fatalf("WriteTo sent %d of %d: %v", n, l.Size(), err)
	}
	if m := <-got; m != n {
		t.Fatalf("received %d of %d", m, n)
	}
}
