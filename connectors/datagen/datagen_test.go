package datagen

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

func init() { idleWait = 10 * time.Millisecond }

type offsets map[int64]map[string]any

func (o offsets) Offset(p map[string]any) (map[string]any, error) {
	return o[p[TaskField].(int64)], nil
}

type taskCtx struct{ o offsets }

func (c taskCtx) Offsets() plugins.OffsetReader { return c.o }

func tasks(t *testing.T, cfg plugins.Config, maxTasks int) []plugins.Config {
	t.Helper()
	c, err := plugins.Default.NewSourceConnector("datagen")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(nil, cfg); err != nil {
		t.Fatal(err)
	}
	tcs, err := c.TaskConfigs(maxTasks)
	if err != nil {
		t.Fatal(err)
	}
	return tcs
}

func start(t *testing.T, cfg plugins.Config, o offsets) *Task {
	t.Helper()
	task := &Task{}
	if err := task.Start(taskCtx{o}, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

func drain(t *testing.T, task *Task, polls int) []plugins.Record {
	t.Helper()
	var all []plugins.Record
	for range polls {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

func TestQuickstartsProduceValidRecords(t *testing.T) {
	for _, qs := range []string{"users", "pageviews", "orders"} {
		t.Run(qs, func(t *testing.T) {
			cfg := tasks(t, plugins.Config{"topic": "t", "quickstart": qs, "max.records": "25", "interval.ms": "0", "batch.size": "10", "random.seed": "7"}, 1)[0]
			recs := drain(t, start(t, cfg, nil), 4)
			if len(recs) != 25 {
				t.Fatalf("got %d records, want 25", len(recs))
			}
			for i, r := range recs {
				if r.Topic != "t" || r.KeySchema != plugins.StringSchema || r.Key.(string) == "" {
					t.Fatalf("record %d: %+v", i, r)
				}
				if err := plugins.ValidateValue(r.ValueSchema, r.Value); err != nil {
					t.Fatalf("record %d invalid: %v", i, err)
				}
				if r.SourceOffset[IterationField] != int64(i+1) || r.SourcePartition[TaskField] != int64(0) {
					t.Fatalf("record %d offset %v partition %v", i, r.SourceOffset, r.SourcePartition)
				}
			}
			// The same seed gives the same data (timestamps aside).
			again := drain(t, start(t, cfg, nil), 1)
			if plugins.ValueString(again[3].Key) != plugins.ValueString(recs[3].Key) {
				t.Fatalf("seeded runs differ: %v vs %v", again[3].Key, recs[3].Key)
			}
		})
	}
}

func TestResumeFromOffsetAndSplitAcrossTasks(t *testing.T) {
	tcs := tasks(t, plugins.Config{"kafka.topic": "t", "iterations": "10", "interval.ms": "0"}, 3)
	if len(tcs) != 3 {
		t.Fatalf("%d task configs", len(tcs))
	}
	want := []string{"4", "3", "3"}
	for i, tc := range tcs {
		if tc[MaxRecordsConfig] != want[i] || tc[TaskIDConfig] != string(rune('0'+i)) {
			t.Fatalf("task %d config %v", i, tc)
		}
	}
	// Task 1 already generated 2 of its 3 records before a restart.
	task := start(t, tcs[1], offsets{1: {IterationField: float64(2)}})
	recs := drain(t, task, 2)
	if len(recs) != 1 || recs[0].SourceOffset[IterationField] != int64(3) || recs[0].SourcePartition[TaskField] != int64(1) {
		t.Fatalf("after resume: %+v", recs)
	}
}

func TestIntervalAndStop(t *testing.T) {
	cfg := tasks(t, plugins.Config{"topic": "t", "interval.ms": "60000"}, 1)[0]
	task := start(t, cfg, nil)
	if recs := drain(t, task, 1); len(recs) != 1 {
		t.Fatalf("first poll returned %d records", len(recs))
	}
	done := make(chan int)
	go func() {
		recs, _ := task.Poll(context.Background())
		done <- len(recs)
	}()
	time.Sleep(10 * time.Millisecond)
	task.Stop()
	select {
	case n := <-done:
		if n != 0 {
			t.Fatalf("stopped poll returned %d records", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Poll did not return after Stop")
	}
}

func TestConfigErrors(t *testing.T) {
	c := &Connector{}
	for _, tc := range []struct {
		cfg plugins.Config
		err string
	}{
		{plugins.Config{}, `"topic"`},
		{plugins.Config{"topic": "t", "quickstart": "stocks"}, "String must be one of"},
		{plugins.Config{"topic": "t", "max.records": "-2"}, "at least -1"},
	} {
		if err := c.Start(nil, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Start(%v) = %v, want %q", tc.cfg, err, tc.err)
		}
	}
}
