package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// slowStore holds every Commit until released, to catch a file in flight.
type slowStore struct {
	*memStore
	mu      sync.Mutex
	gate    chan struct{} // nil: no wait
	started chan string
	fail    int // the next n Commits fail
}

func (s *slowStore) Commit(ctx context.Context, p string, data []byte, end int64) error {
	s.mu.Lock()
	gate, fail := s.gate, s.fail > 0
	if fail {
		s.fail--
	}
	s.mu.Unlock()
	if s.started != nil {
		s.started <- p
	}
	if gate != nil {
		<-gate
	}
	if fail {
		return errDown
	}
	return s.memStore.Commit(ctx, p, data, end)
}

func behindTask(t *testing.T, st Store, cfg plugins.Config) *Task {
	task := newTask(t, st, cfg)
	task.syncCommits = false
	return task
}

// Put goes on while a full file is stored; PreCommit waits for it and
// never returns an offset past a file that is not stored; files of one
// partition appear in offset order.
func TestFileStoredBehindPut(t *testing.T) {
	st := &slowStore{memStore: newMem(), gate: make(chan struct{}), started: make(chan string, 10)}
	task := behindTask(t, st, plugins.Config{"flush.size": "3"})
	defer task.Stop()
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 4, nil)); err != nil { // 0..2 full, 3 open
		t.Fatal(err)
	}
	if p := <-st.started; p != "topics/t/partition=0/t+0+0000000000+0000000002.json" {
		t.Fatalf("first upload %s", p)
	}
	// Put returned with the upload held: the next records are taken.
	done := make(chan error, 1)
	go func() {
		safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 4})
		if err == nil && safe[tp0] != 3 {
			err = fmt.Errorf("PreCommit = %d, want 3 (file 0..2 stored, 3 open)", safe[tp0])
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("PreCommit returned (%v) while the file was still in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(st.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := task.Put(ctx, recs(4, 9, nil)); err != nil { // 3..5 and 6..8 full
		t.Fatal(err)
	}
	<-st.started
	<-st.started
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 9}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"topics/t/partition=0/t+0+0000000000+0000000002.json",
		"topics/t/partition=0/t+0+0000000003+0000000005.json",
		"topics/t/partition=0/t+0+0000000006+0000000008.json",
	}
	if got := names(st.memStore); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

// An upload that fails behind Put surfaces as a retriable error of the
// next call and is stored (once) when the store is back.
func TestFailedBackgroundUploadRetried(t *testing.T) {
	st := &slowStore{memStore: newMem(), fail: 1}
	task := behindTask(t, st, plugins.Config{"flush.size": "3"})
	defer task.Stop()
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 3, nil)); err != nil {
		t.Fatal(err)
	}
	// Store down for that upload and the first retry.
	task.mu.Lock()
	<-task.flights[0].done
	task.mu.Unlock()
	st.mu.Lock()
	st.fail = 1
	st.mu.Unlock()
	err := task.Put(ctx, recs(3, 4, nil))
	var re *plugins.Retriable
	if !errors.As(err, &re) {
		t.Fatalf("Put after a failed upload = %v, want a retriable error", err)
	}
	if err := task.Put(ctx, recs(3, 4, nil)); err != nil {
		t.Fatal(err)
	}
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 4})
	if err != nil || safe[tp0] != 3 {
		t.Fatalf("PreCommit = %v, %v; want 3", safe, err)
	}
	if got := names(st.memStore); len(got) != 1 || got[0] != "topics/t/partition=0/t+0+0000000000+0000000002.json" {
		t.Fatalf("files %v", got)
	}
}

// Close of a partition (or an Open of it again) settles its file in
// flight first: no upload of a partition runs after the task gave it up,
// and recovery never lists storage while one is on its way.
func TestCloseSettlesFlight(t *testing.T) {
	for _, op := range []string{"Close", "Open"} {
		t.Run(op, func(t *testing.T) { testSettlesFlight(t, op) })
	}
}

func testSettlesFlight(t *testing.T, op string) {
	st := &slowStore{memStore: newMem(), gate: make(chan struct{}), started: make(chan string, 1)}
	task := behindTask(t, st, plugins.Config{"flush.size": "2"})
	defer task.Stop()
	var once sync.Once
	release := func() { once.Do(func() { close(st.gate) }) }
	defer release() // before Stop, which waits for the upload
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 2, nil)); err != nil {
		t.Fatal(err)
	}
	<-st.started
	closed := make(chan struct{})
	go func() {
		if op == "Close" {
			task.Close([]plugins.TopicPartition{tp0})
		} else {
			task.Open([]plugins.TopicPartition{tp0})
		}
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatalf("%s returned while the partition's file was still being stored", op)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	<-closed
	if got := names(st.memStore); len(got) != 1 {
		t.Fatalf("files %v", got)
	}
}

// twoPartitionsPut opens partitions 0 and 1 (tp1) of a behind-task on a
// gated slowStore and puts records 0 and 1 into each. release opens the
// gate (once); it and the task's Stop run when t ends.
func twoPartitionsPut(t *testing.T, cfg plugins.Config) (*Task, *slowStore, func()) {
	t.Helper()
	st := &slowStore{memStore: newMem(), gate: make(chan struct{}), started: make(chan string, 10)}
	task := behindTask(t, st, cfg)
	t.Cleanup(func() { task.Stop() })
	var once sync.Once
	release := func() { once.Do(func() { close(st.gate) }) }
	t.Cleanup(release)
	task.Open([]plugins.TopicPartition{tp0, tp1})
	batch := recs(0, 2, nil)
	for _, r := range recs(0, 2, nil) {
		r.Partition = 1
		batch = append(batch, r)
	}
	if err := task.Put(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	return task, st, release
}

var tp1 = plugins.TopicPartition{Topic: "t", Partition: 1}

// Files of different partitions upload side by side; a second file of
// the same encoded partition is stored only after the first, while Put
// goes on.
func TestFlightsOfPartitionsOverlap(t *testing.T) {
	task, st, release := twoPartitionsPut(t, plugins.Config{"flush.size": "2"})
	ctx := context.Background()
	got := map[string]bool{}
	for range 2 {
		select {
		case p := <-st.started:
			got[p] = true
		case <-time.After(2 * time.Second):
			t.Fatalf("uploads started: %v; want both partitions' files at once", got)
		}
	}
	// Partition 0's next file is full: Put returns, its upload waits.
	if err := task.Put(ctx, recs(2, 4, nil)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-st.started:
		t.Fatalf("upload of %s started before partition 0's earlier file was stored", p)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case p := <-st.started:
		if p != "topics/t/partition=0/t+0+0000000002+0000000003.json" {
			t.Fatalf("third upload %s", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("partition 0's second file was not stored after its first")
	}
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 4, tp1: 2})
	if err != nil || safe[tp0] != 4 || safe[tp1] != 2 {
		t.Fatalf("PreCommit = %v, %v; want 4 and 2", safe, err)
	}
	if n := len(names(st.memStore)); n != 3 {
		t.Fatalf("files %v, want 3", names(st.memStore))
	}
}

// orderStore records the order of the files it stored and fails the
// Commits of the paths in fail (each once per entry).
type orderStore struct {
	*memStore
	mu     sync.Mutex
	fail   map[string]int
	stored []string
	gate   chan struct{} // nil: no wait; closed to let Commits through
}

func (s *orderStore) Commit(ctx context.Context, p string, data []byte, end int64) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[p] > 0 {
		s.fail[p]--
		return errDown
	}
	s.stored = append(s.stored, p)
	return s.memStore.Commit(ctx, p, data, end)
}

func (s *orderStore) order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored)
}

// A file whose earlier file failed behind Put is not stored before it:
// settling stores the earlier one again, then the later one, so storage
// never shows a file with a gap before it (recovery would skip the gap).
func TestChainedFlightWaitsForFailedEarlierFile(t *testing.T) {
	const (
		f0 = "topics/t/partition=0/t+0+0000000000+0000000001.json"
		f1 = "topics/t/partition=0/t+0+0000000002+0000000003.json"
	)
	st := &orderStore{memStore: newMem(), fail: map[string]int{f0: 1}, gate: make(chan struct{})}
	task := behindTask(t, st, plugins.Config{"flush.size": "2"})
	defer task.Stop()
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	// Both files go in flight before either upload ends.
	if err := task.Put(ctx, recs(0, 4, nil)); err != nil {
		t.Fatal(err)
	}
	close(st.gate)
	task.mu.Lock()
	for _, fl := range task.flights {
		<-fl.done
	}
	task.mu.Unlock()
	if got := st.order(); len(got) != 0 {
		t.Fatalf("stored %v behind Put; the later file must wait for the failed earlier one", got)
	}
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 4})
	if err != nil || safe[tp0] != 4 {
		t.Fatalf("PreCommit = %v, %v; want 4", safe, err)
	}
	if got := st.order(); !slices.Equal(got, []string{f0, f1}) {
		t.Fatalf("stored %v, want %v in that order", got, []string{f0, f1})
	}
}

// A file dropped because its upload keeps failing (the partition given
// up) takes the later files of its encoded partition with it: stored,
// they would hide the dropped records from the next owner's recovery.
func TestDroppedFlightTakesLaterFiles(t *testing.T) {
	const f0 = "topics/t/partition=0/t+0+0000000000+0000000001.json"
	st := &orderStore{memStore: newMem(), fail: map[string]int{f0: 1 << 20}, gate: make(chan struct{})}
	task := behindTask(t, st, plugins.Config{"flush.size": "2"})
	defer task.Stop()
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 6, nil)); err != nil {
		t.Fatal(err)
	}
	close(st.gate)
	if err := task.Close([]plugins.TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	if got := st.order(); len(got) != 0 {
		t.Fatalf("stored %v after partition 0's first file was dropped", got)
	}
	task.mu.Lock()
	n := len(task.flights)
	task.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d flights left after Close", n)
	}
}

// The idle files of different partitions are stored side by side (by the
// idle timer, or by PreCommit when it comes first), and PreCommit returns
// only once all of them are stored.
func TestPreCommitStoresIdleFilesSideBySide(t *testing.T) {
	task, st, release := twoPartitionsPut(t, plugins.Config{"flush.size": "100", "rotate.interval.ms": "50"})
	ctx := context.Background()
	time.Sleep(100 * time.Millisecond) // both files idle
	type res struct {
		safe map[plugins.TopicPartition]int64
		err  error
	}
	pc := make(chan res, 1)
	go func() {
		safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 2, tp1: 2})
		pc <- res{safe, err}
	}()
	got := map[string]bool{}
	for range 2 {
		select {
		case p := <-st.started:
			got[p] = true
		case r := <-pc:
			t.Fatalf("PreCommit returned %v, %v before its files were stored", r.safe, r.err)
		case <-time.After(2 * time.Second):
			t.Fatalf("uploads started: %v; want both partitions' idle files at once", got)
		}
	}
	select {
	case r := <-pc:
		t.Fatalf("PreCommit returned %v, %v while its files were in flight", r.safe, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	r := <-pc
	if r.err != nil || r.safe[tp0] != 2 || r.safe[tp1] != 2 {
		t.Fatalf("PreCommit = %v, %v; want 2 for both partitions (their files stored)", r.safe, r.err)
	}
	if n := len(names(st.memStore)); n != 2 {
		t.Fatalf("files %v, want 2", names(st.memStore))
	}
}

// An idle file is stored at its deadline by the task's timer, without
// waiting for the runtime's next PreCommit; PreCommit then covers it.
func TestIdleFileStoredWithoutPreCommit(t *testing.T) {
	st := newMem()
	task := behindTask(t, st, plugins.Config{"flush.size": "100", "rotate.interval.ms": "200"})
	defer task.Stop()
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(ctx, recs(0, 2, nil)); err != nil {
		t.Fatal(err)
	}
	put := time.Now()
	for len(names(st)) == 0 {
		if time.Since(put) > 2*time.Second {
			t.Fatal("the idle file was not stored without a PreCommit")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if el := time.Since(put); el < 200*time.Millisecond {
		t.Fatalf("the file was stored %s after its last record, before rotate.interval.ms", el)
	}
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 2})
	if err != nil || safe[tp0] != 2 {
		t.Fatalf("PreCommit = %v, %v; want 2", safe, err)
	}
	if got := names(st); len(got) != 1 || !strings.HasSuffix(got[0], "t+0+0000000000+0000000001.json") {
		t.Fatalf("files %v", got)
	}
}
