package compat_test

// kcat (librdkafka) against the broker under test: metadata, produce with
// every codec, consume back, keys and headers, a balanced consumer group.
// kcat comes from the Debian package (test/compat/install-kcat.sh); when it
// is missing the tests fail, they never skip.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/test/compat/harness"
)

const kcatHint = "run test/compat/install-kcat.sh (apt-get install -y kcat)"

func kcat(t *testing.T, addr string, stdin []byte, args ...string) string {
	t.Helper()
	bin := harness.RequireTool(t, "kcat", kcatHint)
	// Every kcat call is bounded; -m bounds how long a consumer waits for
	// messages before giving up on a partition.
	args = append([]string{"-b", addr, "-X", "socket.timeout.ms=20000"}, args...)
	return harness.MustExec(t, 30*time.Second, stdin, bin, args...).Stdout
}

// kcatMessage is one line of `kcat -C -J`.
type kcatMessage struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
	Headers   []string `json:"headers"`
	TS        int64    `json:"ts"`
}

func parseKcatJSON(t *testing.T, out string) []kcatMessage {
	t.Helper()
	var msgs []kcatMessage
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || !strings.HasPrefix(line, "{") {
			continue
		}
		var m kcatMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kcat -J line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func TestKcatMetadata(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("kcat-md")
	harness.CreateTopic(t, addr, topic, 3, nil)

	out := kcat(t, addr, nil, "-L", "-J", "-t", topic)
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32  `json:"partition"`
				Leader    int32  `json:"leader"`
				Error     string `json:"error"`
				Replicas  []struct {
					ID int32 `json:"id"`
				} `json:"replicas"`
				ISRs []struct {
					ID int32 `json:"id"`
				} `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J output: %v\n%s", err, out)
	}
	if len(md.Brokers) == 0 {
		t.Fatalf("kcat -L: no brokers listed:\n%s", out)
	}
	brokerIDs := map[int32]bool{}
	for _, b := range md.Brokers {
		if b.Name == "" {
			t.Errorf("broker %d has no host:port", b.ID)
		}
		brokerIDs[b.ID] = true
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != topic {
		t.Fatalf("kcat -L -t %s: want exactly that topic, got:\n%s", topic, out)
	}
	tp := md.Topics[0]
	if tp.Error != "" {
		t.Fatalf("topic error: %s", tp.Error)
	}
	if len(tp.Partitions) != 3 {
		t.Fatalf("want 3 partitions, got %d:\n%s", len(tp.Partitions), out)
	}
	for _, p := range tp.Partitions {
		if p.Error != "" || !brokerIDs[p.Leader] || len(p.Replicas) != 1 || len(p.ISRs) != 1 {
			t.Errorf("partition %d: leader %d error %q replicas %v isrs %v (brokers %v)",
				p.Partition, p.Leader, p.Error, p.Replicas, p.ISRs, brokerIDs)
		}
	}

	// Full listing (no -t) must include the topic too.
	all := kcat(t, addr, nil, "-L")
	if !strings.Contains(all, fmt.Sprintf("topic \"%s\" with 3 partitions", topic)) {
		t.Errorf("kcat -L does not list %s with 3 partitions:\n%s", topic, all)
	}
}

// codecs maps kcat's -z names to the v2 batch attribute codec bits.
var codecs = []struct {
	name string
	bits int16
}{
	{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4},
}

func TestKcatProduceConsumeCodecs(t *testing.T) {
	addr := harness.Broker(t)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := harness.Name("kcat-" + c.name)
			harness.CreateTopic(t, addr, topic, 1, nil)

			const n = 200
			var in strings.Builder
			for i := range n {
				// Repetitive payloads so every codec really compresses.
				fmt.Fprintf(&in, "key-%03d:value-%03d-%s\n", i, i, strings.Repeat(c.name, 20))
			}
			// -K : splits key from value; -X linger lets batches hold many
			// records so the codec is exercised on multi-record batches.
			kcat(t, addr, []byte(in.String()), "-P", "-t", topic, "-p", "0", "-z", c.name, "-K", ":",
				"-X", "linger.ms=50", "-X", "acks=all")

			msgs := parseKcatJSON(t, kcat(t, addr, nil, "-C", "-t", topic, "-o", "beginning", "-e", "-J"))
			if len(msgs) != n {
				t.Fatalf("consumed %d messages, produced %d", len(msgs), n)
			}
			for i, m := range msgs {
				wantK := fmt.Sprintf("key-%03d", i)
				wantV := fmt.Sprintf("value-%03d-%s", i, strings.Repeat(c.name, 20))
				if m.Offset != int64(i) || m.Key == nil || *m.Key != wantK || m.Payload == nil || *m.Payload != wantV {
					t.Fatalf("message %d: offset %d key %v payload %v; want offset %d key %q payload %q",
						i, m.Offset, deref(m.Key), deref(m.Payload), i, wantK, wantV)
				}
			}

			// The broker keeps batches as the producer compressed them.
			got := storedCodecs(t, addr, topic, 0)
			if len(got) == 0 {
				t.Fatalf("raw fetch returned no batches")
			}
			for _, bits := range got {
				if bits != c.bits {
					t.Fatalf("stored batch codec bits %d, want %d (%s); all: %v", bits, c.bits, c.name, got)
				}
			}

			// And franz-go decodes the same records.
			recs := consumeAll(t, addr, topic, n)
			for i, r := range recs {
				if string(r.Key) != fmt.Sprintf("key-%03d", i) {
					t.Fatalf("franz-go record %d key %q", i, r.Key)
				}
			}
		})
	}
}

func TestKcatIdempotentProducer(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("kcat-idem")
	harness.CreateTopic(t, addr, topic, 2, nil)
	var in strings.Builder
	const n = 500
	for i := range n {
		fmt.Fprintf(&in, "k%d:v%d\n", i, i)
	}
	kcat(t, addr, []byte(in.String()), "-P", "-t", topic, "-K", ":", "-z", "zstd",
		"-X", "enable.idempotence=true", "-X", "linger.ms=20")
	msgs := parseKcatJSON(t, kcat(t, addr, nil, "-C", "-t", topic, "-o", "beginning", "-e", "-J"))
	if len(msgs) != n {
		t.Fatalf("consumed %d, produced %d", len(msgs), n)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Key == nil || seen[*m.Key] {
			t.Fatalf("missing or duplicate key in %+v", m)
		}
		seen[*m.Key] = true
	}
}

func TestKcatKeysHeaders(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("kcat-hdr")
	harness.CreateTopic(t, addr, topic, 1, nil)

	// kcat -H applies every header to every message it produces.
	kcat(t, addr, []byte("alpha|one\nbeta|two\n|no-key-empty\n"), "-P", "-t", topic, "-p", "0",
		"-K", "|", "-H", "trace=abc-123", "-H", "dup=1", "-H", "dup=2", "-H", "empty=")

	msgs := parseKcatJSON(t, kcat(t, addr, nil, "-C", "-t", topic, "-o", "beginning", "-e", "-J"))
	if len(msgs) != 3 {
		t.Fatalf("want 3 messages, got %d", len(msgs))
	}
	wantHeaders := []string{"trace", "abc-123", "dup", "1", "dup", "2", "empty", ""}
	wantKV := [][2]string{{"alpha", "one"}, {"beta", "two"}, {"", "no-key-empty"}}
	for i, m := range msgs {
		if deref(m.Key) != wantKV[i][0] || deref(m.Payload) != wantKV[i][1] {
			t.Errorf("message %d: key %q payload %q, want %q %q", i, deref(m.Key), deref(m.Payload), wantKV[i][0], wantKV[i][1])
		}
		if !slices.Equal(m.Headers, wantHeaders) {
			t.Errorf("message %d headers %q, want %q (order and duplicates preserved)", i, m.Headers, wantHeaders)
		}
	}

	// Records from franz-go with a null key, null value and binary headers
	// read back through kcat's formatter.
	cl := harness.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Key: nil, Value: []byte("null-key"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0x00, 0xff}}}},
		&kgo.Record{Key: []byte("tombstone"), Value: nil},
	).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
	out := kcat(t, addr, nil, "-C", "-t", topic, "-o", "3", "-e", "-f", `%o|%K|%k|%S|%s|%h\n`, "-Z")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kcat -f: want 2 lines, got:\n%s", out)
	}
	// -Z prints NULL for null key/value; %K/%S are lengths (-1 for null).
	if !strings.HasPrefix(lines[0], "3|-1|NULL|8|null-key|h=") {
		t.Errorf("null-key record formatted as %q", lines[0])
	}
	if lines[1] != "4|9|tombstone|-1|NULL|" {
		t.Errorf("tombstone record formatted as %q", lines[1])
	}
}

func TestKcatConsumeOffsetsAndPartitions(t *testing.T) {
	addr := harness.Broker(t)
	topic := harness.Name("kcat-off")
	harness.CreateTopic(t, addr, topic, 3, nil)
	for p := range 3 {
		var in strings.Builder
		for i := range 10 {
			fmt.Fprintf(&in, "p%d-%d\n", p, i)
		}
		kcat(t, addr, []byte(in.String()), "-P", "-t", topic, "-p", fmt.Sprint(p))
	}
	// Absolute offset, count, relative-from-end, and a single partition.
	out := kcat(t, addr, nil, "-C", "-t", topic, "-p", "1", "-o", "4", "-c", "3", "-f", `%p:%o:%s\n`)
	if got := strings.TrimSpace(out); got != "1:4:p1-4\n1:5:p1-5\n1:6:p1-6" {
		t.Errorf("-p 1 -o 4 -c 3 got:\n%s", got)
	}
	out = kcat(t, addr, nil, "-C", "-t", topic, "-p", "2", "-o", "-2", "-e", "-f", `%p:%o:%s\n`)
	if got := strings.TrimSpace(out); got != "2:8:p2-8\n2:9:p2-9" {
		t.Errorf("-p 2 -o -2 got:\n%s", got)
	}
	all := parseKcatJSON(t, kcat(t, addr, nil, "-C", "-t", topic, "-o", "beginning", "-e", "-J"))
	if len(all) != 30 {
		t.Errorf("all partitions: got %d messages, want 30", len(all))
	}
	// Offsets for times (-Q): timestamp 0 resolves to the first offset.
	out = kcat(t, addr, nil, "-Q", "-t", fmt.Sprintf("%s:0:0", topic))
	if !strings.Contains(out, "offset 0") {
		t.Errorf("kcat -Q %s:0:0 = %q, want offset 0", topic, out)
	}
}

func TestKcatBalancedConsumerGroup(t *testing.T) {
	addr := harness.Broker(t)
	bin := harness.RequireTool(t, "kcat", kcatHint)
	topic := harness.Name("kcat-grp")
	group := harness.Name("kcat-group")
	const parts, n = 4, 200
	harness.CreateTopic(t, addr, topic, parts, nil)

	// Two balanced consumers (-G) in the same group share the partitions;
	// records are produced once both hold an assignment, so each member
	// consumes exactly its own partitions.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type member struct {
		cmd *exec.Cmd
		out *syncBuffer
		err *syncBuffer
	}
	var members []member
	for range 2 {
		m := member{out: &syncBuffer{}, err: &syncBuffer{}}
		m.cmd = exec.CommandContext(ctx, bin, "-b", addr, "-u", "-G", group,
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=10000",
			"-X", "auto.commit.interval.ms=500", "-f", `%p %o %s\n`, topic)
		m.cmd.Stdout, m.cmd.Stderr = m.out, m.err
		m.cmd.WaitDelay = 5 * time.Second
		if err := m.cmd.Start(); err != nil {
			t.Fatalf("start kcat -G: %v", err)
		}
		members = append(members, m)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for _, m := range members {
			// SIGINT: kcat closes the consumer, committing and leaving.
			_ = m.cmd.Process.Signal(interrupt)
		}
		for _, m := range members {
			_ = m.cmd.Wait()
		}
	}
	defer stop()

	adm := kadm.NewClient(harness.Client(t, addr))
	seen := func() (map[string]int, [2]map[int32]bool) {
		counts := map[string]int{}
		var perMember [2]map[int32]bool
		for i, m := range members {
			perMember[i] = map[int32]bool{}
			for _, line := range strings.Split(m.out.String(), "\n") {
				f := strings.Fields(line)
				if len(f) != 3 {
					continue
				}
				counts[f[2]]++
				var p int32
				fmt.Sscan(f[0], &p)
				perMember[i][p] = true
			}
		}
		return counts, perMember
	}
	var twoMembers, produced bool
	var lastDesc string
	for {
		if !twoMembers {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			d, err := adm.DescribeGroups(dctx, group)
			dcancel()
			if err == nil {
				if g, ok := d[group]; ok && g.Err == nil {
					assigned, minPerMember := 0, parts
					for _, m := range g.Members {
						mine := 0
						if a, ok := m.Assigned.AsConsumer(); ok {
							for _, tp := range a.Topics {
								mine += len(tp.Partitions)
							}
						}
						assigned += mine
						minPerMember = min(minPerMember, mine)
					}
					lastDesc = fmt.Sprintf("state %s, %d members, %d partitions assigned, fewest per member %d",
						g.State, len(g.Members), assigned, minPerMember)
					twoMembers = g.State == "Stable" && len(g.Members) == 2 && assigned == parts && minPerMember > 0
				}
			}
		}
		if twoMembers && !produced {
			produceSpread(t, addr, topic, parts, 0, n)
			produced = true
		}
		counts, _ := seen()
		if len(counts) == n && twoMembers {
			break
		}
		if ctx.Err() != nil {
			stop()
			t.Fatalf("balanced group: consumed %d of %d distinct records; group never showed 2 stable members sharing %d partitions (last: %s)\nmember stderr:\n%s\n---\n%s",
				len(counts), n, parts, lastDesc, members[0].err.String(), members[1].err.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	counts, perMember := seen()
	for v, c := range counts {
		// Records were produced after the group settled: with no rebalance
		// in between, each is delivered exactly once.
		if !strings.HasPrefix(v, "v-") || c != 1 {
			t.Errorf("value %q consumed %d times by the group", v, c)
		}
	}
	t.Logf("member partitions: %v / %v; %s", keys(perMember[0]), keys(perMember[1]), lastDesc)
	if len(perMember[0]) == 0 || len(perMember[1]) == 0 || len(perMember[0])+len(perMember[1]) != parts {
		t.Errorf("members consumed partitions %v and %v: want the %d partitions split between both, none shared",
			keys(perMember[0]), keys(perMember[1]), parts)
	}

	// On close kcat committed what it consumed: the group's committed
	// offsets reach each partition's end.
	actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer acancel()
	ends, err := adm.ListEndOffsets(actx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	committed, err := adm.FetchOffsets(actx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At != o.Offset {
			t.Errorf("partition %d: committed %+v, end offset %d", o.Partition, c, o.Offset)
		}
	})

	// A new member of the same group resumes after the committed offsets:
	// it sees only records produced afterwards.
	produceSpread(t, addr, topic, parts, n, 20)
	out := harness.MustExec(t, 60*time.Second, nil, bin, "-b", addr, "-G", group, "-e",
		"-X", "auto.offset.reset=earliest", "-f", `%p %o %s\n`, topic).Stdout
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			got = append(got, f[2])
		}
	}
	slices.Sort(got)
	var want []string
	for i := n; i < n+20; i++ {
		want = append(want, fmt.Sprintf("v-%05d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("resumed group member consumed %d records %v, want exactly the 20 new ones", len(got), got)
	}
}

// produceSpread produces count records v-<i> (i from start) round-robin
// over parts partitions with franz-go.
func produceSpread(t *testing.T, addr, topic string, parts, start, count int) {
	t.Helper()
	cl := harness.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := start; i < start+count; i++ {
		recs = append(recs, &kgo.Record{Partition: int32(i % parts), Value: fmt.Appendf(nil, "v-%05d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
}

// consumeAll reads n records of topic from the start with franz-go.
func consumeAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := harness.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go consumed %d of %d records before timeout", len(recs), n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// storedCodecs fetches partition raw and returns each batch's codec bits.
func storedCodecs(t *testing.T, addr, topic string, partition int32) []int16 {
	t.Helper()
	cl := harness.Client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 {
		t.Fatalf("metadata for %s: %v", topic, err)
	}
	var leader int32 = -1
	for _, p := range mresp.Topics[0].Partitions {
		if p.Partition == partition {
			leader = p.Leader
		}
	}

	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 100
	req.MaxBytes = 10 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = mresp.Topics[0].TopicID // used from fetch v13 on
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = partition
	fp.PartitionMaxBytes = 10 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("raw fetch response: error %d, %d topics", fr.ErrorCode, len(fr.Topics))
	}
	fpr := fr.Topics[0].Partitions[0]
	if fpr.ErrorCode != 0 {
		t.Fatalf("raw fetch partition error %d", fpr.ErrorCode)
	}
	var bits []int16
	b := fpr.RecordBatches
	for len(b) >= 61 {
		length := int(int32(uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])))
		if 12+length > len(b) {
			break // a partial trailing batch is allowed
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:12+length]); err != nil {
			t.Fatalf("decode stored batch: %v", err)
		}
		if rb.Magic != 2 {
			t.Fatalf("stored batch magic %d, want 2", rb.Magic)
		}
		if crc := crc32.Checksum(b[21:12+length], crc32.MakeTable(crc32.Castagnoli)); crc != uint32(rb.CRC) {
			t.Fatalf("stored batch at offset %d: CRC-32C %08x, header says %08x", rb.FirstOffset, crc, uint32(rb.CRC))
		}
		bits = append(bits, rb.Attributes&0x07)
		b = b[12+length:]
	}
	return bits
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func keys(m map[int32]bool) []int32 {
	var ks []int32
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
