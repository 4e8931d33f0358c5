// Package crash_test kills `weir serve` with SIGKILL under load and checks,
// after restarting it on the same data directory, that nothing acknowledged
// was lost or duplicated.
//
// The load: several idempotent acks=all franz-go producers (one per codec),
// each writing records whose value is "<producer>/<sequence>/<padding>"
// round-robin over the partitions of one topic with 1 MiB segments, and a consumer group that reads the topic and
// commits offsets synchronously. The producers and the consumer live across
// every crash: they retry and reconnect to the restarted broker the way an
// application would.
//
// What must hold afterwards (the broker is started once more, clean):
//   - every record whose produce was acknowledged is in the log;
//   - no record is in the log twice (idempotence survives the crash);
//   - within a partition, each producer's sequences are strictly increasing;
//   - every batch decodes (no torn or corrupt batch is served);
//   - each committed group offset is ≥ the largest offset whose commit was
//     acknowledged, and ≤ the partition's end offset.
//
// Knobs: WEIR_CRASH_CYCLES (default 3), WEIR_CRASH_SEED (default: time),
// WEIR_BIN (prebuilt binary). Everything is bounded in time and on loopback.
package crash_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/test/compat/harness"
)

const (
	partitions = 3
	producers  = 4
	// padding makes records big enough to roll 1 MiB segments quickly.
	padding = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
)

var codecs = []kgo.CompressionCodec{
	kgo.NoCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression(),
}

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestKill9UnderLoad(t *testing.T) { kill9UnderLoad(t) }

// TestKill9UnderLoadFsync is the same with `weir serve --fsync`: a
// produce request waits for its group commits off the connection's
// handler goroutine while the connection's next requests are appended
// (issue 16), so acknowledgements, idempotent sequences and the order of
// each producer's records must survive kill -9 on that path too. (A kill
// keeps the page cache: that acknowledged batches were fsynced is
// core/log's TestPowerCutKeepsAcknowledgedAppends.)
func TestKill9UnderLoadFsync(t *testing.T) { kill9UnderLoad(t, "--fsync") }

func kill9UnderLoad(t *testing.T, serveArgs ...string) {
	if _, ext := harness.External(); ext {
		t.Fatalf("the crash test kills the broker it started itself; unset %s", harness.EnvBroker)
	}
	cycles := envInt("WEIR_CRASH_CYCLES", 3)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("WEIR_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("WEIR_CRASH_SEED=%d cycles=%d", seed, cycles)

	// The whole test, restarts included, is bounded.
	testCtx, testCancel := context.WithTimeout(context.Background(), time.Duration(cycles)*40*time.Second+90*time.Second)
	defer testCancel()

	harness.ReadyTimeout = 60 * time.Second
	broker := harness.StartWeir(t, "", serveArgs...)
	addr := broker.KafkaAddr
	topic := harness.Name("crash")
	group := harness.Name("crash-group")
	// Small segments (Kafka's 1 MiB minimum): the load rolls several, so
	// kills also land around segment rolls and recovery spans segments.
	segBytes := "1048576"
	harness.CreateTopic(t, addr, topic, partitions, map[string]*string{"segment.bytes": &segBytes})

	// Producers: acked[p] holds the sequences acknowledged to producer p.
	loadCtx, stopLoad := context.WithCancel(testCtx)
	defer stopLoad()
	var (
		ackMu    sync.Mutex
		acked    = make([]map[int64]bool, producers)
		ackCount atomic.Int64
		prodErrs = map[string]int{}
		wg       sync.WaitGroup
	)
	for p := range producers {
		acked[p] = map[int64]bool{}
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(addr),
			kgo.DefaultProduceTopic(topic),
			// One codec per producer: recovery must handle every kind of batch.
			kgo.ProducerBatchCompression(codecs[p%len(codecs)]),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is on by default with acks=all
			kgo.MaxBufferedRecords(2000),
			kgo.ProducerLinger(2*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for seq := int64(0); loadCtx.Err() == nil; seq++ {
				// Paced (≤ 4000 records/s per producer): the crash, not
				// throughput, is under test, and read-back stays quick.
				if seq%20 == 19 {
					time.Sleep(5 * time.Millisecond)
				}
				r := &kgo.Record{
					Partition: int32(seq % partitions),
					Value:     fmt.Appendf(nil, "%d/%d/%s", p, seq, padding),
				}
				cl.Produce(loadCtx, r, func(r *kgo.Record, err error) {
					ackMu.Lock()
					defer ackMu.Unlock()
					if err != nil {
						if !errors.Is(err, context.Canceled) {
							prodErrs[err.Error()]++
						}
						return
					}
					acked[p][seq] = true
					ackCount.Add(1)
				})
			}
			// Give in-flight records a bounded chance to be acknowledged.
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			_ = cl.Flush(fctx)
		}()
	}

	// Consumer group: commits synchronously; ackedCommit[p] is the largest
	// offset the broker acknowledged as committed for partition p.
	var (
		commitMu    sync.Mutex
		ackedCommit = map[int32]int64{}
		consumed    atomic.Int64
	)
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(10*time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cons.Close()
		for loadCtx.Err() == nil {
			fs := cons.PollRecords(loadCtx, 1000)
			consumed.Add(int64(fs.NumRecords()))
			offsets := map[string]map[int32]kgo.EpochOffset{}
			fs.EachPartition(func(fp kgo.FetchTopicPartition) {
				if n := len(fp.Records); n > 0 {
					last := fp.Records[n-1]
					if offsets[fp.Topic] == nil {
						offsets[fp.Topic] = map[int32]kgo.EpochOffset{}
					}
					offsets[fp.Topic][fp.Partition] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
				}
			})
			if len(offsets) == 0 {
				continue
			}
			cctx, ccancel := context.WithTimeout(loadCtx, 10*time.Second)
			done := make(chan struct{})
			cons.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				defer close(done)
				if err != nil {
					return
				}
				commitMu.Lock()
				defer commitMu.Unlock()
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						if rp.ErrorCode != 0 {
							continue
						}
						if o, ok := offsets[rt.Topic][rp.Partition]; ok && o.Offset > ackedCommit[rp.Partition] {
							ackedCommit[rp.Partition] = o.Offset
						}
					}
				}
			})
			select {
			case <-done:
			case <-time.After(15 * time.Second):
			}
			ccancel()
		}
	}()

	// Crash cycles: 1–4 s of load, kill -9, restart on the same data dir.
	for c := 1; c <= cycles; c++ {
		// Load starts counting once producers get acknowledgements again,
		// so every kill lands in the middle of real traffic.
		if err := waitAcks(testCtx, &ackCount, 30*time.Second); err != nil {
			t.Fatalf("cycle %d: %v", c, err)
		}
		load := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		before := ackCount.Load()
		select {
		case <-time.After(load):
		case <-testCtx.Done():
			t.Fatalf("cycle %d: test deadline", c)
		}
		if !broker.Running() {
			t.Fatalf("cycle %d: weir serve died on its own before the kill", c)
		}
		broker.Kill()
		t.Logf("cycle %d: killed after %v of load (%d records acknowledged this cycle, %d consumed so far)",
			c, load, ackCount.Load()-before, consumed.Load())
		start := time.Now()
		if err := broker.Start(); err != nil {
			stopLoad()
			wg.Wait()
			t.Fatalf("cycle %d: restart after kill -9: %v", c, err)
		}
		t.Logf("cycle %d: restarted and serving in %v", c, time.Since(start).Round(time.Millisecond))
	}

	// A last stretch of load so the clients prove they recovered, then stop.
	if err := waitAcks(testCtx, &ackCount, 30*time.Second); err != nil {
		t.Errorf("after the last restart: %v", err)
	}
	time.Sleep(time.Second)
	stopLoad()
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("producers/consumer did not stop within 60 s")
	}
	ackMu.Lock()
	for e, n := range prodErrs {
		t.Logf("produce error (not acknowledged, allowed): %dx %s", n, e)
	}
	ackMu.Unlock()
	if ackCount.Load() == 0 {
		t.Fatalf("no record was ever acknowledged")
	}

	// Verify on a broker restarted from what the last run left behind,
	// after one more kill -9 so the final state is also a crash state.
	broker.Kill()
	if err := broker.Start(); err != nil {
		t.Fatalf("final restart: %v", err)
	}
	verify(t, addr, topic, group, acked, ackedCommit)
}

// waitAcks waits until the acknowledged-record counter moves.
func waitAcks(ctx context.Context, n *atomic.Int64, timeout time.Duration) error {
	start := n.Load()
	deadline := time.Now().Add(timeout)
	for n.Load() == start {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no produce acknowledged within %v: the clients did not get going against the (re)started broker", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func verify(t *testing.T, addr, topic, group string, acked []map[int64]bool, ackedCommit map[int32]int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(harness.Client(t, addr))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets after restart: %v %v", err, ends.Error())
	}
	end := map[int32]int64{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset; total += o.Offset })

	// Read every partition from its start to the end offset.
	start := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range int32(partitions) {
		start[topic][p] = kgo.NewOffset().AtStart()
	}
	cl := harness.Client(t, addr, kgo.ConsumePartitions(start), kgo.FetchMaxWait(200*time.Millisecond))
	type pos struct{ offset, seq int64 }
	var (
		where    = map[int32]int64{}  // next expected offset per partition
		lastSeq  = map[[2]int64]pos{} // (partition, producer) → last seen
		seen     = make([]map[int64]int64, len(acked))
		problems []string
		nProblem int
	)
	for p := range seen {
		seen[p] = map[int64]int64{}
	}
	addProblem := func(format string, args ...any) {
		nProblem++
		if len(problems) < 30 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	var read int64
	for {
		doneAll := true
		for p := range int32(partitions) {
			if where[p] < end[p] {
				doneAll = false
			}
		}
		if doneAll {
			break
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: timed out at %v of end offsets %v", where, end)
		}
		fs.EachError(func(_ string, p int32, err error) {
			t.Fatalf("reading back partition %d: %v", p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			read++
			if r.Offset < where[r.Partition] {
				addProblem("partition %d: offset %d served after %d", r.Partition, r.Offset, where[r.Partition]-1)
			}
			where[r.Partition] = r.Offset + 1
			ps, rest, ok := strings.Cut(string(r.Value), "/")
			ss, pad, ok2 := strings.Cut(rest, "/")
			ok = ok && ok2 && pad == padding
			prod, err1 := strconv.Atoi(ps)
			seq, err2 := strconv.ParseInt(ss, 10, 64)
			if !ok || err1 != nil || err2 != nil || prod < 0 || prod >= len(acked) {
				addProblem("partition %d offset %d: foreign value %q", r.Partition, r.Offset, r.Value)
				return
			}
			if int32(seq%partitions) != r.Partition {
				addProblem("record %d/%d in partition %d, was produced to %d", prod, seq, r.Partition, seq%partitions)
			}
			if prev, dup := seen[prod][seq]; dup {
				addProblem("duplicate: %d/%d at partition %d offsets %d and %d", prod, seq, r.Partition, prev, r.Offset)
			}
			seen[prod][seq] = r.Offset
			k := [2]int64{int64(r.Partition), int64(prod)}
			if last, ok := lastSeq[k]; ok && seq <= last.seq {
				addProblem("order: partition %d producer %d: seq %d at offset %d after seq %d at offset %d",
					r.Partition, prod, seq, r.Offset, last.seq, last.offset)
			}
			lastSeq[k] = pos{r.Offset, seq}
		})
	}

	var ackedTotal, lost int
	for p, seqs := range acked {
		for seq := range seqs {
			ackedTotal++
			if _, ok := seen[p][seq]; !ok {
				lost++
				addProblem("lost: %d/%d was acknowledged but is not in partition %d", p, seq, seq%partitions)
			}
		}
	}
	t.Logf("log after restart: %d records in %d partitions (end offsets %v); %d acknowledged, %d lost",
		read, partitions, end, ackedTotal, lost)

	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch committed offsets after restart: %v", err)
	}
	for p := range int32(partitions) {
		want := ackedCommit[p]
		o, ok := offs.Lookup(topic, p)
		got := int64(-1)
		if ok && o.Err == nil {
			got = o.At
		}
		if ok && o.Err != nil && !errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
			addProblem("committed offset of partition %d: %v", p, o.Err)
		}
		if got < want {
			addProblem("group offset of partition %d is %d after restart, but %d was acknowledged as committed", p, got, want)
		}
		if got > end[p] {
			addProblem("group offset of partition %d is %d, past the log end %d: records the consumer saw were lost", p, got, end[p])
		}
	}
	t.Logf("acknowledged commits %v; committed after restart %v", ackedCommit, commitsOf(offs, topic))
	if len(problems) > 0 {
		t.Errorf("%d problem(s) after kill -9 (first %d):\n  %s", nProblem, len(problems), strings.Join(problems, "\n  "))
	}
}

func commitsOf(o kadm.OffsetResponses, topic string) map[int32]int64 {
	m := map[int32]int64{}
	o.Each(func(r kadm.OffsetResponse) {
		if r.Topic == topic {
			m[r.Partition] = r.At
		}
	})
	return m
}
