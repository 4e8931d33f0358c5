package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/weirlog/weir/plugins"
)

// seqSource emits "count" records per task, "t<task>-<n>", "batch" per
// poll every "interval.ms", resuming from its committed offset: a source
// whose output can be checked for loss after a crash.
type seqSource struct{ cfg plugins.Config }

var seqDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "topic", Default: plugins.NoDefault}).
	Define(plugins.ConfigKey{Name: "count", Type: plugins.ConfigInt, Default: "100"}).
	Define(plugins.ConfigKey{Name: "batch", Type: plugins.ConfigInt, Default: "10"}).
	Define(plugins.ConfigKey{Name: "interval.ms", Type: plugins.ConfigInt, Default: "10"})

func (s *seqSource) ConfigDef() *plugins.ConfigDef { return seqDef }
func (s *seqSource) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	s.cfg = cfg
	return nil
}
func (s *seqSource) TaskConfigs(max int) ([]plugins.Config, error) {
	out := make([]plugins.Config, max)
	for i := range out {
		c := plugins.Config{}
		for k, v := range s.cfg {
			c[k] = v
		}
		c["seq.task"] = strconv.Itoa(i)
		out[i] = c
	}
	return out, nil
}
func (s *seqSource) Stop() error                 { return nil }
func (s *seqSource) Version() string             { return "test" }
func (s *seqSource) NewTask() plugins.SourceTask { return &seqTask{} }

type seqTask struct {
	topic               string
	id, next, count, bs int
	interval            time.Duration
	stop                chan struct{}
}

func (t *seqTask) Start(tctx plugins.SourceTaskContext, cfg plugins.Config) error {
	t.topic = cfg["topic"]
	t.id, _ = strconv.Atoi(cfg["seq.task"])
	t.count, _ = strconv.Atoi(cfg["count"])
	t.bs, _ = strconv.Atoi(cfg["batch"])
	ms, _ := strconv.Atoi(cfg["interval.ms"])
	t.interval = time.Duration(ms) * time.Millisecond
	t.stop = make(chan struct{})
	off, err := tctx.Offsets().Offset(map[string]any{"task": int64(t.id)})
	if err != nil {
		return err
	}
	if n, ok := off["next"].(int64); ok {
		t.next = int(n)
	}
	return nil
}

func (t *seqTask) Poll(ctx context.Context) ([]plugins.Record, error) {
	select {
	case <-ctx.Done():
		return nil, nil
	case <-t.stop:
		return nil, nil
	case <-time.After(t.interval):
	}
	var out []plugins.Record
	for ; t.next < t.count && len(out) < t.bs; t.next++ {
		out = append(out, plugins.Record{Topic: t.topic, Partition: -1,
			Key: fmt.Sprintf("t%d", t.id), KeySchema: plugins.StringSchema,
			Value: fmt.Sprintf("t%d-%d", t.id, t.next), ValueSchema: plugins.StringSchema,
			SourcePartition: map[string]any{"task": int64(t.id)}, SourceOffset: map[string]any{"next": int64(t.next + 1)}})
	}
	return out, nil
}

func (t *seqTask) CommitRecord(*plugins.Record) error { return nil }
func (t *seqTask) Commit() error                      { return nil }
func (t *seqTask) Stop() error {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	return nil
}

func init() {
	plugins.Register(plugins.Registration{Class: "io.weir.test.SeqSourceConnector", Type: plugins.PluginSource, New: func() any { return &seqSource{} }})
}
