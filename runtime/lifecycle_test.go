package runtime

import (
	"context"
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

type blockingStartConnector struct{ cfg plugins.Config }

func (c *blockingStartConnector) ConfigDef() *plugins.ConfigDef { return testDef }
func (c *blockingStartConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	c.cfg = cfg
	return nil
}
func (c *blockingStartConnector) TaskConfigs(int) ([]plugins.Config, error) {
	return []plugins.Config{c.cfg}, nil
}
func (c *blockingStartConnector) Stop() error     { return nil }
func (c *blockingStartConnector) Version() string { return "test" }
func (c *blockingStartConnector) NewTask() plugins.SourceTask {
	return blockingCurrent.Load()
}

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
		New: func() any { return &blockingStartConnector{} }})
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
