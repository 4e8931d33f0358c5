package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fsm is the raft.FSM over State. raft calls Apply, Snapshot and Restore
// from one goroutine; State() may be called from any goroutine.
type fsm struct {
	state atomic.Pointer[State]
	// applied is the raft index of the last command Apply saw, whether or
	// not it changed the state (waitApplied).
	applied atomic.Uint64

	mu       sync.Mutex // serialises onChange calls with Apply/Restore
	onChange func(prev, next *State, c *Command)
	logger   *slog.Logger

	// failed counts commands that could not be applied at all (undecodable,
	// or apply panicked), by op; rejected counts those apply refused with
	// a Kafka error (a duplicate topic: routine), by op and error.
	failed   *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

func newFSM(onChange func(prev, next *State, c *Command)) *fsm {
	f := &fsm{onChange: onChange, logger: slog.Default(),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "metadata", Name: "apply_failures_total",
			Help: "Metadata commands that could not be applied (undecodable, or apply failed), by op."}, []string{"op"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "metadata", Name: "commands_rejected_total",
			Help: "Metadata commands refused by the state machine with a Kafka error, by op and error."}, []string{"op", "error"}),
	}
	f.state.Store(newState())
	return f
}

func (f *fsm) Apply(l *raft.Log) (out any) {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := decodeCommand(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.applied.Store(l.Index)
	if err != nil {
		// Never expected: a command written by a newer weir, or a corrupt
		// entry. The state stays as it was; say so loudly.
		f.failed.WithLabelValues("undecodable").Inc()
		f.logger.Error("metadata command not applied: cannot decode", "index", l.Index, "err", err)
		return err
	}
	defer func() {
		// apply is pure and must not panic; if it does, this command is
		// skipped (state unchanged) rather than the node crashing on every
		// replay of the same entry.
		if v := recover(); v != nil {
			f.failed.WithLabelValues(string(c.Op)).Inc()
			f.logger.Error("metadata command not applied: apply panicked", "index", l.Index, "op", c.Op, "panic", v)
			out = fmt.Errorf("apply metadata command %s at index %d: panic: %v", c.Op, l.Index, v)
		}
	}()
	prev := f.state.Load()
	if res, ok := prev.appliedResult(c.ID); ok {
		// A retry of a proposal whose first attempt committed after all.
		f.logger.Info("metadata command applied already: its first result is returned", "index", l.Index, "op", c.Op, "topic", c.Topic, "id", c.ID)
		return res
	}
	next, res := apply(prev, c)
	if res.Err != nil {
		f.rejected.WithLabelValues(string(c.Op), res.Err.Message).Inc()
		lvl := slog.LevelDebug
		if res.Err == kerr.InvalidRequest {
			// A malformed command or an op this version does not know.
			lvl = slog.LevelWarn
		}
		f.logger.Log(context.Background(), lvl, "metadata command refused", "index", l.Index, "op", c.Op, "topic", c.Topic, "err", res.Err.Message)
	}
	if next != prev {
		next.Index = l.Index
		next.remember(c.ID, l.Index, res)
		f.state.Store(next)
		if f.onChange != nil {
			f.onChange(prev, next, c)
		}
	}
	return res
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{s: f.state.Load()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s := newState()
	if err := json.NewDecoder(rc).Decode(s); err != nil {
		return fmt.Errorf("restore metadata snapshot: %w", err)
	}
	if s.Brokers == nil {
		s.Brokers = map[int32]Broker{}
	}
	if s.Topics == nil {
		s.Topics = map[string]*Topic{}
	}
	s.reindex()
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.state.Load()
	f.state.Store(s)
	f.applied.Store(max(f.applied.Load(), s.Index))
	if f.onChange != nil {
		f.onChange(prev, s, nil)
	}
	return nil
}

type fsmSnapshot struct{ s *State }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.s); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist metadata snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
