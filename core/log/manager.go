package log

import (
	"encoding/base64"
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
//
// Identity: each partition directory holds partition.metadata with its
// topic's ID (see partition_metadata.go). CreateWithID never serves a
// directory recorded for another ID: it sets it aside (renamed
// <dir>.<unix ms>-stray, logged) and starts an empty log. SetAside does the
// same for strays the broker finds, and PurgeAside deletes set-aside
// directories after a grace period.
type Manager struct {
	dir  string
	opts Options

	mu       sync.Mutex
	logs     map[TopicPartition]*Log
	ids      map[TopicPartition]TopicID       // partition.metadata of open logs; zero: none yet
	failed   map[TopicPartition]error         // directories NewManager could not open
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

// openParallelism bounds the logs NewManager opens at once (measured at
// 6,000 partitions after a clean shutdown: 8 took 13 s).
const openParallelism = 32

// NewManager opens every <topic>-<partition> directory under dataDir with
// the Config stored in it (DefaultConfig if none; cluster metadata stays the
// source of truth and the broker re-applies it with Create or SetConfig)
// and starts the background goroutine.
//
// A directory that fails to open (out of file descriptors, a bad disk) does
// not fail the manager: it is logged and reported by Failed, and the next
// Create of that partition tries again.
func NewManager(dataDir string, opts Options) (*Manager, error) {
	opts = opts.withDefaults()
	if err := opts.FS.MkdirAll(dataDir, 0o755); err != nil {
		return nil, storageErr("create data dir", err)
	}
	ents, err := opts.FS.ReadDir(dataDir)
	if err != nil {
		return nil, storageErr("list data dir", err)
	}
	m := &Manager{dir: dataDir, opts: opts, logs: map[TopicPartition]*Log{}, ids: map[TopicPartition]TopicID{},
		failed: map[TopicPartition]error{}, creating: map[TopicPartition]chan struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	// Logs are opened concurrently: each Open is mostly waiting on the disk
	// (an fsync to remove the clean-shutdown marker, or a recovery scan).
	type opened struct {
		tp  TopicPartition
		l   *Log
		id  TopicID
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
			id, err := readPartitionMetadata(opts.FS, dir)
			if err != nil && !errors.Is(err, errNoPartitionMetadata) {
				// Unreadable identity: treat as unknown; CreateWithID
				// will set the directory aside rather than trust it.
				opts.Logger.Warn("partition directory has an unreadable topic id", "log", tp.Dir(), "err", err)
				id = TopicID{0xff}
			}
			cfg, ok := readConfig(opts.FS, dir)
			if !ok {
				cfg = DefaultConfig()
			}
			l, err := Open(dir, cfg, opts)
			results[i] = opened{tp, l, id, err}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			opts.Logger.Error("cannot open partition log; it will be retried when the partition is next created", "log", r.tp.Dir(), "err", r.err)
			m.failed[r.tp] = r.err
			continue
		}
		m.logs[r.tp] = r.l
		m.ids[r.tp] = r.id
	}
	go m.loop()
	return m, nil
}

// Failed returns the directories NewManager could not open and why (until
// a Create of the partition succeeds or it is removed).
func (m *Manager) Failed() map[TopicPartition]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]error, len(m.failed))
	for k, v := range m.failed {
		out[k] = v
	}
	return out
}

// Get returns an open log.
func (m *Manager) Get(topic string, partition int32) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[TopicPartition{topic, partition}]
	return l, ok
}

// TopicID returns the topic ID recorded for an open log (zero if none).
func (m *Manager) TopicID(topic string, partition int32) (TopicID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.ids[TopicPartition{topic, partition}]
	return id, ok
}

// Create opens or creates a partition's log without checking its topic
// ID: CreateWithID with a zero ID.
func (m *Manager) Create(topic string, partition int32, cfg Config) (*Log, error) {
	return m.CreateWithID(topic, partition, TopicID{}, cfg)
}

// CreateWithID opens or creates a partition's log for the topic with the
// given ID. It is idempotent: an existing log of that ID is returned with
// cfg applied. A directory recorded for another ID (a deleted topic of the
// same name whose removal never finished) is set aside and an empty log
// created in its place; a directory with no record (written before topic
// IDs were) is adopted and the ID recorded. A zero id skips the check. A
// log that went offline after a storage failure is closed and opened
// again (recovered); if that fails the partition has no log until the
// next CreateWithID.
//
// The manager lock is not held across Open (which fsyncs several files for
// a new log), so creations of different partitions run concurrently; two
// Creates of the same partition still open it once (the second waits for
// the first and then applies its cfg), and Remove and Close wait for a
// creation in progress.
func (m *Manager) CreateWithID(topic string, partition int32, id TopicID, cfg Config) (*Log, error) {
	if topic == "" || strings.ContainsAny(topic, "/\\") || topic == "." || topic == ".." || partition < 0 {
		return nil, fmt.Errorf("invalid topic partition %q/%d: %w", topic, partition, kerr.InvalidTopicException)
	}
	tp := TopicPartition{topic, partition}
	dir := filepath.Join(m.dir, tp.Dir())
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return nil, storageErr("create log", errClosed)
		}
		if _, ok := m.creating[tp]; !ok {
			break
		}
		wait := m.creating[tp]
		m.mu.Unlock()
		<-wait
		m.mu.Lock()
	}
	var stale, offline *Log
	if l, ok := m.logs[tp]; ok {
		have := m.ids[tp]
		switch {
		case l.Offline() != nil && (id == TopicID{} || have == id || have == TopicID{}):
			// Offline after a storage failure: close it and open it
			// again, which recovers it from its last durable state.
			offline = l
			delete(m.logs, tp)
		case id == TopicID{} || have == id:
			m.mu.Unlock()
			l.SetConfig(cfg)
			return l, nil
		case have == TopicID{}:
			m.ids[tp] = id
			m.mu.Unlock()
			l.SetConfig(cfg)
			if err := writePartitionMetadata(m.opts.FS, dir, id); err != nil {
				return nil, storageErr("record topic id", err)
			}
			return l, nil
		default:
			// The open log belongs to another incarnation of the topic.
			stale = l
			delete(m.logs, tp)
			delete(m.ids, tp)
		}
	}
	done := make(chan struct{})
	m.creating[tp] = done
	m.opening.Add(1)
	m.mu.Unlock()

	if offline != nil {
		m.opts.Logger.Warn("reopening partition log taken offline by a storage failure", "log", tp.Dir(), "cause", offline.Offline())
		_ = offline.Close() // no clean-shutdown marker: Open recovers
	}
	l, err := m.openWithID(tp, dir, id, cfg, stale)

	m.mu.Lock()
	delete(m.creating, tp)
	closed := m.closed
	if err == nil && !closed {
		m.logs[tp] = l
		m.ids[tp] = id
		delete(m.failed, tp)
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

// openWithID opens dir for topic id, first setting aside a directory that
// belongs to another ID (stale is its open log, if any).
func (m *Manager) openWithID(tp TopicPartition, dir string, id TopicID, cfg Config, stale *Log) (*Log, error) {
	if stale != nil {
		have, _ := readPartitionMetadata(m.opts.FS, dir)
		_ = stale.Close()
		if err := m.setAside(dir, fmt.Sprintf("its topic id %s is not the topic's %s", idString(have), idString(id))); err != nil {
			return nil, err
		}
	} else if id != (TopicID{}) {
		if _, err := m.opts.FS.Stat(dir); err == nil {
			have, err := readPartitionMetadata(m.opts.FS, dir)
			switch {
			case errors.Is(err, errNoPartitionMetadata):
				// Written before topic ids were recorded: adopt it.
			case err != nil:
				if err := m.setAside(dir, "its "+partitionMetadataName+" is unreadable: "+err.Error()); err != nil {
					return nil, err
				}
			case have != id:
				if err := m.setAside(dir, fmt.Sprintf("its topic id %s is not the topic's %s", idString(have), idString(id))); err != nil {
					return nil, err
				}
			}
		}
	}
	l, err := Open(dir, cfg, m.opts)
	if err != nil {
		return nil, err
	}
	if id != (TopicID{}) {
		if cur, err := readPartitionMetadata(m.opts.FS, dir); err != nil || cur != id {
			if err := writePartitionMetadata(m.opts.FS, dir, id); err != nil {
				_ = l.Close()
				return nil, storageErr("record topic id", err)
			}
		}
	}
	return l, nil
}

func idString(id TopicID) string {
	if id == (TopicID{}) {
		return "(none)"
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// setAside renames a partition directory out of the way (it is no longer a
// <topic>-<partition> name, so nothing opens it) and logs why.
func (m *Manager) setAside(dir, why string) error {
	to := asideName(dir, m.opts.Now())
	if err := m.opts.FS.Rename(dir, to); err != nil {
		return storageErr("set aside "+filepath.Base(dir), err)
	}
	if err := m.opts.FS.SyncDir(m.dir); err != nil {
		return storageErr("sync data dir", err)
	}
	m.opts.Logger.Warn("partition directory set aside; it will be deleted after the grace period", "log", filepath.Base(dir), "to", filepath.Base(to), "reason", why)
	return nil
}

// SetAside closes a partition's log (if open) and renames its directory
// aside, for a stray whose topic the metadata does not know; why is logged.
// PurgeAside deletes it later.
func (m *Manager) SetAside(topic string, partition int32, why string) error {
	tp := TopicPartition{topic, partition}
	m.mu.Lock()
	for {
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
	delete(m.ids, tp)
	delete(m.failed, tp)
	m.mu.Unlock()
	if ok {
		_ = l.Close()
	}
	dir := filepath.Join(m.dir, tp.Dir())
	if _, err := m.opts.FS.Stat(dir); err != nil {
		return nil
	}
	return m.setAside(dir, why)
}

// PurgeAside deletes set-aside partition directories older than grace and
// returns their names.
func (m *Manager) PurgeAside(grace time.Duration) ([]string, error) {
	ents, err := m.opts.FS.ReadDir(m.dir)
	if err != nil {
		return nil, storageErr("list data dir", err)
	}
	var purged []string
	var errs []error
	now := m.opts.Now()
	for _, e := range ents {
		at, ok := parseAside(e.Name())
		if !ok || !e.IsDir() || now.Sub(at) < grace {
			continue
		}
		if err := m.opts.FS.RemoveAll(filepath.Join(m.dir, e.Name())); err != nil {
			errs = append(errs, storageErr("delete "+e.Name(), err))
			continue
		}
		m.opts.Logger.Info("deleted set-aside partition directory after its grace period", "dir", e.Name(), "grace", grace)
		purged = append(purged, e.Name())
	}
	return purged, errors.Join(errs...)
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
	delete(m.ids, tp)
	_, failed := m.failed[tp]
	delete(m.failed, tp)
	m.mu.Unlock()
	if !ok {
		if failed { // never opened: its directory is still there
			return storageErr("remove log dir", m.opts.FS.RemoveAll(filepath.Join(m.dir, tp.Dir())))
		}
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

// closeParallelism bounds the logs Close closes at once. Closing is a few
// fsyncs per log (data, indexes, checkpoints, the clean-shutdown marker and
// its directory); one at a time, 6,000 partitions took a minute to stop.
const closeParallelism = 64

func (m *Manager) closeLogs() error {
	m.mu.Lock()
	logs := make(map[TopicPartition]*Log, len(m.logs))
	for tp, l := range m.logs {
		logs[tp] = l
	}
	m.mu.Unlock()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, closeParallelism)
	for tp, l := range logs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := l.Close(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("close %s: %w", tp.Dir(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
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
