package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runCLI runs one weir command in-process against addr, with a fresh
// command tree so no flag value leaks from one invocation to the next.
func runCLI(t *testing.T, addr, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "weir", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newTopicCmd(), newProduceCmd(), newConsumeCmd(), newGroupCmd(), newBenchCmd())
	var out, errb bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append(args, "--bootstrap-server", addr))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// mustCLI is runCLI that fails the test on error.
func mustCLI(t *testing.T, addr, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, addr, stdin, args...)
	if err != nil {
		t.Fatalf("weir %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// uniqueName keeps tests independent when run against a shared cluster
// (WEIR_TEST_BOOTSTRAP_SERVER).
func uniqueName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

// tableRow finds the first line of out whose whitespace-separated fields
// start with prefix.
func tableRow(out string, prefix ...string) []string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(prefix) && slicesEqual(f[:len(prefix)], prefix) {
			return f
		}
	}
	return nil
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTopicLifecycle(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "orders")

	out := mustCLI(t, addr, "", "topic", "create", topic, "--partitions", "3", "--config", "retention.ms=3600000")
	if !strings.Contains(out, "Created topic "+topic) || !strings.Contains(out, "partitions: 3") {
		t.Fatalf("create output: %q", out)
	}
	_, _, err := runCLI(t, addr, "", "topic", "create", topic)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create: err = %v, want 'already exists'", err)
	}
	mustCLI(t, addr, "", "topic", "create", topic, "--if-not-exists")

	out = mustCLI(t, addr, "", "topic", "list")
	if row := tableRow(out, topic); row == nil || row[1] != "3" || row[2] != "1" {
		t.Fatalf("list: want row %q 3 1, got:\n%s", topic, out)
	}

	out = mustCLI(t, addr, "", "topic", "describe", topic)
	if !strings.Contains(out, "Partitions: 3") || tableRow(out, "retention.ms", "3600000") == nil {
		t.Fatalf("describe:\n%s", out)
	}
	for p := 0; p < 3; p++ {
		if tableRow(out, strconv.Itoa(p)) == nil {
			t.Fatalf("describe: no row for partition %d:\n%s", p, out)
		}
	}

	mustCLI(t, addr, "", "topic", "alter", topic, "--partitions", "5", "--config", "retention.ms=7200000",
		"--config", "cleanup.policy=compact")
	out = mustCLI(t, addr, "", "topic", "describe", topic)
	if !strings.Contains(out, "Partitions: 5") || tableRow(out, "retention.ms", "7200000") == nil ||
		tableRow(out, "cleanup.policy", "compact") == nil {
		t.Fatalf("describe after alter:\n%s", out)
	}
	mustCLI(t, addr, "", "topic", "alter", topic, "--delete-config", "cleanup.policy")
	out = mustCLI(t, addr, "", "topic", "describe", topic)
	if tableRow(out, "cleanup.policy", "compact") != nil {
		t.Fatalf("cleanup.policy still set after --delete-config:\n%s", out)
	}
	if _, _, err := runCLI(t, addr, "", "topic", "alter", topic, "--partitions", "2"); err == nil {
		t.Fatal("shrinking partitions succeeded; want an error")
	}

	out = mustCLI(t, addr, "", "topic", "delete", topic)
	if !strings.Contains(out, "Deleted topic "+topic) {
		t.Fatalf("delete output: %q", out)
	}
	deadline := time.Now().Add(10 * time.Second) // deletion may be asynchronous
	for tableRow(mustCLI(t, addr, "", "topic", "list"), topic) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s still listed after delete", topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := runCLI(t, addr, "", "topic", "describe", topic); err == nil || !strings.Contains(err.Error(), "no such topic") {
		t.Fatalf("describe deleted topic: err = %v, want 'no such topic'", err)
	}
	mustCLI(t, addr, "", "topic", "delete", topic, "--if-exists")
}

func TestProduceConsumeFormats(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "events")
	mustCLI(t, addr, "", "topic", "create", topic, "--partitions", "1")

	before := time.Now().Add(-time.Second)
	_, errOut, err := runCLI(t, addr, "k1:v1\nk2:v2:with:colons\nk3:v3\n",
		"produce", topic, "--key-separator", ":", "--header", "src=cli", "-H", "n=1")
	if err != nil {
		t.Fatalf("produce: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "produced 3 records") {
		t.Fatalf("produce summary on stderr: %q", errOut)
	}
	after := time.Now().Add(time.Second)

	consume := func(extra ...string) string {
		return mustCLI(t, addr, "", append([]string{"consume", topic, "--idle-timeout", "10s"}, extra...)...)
	}

	if got, want := consume("--from-beginning", "-n", "3"), "v1\nv2:with:colons\nv3\n"; got != want {
		t.Errorf("text: got %q, want %q", got, want)
	}

	out := consume("--from-beginning", "-n", "3", "--format", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("json: want 3 lines, got %q", out)
	}
	for i, line := range lines {
		var j jsonRecord
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("json line %d %q: %v", i, line, err)
		}
		wantKey := fmt.Sprintf("k%d", i+1)
		if j.Topic != topic || j.Partition != 0 || j.Offset != int64(i) || j.Key == nil || *j.Key != wantKey ||
			j.Value == nil || !strings.HasPrefix(*j.Value, fmt.Sprintf("v%d", i+1)) ||
			j.Headers["src"] != "cli" || j.Headers["n"] != "1" {
			t.Errorf("json line %d: %+v", i, j)
		}
		if ts := time.UnixMilli(j.Timestamp); ts.Before(before) || ts.After(after) {
			t.Errorf("json line %d: timestamp %v not between %v and %v", i, ts, before, after)
		}
	}

	out = consume("--from-beginning", "-n", "3", "--format", `%k=%v p%p o%o [%h] %K/%V %t`)
	want := fmt.Sprintf("k1=v1 p0 o0 [src=cli,n=1] 2/2 %s\nk2=v2:with:colons p0 o1 [src=cli,n=1] 2/14 %[1]s\nk3=v3 p0 o2 [src=cli,n=1] 2/2 %[1]s\n", topic)
	if out != want {
		t.Errorf("template: got\n%q\nwant\n%q", out, want)
	}

	out = consume("--from-beginning", "-n", "1", "--format", "%T|%d")
	ms, rfc, ok := strings.Cut(strings.TrimSpace(out), "|")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		t.Fatalf("%%T|%%d: %q", out)
	}
	if ts, err := time.Parse(time.RFC3339Nano, rfc); err != nil || ts.UnixMilli() != n {
		t.Errorf("%%d %q does not match %%T %d (%v)", rfc, n, err)
	}

	if got, want := consume("--offset", "1", "-n", "2"), "v2:with:colons\nv3\n"; got != want {
		t.Errorf("--offset 1: got %q, want %q", got, want)
	}
	if got, want := consume("--offset", "-1", "-n", "1"), "v3\n"; got != want {
		t.Errorf("--offset -1: got %q, want %q", got, want)
	}
	if got, want := consume("--partition", "0", "--from-time", before.UTC().Format(time.RFC3339), "-n", "3"),
		"v1\nv2:with:colons\nv3\n"; got != want {
		t.Errorf("--from-time: got %q, want %q", got, want)
	}
	// Nothing after the last record: the idle timeout ends the command.
	out, errOut, err = runCLI(t, addr, "", "consume", topic, "--offset", "3", "-n", "1", "--idle-timeout", "500ms")
	if err != nil || out != "" || !strings.Contains(errOut, "nothing new") {
		t.Errorf("idle timeout: err=%v out=%q stderr=%q", err, out, errOut)
	}

	// Unkeyed lines, an explicit partition, and a missing separator.
	mustCLI(t, addr, "plain\n", "produce", topic, "--partition", "0", "--acks", "1", "--compression", "zstd", "-q")
	if got := consume("--offset", "3", "-n", "1", "-f", "%K %v"); got != "0 plain\n" {
		t.Errorf("unkeyed record: got %q", got)
	}
	if _, _, err := runCLI(t, addr, "a:b\nnosep\n", "produce", topic, "--key-separator", ":", "-q"); err == nil ||
		!strings.Contains(err.Error(), "line 2") {
		t.Errorf("missing separator: err = %v, want one naming line 2", err)
	}
	if _, _, err := runCLI(t, addr, "", "consume", topic, "--partition", "1", "-n", "1"); err == nil ||
		!strings.Contains(err.Error(), "no partition 1") {
		t.Errorf("consume missing partition: err = %v", err)
	}
	if _, _, err := runCLI(t, addr, "", "consume", topic+"-missing", "-n", "1"); err == nil ||
		!strings.Contains(err.Error(), "no such topic") {
		t.Errorf("consume missing topic: err = %v", err)
	}
}

func TestGroupDescribeResetDelete(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "billing")
	group := uniqueName(t, "grp")
	mustCLI(t, addr, "", "topic", "create", topic, "--partitions", "1")
	mustCLI(t, addr, "a\nb\nc\nd\ne\n", "produce", topic, "-q")

	if got := mustCLI(t, addr, "", "consume", topic, "--group", group, "--from-beginning", "-n", "3",
		"--idle-timeout", "20s"); got != "a\nb\nc\n" {
		t.Fatalf("group consume: %q", got)
	}
	if row := tableRow(mustCLI(t, addr, "", "group", "list"), group); row == nil {
		t.Fatalf("group %s not listed", group)
	}
	describe := func() []string {
		t.Helper()
		out := mustCLI(t, addr, "", "group", "describe", group)
		row := tableRow(out, topic, "0")
		if row == nil {
			t.Fatalf("describe: no row for %s 0:\n%s", topic, out)
		}
		return row // TOPIC PARTITION CURRENT END LAG ...
	}
	if row := describe(); row[2] != "3" || row[3] != "5" || row[4] != "2" {
		t.Fatalf("describe after consuming 3 of 5: %v", row)
	}

	out := mustCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	if row := tableRow(out, topic, "0"); row == nil || row[2] != "3" || row[3] != "0" || !strings.Contains(out, "Dry run") {
		t.Fatalf("dry run:\n%s", out)
	}
	if row := describe(); row[2] != "3" {
		t.Fatalf("dry run changed the offset: %v", row)
	}
	mustCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute")
	if row := describe(); row[2] != "0" || row[4] != "5" {
		t.Fatalf("after --to-earliest: %v", row)
	}
	mustCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic+":0", "--to-offset", "99", "--execute")
	if row := describe(); row[2] != "5" {
		t.Fatalf("--to-offset 99 should clamp to the end (5): %v", row)
	}
	mustCLI(t, addr, "", "group", "reset-offsets", group, "--all-topics", "--shift-by", "-2", "--execute")
	if row := describe(); row[2] != "3" {
		t.Fatalf("after --shift-by -2: %v", row)
	}
	mustCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-latest", "--execute")
	if row := describe(); row[2] != "5" || row[4] != "0" {
		t.Fatalf("after --to-latest: %v", row)
	}
	mustCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-datetime", "2000-01-01T00:00:00Z", "--execute")
	if row := describe(); row[2] != "0" {
		t.Fatalf("after --to-datetime 2000: %v", row)
	}
	// The group resumes where the reset put it.
	mustCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic, "--to-offset", "4", "--execute")
	if got := mustCLI(t, addr, "", "consume", topic, "--group", group, "-n", "1", "--idle-timeout", "20s"); got != "e\n" {
		t.Fatalf("consume after reset to 4: %q", got)
	}

	if _, _, err := runCLI(t, addr, "", "group", "reset-offsets", group, "--topic", topic); err == nil {
		t.Error("reset-offsets without a --to-* flag succeeded")
	}
	out = mustCLI(t, addr, "", "group", "delete", group)
	if !strings.Contains(out, "Deleted group "+group) {
		t.Fatalf("delete: %q", out)
	}
	if row := tableRow(mustCLI(t, addr, "", "group", "list"), group); row != nil {
		t.Fatalf("group still listed after delete: %v", row)
	}
}

func TestBenchProduceConsume(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "bench")
	out := mustCLI(t, addr, "", "bench", "produce", "--topic", topic, "--records", "2000", "--record-size", "100",
		"--producers", "2", "--partitions", "2", "--json")
	var p benchResult
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("produce json %q: %v", out, err)
	}
	if p.Records != 2000 || p.Errors != 0 || p.Bytes != 200_000 || p.LatencyMs == nil || p.LatencyMs.P99 <= 0 ||
		p.LatencyMs.P50 > p.LatencyMs.P99 || p.LatencyMs.P99 > p.LatencyMs.Max {
		t.Fatalf("produce result: %+v %+v", p, p.LatencyMs)
	}
	out = mustCLI(t, addr, "", "bench", "produce", "--topic", topic, "--records", "200", "--record-size", "100", "--throughput", "1000")
	if !regexp.MustCompile(`^200 records sent, [\d.]+ records/sec .* 99th`).MatchString(out) {
		t.Fatalf("produce text: %q", out)
	}
	var c benchResult
	out = mustCLI(t, addr, "", "bench", "consume", "--topic", topic, "--records", "2200", "--json")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("consume json %q: %v", out, err)
	}
	if c.Records != 2200 || c.Bytes != 220_000 || c.RecordsPerSec <= 0 {
		t.Fatalf("consume result: %+v", c)
	}
}

func TestUnreachableBrokerSaysWhatToDo(t *testing.T) {
	for _, args := range [][]string{{"topic", "list"}, {"produce", "t"}, {"consume", "t"}, {"group", "list"}} {
		_, _, err := runCLI(t, "127.0.0.1:1", "x\n", args...)
		if err == nil || !strings.Contains(err.Error(), "cannot reach 127.0.0.1:1") || !strings.Contains(err.Error(), "weir serve") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	r := &kgo.Record{
		Topic: "t", Partition: 2, Offset: 42, Timestamp: time.UnixMilli(1700000000123).UTC(),
		Key: []byte("k"), Value: []byte("value"),
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
	}
	for _, tc := range []struct{ format, want string }{
		{"text", "value"},
		{"%k %v %p %o %T", "k value 2 42 1700000000123"},
		{"%t[%p]@%o %h", "t[2]@42 a=1,b=2"},
		{"%K/%V 100%%", "1/5 100%"},
		{`%k\t%v\n`, "k\tvalue\n"},
		{"%d", "2023-11-14T22:13:20.123Z"},
		{"json", `{"topic":"t","partition":2,"offset":42,"timestamp":1700000000123,"key":"k","value":"value","headers":{"a":"1","b":"2"}}`},
	} {
		f, err := parseFormat(tc.format)
		if err != nil {
			t.Errorf("%q: %v", tc.format, err)
			continue
		}
		if got := string(f(nil, r)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.format, got, tc.want)
		}
	}
	bin := &kgo.Record{Value: []byte{0xff, 0x00}}
	f, _ := parseFormat("json")
	if got := string(f(nil, bin)); !strings.Contains(got, `"key":null`) || !strings.Contains(got, `"value_base64":"/wA="`) {
		t.Errorf("binary json: %s", got)
	}
	for _, bad := range []string{"%x", "abc", "%"} {
		if _, err := parseFormat(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	lat := make([]uint32, 1000)
	for i := range lat {
		lat[i] = uint32(1000 - i) // 1..1000 µs, reversed
	}
	s := percentiles(lat)
	want := latencyStats{Avg: 0.5005, P50: 0.5, P95: 0.95, P99: 0.99, P999: 0.999, Max: 1}
	if *s != want {
		t.Fatalf("got %+v, want %+v", *s, want)
	}
	if z := percentiles(nil); *z != (latencyStats{}) {
		t.Fatalf("empty: %+v", *z)
	}
}

func TestParseHelpers(t *testing.T) {
	for in, want := range map[string]int64{
		"1700000000123":             1700000000123,
		"2023-11-14T22:13:20.123Z":  1700000000123,
		"2023-11-14T23:13:20+01:00": 1700000000000,
		"2023-11-14T22:13:20":       1700000000000,
	} {
		got, err := parseTime(in)
		if err != nil || got.UnixMilli() != want {
			t.Errorf("parseTime(%q) = %v, %v; want %d", in, got.UnixMilli(), err, want)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("parseTime(yesterday): want an error")
	}
	kvs, err := parseKVs("config", []string{"a=1", "b=x=y", "c="})
	if err != nil || len(kvs) != 3 || kvs[1] != [2]string{"b", "x=y"} || kvs[2] != [2]string{"c", ""} {
		t.Errorf("parseKVs: %v %v", kvs, err)
	}
	if _, err := parseKVs("config", []string{"novalue"}); err == nil {
		t.Error("parseKVs(novalue): want an error")
	}
}
