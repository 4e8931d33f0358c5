package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsm is the raft.FSM over State. raft calls Apply, Snapshot and Restore
// from one goroutine; State() may be called from any goroutine.
type fsm struct {
	state atomic.Pointer[State]

	mu        sync.Mutex // serialises onChange calls with Apply/Restore
	onChange  func(prev, next *State, c *Command)
	applyErrs int // commands that failed to decode (never expected)
}

func newFSM(onChange func(prev, next *State, c *Command)) *fsm {
	f := &fsm{onChange: onChange}
	f.state.Store(newState())
	return f
}

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := decodeCommand(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.applyErrs++
		return err
	}
	prev := f.state.Load()
	next, res := apply(prev, c)
	if next != prev {
		next.Index = l.Index
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
