package group

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/core/record"
)

// manualClock is a clock whose timers fire only when a test advances it,
// in deadline order, in the advancing goroutine.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c    *manualClock
	at   time.Time
	f    func()
	done bool // fired or stopped
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves time forward by d, firing due timers one at a time.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		c.timers = slices.DeleteFunc(c.timers, func(t *manualTimer) bool { return t.done })
		var next *manualTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

type kv struct{ key, value []byte }

// memStore is an in-memory __consumer_offsets: each partition a list of
// records. failWith, when set, fails every Append.
type memStore struct {
	mu       sync.Mutex
	parts    [][]kv
	appends  int
	failWith error
}

func newMemStore(n int32) *memStore { return &memStore{parts: make([][]kv, n)} }

func (s *memStore) Partitions() int32 { return int32(len(s.parts)) }

func (s *memStore) Append(_ context.Context, p int32, batch []byte) error {
	recs, err := record.Records(batch)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return s.failWith
	}
	s.appends++
	for _, r := range recs {
		s.parts[p] = append(s.parts[p], kv{r.Key, r.Value})
	}
	return nil
}

func (s *memStore) Replay(p int32, fn func(key, value []byte) error) error {
	s.mu.Lock()
	recs := slices.Clone(s.parts[p])
	s.mu.Unlock()
	for _, r := range recs {
		if err := fn(r.key, r.value); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = err
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testCoordinator is a coordinator on a manual clock over a memStore.
func testCoordinator(t *testing.T, cfg Config, store *memStore, clk *manualClock) *Coordinator {
	t.Helper()
	c := newCoordinator(cfg, store, quietLogger(), clk)
	t.Cleanup(c.Close)
	return c
}
