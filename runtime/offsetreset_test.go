package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
)

// rewindSink (class io.weir.test.RewindSink) records, per partition, the
// offsets Put took. When partition 0 first brings the record at offset
// "rewind.at", its Put asks for partition 0 to go back to "rewind.to"
// (and for a partition it does not own, which must be ignored) and fails
// retriably without taking the batch: the runtime must redeliver the
// batch without partition 0's records and then bring partition 0 again
// from rewind.to.
type rewindSink struct{ cfg plugins.Config }

func (s *rewindSink) ConfigDef() *plugins.ConfigDef { return plugins.NewConfigDef() }
func (s *rewindSink) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	s.cfg = cfg
	return nil
}
func (s *rewindSink) TaskConfigs(int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(s.cfg, 1), nil
}
func (s *rewindSink) Stop() error               { return nil }
func (s *rewindSink) Version() string           { return "test" }
func (s *rewindSink) NewTask() plugins.SinkTask { return &rewindSinkTask{} }

type rewindLog struct {
	mu sync.Mutex
	// before and after are partition 0's offsets taken before and after
	// the reset; other holds the other partitions'.
	before, after []int64
	other         map[int32][]int64
	rewound       bool
	// curAtReset is the current offset PreCommit first saw for
	// partition 0 after the reset (-1: no PreCommit yet).
	curAtReset int64
}

var rewindLogs sync.Map // connector name -> *rewindLog

type rewindSinkTask struct {
	tctx   plugins.SinkTaskContext
	at, to int64
	log    *rewindLog
	topic  string
	openTo int64
}

func (t *rewindSinkTask) Start(tctx plugins.SinkTaskContext, cfg plugins.Config) error {
	t.tctx, t.topic = tctx, cfg["topics"]
	if _, err := fmt.Sscan(cfg["rewind.at"], &t.at); err != nil {
		return err
	}
	if _, err := fmt.Sscan(cfg["rewind.to"], &t.to); err != nil {
		return err
	}
	t.openTo = -1
	if v := cfg["open.to"]; v != "" {
		if _, err := fmt.Sscan(v, &t.openTo); err != nil {
			return err
		}
	}
	v, _ := rewindLogs.LoadOrStore(cfg["name"], &rewindLog{other: map[int32][]int64{}, curAtReset: -1})
	t.log = v.(*rewindLog)
	return nil
}

func (t *rewindSinkTask) Put(_ context.Context, recs []plugins.Record) error {
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
	if !t.log.rewound {
		for _, r := range recs {
			if r.Partition == 0 && r.Offset == t.at {
				t.log.rewound = true
				t.tctx.Offset(map[plugins.TopicPartition]int64{
					{Topic: t.topic, Partition: 0}:        t.to,
					{Topic: "not-assigned", Partition: 0}: 0,
				})
				return &plugins.Retriable{Err: errors.New("rewinding partition 0")}
			}
		}
	}
	for _, r := range recs {
		switch {
		case r.Partition != 0:
			t.log.other[r.Partition] = append(t.log.other[r.Partition], r.Offset)
		case t.log.rewound:
			t.log.after = append(t.log.after, r.Offset)
		default:
			t.log.before = append(t.log.before, r.Offset)
		}
	}
	return nil
}

// Open with "open.to" set resets partition 0 there at once, as a sink
// that recovers its position from the external system does.
func (t *rewindSinkTask) Open(tps []plugins.TopicPartition) error {
	if t.openTo >= 0 {
		t.tctx.Offset(map[plugins.TopicPartition]int64{{Topic: t.topic, Partition: 0}: t.openTo})
	}
	return nil
}
func (t *rewindSinkTask) Close([]plugins.TopicPartition) error { return nil }
func (t *rewindSinkTask) Stop() error                          { return nil }
func (t *rewindSinkTask) PreCommit(_ context.Context, cur map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
	if o, ok := cur[plugins.TopicPartition{Topic: t.topic, Partition: 0}]; ok && t.log.rewound && t.log.curAtReset < 0 {
		t.log.curAtReset = o
	}
	return cur, nil
}

func init() {
	plugins.Register(plugins.Registration{Class: "io.weir.test.RewindSink", Type: plugins.PluginSink, New: func() any { return &rewindSink{} }})
}

func seq(from, to int64) []int64 {
	var s []int64
	for o := from; o < to; o++ {
		s = append(s, o)
	}
	return s
}

// TestSinkOffsetRewind: a task that resets partition 0 from its Put (the
// reset asked for during Put is applied before the next Put) gets the
// partition's records again from the reset offset, each once and in
// order, and none of the old position after the reset: neither of the
// batch in hand (redelivered after the retriable error without them) nor
// of what the consumer had fetched ahead (max.poll.records is small). The
// other partition goes on, every record once; the reset of a partition
// not assigned is ignored; the group's offsets reach the end through
// PreCommit, whose current offset of partition 0 was the reset one or
// later.
func TestSinkOffsetRewind(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	in := c.topic("rewind-in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, in); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var recs []*kgo.Record
	for p := range int32(2) {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: in, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const name = "rewind"
	rewindLogs.Delete(name)
	expectCode(t, call(t, "PUT", w.url+"/connectors/"+name+"/config", map[string]any{
		"connector.class": "io.weir.test.RewindSink", "topics": in,
		"rewind.at": "25", "rewind.to": "7",
		"consumer.override.max.poll.records": "6",
		"key.converter":                      "org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter":                    "org.apache.kafka.connect.converters.ByteArrayConverter",
	}), http.StatusCreated, "create "+name)
	var l *rewindLog
	eventually(t, 30*time.Second, "every record after the rewind", func() (bool, string) {
		v, ok := rewindLogs.Load(name)
		if !ok {
			return false, "no task"
		}
		l = v.(*rewindLog)
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.after) >= n-7 && len(l.other[1]) >= n, fmt.Sprintf("after %d, partition 1 %d", len(l.after), len(l.other[1]))
	})
	// Let anything delivered twice show up.
	time.Sleep(time.Second)
	l.mu.Lock()
	before, after, other := slices.Clone(l.before), slices.Clone(l.after), slices.Clone(l.other[1])
	l.mu.Unlock()
	if !slices.Equal(before, seq(0, int64(len(before)))) || len(before) > 25 {
		t.Errorf("partition 0 before the rewind %v, want 0.. up to at most 24", before)
	}
	if !slices.Equal(after, seq(7, n)) {
		t.Errorf("partition 0 after the rewind %v, want 7..%d once each", after, n-1)
	}
	if !slices.Equal(other, seq(0, n)) {
		t.Errorf("partition 1 %v, want 0..%d once each", other, n-1)
	}
	adm := kadm.NewClient(cl)
	eventually(t, 30*time.Second, "committed offsets at the end", func() (bool, string) {
		offs, err := adm.FetchOffsets(ctx, sinkGroup(name))
		if err != nil {
			return false, err.Error()
		}
		o0, _ := offs.Lookup(in, 0)
		o1, _ := offs.Lookup(in, 1)
		return o0.At == n && o1.At == n, fmt.Sprintf("%d %d", o0.At, o1.At)
	})
	l.mu.Lock()
	cur := l.curAtReset
	l.mu.Unlock()
	if cur < 7 {
		t.Errorf("PreCommit saw partition 0 at %d after the reset, want 7 or later", cur)
	}
	if st := connectorStatus(t, w.url, name); len(st.Tasks) != 1 || st.Tasks[0].State != "RUNNING" {
		t.Errorf("status %+v, want one running task", st)
	}
}

// TestSinkOffsetResetInOpen: a reset asked for in Open (a rebalance
// callback) is applied before the partition's first records are
// delivered: partition 0 starts at the reset offset, partition 1 at the
// committed (none: the start).
func TestSinkOffsetResetInOpen(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	in := c.topic("reset-open-in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, in); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var recs []*kgo.Record
	for p := range int32(2) {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: in, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const name = "reset-open"
	rewindLogs.Delete(name)
	expectCode(t, call(t, "PUT", w.url+"/connectors/"+name+"/config", map[string]any{
		"connector.class": "io.weir.test.RewindSink", "topics": in,
		"rewind.at": "-1", "rewind.to": "0", "open.to": "30",
		"key.converter":   "org.apache.kafka.connect.converters.ByteArrayConverter",
		"value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
	}), http.StatusCreated, "create "+name)
	var l *rewindLog
	eventually(t, 30*time.Second, "the records", func() (bool, string) {
		v, ok := rewindLogs.Load(name)
		if !ok {
			return false, "no task"
		}
		l = v.(*rewindLog)
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.before) >= n-30 && len(l.other[1]) >= n, fmt.Sprintf("partition 0 %d, partition 1 %d", len(l.before), len(l.other[1]))
	})
	time.Sleep(time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Equal(l.before, seq(30, n)) {
		t.Errorf("partition 0 %v, want 30..%d once each", l.before, n-1)
	}
	if !slices.Equal(l.other[1], seq(0, n)) {
		t.Errorf("partition 1 %v, want 0..%d once each", l.other[1], n-1)
	}
}
