package jdbc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/plugins"
)

// Source offset and partition keys, as Confluent's JDBC source writes them.
const (
	protocolKey      = "protocol"
	protocolVersion  = "1"
	tableKey         = "table"
	queryKey         = "query"
	incrementingKey  = "incrementing"
	timestampKey     = "timestamp"
	timestampNanoKey = "timestamp_nanos"
	xminKey          = "xmin"
)

// sourceSettings are the parsed source keys.
type sourceSettings struct {
	conn         connSettings
	mode         string
	query        string
	suffix       string
	incColumn    string
	tsColumns    []string
	tsInitial    *int64
	tsDelay      time.Duration
	validateNN   bool
	include      []string
	exclude      []string
	schemaPat    *string
	relkinds     []string
	topicPrefix  string
	pollInterval time.Duration
	batchMax     int
	tablePoll    time.Duration
	types        typeSettings
	isolation    pgx.TxIsoLevel
	pkKeys       bool
	tables       []tableID
}

func parseSource(cfg plugins.Config) (*sourceSettings, error) {
	p, err := sourceConfigDef.Parse(cfg)
	if err != nil {
		return nil, err
	}
	cs, err := parseConnSettings(p)
	if err != nil {
		return nil, err
	}
	s := &sourceSettings{
		conn: cs, mode: p.String(Mode), query: strings.TrimSpace(p.String(Query)), suffix: p.String(QuerySuffix),
		incColumn: p.String(IncrementingColumn), tsColumns: p.List(TimestampColumn),
		tsDelay: time.Duration(p.Long(TimestampDelay)) * time.Millisecond, validateNN: p.Bool(ValidateNonNull),
		include: append(p.List(TableWhitelist), p.List(TableIncludeList)...), exclude: append(p.List(TableBlacklist), p.List(TableExcludeList)...),
		topicPrefix: p.String(TopicPrefix), pollInterval: time.Duration(p.Int(PollInterval)) * time.Millisecond,
		batchMax: p.Int(BatchMaxRows), tablePoll: time.Duration(p.Long(TablePollInterval)) * time.Millisecond,
		types:  typeSettings{numeric: p.String(NumericMapping), granularity: p.String(TimestampGranularity), tz: cs.tz},
		pkKeys: p.Bool(KeyFromPrimaryKey),
	}
	if v := p.Get(TimestampInitial); v != nil {
		n := v.(int64)
		s.tsInitial = &n
	}
	if v := p.Get(SchemaPattern); v != nil && v.(string) != "" {
		sp := v.(string)
		s.schemaPat = &sp
	}
	for _, t := range p.List(TableTypes) {
		switch strings.ToUpper(t) {
		case "TABLE":
			s.relkinds = append(s.relkinds, "r")
		case "VIEW":
			s.relkinds = append(s.relkinds, "v")
		case "MATERIALIZED VIEW":
			s.relkinds = append(s.relkinds, "m")
		case "FOREIGN TABLE":
			s.relkinds = append(s.relkinds, "f")
		case "PARTITIONED TABLE":
			s.relkinds = append(s.relkinds, "p")
		}
	}
	switch p.String(TransactionIsolation) {
	case "READ_UNCOMMITTED":
		s.isolation = pgx.ReadUncommitted
	case "READ_COMMITTED":
		s.isolation = pgx.ReadCommitted
	case "SERIALIZABLE":
		s.isolation = pgx.Serializable
	default: // DEFAULT, REPEATABLE_READ, SQL_SERVER_SNAPSHOT: one snapshot per scan
		s.isolation = pgx.RepeatableRead
	}
	if s.mode == ModeXmin && (s.isolation == pgx.ReadCommitted || s.isolation == pgx.ReadUncommitted) {
		// xmin's bound is only sound for the snapshot the rows are read in.
		s.isolation = pgx.RepeatableRead
	}
	switch s.mode {
	case ModeTimestamp, ModeTimestampIncrementing:
		if len(s.tsColumns) == 0 {
			return nil, fmt.Errorf("mode=%s needs %s", s.mode, TimestampColumn)
		}
	}
	if s.query != "" && s.mode == ModeXmin {
		return nil, fmt.Errorf("mode=xmin reads tables (it needs their xmin system column); it does not work with %s", Query)
	}
	if s.query != "" && s.mode != ModeBulk && s.mode != ModeTimestamp && s.incColumn == "" {
		return nil, fmt.Errorf("mode=%s with %s needs %s", s.mode, Query, IncrementingColumn)
	}
	if s.tables, err = decodeTables(p.String(tablesConfig)); err != nil {
		return nil, err
	}
	return s, nil
}

// SourceConnector is the JdbcSource connector: it finds the tables to copy
// and spreads them over tasks, and notices tables created or dropped while
// it runs.
type SourceConnector struct {
	cfg  plugins.Config
	s    *sourceSettings
	cctx plugins.ConnectorContext

	mu     sync.Mutex
	tables []tableID
	listed bool

	stop chan struct{}
	done chan struct{}
}

var _ plugins.SourceConnector = (*SourceConnector)(nil)

func (c *SourceConnector) ConfigDef() *plugins.ConfigDef { return sourceConfigDef }
func (c *SourceConnector) Version() string               { return plugins.Version }
func (c *SourceConnector) NewTask() plugins.SourceTask   { return &SourceTask{} }

// Start validates the configuration and lists the tables. A database that
// is down is not an error here: the table monitor keeps trying and asks
// for task configurations once it has seen the tables.
func (c *SourceConnector) Start(cctx plugins.ConnectorContext, cfg plugins.Config) error {
	s, err := parseSource(cfg)
	if err != nil {
		return fmt.Errorf("JdbcSource: %w", err)
	}
	c.cfg, c.s, c.cctx = maps.Clone(cfg), s, cctx
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	if s.query != "" {
		close(c.done)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tables, err := c.list(ctx)
	if err != nil && !transient(err) {
		close(c.done)
		return fmt.Errorf("JdbcSource: list tables: %w", err)
	}
	if err == nil {
		c.tables, c.listed = tables, true
	} else {
		slog.Warn("jdbc source: cannot list tables yet; retrying", "err", err)
	}
	go c.monitor()
	return nil
}

func (c *SourceConnector) list(ctx context.Context) ([]tableID, error) {
	conn, err := c.s.conn.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return listTables(ctx, conn, c.s)
}

// monitor re-lists the tables every table.poll.interval.ms and asks for a
// reconfiguration when the set changed.
func (c *SourceConnector) monitor() {
	defer close(c.done)
	for {
		wait := c.s.tablePoll
		c.mu.Lock()
		if !c.listed {
			wait = min(wait, c.s.conn.backoff+time.Second)
		}
		c.mu.Unlock()
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			select {
			case <-c.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		tables, err := c.list(ctx)
		cancel()
		if err != nil {
			slog.Warn("jdbc source: listing tables", "err", err)
			continue
		}
		c.mu.Lock()
		changed := !c.listed || !slices.Equal(tables, c.tables)
		c.tables, c.listed = tables, true
		c.mu.Unlock()
		if changed {
			slog.Info("jdbc source: tables changed; reconfiguring tasks", "tables", len(tables))
			c.cctx.RequestTaskReconfiguration()
		}
	}
}

// TaskConfigs spreads the tables over at most maxTasks tasks, round robin
// over the sorted list; a query runs in one task.
func (c *SourceConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	if c.s.query != "" {
		return []plugins.Config{maps.Clone(c.cfg)}, nil
	}
	c.mu.Lock()
	tables := slices.Clone(c.tables)
	c.mu.Unlock()
	n := min(max(maxTasks, 1), len(tables))
	groups := make([][]tableID, n)
	for i, t := range tables {
		groups[i%n] = append(groups[i%n], t)
	}
	out := make([]plugins.Config, 0, n)
	for _, g := range groups {
		tc := maps.Clone(c.cfg)
		tc[tablesConfig] = encodeTables(g)
		out = append(out, tc)
	}
	return out, nil
}

// Stop ends the table monitor.
func (c *SourceConnector) Stop() error {
	if c.stop != nil {
		select {
		case <-c.stop:
		default:
			close(c.stop)
		}
		<-c.done
	}
	return nil
}

var relkindSQL = `SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = ANY($1) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
  AND ($2::text IS NULL OR n.nspname LIKE $2) AND has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2`

// listTables returns the relations to copy, after include/exclude lists.
func listTables(ctx context.Context, conn *pgx.Conn, s *sourceSettings) ([]tableID, error) {
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, relkindSQL, s.relkinds, s.schemaPat)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tableID, error) {
		var t tableID
		err := r.Scan(&t.Schema, &t.Name)
		return t, err
	})
	if err != nil {
		return nil, err
	}
	matches := func(list []string, t tableID) bool {
		for _, e := range list {
			if e == t.Name || e == t.Schema+"."+t.Name || e == db+"."+t.Schema+"."+t.Name {
				return true
			}
		}
		return false
	}
	out := all[:0]
	for _, t := range all {
		if (len(s.include) == 0 || matches(s.include, t)) && !matches(s.exclude, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// toInt64 reads a number from a stored offset, whatever type the offset
// store decoded it as.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case float64:
		return int64(x), float64(int64(x)) == x
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		return n, err == nil
	case string:
		var n int64
		_, err := fmt.Sscan(x, &n)
		return n, err == nil
	}
	return 0, false
}

var errStopped = errors.New("jdbc source task stopped")
