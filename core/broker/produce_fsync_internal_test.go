package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	wlog "github.com/weirlog/weir/core/log"
)

// slowSyncFS makes every fsync of a file whose path contains match take
// delay, as a disk with a slow flush does, and counts them.
type slowSyncFS struct {
	wlog.OSFS
	match string
	delay time.Duration
	syncs atomic.Int64
}

func (f *slowSyncFS) OpenFile(name string, flag int, perm os.FileMode) (wlog.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, f.match) {
		return file, err
	}
	return &slowSyncFile{File: file, fs: f}, nil
}

type slowSyncFile struct {
	wlog.File
	fs *slowSyncFS
}

func (s *slowSyncFile) Sync() error {
	s.fs.syncs.Add(1)
	time.Sleep(s.fs.delay)
	return s.File.Sync()
}

// oneRecordBatch is a v2 batch of one record with the length and CRC set
// as producers set them.
func oneRecordBatch(value []byte) []byte {
	var rec []byte
	rec = append(rec, 0)               // attributes
	rec = binary.AppendVarint(rec, 0)  // timestamp delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, -1) // null key
	rec = binary.AppendVarint(rec, int64(len(value)))
	rec = append(rec, value...)
	rec = binary.AppendVarint(rec, 0) // headers
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{Magic: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1,
		FirstTimestamp: now, MaxTimestamp: now, Records: binary.AppendVarint(nil, int64(len(rec)))}
	rb.Records = append(rb.Records, rec...)
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// TestFsyncProduceWaitsForPartitionsTogether: with --fsync (SyncOnAppend)
// an acks=all produce request for N partitions appends to all of them and
// then waits for their fsyncs together, so it is answered in about one
// fsync latency, not N of them one after another (issue 16, durable mode:
// franz-go sends one request per broker covering every partition it
// has records for, and serial waits capped 16 producers at 0.1x of dd).
func TestFsyncProduceWaitsForPartitionsTogether(t *testing.T) {
	const parts, delay = 6, 150 * time.Millisecond
	fs := &slowSyncFS{match: "/slow-", delay: delay}
	b, ctx := startFsyncBroker(t, fs, "slow", parts)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(round int) time.Duration {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "slow"
		for p := range parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = int32(p)
			rp.Records = oneRecordBatch([]byte("durable"))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		before := fs.syncs.Load()
		start := time.Now()
		kresp, err := cl.Request(ctx, req)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
			t.Fatalf("response: %+v", resp)
		}
		for _, sp := range resp.Topics[0].Partitions {
			if sp.ErrorCode != 0 || sp.BaseOffset != int64(round) {
				t.Fatalf("round %d partition %d: error %d, base offset %d", round, sp.Partition, sp.ErrorCode, sp.BaseOffset)
			}
			// Answered only once durable: the HW moved with the fsync.
			if hw := (*b.topics.Load())["slow"].parts[sp.Partition].hw.Load(); hw != int64(round)+1 {
				t.Fatalf("round %d partition %d: HW %d after the answer", round, sp.Partition, hw)
			}
		}
		if n := fs.syncs.Load() - before; n < parts {
			t.Fatalf("round %d: %d fsyncs for %d partitions; acknowledged before durable", round, n, parts)
		}
		return took
	}
	produce(0) // the first append of each log also creates and syncs its segment
	for round := 1; round <= 3; round++ {
		if took := produce(round); took > 3*delay {
			t.Fatalf("round %d: a produce to %d partitions with %v fsyncs took %v: the fsyncs were waited for one after another", round, parts, delay, took)
		}
	}
}

// With --fsync the request frame goes back to the free list once the
// records are appended, before the fsync wait: held across it, 16
// producers' 5 MiB frames were most of the broker's peak memory and made
// the next frames allocate (issue 16).
func TestFsyncProduceReleasesFrameBeforeWait(t *testing.T) {
	const delay = 400 * time.Millisecond
	fs := &slowSyncFS{match: "/slowframe-", delay: delay}
	b, ctx := startFsyncBroker(t, fs, "slowframe", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(value []byte) <-chan error {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "slowframe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = oneRecordBatch(value)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		done := make(chan error, 1)
		go func() {
			kresp, err := cl.Request(ctx, req)
			if err == nil {
				if ec := kresp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; ec != 0 {
					err = kerr.ErrorForCode(ec)
				}
			}
			done <- err
		}()
		return done
	}
	if err := <-produce([]byte("warm")); err != nil { // creates and syncs the segment
		t.Fatal(err)
	}
	// A 900 KiB frame (under max.message.bytes) is read into a 1 MiB
	// buffer (class 8).
	const class = 8
	frames.drain()
	done := produce(make([]byte, 900<<10))
	for {
		if len(frames.free[class]) > 0 {
			break // back before the answer, so before the fsync finished
		}
		select {
		case err := <-done:
			t.Fatalf("answered (err %v) while the frame's buffer was still held: it was kept across the fsync wait", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// With --fsync a connection's pipelined produce requests reach the log
// while the first one waits for its group commit, so they share the next
// round: franz-go keeps up to 5 produce requests in flight per broker, and
// handling them one at a time (append, wait for the fsync, answer, then
// read the next into the log) left one request per producer in each round
// (issue 16: 16 producers at 0.6 of dd). Each answer still comes only once
// its records are durable, and in request order.
func TestFsyncProducePipelinedRequestsShareRounds(t *testing.T) {
	const reqs, delay = 5, 300 * time.Millisecond
	fs := &slowSyncFS{match: "/slowpipe-", delay: delay}
	b, _ := startFsyncBroker(t, fs, "slowpipe", 1)
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipe"))
	frame := func(corr int32) []byte {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 7
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "slowpipe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = oneRecordBatch([]byte("pipelined"))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return f.AppendRequest(nil, req, corr)
	}
	read := func() (int32, *kmsg.ProduceResponse) {
		var hdr [8]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:4])-4)
		if _, err := io.ReadFull(nc, body); err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return int32(binary.BigEndian.Uint32(hdr[4:])), resp
	}
	// The first append creates and syncs the segment.
	if _, err := nc.Write(frame(0)); err != nil {
		t.Fatal(err)
	}
	read()
	hw := func() int64 { return (*b.topics.Load())["slowpipe"].parts[0].hw.Load() }
	var all []byte
	for i := 1; i <= reqs; i++ {
		all = append(all, frame(int32(i))...)
	}
	before := fs.syncs.Load()
	start := time.Now()
	if _, err := nc.Write(all); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= reqs; i++ {
		corr, resp := read()
		if corr != int32(i) {
			t.Fatalf("response %d has correlation ID %d: answered out of order", i, corr)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || sp.BaseOffset != int64(i) {
			t.Fatalf("request %d: error %d, base offset %d", i, sp.ErrorCode, sp.BaseOffset)
		}
		// Answered only once durable: the HW moved with the fsync.
		if h := hw(); h < int64(i)+1 {
			t.Fatalf("request %d answered with the HW at %d", i, h)
		}
	}
	took := time.Since(start)
	if n := fs.syncs.Load() - before; n < 1 {
		t.Fatalf("%d requests answered without an fsync", reqs)
	}
	// Serially: one round per request, >= reqs*delay. Pipelined: every
	// request appended by the time a round is planned shares it (one or
	// two rounds; the rest is margin for a loaded machine).
	if took > (reqs-1)*delay {
		t.Fatalf("%d pipelined produce requests with %v fsyncs took %v: each waited for the previous one's fsync before reaching the log", reqs, delay, took)
	}
}

// startFsyncBroker starts a single --fsync (SyncOnAppend) broker on fs
// with topic of parts partitions; it is closed when t ends, and ctx ends
// 30 s after the start.
func startFsyncBroker(t *testing.T, fs wlog.FS, topic string, parts int32) (*Broker, context.Context) {
	t.Helper()
	b, err := New(Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", OffsetsTopicPartitions: 1, SyncOnAppend: true, logFS: fs},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.createTopic(ctx, topic, parts, -1, nil, false); err != nil {
		t.Fatal(err)
	}
	return b, ctx
}
