package storage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// streamStore is a memStore that takes files in parts and keeps of a
// streamed file only its hash, so the test measures the task's memory,
// not the fake's.
type streamStore struct {
	*memStore
	part int

	mu        sync.Mutex
	parts     []int // sizes of the parts handed over
	streamed  map[string][sha256.Size]byte
	aborted   int
	failParts int           // the next n Part calls fail
	loseParts int           // the next n Part calls lose the file (ErrRestartFile)
	begun     []string      // the paths Begin got
	block     chan struct{} // Part waits for it when set
	inPart    chan struct{} // told when a Part starts, when set
}

func (s *streamStore) PartSize() int { return s.part }

func (s *streamStore) Begin(_ context.Context, p string) (Upload, error) {
	s.mu.Lock()
	s.begun = append(s.begun, p)
	s.mu.Unlock()
	return &memUpload{s: s, p: p, h: sha256.New()}, nil
}

// endStore is a streamStore for names that carry the end offset (HDFS):
// Begin gets a provisional name and the core names the file at its end.
type endStore struct{ *streamStore }

func (s endStore) Begin(ctx context.Context, p string) (Upload, error) {
	u, err := s.streamStore.Begin(ctx, p)
	if err != nil {
		return nil, err
	}
	return endUpload{u.(*memUpload)}, nil
}

type endUpload struct{ *memUpload }

func (u endUpload) Complete(ctx context.Context, p string, last []byte, end int64) error {
	u.p = p
	return u.memUpload.Complete(ctx, p, last, end)
}

type memUpload struct {
	s *streamStore
	p string
	h hash.Hash
}

func (u *memUpload) Part(_ context.Context, data []byte) error {
	if u.s.inPart != nil {
		u.s.inPart <- struct{}{}
	}
	if u.s.block != nil {
		<-u.s.block
	}
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	if u.s.failParts > 0 {
		u.s.failParts--
		return errDown
	}
	if u.s.loseParts > 0 {
		u.s.loseParts--
		return fmt.Errorf("pipeline broke: %w", ErrRestartFile)
	}
	u.s.parts = append(u.s.parts, len(data))
	u.h.Write(data)
	return nil
}

// Complete stores the file under Begin's name, as S3 does.
func (u *memUpload) Complete(ctx context.Context, _ string, last []byte, end int64) error {
	u.s.mu.Lock()
	u.h.Write(last)
	var sum [sha256.Size]byte
	copy(sum[:], u.h.Sum(nil))
	u.s.streamed[u.p] = sum
	u.s.mu.Unlock()
	// Listed like any file; its bytes are only hashed.
	return u.s.memStore.Commit(ctx, u.p, nil, end)
}

func (u *memUpload) Abort(context.Context) error {
	u.s.mu.Lock()
	defer u.s.mu.Unlock()
	u.s.aborted++
	return nil
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStreamedFileMemoryIsAboutOnePart: a 48 MiB file streamed in 2 MiB
// parts keeps the task's live heap within a few parts (the whole file in
// memory, as before streaming, is 24 parts), and the streamed bytes are
// exactly the file; also for names that carry the end offset (HDFS),
// which are known only when the file closes.
func TestStreamedFileMemoryIsAboutOnePart(t *testing.T) {
	t.Run("start name", func(t *testing.T) { streamedFileMemory(t, false) })
	t.Run("end name", func(t *testing.T) { streamedFileMemory(t, true) })
}

func streamedFileMemory(t *testing.T, withEnd bool) {
	const part = 2 << 20
	const recSize = 1024
	const n = 48 << 10 // records: 48 MiB of JSON
	st := &streamStore{memStore: newMem(), part: part, streamed: map[string][sha256.Size]byte{}}
	var store Store = st
	p := "topics/t/partition=0/t+0+0000000000.json"
	if withEnd {
		store = endStore{st}
		p = fmt.Sprintf("topics/t/partition=0/t+0+0000000000+%010d.json", n-1)
	}
	task := newTaskNaming(t, store, plugins.Config{"flush.size": fmt.Sprint(n)}, withEnd)
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	pad := strings.Repeat("x", recSize-12)
	want := sha256.New()
	base := liveHeap()
	var peak uint64
	const batch = 512
	for from := 0; from < n; from += batch {
		rs := make([]plugins.Record, 0, batch)
		for o := from; o < from+batch; o++ {
			v := fmt.Sprintf("%08d%s", o, pad)
			rs = append(rs, plugins.Record{Topic: "t", Partition: 0, Offset: int64(o), Value: v, ValueSchema: plugins.StringSchema})
			fmt.Fprintf(want, "%q\n", v)
		}
		if err := task.Put(ctx, rs); err != nil {
			t.Fatal(err)
		}
		rs = nil
		if from%(8*batch) == 0 {
			if h := liveHeap(); h > base && h-base > peak {
				peak = h - base
			}
		}
	}
	fileBytes := n * (recSize + 1)
	t.Logf("file %d MiB in %d parts of %d KiB; peak live heap growth %.1f MiB (%.1f parts)",
		fileBytes>>20, len(st.parts), part>>10, float64(peak)/(1<<20), float64(peak)/part)
	if peak > 4*part {
		t.Errorf("live heap grew by %d bytes while writing a %d-byte file: more than 4 parts of %d (the file is held in memory)", peak, fileBytes, part)
	}
	for i, sz := range st.parts {
		if sz < part {
			t.Errorf("part %d has %d bytes, less than the part size %d", i, sz, part)
		}
	}
	if len(st.begun) != 1 || (withEnd && st.begun[0] == p) {
		t.Errorf("uploads begun as %v; want one, named provisionally when the name carries the end", st.begun)
	}
	got, ok := st.streamed[p]
	if !ok {
		t.Fatalf("no streamed file %s; files %v", p, names(st.memStore))
	}
	if fmt.Sprintf("%x", got) != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Errorf("the streamed bytes of %s differ from the file's records", p)
	}
}

// TestFailedPartIsRetried: a part the store refused is handed over again
// (same bytes) before anything else, and nothing is lost or doubled.
func TestFailedPartIsRetried(t *testing.T) {
	const part = 64 << 10
	st := &streamStore{memStore: newMem(), part: part, streamed: map[string][sha256.Size]byte{}}
	task := newTask(t, st, plugins.Config{"flush.size": "1000"})
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	pad := strings.Repeat("y", 1000)
	mk := func(from, to int) []plugins.Record {
		var rs []plugins.Record
		for o := from; o < to; o++ {
			rs = append(rs, plugins.Record{Topic: "t", Partition: 0, Offset: int64(o), Value: fmt.Sprintf("%04d%s", o, pad), ValueSchema: plugins.StringSchema})
		}
		return rs
	}
	want := sha256.New()
	for _, r := range mk(0, 1000) {
		fmt.Fprintf(want, "%q\n", r.Value)
	}
	st.failParts = 2
	var errs int
	for from := 0; from < 1000; {
		to := min(from+100, 1000)
		if err := task.Put(ctx, mk(from, to)); err != nil {
			errs++
			continue // the runtime redelivers the same batch
		}
		from = to
	}
	if errs != 2 {
		t.Errorf("%d retriable errors, want 2", errs)
	}
	p := "topics/t/partition=0/t+0+0000000000.json"
	if got, ok := st.streamed[p]; !ok || fmt.Sprintf("%x", got) != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Errorf("streamed file %s missing or not the records 0..999 once each (ok=%v)", p, ok)
	}
}

// TestPartUploadsBehindPut: Put goes on converting and encoding while a
// part uploads (it used to wait for every part); the next part waits for
// the one before it, and the file is the records in order.
func TestPartUploadsBehindPut(t *testing.T) {
	const part = 64 << 10
	st := &streamStore{memStore: newMem(), part: part, streamed: map[string][sha256.Size]byte{},
		block: make(chan struct{}), inPart: make(chan struct{}, 16)}
	task := newTask(t, st, plugins.Config{"flush.size": "1000"})
	ctx := context.Background()
	task.Open([]plugins.TopicPartition{tp0})
	pad := strings.Repeat("z", 1000)
	var rs []plugins.Record
	want := sha256.New()
	for o := range 1000 {
		v := fmt.Sprintf("%04d%s", o, pad)
		rs = append(rs, plugins.Record{Topic: "t", Partition: 0, Offset: int64(o), Value: v, ValueSchema: plugins.StringSchema})
		fmt.Fprintf(want, "%q\n", v)
	}
	// 100 records: a part (64 KiB is 65 records) goes out and blocks;
	// Put returns all the same.
	done := make(chan error, 1)
	go func() { done <- task.Put(ctx, rs[:100]) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Put waited for the part's upload")
	}
	select {
	case <-st.inPart:
	case <-time.After(10 * time.Second):
		t.Fatal("no part upload started")
	}
	go func() { done <- task.Put(ctx, rs[100:]) }()
	time.Sleep(50 * time.Millisecond)
	close(st.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p := "topics/t/partition=0/t+0+0000000000.json"
	if got, ok := st.streamed[p]; !ok || fmt.Sprintf("%x", got) != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Errorf("streamed file %s missing or not the records 0..999 in order (ok=%v)", p, ok)
	}
	if len(st.parts) < 10 {
		t.Errorf("%d parts, want the ~1 MB file in 64 KiB parts", len(st.parts))
	}
}

// TestLostFileRestartsFromCommittedOffsets: a streamed file whose parts the
// store lost (ErrRestartFile: an HDFS pipeline that broke half way) cannot
// be retried, since its first records are no longer in memory. The task
// does not fail: it drops the partition's open files (the upload is
// aborted), asks the runtime (Offset) to bring the partition again from
// the file's start, and recovers from storage as a fresh assignment does.
// PreCommit never passes the file's start, and the files hold records
// 0..n-1 exactly once. The loop below drives the task as the runtime
// does: a reset asked for during Put or PreCommit moves the position
// before the next Put, and records of the old position are not delivered.
func TestLostFileRestartsFromCommittedOffsets(t *testing.T) {
	// The loss shows at the next Put, or at PreCommit when the part's
	// upload ended before it (then the runtime's current offset is past
	// the lost file, and PreCommit must not pass its start).
	t.Run("Put", func(t *testing.T) { testLostFile(t, false) })
	t.Run("PreCommit", func(t *testing.T) { testLostFile(t, true) })
}

func testLostFile(t *testing.T, inPreCommit bool) {
	const part = 64 << 10
	const flush = 1000
	st := &streamStore{memStore: newMem(), part: part, streamed: map[string][sha256.Size]byte{}}
	store := endStore{st}
	cfg := func() plugins.Config { return plugins.Config{"flush.size": fmt.Sprint(flush)} }
	ctx := context.Background()
	pad := strings.Repeat("w", 1000)
	mk := func(from, to int) []plugins.Record {
		var rs []plugins.Record
		for o := from; o < to; o++ {
			rs = append(rs, plugins.Record{Topic: "t", Partition: 0, Offset: int64(o), Value: fmt.Sprintf("%04d%s", o, pad), ValueSchema: plugins.StringSchema})
		}
		return rs
	}
	sum := func(from, to int) string {
		h := sha256.New()
		for _, r := range mk(from, to) {
			fmt.Fprintf(h, "%q\n", r.Value)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	task := newTaskNaming(t, store, cfg(), true)
	fc := task.tctx.(*fakeCtx)
	// reset applies what the task asked for with Offset, as the runtime.
	reset := func(pos *int) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		for _, r := range fc.resets {
			for tp, o := range r {
				if tp != tp0 {
					t.Errorf("reset of %v, want only %v", tp, tp0)
				}
				*pos = int(o)
			}
		}
		fc.resets = nil
	}
	task.Open([]plugins.TopicPartition{tp0})
	// The first file lands; the second loses its parts half way.
	var rewinds []int
	pos := 0
	for step := 0; pos < 2*flush; step++ {
		if step > 1000 {
			t.Fatalf("no progress at %d", pos)
		}
		if pos == flush+300 && len(rewinds) == 0 {
			st.mu.Lock()
			st.loseParts = 1
			st.mu.Unlock()
		}
		size := 100
		st.mu.Lock()
		armed := st.loseParts > 0
		st.mu.Unlock()
		if inPreCommit && armed {
			size = 1 // until the part that is lost leaves: nothing settles it but PreCommit
		}
		if err := task.Put(ctx, mk(pos, pos+size)); err != nil {
			t.Fatalf("Put at %d: %v", pos, err)
		}
		st.mu.Lock()
		lostNow := armed && st.loseParts == 0
		st.mu.Unlock()
		if inPreCommit && lostNow {
			time.Sleep(20 * time.Millisecond) // the lost part's upload ends
		} else if inPreCommit && armed {
			pos += size
			continue
		}
		before := pos
		pos += size
		reset(&pos)
		safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: int64(pos)})
		if err != nil {
			t.Fatalf("PreCommit at %d: %v", pos, err)
		}
		reset(&pos)
		if pos <= before {
			rewinds = append(rewinds, pos)
		}
		// The second file is stored only when full: until then nothing
		// past its start is durable.
		if safe[tp0] > flush && pos < 2*flush {
			t.Errorf("PreCommit returned %d at position %d: past the lost file", safe[tp0], pos)
		}
	}
	if !slices.Equal(rewinds, []int{flush}) {
		t.Errorf("rewinds %v, want one to %d: the start of the lost file", rewinds, flush)
	}
	if st.aborted != 1 {
		t.Errorf("%d uploads aborted, want the lost one", st.aborted)
	}
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 2 * flush}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		fmt.Sprintf("topics/t/partition=0/t+0+0000000000+%010d.json", flush-1):     sum(0, flush),
		fmt.Sprintf("topics/t/partition=0/t+0+%010d+%010d.json", flush, 2*flush-1): sum(flush, 2*flush),
	}
	if got := names(st.memStore); len(got) != len(want) {
		t.Errorf("files %v, want %d", got, len(want))
	}
	for p, w := range want {
		if got, ok := st.streamed[p]; !ok || fmt.Sprintf("%x", got) != w {
			t.Errorf("file %s missing or not its records once each (ok=%v)", p, ok)
		}
	}
}
