package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Storage failures (see "Storage failures" in doc.go).
//
// A failed write, truncate or fsync leaves the log not knowing what its
// files hold: the page cache may have dropped the dirty pages of a failed
// fsync (a retried fsync then "succeeds" over lost bytes, as PostgreSQL
// learnt in 2018), and a failed write or truncate may have left a partial
// batch. Kafka's answer, and weir's: the log goes offline. Every later
// append, read and mutation answers KAFKA_STORAGE_ERROR, nothing is fsynced
// or checkpointed any more (so the recovery point never moves over bytes
// whose fsync failed), and Close writes no clean-shutdown marker, so the
// next Open recovers from the recovery point with every CRC checked.

// storageError is a failed storage operation. It wraps both
// kerr.KafkaStorageError (what a client sees) and the cause (what the
// operator sees); the OnStorageError hook has been called for it.
type storageError struct {
	op  string
	err error
}

func (e *storageError) Error() string {
	return e.op + ": " + kerr.KafkaStorageError.Error() + ": " + e.err.Error()
}

func (e *storageError) Unwrap() []error { return []error{kerr.KafkaStorageError, e.err} }

// offlineError is what every operation on an offline log returns.
type offlineError struct {
	dir   string
	cause *storageError
}

func (e *offlineError) Error() string {
	return "log " + filepath.Base(e.dir) + " is offline after a storage failure (reopen it to recover): " + e.cause.Error()
}

func (e *offlineError) Unwrap() error { return e.cause }

// Offline returns nil while the log is healthy, and once a write, truncate
// or fsync has failed, the error that took it offline (it wraps
// kerr.KafkaStorageError and the cause). An offline log stays offline until
// it is closed and opened again, which recovers it.
func (l *Log) Offline() error {
	if e := l.offline.Load(); e != nil {
		return e
	}
	return nil
}

// offlineErr returns the offline error for op, or nil if the log is healthy.
func (l *Log) offlineErr(op string) error {
	if e := l.offline.Load(); e != nil {
		return fmt.Errorf("%s: %w", op, e)
	}
	return nil
}

// ioErr reports a failed storage operation that leaves the log consistent
// (nothing it relies on was changed): it calls the hook and returns a
// storage error. Errors already reported pass through unchanged.
func (l *Log) ioErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *storageError
	var oe *offlineError
	if errors.As(err, &se) || errors.As(err, &oe) {
		return err
	}
	if errors.Is(err, errClosed) {
		return storageErr(op, err)
	}
	if l.onStorageError != nil && errors.Is(err, kerr.KafkaStorageError) {
		// Already wrapped by storageErr deeper down (recovery): report it
		// as it is.
		l.onStorageError(l.dir, op, err)
		return err
	}
	se = &storageError{op: op, err: err}
	if l.onStorageError != nil {
		l.onStorageError(l.dir, op, err)
	}
	return se
}

// fail reports a failed write, truncate or fsync and takes the log offline.
func (l *Log) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errClosed) {
		return storageErr(op, err)
	}
	var oe *offlineError
	if errors.As(err, &oe) {
		return err
	}
	err = l.ioErr(op, err)
	var se *storageError
	if !errors.As(err, &se) {
		se = &storageError{op: op, err: err}
	}
	if l.offline.CompareAndSwap(nil, &offlineError{dir: l.dir, cause: se}) {
		l.logger.Error("log offline after a storage failure; reopen to recover", "op", op, "err", se.err)
	}
	return err
}

// syncDir makes the directory entries of every segment created so far
// durable. Called with mu not held; l.dirSeq is read under mu.
func (l *Log) syncDir() error {
	l.mu.RLock()
	seq := l.dirSeq
	done := l.dirSynced >= seq
	l.mu.RUnlock()
	if done {
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	l.mu.Lock()
	l.dirSynced = max(l.dirSynced, seq)
	l.advanceRecoveryLocked()
	l.mu.Unlock()
	return nil
}

// advanceRecoveryLocked moves the recovery point over the segments whose
// bytes and directory entries are durable. Called with mu held.
func (l *Log) advanceRecoveryLocked() {
	if l.offline.Load() != nil {
		return
	}
	rp := l.recoveryPoint
	for _, s := range l.segs {
		if s.next <= rp && s.size > 0 {
			continue
		}
		if s.dirSeq > l.dirSynced {
			break // its data cannot be found after a power cut
		}
		if s.flushedSize >= s.size {
			rp = max(rp, s.next)
			continue
		}
		rp = max(rp, s.flushedNext)
		break
	}
	l.recoveryPoint = rp
}

// pendingSync is one segment a sync covers, as of when it was planned.
type pendingSync struct {
	s    *segment
	size int64
	next int64
}

// syncSegments fsyncs the segments with unflushed bytes (and the log
// directory if a segment was created since it was last synced) and moves
// the recovery point over what became durable. It runs without appendMu:
// appends go on meanwhile, and the sync covers what was published when it
// started. A failure takes the log offline.
func (l *Log) syncSegments(op string) error {
	var buf [4]pendingSync
	todo := buf[:0]
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil
	}
	if err := l.offlineErr(op); err != nil {
		l.mu.RUnlock()
		return err
	}
	gen := l.gen.Load()
	for _, s := range l.segs {
		if s.flushedSize < s.size {
			s.acquire() // the log's own reference is held while s is in segs
			todo = append(todo, pendingSync{s, s.size, s.next})
		}
	}
	l.mu.RUnlock()
	defer func() {
		for _, p := range todo {
			p.s.release()
		}
	}()
	for _, p := range todo {
		if err := syncData(p.s.file); err != nil {
			return l.fail(op, err)
		}
	}
	if err := l.syncDir(); err != nil {
		return l.fail(op, err)
	}
	l.mu.Lock()
	if l.gen.Load() == gen {
		for _, p := range todo {
			p.s.flushedSize = max(p.s.flushedSize, p.size)
			p.s.flushedNext = max(p.s.flushedNext, p.next)
		}
		l.advanceRecoveryLocked()
	}
	l.mu.Unlock()
	return nil
}

// flushRolled fsyncs what is unflushed (the segment a roll just closed,
// and any older one recovery left unflushed), and the directory (the new
// segment's entry, the renamed index files), in the background, as Kafka
// schedules a flush at every roll: the recovery point moves over it and
// the log checkpoint records that at once, so a crash rescans only the
// active segment. Called with appendMu held.
func (l *Log) flushRolled() {
	if l.offline.Load() != nil {
		return
	}
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.syncSegments("flush after roll"); err != nil {
			return // reported, and the log is offline
		}
		l.mu.RLock()
		closed := l.closed
		l.mu.RUnlock()
		// Once per roll, without the append lock.
		if !closed {
			if err := l.writeMetaLocked(true); err != nil {
				l.fail("write log checkpoint", err)
			}
		}
	}()
}

// committer is group commit for logs with SyncOnAppend: one per Manager (a
// data directory), shared by all its logs. An append writes its batches,
// publishes them, enqueues its log and waits; a committer goroutine (started
// when work arrives, gone when there is none) takes every log enqueued
// meanwhile and fsyncs them together, so one fdatasync per file covers
// every batch that arrived while the previous round was on the disk, from
// any producer, and the logs of one round are synced in parallel so the
// file system can commit their journal updates at once.
type committer struct {
	mu        sync.Mutex
	cond      sync.Cond
	running   bool
	collect   []*Log // logs enqueued for round seq
	syncing   []*Log // logs of the round being synced (reused buffer)
	seq       uint64 // round being collected
	completed uint64 // rounds finished
	rounds    atomic.Int64
	wg        sync.WaitGroup // syncs of the current round (run goroutine only)
}

func newCommitter() *committer {
	c := &committer{seq: 1}
	c.cond.L = &c.mu
	return c
}

// enqueue adds l to the round being collected and returns that round.
func (c *committer) enqueue(l *Log) uint64 {
	c.mu.Lock()
	if l.commitSeq != c.seq {
		l.commitSeq = c.seq
		c.collect = append(c.collect, l)
	}
	seq := c.seq
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	return seq
}

// wait blocks until round seq has been synced.
func (c *committer) wait(seq uint64) {
	c.mu.Lock()
	for c.completed < seq {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

func (c *committer) run() {
	// Helpers sync the other logs of a round in parallel; they live as
	// long as this goroutine, so a busy committer starts none per round.
	var work chan *Log
	helpers := 0
	defer func() {
		if work != nil {
			close(work)
		}
	}()
	for {
		c.mu.Lock()
		if len(c.collect) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		logs := c.collect
		c.collect, c.syncing = c.syncing[:0], logs
		seq := c.seq
		c.seq++
		c.mu.Unlock()
		c.rounds.Add(1)

		if n := min(len(logs)-1, maxCommitHelpers); n > helpers {
			if work == nil {
				work = make(chan *Log, maxCommitHelpers)
			}
			for ; helpers < n; helpers++ {
				go c.help(work)
			}
		}
		for _, l := range logs[1:] {
			c.wg.Add(1)
			work <- l
		}
		_ = logs[0].syncSegments("fsync segment")
		c.wg.Wait()
		clear(logs)

		c.mu.Lock()
		c.completed = seq
		c.cond.Broadcast()
		c.mu.Unlock()
		// Let the appenders just woken write their next batches before the
		// next round starts: on few cores the first one back would
		// otherwise start a round alone, halving what a round covers.
		runtime.Gosched()
	}
}

// maxCommitHelpers bounds the fsyncs of one round in flight at once.
const maxCommitHelpers = 16

func (c *committer) help(work <-chan *Log) {
	for l := range work {
		_ = l.syncSegments("fsync segment")
		c.wg.Done()
	}
}

// awaitDurable waits until every offset below end is durable (group
// commit), or returns why it cannot be. Called without appendMu.
func (l *Log) awaitDurable(end int64) error {
	for try := 0; ; try++ {
		l.commit.wait(l.commit.enqueue(l))
		l.mu.RLock()
		rp, closed := l.recoveryPoint, l.closed
		l.mu.RUnlock()
		if err := l.offlineErr("append"); err != nil {
			return err
		}
		if rp >= end {
			return nil
		}
		if closed || try == 2 {
			// Closed, or truncated below end, before it was durable.
			return storageErr("append", fmt.Errorf("records below offset %d were not made durable (recovery point %d)", end, rp))
		}
	}
}
