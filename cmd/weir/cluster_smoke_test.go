package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/internal/testutil"
)

// Three `weir serve` processes form one cluster from --controller-voters;
// Metadata lists the three brokers with their advertised addresses, a
// topic spreads its leaders over them, and kill -9 of the metadata leader
// fences it: the others elect a new metadata leader and stop listing it.
// The time from the kill to the metadata without it is printed.
func TestClusterOfThreeProcesses(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "weir")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kafka := make([]string, 3)
	raft := make([]string, 3)
	var voters []string
	for i := range kafka {
		kafka[i], raft[i] = testutil.FreePort(t), testutil.FreePort(t)
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, raft[i]))
	}
	procs := make([]*exec.Cmd, 3)
	for i := range procs {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("node%d.log", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--node-id", fmt.Sprint(i+1), "--data-dir", filepath.Join(dir, fmt.Sprint(i+1)),
			"--kafka-addr", kafka[i], "--advertised-kafka-addr", kafka[i], "--raft-addr", raft[i],
			"--controller-voters", strings.Join(voters, ","), "--http-addr", "", "--offsets-topic-partitions", "6",
			"--broker-heartbeat-interval-ms", "100", "--broker-session-timeout-ms", "1000", "--no-connect")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("node %d log:\n%s", i+1, tail(string(b), 3000))
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitBrokers := func(n int) (kadm.Metadata, time.Duration) {
		start := time.Now()
		for {
			md, err := adm.Metadata(ctx)
			if err == nil && len(md.Brokers) == n {
				return md, time.Since(start)
			}
			if ctx.Err() != nil {
				t.Fatalf("waiting for %d brokers: last %v %v", n, md.Brokers, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	md, _ := waitBrokers(3)
	for _, b := range md.Brokers {
		if addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port)); addr != kafka[b.NodeID-1] {
			t.Fatalf("broker %d advertised as %s, want %s", b.NodeID, addr, kafka[b.NodeID-1])
		}
	}
	two := "2"
	resp, err := adm.CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": &two}, "smoke")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for {
		md, err = adm.Metadata(ctx, "smoke")
		if err != nil {
			t.Fatal(err)
		}
		full := len(md.Topics["smoke"].Partitions) == 6
		for _, p := range md.Topics["smoke"].Partitions {
			full = full && len(p.ISR) == 3
		}
		if full {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("ISR never full: %+v", md.Topics["smoke"].Partitions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(kafka...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("smoke"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	acked := map[[2]int64]string{}
	produce := func(from, n int) {
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("v-%d", i))})
		}
		res := prod.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("acks=all produce: %v", err)
		}
		for _, r := range res {
			acked[[2]int64{int64(r.Record.Partition), r.Record.Offset}] = string(r.Record.Value)
		}
	}
	produce(0, 300)
	leaders := map[int32]bool{}
	for _, p := range md.Topics["smoke"].Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Fatalf("6 partitions led by %v, want all three brokers", leaders)
	}
	victim := md.Controller
	if victim < 1 || victim > 3 {
		t.Fatalf("controller %d", victim)
	}
	// Each survivor is asked directly (its seed connection), so client
	// retries towards the dead node do not count in the times.
	var survivors []*kgo.Client
	for i := range kafka {
		if int32(i+1) == victim {
			continue
		}
		c, err := kgo.NewClient(kgo.SeedBrokers(kafka[i]))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		survivors = append(survivors, c)
	}
	kill := time.Now()
	procs[victim-1].Process.Signal(syscall.SIGKILL)
	procs[victim-1].Wait()
	var elected, fenced time.Duration
	newLeader := int32(-1)
	for elected == 0 || fenced == 0 {
		if ctx.Err() != nil {
			t.Fatalf("after kill -9 of %d: new controller after %v, fenced after %v", victim, elected, fenced)
		}
		for _, c := range survivors {
			req := kmsg.NewPtrMetadataRequest()
			resp, err := c.SeedBrokers()[0].Request(ctx, req)
			if err != nil {
				continue
			}
			mr := resp.(*kmsg.MetadataResponse)
			if elected == 0 && mr.ControllerID > 0 && mr.ControllerID != victim {
				elected, newLeader = time.Since(kill), mr.ControllerID
			}
			if fenced == 0 && len(mr.Brokers) == 2 {
				fenced = time.Since(kill)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("kill -9 of metadata leader %d: node %d is metadata leader after %v; broker %d fenced (gone from Metadata, leading nothing) after %v",
		victim, newLeader, elected.Round(time.Millisecond), victim, fenced.Round(time.Millisecond))
	md, err = kadm.NewClient(survivors[0]).Metadata(ctx, "smoke")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics["smoke"].Partitions {
		if p.Leader == victim || p.Leader < 0 {
			t.Fatalf("partition %d led by %d after the kill of %d", p.Partition, p.Leader, victim)
		}
	}
	// Two replicas of three remain in sync: acks=all goes on, and every
	// acknowledged record is at its offset on the new leaders.
	firstAck := time.Now()
	produce(300, 100)
	t.Logf("acks=all after the failover: 100 records acknowledged in %v", time.Since(firstAck).Round(time.Millisecond))
	cons, err := kgo.NewClient(kgo.SeedBrokers(kafka[survivorIdx(victim)]), kgo.ConsumeTopics("smoke"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := 0
	lost := len(acked)
	for seen < len(acked) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			if acked[[2]int64{int64(r.Partition), r.Offset}] == string(r.Value) {
				lost--
			}
		})
	}
	t.Logf("%d acknowledged records, %d read back, %d lost", len(acked), seen, lost)
	if lost != 0 || seen != len(acked) {
		t.Fatalf("%d acknowledged, %d read back, %d not at their offsets", len(acked), seen, lost)
	}
}

func survivorIdx(victim int32) int {
	if victim == 1 {
		return 1
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
