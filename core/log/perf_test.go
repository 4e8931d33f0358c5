package log

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestCheckpointSkipsUnchangedMeta: the periodic Checkpoint rewrites (and
// fsyncs, under appendMu) the log checkpoint only when its content would
// change; a changed recovery point is still written.
func TestCheckpointSkipsUnchangedMeta(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	l := mustOpen(t, dir, DefaultConfig(), testOpts(c))
	defer l.Close()
	path := filepath.Join(dir, metaCheckpointName)
	mustAppend(t, l, simpleBatch(t, 3, c.ms()))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	st1, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, simpleBatch(t, 2, c.ms())) // recovery point unchanged: no flush
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(st1, st2) {
		t.Fatal("unchanged log checkpoint was rewritten")
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	m, ok := readMeta(l.fs, dir)
	if !ok || m.recovery != 5 {
		t.Fatalf("checkpoint after flush: %+v %v, want recovery point 5", m, ok)
	}
}

// TestManagerCreateConcurrent: concurrent Creates of the same and of
// different partitions open each log once; Remove and Close wait for
// creations in progress.
func TestManagerCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	m, err := NewManager(dir, Options{Logger: discardLogger(), MaintenanceInterval: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	logs := make([][]*Log, 8)
	for p := range 8 {
		logs[p] = make([]*Log, 4)
		for k := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := m.Create("t", int32(p), DefaultConfig())
				if err != nil {
					t.Error(err)
				}
				logs[p][k] = l
			}()
		}
	}
	wg.Wait()
	for p := range 8 {
		for k := 1; k < 4; k++ {
			if logs[p][k] != logs[p][0] {
				t.Fatalf("partition %d opened twice", p)
			}
		}
	}
	if got := len(m.Logs()); got != 8 {
		t.Fatalf("%d logs, want 8", got)
	}
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = m.Create("u", 0, DefaultConfig()) }()
	go func() { defer wg.Done(); _ = m.Remove("u", 0) }()
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("t", 9, DefaultConfig()); err == nil {
		t.Fatal("Create after Close succeeded")
	}
	// Reopen: every log is found again (NewManager opens them concurrently).
	m2, err := NewManager(dir, Options{Logger: discardLogger(), MaintenanceInterval: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := len(m2.Logs()); got < 8 {
		t.Fatalf("reopened %d logs, want at least 8", got)
	}
}
