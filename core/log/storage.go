package log

import (
	"errors"
	"fmt"
	"path/filepath"
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

// groupCommit is a log's group commit (SyncOnAppend): an Append writes
// and publishes its batches, releases the append lock, joins the round
// being collected and waits. The first waiter that finds no round running
// leads one: it closes the round (later arrivals join the next), fsyncs
// what was published, and wakes the round's members; a member of the next
// round then leads that one. So one fdatasync covers every batch that
// arrived while the previous one was on the disk, from any producer, with
// no goroutine hand-off when an appender is alone. Logs commit
// independently: the fdatasyncs of a data directory's partitions run
// concurrently and the file system's journal commits them together, which
// measured twice as fast as rounds shared by a Manager's logs (a shared
// round waits for its slowest file before the next can start).
type groupCommit struct {
	mu        sync.Mutex
	cond      sync.Cond
	seq       uint64 // rounds started; the one being collected is seq+1
	completed uint64 // last round finished
	running   bool
	rounds    atomic.Int64 // rounds run (tests, benchmarks)
}

// round waits until a round that started after the caller published its
// batches has finished, leading it if nobody else is, or until covered
// reports that an earlier round (one already running when the caller
// came, but planned after its batches were published) made them durable.
// covered is called with g.mu held.
func (g *groupCommit) round(l *Log, covered func() bool) {
	g.mu.Lock()
	if g.cond.L == nil {
		g.cond.L = &g.mu
	}
	my := g.seq + 1
	for g.completed < my {
		if g.running {
			g.cond.Wait()
			if g.completed < my && covered() {
				break
			}
			continue
		}
		g.running = true
		g.seq = my // arrivals from now on join the next round
		g.mu.Unlock()
		g.rounds.Add(1)
		_ = l.syncSegments("fsync segment") // a failure takes the log offline
		g.mu.Lock()
		g.completed = my
		g.running = false
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// AwaitDurable waits until every offset below end is durable (group
// commit), or returns why it cannot be; see AppendNoWait. Called without
// appendMu.
func (l *Log) AwaitDurable(end int64) error {
	covered := func() bool {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.recoveryPoint >= end
	}
	for try := 0; ; try++ {
		// Already durable (another producer's round, planned after these
		// batches were published, covered them): no round to wait for.
		if try > 0 || !covered() {
			l.commit.round(l, covered)
		}
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
