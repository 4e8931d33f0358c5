package hdfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"

	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
)

// Configuration keys (Confluent's HDFS sink names).
const (
	URLConfig        = "hdfs.url"
	UserConfig       = "hdfs.user"
	LogsDirConfig    = "logs.dir"
	HadoopConfConfig = "hadoop.conf.dir"
	PartSizeConfig   = "hdfs.part.size"
)

var formats = map[string]func(*plugins.ParsedConfig, bool) (storage.Format, error){}

func formatNames() []string {
	var out []string
	for _, pkg := range []string{"io.confluent.connect.hdfs3.", "io.confluent.connect.hdfs."} {
		for k, f := range map[string]func(*plugins.ParsedConfig, bool) (storage.Format, error){
			"json.JsonFormat": storage.JSONFormat, "string.StringFormat": storage.StringFormat,
			"avro.AvroFormat": storage.AvroFormat, "parquet.ParquetFormat": storage.ParquetFormatPlain,
		} {
			formats[pkg+k] = f
			formats[k[strings.IndexByte(k, '.')+1:]] = f
			out = append(out, pkg+k)
		}
	}
	return append(out, "JsonFormat", "StringFormat", "AvroFormat", "ParquetFormat")
}

var configDef = storage.ConfigDef(formatNames(), "io.confluent.connect.hdfs3.json.JsonFormat").
	Define(plugins.ConfigKey{Name: URLConfig, Type: plugins.ConfigString, Default: plugins.NoDefault, Importance: plugins.High,
		Validator: plugins.ValidatorFunc("an hdfs:// URL", func(_ string, v any) error {
			_, err := parseURL(v.(string))
			return err
		}), Documentation: "The HDFS NameNode, hdfs://host:port (or hdfs://nameservice with hadoop.conf.dir)"}).
	Define(plugins.ConfigKey{Name: UserConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium,
		Documentation: "The user files are written as; empty: $HADOOP_USER_NAME or the OS user"}).
	Define(plugins.ConfigKey{Name: LogsDirConfig, Type: plugins.ConfigString, Default: "logs", Importance: plugins.Low,
		Documentation: "Accepted for compatibility; weir needs no write-ahead log (positions come from the file names)"}).
	Define(plugins.ConfigKey{Name: HadoopConfConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Low,
		Documentation: "A directory with core-site.xml/hdfs-site.xml (HA name services)"}).
	Define(plugins.ConfigKey{Name: PartSizeConfig, Type: plugins.ConfigInt, Default: int32(4 << 20), Validator: plugins.Between(64<<10, 1<<30), Importance: plugins.Low,
		Documentation: "A file is written to its temp file in parts of this many bytes while it fills, so an open file holds about two parts in memory; a smaller file is written at once when it closes (weir's key, not Confluent's)"})

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "hdfs" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an hdfs://host:port URL", s)
	}
	return u, nil
}

func init() {
	for _, class := range []string{"io.confluent.connect.hdfs3.Hdfs3SinkConnector", "io.confluent.connect.hdfs.HdfsSinkConnector"} {
		plugins.Register(plugins.Registration{
			Class: class, Type: plugins.PluginSink,
			Doc: "Archive topics to HDFS files, exactly once",
			New: func() any { return &Connector{} },
		})
	}
}

// Connector is the HDFS sink connector.
type Connector struct{ cfg plugins.Config }

var _ plugins.SinkConnector = (*Connector)(nil)

func (c *Connector) ConfigDef() *plugins.ConfigDef { return configDef }
func (c *Connector) Version() string               { return plugins.Version }
func (c *Connector) Stop() error                   { return nil }
func (c *Connector) NewTask() plugins.SinkTask     { return &storage.Task{NewBackend: newBackend} }

// Start validates the configuration.
func (c *Connector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := parse(cfg); err != nil {
		return err
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs: every task the same; the group spreads the partitions.
func (c *Connector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(c.cfg, maxTasks), nil
}

func parse(cfg plugins.Config) (*plugins.ParsedConfig, error) {
	p, err := configDef.Parse(cfg)
	if err != nil {
		return nil, fmt.Errorf("HDFS sink: %w", err)
	}
	return p, nil
}

// Client connects to the NameNode the sink's keys name (tests and the
// bench use it too).
func Client(p *plugins.ParsedConfig) (*hdfs.Client, error) {
	u, err := parseURL(p.String(URLConfig))
	if err != nil {
		return nil, err
	}
	opts := hdfs.ClientOptions{Addresses: []string{u.Host}}
	if dir := p.String(HadoopConfConfig); dir != "" {
		conf, err := hadoopconf.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("HDFS sink: %s: %w", HadoopConfConfig, err)
		}
		opts = hdfs.ClientOptionsFromConf(conf)
		if u.Port() != "" || len(opts.Addresses) == 0 {
			opts.Addresses = []string{u.Host}
		}
	}
	opts.User = p.String(UserConfig)
	if opts.User == "" {
		opts.User = os.Getenv("HADOOP_USER_NAME")
	}
	if opts.User == "" {
		if cu, err := user.Current(); err == nil {
			opts.User = cu.Username
		}
	}
	cl, err := hdfs.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("HDFS sink: connect to %s: %w", u.Host, err)
	}
	// The client fetches the NameNode's server defaults on its first
	// Create and caches them without a lock: two files created at once
	// (one stored behind Put while Put begins the next) raced on that
	// cache under go test -race. Fetch them before the client is shared,
	// within opTimeout like every call to a NameNode that may hang.
	done := make(chan error, 1)
	go func() { _, err := cl.ServerDefaults(); done <- err }()
	select {
	case err = <-done:
	case <-time.After(opTimeout):
		err = fmt.Errorf("no answer within %s", opTimeout)
	}
	if err != nil {
		go cl.Close() // Close waits for a stuck call's lock
		return nil, fmt.Errorf("HDFS sink: server defaults from %s: %w", u.Host, err)
	}
	return cl, nil
}

func newBackend(cfg plugins.Config) (*storage.Backend, error) {
	p, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	set, err := storage.Parse(p, formats, false)
	if err != nil {
		return nil, fmt.Errorf("HDFS sink: %w", err)
	}
	cl, err := Client(p)
	if err != nil {
		return nil, err
	}
	return &storage.Backend{Name: "HDFS sink", Store: &store{p: p, cl: cl, topicsDir: set.TopicsDir, partSize: p.Int(PartSizeConfig)}, Settings: set,
		Naming: storage.Naming{TopicsDir: set.TopicsDir, DirDelim: set.DirDelim, FileDelim: set.FileDelim, WithEnd: true}}, nil
}

type store struct {
	p         *plugins.ParsedConfig
	topicsDir string
	partSize  int
	// The core stores one file in the background while Put recovers
	// another partition, so two operations may run at once.
	mu   sync.Mutex
	cl   *hdfs.Client    // nil after an operation timed out: reconnect
	dirs map[string]bool // directories made already
}

// client returns the current client, connecting when there is none.
func (s *store) client() (*hdfs.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl == nil {
		cl, err := Client(s.p)
		if err != nil {
			return nil, err
		}
		s.cl = cl
	}
	return s.cl, nil
}

// opTimeout bounds one operation: the client's NameNode calls take no
// deadline, and a hung NameNode must surface as a retriable error.
const opTimeout = 5 * time.Second

// dataTimeout bounds a streamed file's writes (a part; the last bytes and
// the close): losing one loses the file (storage.ErrRestartFile), while a
// write that waits out a short stall of the DataNodes goes on where it
// was; the writer's deadline bounds its DataNode I/O meanwhile.
const dataTimeout = 30 * time.Second

// do runs f with the client, abandoning (closing) the client when f does
// not return within opTimeout; the next operation reconnects.
func (s *store) do(ctx context.Context, f func(cl *hdfs.Client) error) error {
	return s.doWithin(ctx, opTimeout, f)
}

// doWithin is do with the time f gets.
func (s *store) doWithin(ctx context.Context, timeout time.Duration, f func(cl *hdfs.Client) error) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(cl) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// Close waits for the stuck call's lock: do not wait with it.
		// Only the first operation to give up on cl closes it: the
		// client panics when closed twice (two operations stuck on one
		// hung NameNode, e.g. a file stored behind Put and the next Put).
		s.mu.Lock()
		if s.cl == cl {
			s.cl = nil
			go cl.Close()
		}
		s.mu.Unlock()
		return fmt.Errorf("HDFS did not answer within %s: %w", timeout, ctx.Err())
	}
}

func abs(p string) string { return "/" + strings.TrimPrefix(p, "/") }

// tmpPath is where a file is written before its rename: under
// /<topics.dir>/+tmp/, named after the file so recovery finds it by
// partition.
func (s *store) tmpPath(p string) string {
	rel := strings.TrimPrefix(p, s.topicsDir+"/")
	var r [8]byte
	rand.Read(r[:])
	return abs(path.Join(s.topicsDir, "+tmp", path.Dir(rel), path.Base(rel)+"."+hex.EncodeToString(r[:])+"_tmp"))
}

func (s *store) Commit(ctx context.Context, p string, data []byte, _ int64) error {
	return s.do(ctx, func(cl *hdfs.Client) error { return s.commit(ctx, cl, p, data) })
}

func (s *store) commit(ctx context.Context, cl *hdfs.Client, p string, data []byte) error {
	tmp := s.tmpPath(p)
	if err := s.mkdirAll(cl, path.Dir(tmp)); err != nil {
		return err
	}
	w, err := cl.Create(tmp)
	if err != nil {
		s.forgetDirs() // removed behind our back? make them again next time
		return fmt.Errorf("create temp file: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		w.SetDeadline(dl)
	}
	if err := writePackets(w, data); err != nil {
		w.Close()
		cl.Remove(tmp)
		return fmt.Errorf("write temp file: %w", err)
	}
	// Close waits for every DataNode's acknowledgement of every packet and
	// completes the file at the NameNode, so the data is durable before
	// the rename (a Flush first, the client's hflush, only cost a round
	// trip of the pipeline).
	if err := closeFile(ctx, w); err != nil {
		cl.Remove(tmp)
		return err
	}
	final := abs(p)
	if err := s.mkdirAll(cl, path.Dir(final)); err != nil {
		return err
	}
	if err := cl.Rename(tmp, final); err != nil {
		s.forgetDirs()
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// mkdirAll makes dir once per store: a NameNode round trip per file for
// directories that exist already was a fifth of a file's commit.
func (s *store) mkdirAll(cl *hdfs.Client, dir string) error {
	s.mu.Lock()
	known := s.dirs[dir]
	s.mu.Unlock()
	if known {
		return nil
	}
	if err := cl.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	s.mu.Lock()
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	s.dirs[dir] = true
	s.mu.Unlock()
	return nil
}

func (s *store) forgetDirs() {
	s.mu.Lock()
	s.dirs = nil
	s.mu.Unlock()
}

// closeFile completes the file; the NameNode answers ErrReplicating while
// the last block is not yet minimally replicated, which passes.
func closeFile(ctx context.Context, w *hdfs.FileWriter) error {
	delay := 50 * time.Millisecond
	for {
		err := w.Close()
		if !errors.Is(err, hdfs.ErrReplicating) {
			if err != nil {
				return fmt.Errorf("close temp file: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("close temp file: still replicating: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

func (s *store) List(ctx context.Context, dir string) ([]string, error) {
	res := make(chan []string, 1)
	if err := s.do(ctx, func(cl *hdfs.Client) error {
		out, err := s.list(cl, dir)
		res <- out
		return err
	}); err != nil {
		return nil, err
	}
	return <-res, nil
}

func (s *store) list(cl *hdfs.Client, dir string) ([]string, error) {
	var out []string
	err := cl.Walk(abs(dir), func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !info.IsDir() {
			out = append(out, strings.TrimPrefix(p, "/"))
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

func (s *store) EndOffset(context.Context, string) (int64, error) {
	return 0, errors.New("HDFS file names carry their end offset")
}

func (s *store) ReadMarker(ctx context.Context, p string) ([]byte, bool, error) {
	res := make(chan []byte, 1)
	err := s.do(ctx, func(cl *hdfs.Client) error {
		b, err := cl.ReadFile(abs(p))
		res <- b
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return <-res, true, nil
}

func (s *store) WriteMarker(ctx context.Context, p string, data []byte) error {
	return s.Commit(ctx, p, data, 0)
}

// Recover removes temp files of tp a crashed writer left under +tmp
// (deleting a file also drops its lease).
func (s *store) Recover(ctx context.Context, topicsDir string, tp plugins.TopicPartition) error {
	return s.do(ctx, func(cl *hdfs.Client) error { return s.recover(cl, topicsDir, tp) })
}

func (s *store) recover(cl *hdfs.Client, topicsDir string, tp plugins.TopicPartition) error {
	prefix := tp.Topic + "+" + strconv.Itoa(int(tp.Partition)) + "+"
	var stale []string
	err := cl.Walk(abs(path.Join(topicsDir, "+tmp", tp.Topic)), func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !info.IsDir() && strings.HasPrefix(path.Base(p), prefix) {
			stale = append(stale, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, p := range stale {
		if err := cl.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale temp file %s: %w", p, err)
		}
	}
	return nil
}

func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl == nil {
		return nil
	}
	err := s.cl.Close()
	s.cl = nil
	return err
}
