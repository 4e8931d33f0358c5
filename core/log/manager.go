package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicPartition names one partition log.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Dir is the partition's directory name, <topic>-<partition>, as Kafka.
func (tp TopicPartition) Dir() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// parseTopicPartition parses a directory name; topics may contain '-', the
// partition is after the last one.
func parseTopicPartition(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// Manager owns every log under one data directory. Background work runs on
// one goroutine, one log at a time, so it is bounded by design: retention,
// segment.ms rolls, compaction and checkpoints every MaintenanceInterval,
// and flush.ms checks every second. Tests call RunMaintenance instead.
type Manager struct {
	dir  string
	opts Options

	mu       sync.Mutex
	logs     map[TopicPartition]*Log
	creating map[TopicPartition]chan struct{} // Opens in progress, closed when done
	closed   bool
	opening  sync.WaitGroup // Creates between registering and publishing

	stop chan struct{}
	done chan struct{}
}

// Default background cadences (Kafka: log.retention.check.interval.ms 5 min,
// log.flush.offset.checkpoint.interval.ms 60 s, cleaner backoff 15 s; one
// interval serves all here).
const (
	defaultMaintenanceInterval = 30 * time.Second
	flushCheckInterval         = time.Second
)

// openParallelism bounds the logs NewManager opens at once.
const openParallelism = 8

// NewManager opens every <topic>-<partition> directory under dataDir with
// the Config stored in it (DefaultConfig if none; cluster metadata stays the
// source of truth and the broker re-applies it with Create or SetConfig)
// and starts the background goroutine.
func NewManager(dataDir string, opts Options) (*Manager, error) {
	opts = opts.withDefaults()
	if err := opts.FS.MkdirAll(dataDir, 0o755); err != nil {
		return nil, storageErr("create data dir", err)
	}
	ents, err := opts.FS.ReadDir(dataDir)
	if err != nil {
		return nil, storageErr("list data dir", err)
	}
	m := &Manager{dir: dataDir, opts: opts, logs: map[TopicPartition]*Log{}, creating: map[TopicPartition]chan struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	// Logs are opened concurrently: each Open is mostly waiting on the disk
	// (an fsync to remove the clean-shutdown marker, or a recovery scan).
	type opened struct {
		tp  TopicPartition
		l   *Log
		err error
	}
	var todo []TopicPartition
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if tp, ok := parseTopicPartition(e.Name()); ok {
			todo = append(todo, tp)
		}
	}
	results := make([]opened, len(todo))
	sem := make(chan struct{}, openParallelism)
	var wg sync.WaitGroup
	for i, tp := range todo {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dir := filepath.Join(dataDir, tp.Dir())
			cfg, ok := readConfig(opts.FS, dir)
			if !ok {
				cfg = DefaultConfig()
			}
			l, err := Open(dir, cfg, opts)
			results[i] = opened{tp, l, err}
		}()
	}
	wg.Wait()
	var firstErr error
	for _, r := range results {
		if r.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("open %s: %w", r.tp.Dir(), r.err)
			}
			continue
		}
		m.logs[r.tp] = r.l
	}
	if firstErr != nil {
		m.closeLogs()
		return nil, firstErr
	}
	go m.loop()
	return m, nil
}

// Get returns an open log.
func (m *Manager) Get(topic string, partition int32) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[TopicPartition{topic, partition}]
	return l, ok
}

// Create opens or creates a partition's log. It is idempotent: an existing
// log is returned with cfg applied.
//
// The manager lock is not held across Open (which fsyncs several files for
// a new log), so creations of different partitions run concurrently; two
// Creates of the same partition still open it once (the second waits for
// the first and then applies its cfg), and Remove and Close wait for a
// creation in progress.
func (m *Manager) Create(topic string, partition int32, cfg Config) (*Log, error) {
	if topic == "" || strings.ContainsAny(topic, "/\\") || topic == "." || topic == ".." || partition < 0 {
		return nil, fmt.Errorf("invalid topic partition %q/%d: %w", topic, partition, kerr.InvalidTopicException)
	}
	tp := TopicPartition{topic, partition}
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return nil, storageErr("create log", errClosed)
		}
		if l, ok := m.logs[tp]; ok {
			m.mu.Unlock()
			l.SetConfig(cfg)
			return l, nil
		}
		wait, ok := m.creating[tp]
		if !ok {
			break
		}
		m.mu.Unlock()
		<-wait
		m.mu.Lock()
	}
	done := make(chan struct{})
	m.creating[tp] = done
	m.opening.Add(1)
	m.mu.Unlock()

	l, err := Open(filepath.Join(m.dir, tp.Dir()), cfg, m.opts)

	m.mu.Lock()
	delete(m.creating, tp)
	closed := m.closed
	if err == nil && !closed {
		m.logs[tp] = l
	}
	m.mu.Unlock()
	if err == nil && closed {
		// Close ran meanwhile and is waiting for us: close cleanly rather
		// than leak the log.
		_ = l.Close()
		l, err = nil, storageErr("create log", errClosed)
	}
	close(done)
	m.opening.Done()
	return l, err
}

// Remove closes the partition's log and deletes its data.
func (m *Manager) Remove(topic string, partition int32) error {
	tp := TopicPartition{topic, partition}
	m.mu.Lock()
	for { // a creation in progress finishes first, as when Create held the lock
		wait, ok := m.creating[tp]
		if !ok {
			break
		}
		m.mu.Unlock()
		<-wait
		m.mu.Lock()
	}
	l, ok := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	return l.Delete()
}

// Logs returns a snapshot of the open logs.
func (m *Manager) Logs() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.logs))
	for k, v := range m.logs {
		out[k] = v
	}
	return out
}

// Close stops background work and closes every log cleanly (flush, indexes,
// producer snapshot, checkpoints, clean-shutdown marker).
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.opening.Wait() // creations in progress publish (or close) their logs
	close(m.stop)
	<-m.done
	return m.closeLogs()
}

func (m *Manager) closeLogs() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for tp, l := range m.logs {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", tp.Dir(), err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) loop() {
	defer close(m.done)
	interval := m.opts.MaintenanceInterval
	if interval <= 0 {
		interval = defaultMaintenanceInterval
	}
	flushT := time.NewTicker(flushCheckInterval)
	defer flushT.Stop()
	maintT := time.NewTicker(interval)
	defer maintT.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-flushT.C:
			for tp, l := range m.Logs() {
				if err := l.MaybeFlush(); err != nil {
					m.opts.Logger.Error("flush", "log", tp.Dir(), "err", err)
				}
			}
		case <-maintT.C:
			if err := m.RunMaintenance(); err != nil {
				m.opts.Logger.Error("log maintenance", "err", err)
			}
		}
	}
}

// RunMaintenance runs every background task once, synchronously, for every
// log: flush.ms, segment.ms rolls, retention, compaction, checkpoints.
func (m *Manager) RunMaintenance() error {
	var errs []error
	for tp, l := range m.Logs() {
		if err := l.Maintain(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tp.Dir(), err))
		}
	}
	return errors.Join(errs...)
}

// Maintain runs the background tasks for this log once.
func (l *Log) Maintain() error {
	var errs []error
	if err := l.MaybeFlush(); err != nil {
		errs = append(errs, err)
	}
	if n, err := l.EnforceRetention(); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		l.logger.Debug("retention deleted segments", "count", n)
	}
	l.expireProducers()
	if l.Config().CleanupPolicy&CleanupCompact != 0 {
		if _, err := l.Compact(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.Checkpoint(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// MaybeFlush fsyncs the log if flush.ms has passed since the last flush and
// there is something to flush.
func (l *Log) MaybeFlush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed || l.cfg.FlushMs <= 0 || l.now().Sub(l.lastFlush) < l.cfg.FlushMs {
		return nil
	}
	l.mu.RLock()
	dirty := l.recoveryPoint < l.endOffsetLocked()
	l.mu.RUnlock()
	if !dirty {
		l.lastFlush = l.now()
		return nil
	}
	return l.syncUnflushed()
}

// expireProducers drops producer state idle past producer.id.expiration.ms.
func (l *Log) expireProducers() {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.producers.expire(l.now().UnixMilli()); n > 0 {
		l.logger.Debug("expired producer ids", "count", n)
	}
}
