package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/weirlog/weir/plugins"
)

// SourceConnector is the FileStreamSource connector.
type SourceConnector struct {
	cfg plugins.Config
}

var _ plugins.SourceConnector = (*SourceConnector)(nil)

func (c *SourceConnector) ConfigDef() *plugins.ConfigDef { return sourceConfigDef }
func (c *SourceConnector) Version() string               { return plugins.Version }
func (c *SourceConnector) Stop() error                   { return nil }
func (c *SourceConnector) NewTask() plugins.SourceTask   { return &SourceTask{} }

// Start validates the configuration.
func (c *SourceConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := sourceConfigDef.Parse(cfg); err != nil {
		return fmt.Errorf("FileStreamSource: %w", err)
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs returns one task: a file has one reader.
func (c *SourceConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return []plugins.Config{maps.Clone(c.cfg)}, nil
}

// pollWait is how long Poll waits for new data before returning nil, as
// Kafka's task waits one second.
var pollWait = time.Second

// SourceTask tails one file. Poll runs on the task goroutine; Stop may
// come from another and makes a waiting Poll return at once.
type SourceTask struct {
	filename  string
	topic     string
	batchSize int
	offsets   plugins.OffsetReader
	part      map[string]any // the source partition, shared by all records (never modified)

	mu       sync.Mutex // guards f and r against Stop closing them
	f        io.ReadCloser
	r        io.Reader
	pending  []byte // bytes read after the last complete line
	position int64  // byte offset just after the last emitted line
	opened   bool

	stopOnce sync.Once
	stop     chan struct{}
}

// Start reads the configuration; the file is opened by the first Poll
// (it may not exist yet).
func (t *SourceTask) Start(tctx plugins.SourceTaskContext, cfg plugins.Config) error {
	p, err := sourceConfigDef.Parse(cfg)
	if err != nil {
		return fmt.Errorf("FileStreamSource task: %w", err)
	}
	t.filename = p.String(FileConfig)
	t.topic = p.List(TopicConfig)[0]
	t.batchSize = p.Int(BatchSizeConfig)
	t.part = nil
	if t.filename != "" {
		t.part = map[string]any{FilenameField: t.filename}
	}
	if tctx != nil {
		t.offsets = tctx.Offsets()
	}
	t.stop = make(chan struct{})
	return nil
}

func (t *SourceTask) partition() map[string]any {
	if t.filename == "" {
		return nil
	}
	if t.part == nil {
		t.part = map[string]any{FilenameField: t.filename}
	}
	return t.part
}

// positionOf reads a stored position, whatever numeric type the offset
// store decoded it as.
func positionOf(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || x < 0 {
			return 0, fmt.Errorf("invalid position %v", x)
		}
		return int64(x), nil
	case json.Number:
		return x.Int64()
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("offset %q has unexpected type %T", PositionField, v)
}

// open opens the file and seeks to the committed position. It reports
// false (no error) when the file does not exist yet.
func (t *SourceTask) open() (bool, error) {
	if t.filename == "" {
		sr := startStdin()
		t.f, t.r, t.opened = io.NopCloser(sr), sr, true
		return true, nil
	}
	// Checked at every open: the file may appear later, as a symlink.
	path, err := checkPath(t.filename)
	if err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &plugins.Retriable{Err: fmt.Errorf("open %s: %w", t.filename, err)}
	}
	var pos int64
	if t.offsets != nil {
		off, err := t.offsets.Offset(t.partition())
		if err != nil {
			f.Close()
			return false, &plugins.Retriable{Err: fmt.Errorf("read offset of %s: %w", t.filename, err)}
		}
		if v, ok := off[PositionField]; ok && v != nil {
			if pos, err = positionOf(v); err != nil {
				f.Close()
				return false, fmt.Errorf("offset of %s: %w", t.filename, err)
			}
		}
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && pos > st.Size() {
		pos = 0 // the file was truncated or replaced since the offset was stored
	}
	if pos > 0 {
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			f.Close()
			return false, fmt.Errorf("seek %s to %d: %w", t.filename, pos, err)
		}
	}
	t.f, t.r, t.position, t.opened = f, f, pos, true
	return true, nil
}

// Poll returns up to batch.size complete lines, or nil after waiting up to
// a second when there are none.
func (t *SourceTask) Poll(ctx context.Context) ([]plugins.Record, error) {
	recs, err := t.read()
	if err != nil || len(recs) > 0 {
		return recs, err
	}
	select {
	case <-ctx.Done():
	case <-t.stop:
	case <-time.After(pollWait):
	}
	return nil, nil
}

func (t *SourceTask) stopped() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

func (t *SourceTask) read() ([]plugins.Record, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped() {
		return nil, nil
	}
	if !t.opened {
		ok, err := t.open()
		if err != nil || !ok {
			return nil, err
		}
	}
	var recs []plugins.Record
	buf := make([]byte, 32<<10)
	for {
		recs = t.takeLines(recs)
		if len(recs) >= t.batchSize {
			break
		}
		n, err := t.r.Read(buf)
		t.pending = append(t.pending, buf[:n]...)
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			// Nothing more for now: emit what this read completed.
			recs = t.takeLines(recs)
			break
		}
		if err != nil {
			return recs, &plugins.Retriable{Err: fmt.Errorf("read %s: %w", t.filename, err)}
		}
	}
	if len(t.pending) == 0 {
		t.pending = nil // let a large buffer go
	}
	if len(recs) == 0 {
		if err := t.checkPath(); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// checkPath runs when the open file has nothing new: if its name no longer
// leads to it, the file was taken away (its directory unmounted, the file
// renamed or deleted) and the task reports that as a retriable error until
// the name is back. A different file under the name (replaced) is opened
// afresh by the next Poll, from the stored offset.
func (t *SourceTask) checkPath() error {
	f, ok := t.f.(*os.File)
	if !ok || t.filename == "" {
		return nil
	}
	named, err := os.Stat(t.filename)
	if err != nil {
		return &plugins.Retriable{Err: fmt.Errorf("source file %s is gone, waiting for it to come back: %w", t.filename, err)}
	}
	if open, err := f.Stat(); err == nil && !os.SameFile(named, open) {
		f.Close()
		t.f, t.r, t.opened, t.pending = nil, nil, false, nil
	}
	return nil
}

// takeLines moves complete lines from pending into recs, up to
// batch.size records. The lines taken share one string allocation.
func (t *SourceTask) takeLines(recs []plugins.Record) []plugins.Record {
	// First pass: how many bytes the complete lines to take span.
	want := t.batchSize - len(recs)
	end, lines := 0, 0
	for lines < want {
		_, n, ok := nextLine(t.pending[end:])
		if !ok {
			break
		}
		end += n
		lines++
	}
	if lines == 0 {
		return recs
	}
	if recs == nil {
		recs = make([]plugins.Record, 0, min(t.batchSize, max(lines, 1024)))
	}
	// Second pass over pending (not chunk: whether a trailing \r ends a
	// line depends on the byte after it), slicing the lines out of chunk.
	chunk := string(t.pending[:end])
	for pos := 0; pos < end; {
		line, n, _ := nextLine(t.pending[pos:])
		t.position += int64(n)
		recs = append(recs, t.record(chunk[pos:pos+len(line)]))
		pos += n
	}
	t.pending = t.pending[end:]
	return recs
}

// nextLine finds the first complete line in b. It returns the line without
// its terminator and the number of bytes consumed. A trailing lone \r is
// not complete: a \n may follow.
func nextLine[T ~string | ~[]byte](b T) (line T, n int, ok bool) {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			return b[:i], i + 1, true
		case '\r':
			if i+1 == len(b) {
				return line, 0, false
			}
			if b[i+1] == '\n' {
				return b[:i], i + 2, true
			}
			return b[:i], i + 1, true
		}
	}
	return line, 0, false
}

func (t *SourceTask) record(line string) plugins.Record {
	r := plugins.Record{
		Topic:       t.topic,
		Partition:   -1,
		Value:       line,
		ValueSchema: plugins.StringSchema,
	}
	if p := t.partition(); p != nil {
		r.SourcePartition = p
		r.SourceOffset = map[string]any{PositionField: t.position}
	}
	return r
}

// CommitRecord does nothing: files need no acknowledgement.
func (t *SourceTask) CommitRecord(*plugins.Record) error { return nil }

// Commit does nothing: the runtime stores the offsets.
func (t *SourceTask) Commit() error { return nil }

// Stop wakes a waiting Poll and closes the file.
func (t *SourceTask) Stop() error {
	if t.stop == nil {
		return nil
	}
	t.stopOnce.Do(func() { close(t.stop) })
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f != nil && t.filename != "" {
		err := t.f.Close()
		t.f = nil
		return err
	}
	return nil
}

// stdinReader pumps standard input from a goroutine so that Poll never
// blocks on it (and Stop is never stuck behind a read). Read returns
// (0, nil) when nothing has arrived yet.
type stdinReader struct {
	ch   chan []byte
	rest []byte
	eof  bool
}

var (
	stdinOnce sync.Once
	stdinR    *stdinReader
)

// startStdin starts the one process-wide stdin pump.
func startStdin() *stdinReader {
	stdinOnce.Do(func() {
		stdinR = &stdinReader{ch: make(chan []byte, 16)}
		go func() {
			for {
				b := make([]byte, 32<<10)
				n, err := os.Stdin.Read(b)
				if n > 0 {
					stdinR.ch <- b[:n]
				}
				if err != nil {
					close(stdinR.ch)
					return
				}
			}
		}()
	})
	return stdinR
}

func (s *stdinReader) Read(p []byte) (int, error) {
	if len(s.rest) == 0 {
		select {
		case b, ok := <-s.ch:
			if !ok {
				return 0, io.EOF
			}
			s.rest = b
		default:
			return 0, nil
		}
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}
