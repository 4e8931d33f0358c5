package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/weirlog/weir/plugins"
)

// SinkConnector is the FileStreamSink connector.
type SinkConnector struct {
	cfg plugins.Config
}

var _ plugins.SinkConnector = (*SinkConnector)(nil)

func (c *SinkConnector) ConfigDef() *plugins.ConfigDef { return sinkConfigDef }
func (c *SinkConnector) Version() string               { return plugins.Version }
func (c *SinkConnector) Stop() error                   { return nil }
func (c *SinkConnector) NewTask() plugins.SinkTask     { return &SinkTask{} }

// Start validates the configuration.
func (c *SinkConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := sinkConfigDef.Parse(cfg); err != nil {
		return fmt.Errorf("FileStreamSink: %w", err)
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs returns maxTasks identical configurations, as Kafka's
// FileStreamSinkConnector does (all tasks append to the same file; lines
// of different tasks interleave but are never torn).
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(c.cfg, maxTasks), nil
}

// SinkTask appends record values to a file.
type SinkTask struct {
	filename string
	mu       sync.Mutex // Stop may race with the task goroutine
	f        *os.File
	w        *bufio.Writer
}

// Start opens the file for appending, creating it if needed.
func (t *SinkTask) Start(_ plugins.SinkTaskContext, cfg plugins.Config) error {
	p, err := sinkConfigDef.Parse(cfg)
	if err != nil {
		return fmt.Errorf("FileStreamSink task: %w", err)
	}
	t.filename = p.String(FileConfig)
	if t.filename == "" {
		t.w = bufio.NewWriter(os.Stdout)
		return nil
	}
	path, err := checkPath(t.filename)
	if err != nil {
		return fmt.Errorf("FileStreamSink task: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|oNoFollow, 0o644)
	if err != nil {
		return fmt.Errorf("open %s for appending: %w", t.filename, err)
	}
	t.f, t.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

func (t *SinkTask) Open([]plugins.TopicPartition) error { return nil }

// Put writes one line per record: the value as text ("null" for nil, like
// Java's println). The lines reach the file (the page cache) before Put
// returns, as with Kafka's FileStreamSink, so a reader sees them at once;
// the buffer only coalesces one batch into few writes. PreCommit adds the
// fsync that makes them durable before offsets are committed.
func (t *SinkTask) Put(_ context.Context, recs []plugins.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w == nil {
		return errors.New("FileStreamSink task is stopped")
	}
	if len(recs) == 0 {
		return nil
	}
	if err := t.checkPath(); err != nil {
		return err
	}
	for i := range recs {
		t.w.WriteString(plugins.ValueString(recs[i].Value))
		if err := t.w.WriteByte('\n'); err != nil {
			return fmt.Errorf("write %s: %w", t.name(), err)
		}
	}
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", t.name(), err)
	}
	return nil
}

// checkPath makes sure the file's name still leads to the open file
// before writing: lines written to a file whose directory was taken away
// would vanish with it. While the directory is gone Put fails retriably
// (the runtime redelivers the batch); a missing or different file under the
// name (the directory came back empty, the file was rotated) is opened for
// appending. Callers hold t.mu.
func (t *SinkTask) checkPath() error {
	if t.f == nil {
		return nil
	}
	named, err := os.Stat(t.filename)
	if err != nil {
		if _, derr := os.Stat(filepath.Dir(t.filename)); derr != nil {
			return &plugins.Retriable{Err: fmt.Errorf("sink file %s is gone with its directory, waiting for it to come back: %w", t.filename, derr)}
		}
		// The directory is there but the file is not: start a new one.
	} else if open, err := t.f.Stat(); err == nil && os.SameFile(named, open) {
		return nil
	}
	if err := t.flush(); err != nil {
		return &plugins.Retriable{Err: err}
	}
	t.f.Close()
	f, err := os.OpenFile(t.filename, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.f, t.w = nil, nil
		return fmt.Errorf("reopen %s for appending: %w", t.filename, err)
	}
	t.f = f
	t.w.Reset(f)
	return nil
}

func (t *SinkTask) name() string {
	if t.filename == "" {
		return "stdout"
	}
	return t.filename
}

func (t *SinkTask) flush() error {
	if t.w == nil {
		return nil
	}
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", t.name(), err)
	}
	if t.f != nil {
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", t.name(), err)
		}
	}
	return nil
}

// PreCommit flushes and syncs everything Put buffered, so every offset the
// runtime was about to commit is durable.
func (t *SinkTask) PreCommit(_ context.Context, current map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.flush(); err != nil {
		return nil, &plugins.Retriable{Err: err}
	}
	return current, nil
}

// Close flushes: the file is shared by all partitions.
func (t *SinkTask) Close([]plugins.TopicPartition) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flush()
}

// Stop flushes and closes the file.
func (t *SinkTask) Stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.flush()
	if t.f != nil {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
		t.f = nil
	}
	t.w = nil
	return err
}
