package compat_test

// Apache Kafka's own Java console tools (the Java client) against the broker
// under test, run through test/services/kafka-cli.sh TOOL ARGS, which
// provides the jars and a JVM. A missing script or java fails the test.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirlog/weir/test/compat/harness"
)

// kafkaCLI runs a Kafka tool (kafka-topics, kafka-console-producer, …) with
// args, bounded by timeout, and fails t on a non-zero exit.
func kafkaCLI(t *testing.T, timeout time.Duration, stdin []byte, tool string, args ...string) harness.Result {
	t.Helper()
	script := cliScript(t)
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("Kafka's Java tools are run through %s, which is missing: %v", script, err)
	}
	harness.RequireTool(t, "java", "install a JDK 17+")
	return harness.MustExec(t, timeout, stdin, script, append([]string{tool}, args...)...)
}

func TestJavaTopics(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("java-topics")

	kafkaCLI(t, 60*time.Second, nil, "kafka-topics", "--bootstrap-server", addr,
		"--create", "--topic", topic, "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000")

	list := kafkaCLI(t, 60*time.Second, nil, "kafka-topics", "--bootstrap-server", addr, "--list").Stdout
	if !containsLine(list, topic) {
		t.Fatalf("kafka-topics --list does not list %s:\n%s", topic, list)
	}

	desc := kafkaCLI(t, 60*time.Second, nil, "kafka-topics", "--bootstrap-server", addr,
		"--describe", "--topic", topic).Stdout
	if !regexp.MustCompile(`Topic:\s*` + regexp.QuoteMeta(topic) + `\s.*PartitionCount:\s*3\s.*ReplicationFactor:\s*1`).MatchString(desc) {
		t.Errorf("kafka-topics --describe header wrong:\n%s", desc)
	}
	if !strings.Contains(desc, "retention.ms=3600000") {
		t.Errorf("kafka-topics --describe does not show the topic config retention.ms=3600000:\n%s", desc)
	}
	partLine := regexp.MustCompile(`Partition:\s*(\d+)\s+Leader:\s*(-?\d+)\s+Replicas:\s*(\d+)\s+Isr:\s*(\d+)`)
	parts := partLine.FindAllStringSubmatch(desc, -1)
	if len(parts) != 3 {
		t.Fatalf("kafka-topics --describe: want 3 partition lines, got %d:\n%s", len(parts), desc)
	}
	for _, p := range parts {
		if p[2] == "-1" || p[2] != p[3] || p[3] != p[4] {
			t.Errorf("partition %s: leader %s replicas %s isr %s", p[1], p[2], p[3], p[4])
		}
	}

	// Creating it again is an error the tool reports.
	r := harness.Exec(60*time.Second, nil, cliScript(t), "kafka-topics", "--bootstrap-server", addr,
		"--create", "--topic", topic, "--partitions", "1", "--replication-factor", "1")
	if r.Err == nil && !strings.Contains(r.Stdout+r.Stderr, "already exists") {
		t.Errorf("second --create of %s neither failed nor said 'already exists':\n%s\n%s", topic, r.Stdout, r.Stderr)
	}
}

func TestJavaConsoleProduceConsumeGroups(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("java-console")
	group := harness.Name("java-group")
	harness.CreateTopic(t, addr, topic, 2, nil)

	const n = 50
	var in strings.Builder
	want := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("message %02d", i)
		fmt.Fprintf(&in, "%s:%s\n", k, v)
		want[k] = v
	}
	kafkaCLI(t, 90*time.Second, []byte(in.String()), "kafka-console-producer", "--bootstrap-server", addr,
		"--topic", topic, "--producer-property", "acks=all",
		"--reader-property", "parse.key=true", "--reader-property", "key.separator=:")

	out := kafkaCLI(t, 90*time.Second, nil, "kafka-console-consumer", "--bootstrap-server", addr,
		"--topic", topic, "--group", group, "--from-beginning", "--max-messages", strconv.Itoa(n),
		"--timeout-ms", "45000",
		"--formatter-property", "print.key=true", "--formatter-property", "key.separator=:").Stdout
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		got[k] = v
	}
	if len(got) != n {
		t.Fatalf("kafka-console-consumer printed %d distinct keys, want %d:\n%s", len(got), n, out)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %s: got %q want %q", k, got[k], v)
		}
	}

	// The console consumer committed its position: the group describes
	// with CURRENT-OFFSET == LOG-END-OFFSET, LAG 0, on both partitions.
	desc := kafkaCLI(t, 60*time.Second, nil, "kafka-consumer-groups", "--bootstrap-server", addr,
		"--describe", "--group", group).Stdout
	rows := 0
	for _, line := range strings.Split(desc, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != group || f[1] != topic {
			continue
		}
		rows++
		// GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
		if f[3] != f[4] || f[5] != "0" {
			t.Errorf("group row not caught up: %q", line)
		}
	}
	if rows != 2 {
		t.Errorf("kafka-consumer-groups --describe: want 2 rows for %s/%s, got %d:\n%s", group, topic, rows, desc)
	}
	// Sum of committed offsets equals what was produced.
	adm := kadm.NewClient(harness.Client(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != n {
		t.Errorf("committed offsets sum to %d, want %d", sum, n)
	}

	list := kafkaCLI(t, 60*time.Second, nil, "kafka-consumer-groups", "--bootstrap-server", addr, "--list").Stdout
	if !containsLine(list, group) {
		t.Errorf("kafka-consumer-groups --list does not list %s:\n%s", group, list)
	}
}

func TestJavaProducerPerfTest(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("java-perf")
	harness.CreateTopic(t, addr, topic, 3, nil)

	const n = 50000
	out := kafkaCLI(t, 180*time.Second, nil, "kafka-producer-perf-test", "--topic", topic,
		"--num-records", strconv.Itoa(n), "--record-size", "100", "--throughput", "-1",
		"--producer-props", "bootstrap.servers="+addr, "acks=all", "linger.ms=5", "compression.type=lz4").Stdout
	// On a slow machine the tool prints progress lines of the same shape
	// every 5 s; only the final summary carries the percentiles.
	m := regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, [\d.]+ ms max latency, \d+ ms 50th`).FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(n) {
		t.Fatalf("kafka-producer-perf-test summary missing or wrong count:\n%s", out)
	}
	t.Logf("kafka-producer-perf-test acks=all: %s records/s, %s MB/s, %s ms avg latency", m[2], m[3], m[4])

	adm := kadm.NewClient(harness.Client(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != n {
		t.Errorf("end offsets sum to %d after perf test, want %d", sum, n)
	}
}

// cliScript is test/services/kafka-cli.sh, or $WEIR_KAFKA_CLI when set (a
// script with the same TOOL ARGS interface).
func cliScript(t *testing.T) string {
	t.Helper()
	if s := os.Getenv("WEIR_KAFKA_CLI"); s != "" {
		return s
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "test", "services", "kafka-cli.sh")
}

func containsLine(s, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}
