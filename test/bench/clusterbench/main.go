// Command clusterbench measures failover time for test/bench/cluster.sh:
// it produces acks=all records to one partition of an RF=3 topic, kills
// (SIGKILL) the process of that partition's leader, and reports the time
// from the kill to the first acks=all acknowledgement of a record produced
// after it (the old leader is dead, so that ack comes from its successor),
// as one JSON line:
//
//	{"leader":2,"failover_ms":812.4,"new_leader":3,"acked_before":5012}
//
// Usage: clusterbench -b host:port,... -topic T -pids 1=PID,2=PID,3=PID
// The topic must exist (cluster.sh creates it with RF=3, min.insync.replicas=2).
// Both brokers are measured with the same client: franz-go at its
// defaults plus acks=all (its default too) and a 10 ms retry backoff.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("b", "", "comma-separated bootstrap servers")
	topic := flag.String("topic", "", "topic (partition 0 is measured)")
	pids := flag.String("pids", "", "node id to process id, as 1=PID,2=PID,...")
	warm := flag.Duration("warmup", 3*time.Second, "produce this long before the kill")
	timeout := flag.Duration("timeout", 120*time.Second, "give up waiting for an ack after the kill")
	flag.Parse()
	if err := run(*brokers, *topic, *pids, *warm, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

func run(brokers, topic, pidList string, warm, timeout time.Duration) error {
	pids := map[int32]int{}
	for _, kv := range strings.Split(pidList, ",") {
		k, v, ok := strings.Cut(kv, "=")
		id, err1 := strconv.Atoi(k)
		pid, err2 := strconv.Atoi(v)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("-pids %q: want id=pid,...", pidList)
		}
		pids[int32(id)] = pid
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(timeout))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+warm+30*time.Second)
	defer cancel()
	leader := func() (int32, error) {
		md, err := kadm.NewClient(cl).Metadata(ctx, topic)
		if err != nil {
			return -1, err
		}
		p, ok := md.Topics[topic].Partitions[0]
		if !ok {
			return -1, fmt.Errorf("metadata of %s lacks partition 0", topic)
		}
		return p.Leader, nil
	}

	var killedAt atomic.Int64 // unix ns; 0 before the kill
	var firstAfter atomic.Int64
	var acked atomic.Int64
	var mu sync.Mutex
	var lastErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		val := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			case sem <- struct{}{}:
			}
			// Only a record handed to the client after the kill counts: an
			// ack of one sent before may be the dead leader's own answer,
			// already in the socket when it died (that measured 0.1 ms).
			sent := time.Now().UnixNano()
			cl.Produce(ctx, &kgo.Record{Partition: 0, Value: val}, func(_ *kgo.Record, err error) {
				<-sem
				now := time.Now().UnixNano()
				if err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
					return
				}
				acked.Add(1)
				if k := killedAt.Load(); k != 0 && sent > k {
					firstAfter.CompareAndSwap(0, now)
				}
			})
		}
	}()
	time.Sleep(warm)
	l, err := leader()
	if err != nil {
		close(stop)
		return err
	}
	pid, ok := pids[l]
	if !ok {
		close(stop)
		return fmt.Errorf("leader %d has no pid in -pids", l)
	}
	before := acked.Load()
	if before == 0 {
		close(stop)
		return fmt.Errorf("nothing acknowledged in %v of warm-up (%v)", warm, lastErr)
	}
	killedAt.Store(time.Now().UnixNano())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		close(stop)
		return fmt.Errorf("kill leader %d (pid %d): %w", l, pid, err)
	}
	deadline := time.Now().Add(timeout)
	for firstAfter.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if firstAfter.Load() == 0 {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("no acks=all acknowledgement within %v of killing leader %d (last error: %v)", timeout, l, lastErr)
	}
	nl, _ := leader()
	out, _ := json.Marshal(map[string]any{
		"leader": l, "new_leader": nl, "acked_before": before,
		"failover_ms": float64(firstAfter.Load()-killedAt.Load()) / 1e6,
	})
	fmt.Println(string(out))
	return nil
}
