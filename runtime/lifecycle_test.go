package runtime

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// blockingStart is a source task whose Start blocks until its test
// releases it. It records any call of Stop that overlaps Start, and keeps
// plain (unsynchronised) state that Start writes and Stop reads, so that
// the race detector sees an overlap too.
type blockingStart struct {
	entered  chan struct{} // closed when Start begins
	release  chan struct{} // Start returns once this is closed
	inStart  atomic.Bool
	overlaps atomic.Int64
	stops    atomic.Int64
	polls    atomic.Int64
	state    string
	stopped  chan struct{}
}

// blockingCurrent is the task the next BlockingStartSource task is (the
// runtime creates tasks from a fresh connector instance, so it cannot be
// looked up by connector config).
var blockingCurrent atomic.Pointer[blockingStart]

func (b *blockingStart) Start(plugins.SourceTaskContext, plugins.Config) error {
	b.inStart.Store(true)
	close(b.entered)
	<-b.release
	b.state = "started"
	b.inStart.Store(false)
	return nil
}

func (b *blockingStart) Poll(ctx context.Context) ([]plugins.Record, error) {
	b.polls.Add(1)
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
	return nil, nil
}

func (b *blockingStart) CommitRecord(*plugins.Record) error { return nil }
func (b *blockingStart) Commit() error                      { return nil }

func (b *blockingStart) Stop() error {
	if b.inStart.Load() {
		b.overlaps.Add(1)
	}
	_ = b.state // what a real task releases was set up by Start
	if b.stops.Add(1) == 1 {
		close(b.stopped)
	}
	return nil
}

func init() {
	plugins.Register(plugins.Registration{Class: "io.weir.test.BlockingStartSource", Type: plugins.PluginSource,
		New: func() any {
			return &oneTaskSource{newTask: func() plugins.SourceTask { return blockingCurrent.Load() }}
		}})
}

// TestSourceStopNeverOverlapsStart: a connector deleted or stopped while
// its task's Start is still running gets the task's Stop exactly once, after
// Start returned, and the task never polls (Kafka's WorkerSourceTask: a
// stop requested before start() finished is carried out by the task thread
// once start() returns).
func TestSourceStopNeverOverlapsStart(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	for _, how := range []string{"delete", "stop"} {
		t.Run(how, func(t *testing.T) {
			name := "blocking-" + how
			b := &blockingStart{entered: make(chan struct{}), release: make(chan struct{}), stopped: make(chan struct{})}
			blockingCurrent.Store(b)
			r := call(t, "PUT", w.url+"/connectors/"+name+"/config", map[string]any{
				"connector.class": "io.weir.test.BlockingStartSource", "tasks.max": "1", "topic": c.topic(name),
			})
			expectCode(t, r, http.StatusCreated, "create")
			select {
			case <-b.entered:
			case <-time.After(60 * time.Second):
				t.Fatal("task Start was never called")
			}
			if how == "delete" {
				r = call(t, "DELETE", w.url+"/connectors/"+name, nil)
				expectCode(t, r, http.StatusNoContent, "delete")
			} else {
				r = call(t, "PUT", w.url+"/connectors/"+name+"/stop", nil)
				expectCode(t, r, http.StatusNoContent, "stop")
			}
			// Give the herder time to act on the request while Start
			// still blocks: on the old code it called Stop right away.
			time.Sleep(500 * time.Millisecond)
			if n := b.overlaps.Load(); n != 0 {
				close(b.release)
				t.Fatalf("Stop was called %d times while Start was still running", n)
			}
			close(b.release)
			select {
			case <-b.stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("Stop was never called after Start returned")
			}
			// A second Stop (e.g. herder and task goroutine both) would
			// show up shortly after the first.
			time.Sleep(300 * time.Millisecond)
			if n := b.stops.Load(); n != 1 {
				t.Fatalf("Stop called %d times, want 1", n)
			}
			if n := b.overlaps.Load(); n != 0 {
				t.Fatalf("Stop overlapped Start %d times", n)
			}
			if n := b.polls.Load(); n != 0 {
				t.Fatalf("Poll called %d times after a stop requested during Start", n)
			}
		})
	}
}

// slowStop is a source task that emits a few records once, then polls
// until it is stopped and takes a while to return from that last Poll, as
// a task finishing a database read does.
type slowStop struct {
	topic string
	sent  bool
}

const slowStopRecords = 5

func (s *slowStop) Start(_ plugins.SourceTaskContext, cfg plugins.Config) error {
	s.topic = cfg["topic"]
	return nil
}
func (s *slowStop) Poll(ctx context.Context) ([]plugins.Record, error) {
	if !s.sent {
		s.sent = true
		recs := make([]plugins.Record, slowStopRecords)
		for i := range recs {
			recs[i] = plugins.Record{
				Topic:           s.topic,
				SourcePartition: map[string]any{"p": "slow"},
				SourceOffset:    map[string]any{"n": i},
				Value:           []byte{byte('a' + i)},
			}
		}
		return recs, nil
	}
	<-ctx.Done()
	time.Sleep(700 * time.Millisecond)
	return nil, nil
}
func (s *slowStop) CommitRecord(*plugins.Record) error { return nil }
func (s *slowStop) Commit() error                      { return nil }
func (s *slowStop) Stop() error                        { return nil }

func init() {
	plugins.Register(plugins.Registration{Class: "io.weir.test.SlowStopSource", Type: plugins.PluginSource,
		New: func() any {
			return &oneTaskSource{newTask: func() plugins.SourceTask { return &slowStop{} }}
		}})
}

// TestStoppedMeansOffsetsWritten: once a stopped source connector shows
// STOPPED with no tasks, GET offsets returns the offset of the last record
// its task delivered. The task's only commit is its final one (the flush
// interval is an hour), and it ends slowly; the herder used to publish
// STOPPED and the empty task list before stopping the task, so a client
// that waited for STOPPED read offsets without that commit and PATCHed
// back to an earlier position (seen in the JDBC kit's Lifecycle).
func TestStoppedMeansOffsetsWritten(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, func(cfg *Config) { cfg.OffsetFlushInterval = time.Hour })
	name := "slow-stop"
	topic := c.topic(name)
	r := call(t, "PUT", w.url+"/connectors/"+name+"/config", map[string]any{
		"connector.class": "io.weir.test.SlowStopSource", "tasks.max": "1", "topic": topic,
	})
	expectCode(t, r, http.StatusCreated, "create")
	eventually(t, 30*time.Second, "task RUNNING", func() (bool, string) {
		var st connectorStateInfo
		call(t, "GET", w.url+"/connectors/"+name+"/status", nil).json(t, &st)
		return len(st.Tasks) == 1 && st.Tasks[0].State == stateRunning, fmt.Sprintf("%+v", st)
	})
	time.Sleep(300 * time.Millisecond) // the first Poll's records are sent
	expectCode(t, call(t, "PUT", w.url+"/connectors/"+name+"/stop", nil), http.StatusNoContent, "stop")
	eventually(t, 30*time.Second, "STOPPED with no tasks", func() (bool, string) {
		var st connectorStateInfo
		call(t, "GET", w.url+"/connectors/"+name+"/status", nil).json(t, &st)
		return st.Connector.State == stateStopped && len(st.Tasks) == 0, fmt.Sprintf("%+v", st)
	})
	r = call(t, "GET", w.url+"/connectors/"+name+"/offsets", nil)
	expectCode(t, r, http.StatusOK, "get offsets")
	var got connectorOffsets
	r.json(t, &got)
	want := fmt.Sprint(slowStopRecords - 1)
	if len(got.Offsets) != 1 || fmt.Sprint(got.Offsets[0].Offset["n"]) != want {
		t.Fatalf("offsets right after STOPPED = %s, want the last record's {\"n\":%s}", r.body, want)
	}
}
