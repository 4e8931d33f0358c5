package jdbc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/plugins"
)

// sinkSettings are the parsed sink keys.
type sinkSettings struct {
	conn         connSettings
	insertMode   string
	pkMode       string
	pkFields     []string
	whitelist    []string
	autoCreate   bool
	autoEvolve   bool
	tableFormat  string
	deletes      bool
	batchSize    int
	maxRetries   int
	backoff      time.Duration
	quote        bool
	exactlyOnce  bool
	offsetsTable string
	connector    string
}

func parseSink(cfg plugins.Config) (*sinkSettings, error) {
	p, err := sinkConfigDef.Parse(cfg)
	if err != nil {
		return nil, err
	}
	cs, err := parseConnSettings(p)
	if err != nil {
		return nil, err
	}
	s := &sinkSettings{
		conn: cs, insertMode: strings.ToLower(p.String(InsertMode)), pkMode: strings.ToLower(p.String(PKMode)),
		pkFields: p.List(PKFields), whitelist: p.List(FieldsWhitelist), autoCreate: p.Bool(AutoCreate), autoEvolve: p.Bool(AutoEvolve),
		tableFormat: p.String(TableNameFormat), deletes: p.Bool(DeleteEnabled), batchSize: p.Int(BatchSize),
		maxRetries: p.Int(MaxRetries), backoff: time.Duration(p.Int(RetryBackoff)) * time.Millisecond,
		quote: strings.EqualFold(p.String(QuoteIdentifiers), "always"), exactlyOnce: p.Bool(ExactlyOnce),
		offsetsTable: p.String(ExactlyOnceTable), connector: p.String(connectorNameConfig),
	}
	if s.deletes && s.pkMode != "record_key" {
		return nil, fmt.Errorf("%s=true needs %s=record_key (a tombstone names its row by its key)", DeleteEnabled, PKMode)
	}
	if s.insertMode != "insert" && s.pkMode == "none" {
		return nil, fmt.Errorf("%s=%s needs a primary key: set %s", InsertMode, s.insertMode, PKMode)
	}
	if s.pkMode == "kafka" && len(s.pkFields) != 0 && len(s.pkFields) != 3 {
		return nil, fmt.Errorf("%s=kafka takes 3 %s (topic, partition and offset columns), got %d", PKMode, PKFields, len(s.pkFields))
	}
	if s.exactlyOnce && s.connector == "" {
		return nil, fmt.Errorf("%s=true needs the connector's name (key %q)", ExactlyOnce, connectorNameConfig)
	}
	return s, nil
}

// SinkConnector is the JdbcSink connector.
type SinkConnector struct{ cfg plugins.Config }

var _ plugins.SinkConnector = (*SinkConnector)(nil)

func (c *SinkConnector) ConfigDef() *plugins.ConfigDef { return sinkConfigDef }
func (c *SinkConnector) Version() string               { return plugins.Version }
func (c *SinkConnector) Stop() error                   { return nil }
func (c *SinkConnector) NewTask() plugins.SinkTask     { return &SinkTask{} }

// Start validates the configuration.
func (c *SinkConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := parseSink(cfg); err != nil {
		return fmt.Errorf("JdbcSink: %w", err)
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs gives every task the connector's configuration: the
// consumer group spreads the partitions.
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(c.cfg, maxTasks), nil
}

// SinkTask writes each Put in one transaction. All its methods run on the
// task goroutine.
type SinkTask struct {
	s      *sinkSettings
	tctx   plugins.SinkTaskContext
	log    *slog.Logger
	conn   *pgx.Conn
	tables map[string]*tableMeta // by SQL name
	names  map[string][2]string  // topic → SQL and raw table name
	shapes map[shapeKey]shapeEntry
	// exactly.once: the next offset per partition already in the
	// database; records below it are skipped (they were written).
	eos      map[plugins.TopicPartition]int64
	eosReady bool
	retries  int
	// dirty: written since the last PreCommit; lastClosed: the partitions
	// of the last Close (the final one before Stop). See Stop.
	dirty      bool
	lastClosed []plugins.TopicPartition
}

var _ plugins.SinkTask = (*SinkTask)(nil)

// Start reads the configuration; the connection opens with the first Put.
func (t *SinkTask) Start(tctx plugins.SinkTaskContext, cfg plugins.Config) error {
	s, err := parseSink(cfg)
	if err != nil {
		return fmt.Errorf("JdbcSink task: %w", err)
	}
	t.s, t.tctx = s, tctx
	t.log = slog.With("connector", s.connector)
	t.tables = map[string]*tableMeta{}
	t.names = map[string][2]string{}
	t.shapes = map[shapeKey]shapeEntry{}
	t.eos = map[plugins.TopicPartition]int64{}
	return nil
}

// Open loads the stored offsets of newly assigned partitions (exactly.once).
// A database that is down is not an error here: Put loads them first.
func (t *SinkTask) Open(tps []plugins.TopicPartition) error {
	if !t.s.exactlyOnce {
		return nil
	}
	t.eosReady = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.loadOffsets(ctx); err != nil {
		t.log.Warn("jdbc sink: loading exactly-once offsets; retrying on the next write", "err", err)
	}
	return nil
}

// Close forgets revoked partitions.
func (t *SinkTask) Close(tps []plugins.TopicPartition) error {
	for _, tp := range tps {
		delete(t.eos, tp)
	}
	t.lastClosed = tps
	return nil
}

// PreCommit: every Put is written before it returns.
func (t *SinkTask) PreCommit(_ context.Context, cur map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	t.dirty = false
	return cur, nil
}

// Stop closes the connection.
//
// With exactly.once, a task that stops after its final offset commit (no
// write since the last PreCommit, the partitions closed) marks their
// offsets clean: the consumer group then holds the same offsets as the
// table, so on the next start the group's offsets win. That is how
// KIP-875's PATCH and DELETE of a stopped connector's offsets take effect;
// after a crash the table is ahead of the group and wins.
func (t *SinkTask) Stop() error {
	if t.s != nil && t.s.exactlyOnce && !t.dirty && len(t.lastClosed) > 0 && t.conn != nil && !t.conn.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var topics []string
		var parts []int32
		for _, tp := range t.lastClosed {
			topics, parts = append(topics, tp.Topic), append(parts, tp.Partition)
		}
		if _, err := t.conn.Exec(ctx, "UPDATE "+t.offsetsTableSQL()+" AS o SET clean = true FROM unnest($2::text[], $3::int4[]) AS u(t, p) "+
			"WHERE o.connector = $1 AND o.topic = u.t AND o.kafka_partition = u.p", t.s.connector, topics, parts); err != nil {
			t.log.Warn("jdbc sink: marking exactly-once offsets clean", "err", err)
		}
		cancel()
	}
	if t.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := t.conn.Close(ctx)
		t.conn = nil
		return err
	}
	return nil
}

func (t *SinkTask) ensureConn(ctx context.Context) error {
	if t.conn != nil && !t.conn.IsClosed() {
		return nil
	}
	conn, err := t.s.conn.connect(ctx)
	if err != nil {
		return err
	}
	t.conn = conn
	t.tables = map[string]*tableMeta{}
	return nil
}

func (t *SinkTask) offsetsTableSQL() string { return t.s.sqlTableName(t.s.offsetsTable) }

// loadOffsets reads the exactly-once offsets of every partition of this
// connector (the table is created when missing).
func (t *SinkTask) loadOffsets(ctx context.Context) error {
	if err := t.ensureConn(ctx); err != nil {
		return err
	}
	tbl := t.offsetsTableSQL()
	if _, err := t.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+tbl+
		" (connector text NOT NULL, topic text NOT NULL, kafka_partition integer NOT NULL, next_offset bigint NOT NULL, clean boolean NOT NULL DEFAULT false, PRIMARY KEY (connector, topic, kafka_partition))"); err != nil {
		if !isDuplicateObject(err) {
			return fmt.Errorf("create %s: %w", tbl, err)
		}
	}
	var hasClean bool
	if err := t.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'clean')", tbl).Scan(&hasClean); err != nil {
		return fmt.Errorf("read columns of %s: %w", tbl, err)
	}
	if !hasClean { // a table from before the column existed
		if _, err := t.conn.Exec(ctx, "ALTER TABLE "+tbl+" ADD COLUMN IF NOT EXISTS clean boolean NOT NULL DEFAULT false"); err != nil {
			return fmt.Errorf("alter %s: %w", tbl, err)
		}
	}
	rows, err := t.conn.Query(ctx, "SELECT topic, kafka_partition, next_offset, clean FROM "+tbl+" WHERE connector = $1", t.s.connector)
	if err != nil {
		return fmt.Errorf("read %s: %w", tbl, err)
	}
	eos := map[plugins.TopicPartition]int64{}
	var tp plugins.TopicPartition
	var next int64
	var clean bool
	if _, err := pgx.ForEachRow(rows, []any{&tp.Topic, &tp.Partition, &next, &clean}, func() error {
		if !clean { // clean: the group's offsets equal these (see Stop) and win
			eos[tp] = next
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read %s: %w", tbl, err)
	}
	t.eos, t.eosReady = eos, true
	return nil
}

// Put writes recs in one transaction (with exactly.once, together with
// the offsets they advance to).
func (t *SinkTask) Put(ctx context.Context, recs []plugins.Record) error {
	if len(recs) == 0 {
		return nil
	}
	err := t.put(ctx, recs)
	if err == nil {
		t.retries = 0
		return nil
	}
	if ctx.Err() != nil {
		return &plugins.Retriable{Err: err}
	}
	if t.conn != nil && (transient(err) || t.conn.IsClosed()) {
		t.conn.Close(context.Background())
		t.conn = nil
	}
	if transient(err) {
		if t.retries >= t.s.maxRetries {
			return fmt.Errorf("jdbc sink: giving up after %d retries: %w", t.retries, err)
		}
		t.retries++
		t.log.Warn("jdbc sink: write failed; retrying", "attempt", t.retries, "of", t.s.maxRetries, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(t.s.backoff):
		}
		return &plugins.Retriable{Err: err}
	}
	return fmt.Errorf("jdbc sink: %w", err)
}

func (t *SinkTask) put(ctx context.Context, recs []plugins.Record) error {
	if err := t.ensureConn(ctx); err != nil {
		return err
	}
	if t.s.exactlyOnce && !t.eosReady {
		if err := t.loadOffsets(ctx); err != nil {
			return err
		}
	}
	// The offsets this Put advances to, and the records still to write.
	next := map[plugins.TopicPartition]int64{}
	todo := recs
	if t.s.exactlyOnce {
		todo = make([]plugins.Record, 0, len(recs))
		for _, r := range recs {
			tp := plugins.TopicPartition{Topic: r.Topic, Partition: r.Partition}
			if n, ok := t.eos[tp]; ok && r.Offset < n {
				continue // written before a crash: the database is ahead of the group
			}
			todo = append(todo, r)
			next[tp] = max(next[tp], r.Offset+1)
		}
		if len(todo) == 0 {
			return nil
		}
	}
	ops, bad := t.toOps(todo)
	if len(bad) > 0 {
		rep := t.reporter()
		if rep == nil {
			return bad[0].err
		}
		for _, b := range bad {
			rep(b.rec, b.err)
		}
	}
	err := t.write(ctx, ops, next, false)
	if err == nil || transient(err) || t.reporter() == nil || !dataError(err) {
		return err
	}
	// A record the database refuses: write the others one by one and
	// send the refused ones to the dead letter queue.
	t.log.Warn("jdbc sink: batch refused; writing record by record to find the bad ones", "err", err)
	return t.write(ctx, ops, next, true)
}

func (t *SinkTask) reporter() func(*plugins.Record, error) {
	if t.tctx == nil {
		return nil
	}
	return t.tctx.ErrantRecordReporter()
}

// write runs ops (and the exactly-once offsets) in one transaction.
// oneByOne isolates each op in a savepoint and reports the ones refused.
func (t *SinkTask) write(ctx context.Context, ops []*sinkOp, next map[plugins.TopicPartition]int64, oneByOne bool) (err error) {
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			t.tables = map[string]*tableMeta{} // DDL may have rolled back
		}
	}()
	for _, g := range groupOps(ops, t.s.insertMode) {
		meta, err := t.table(ctx, tx, g)
		if err != nil {
			return err
		}
		if meta == nil {
			continue
		}
		if oneByOne {
			for _, op := range g.ops {
				if _, err := tx.Exec(ctx, "SAVEPOINT weir_rec"); err != nil {
					return err
				}
				b := &pgx.Batch{}
				if err := t.queueRows(b, meta, g, []*sinkOp{op}); err != nil {
					return err
				}
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					if !dataError(err) {
						return err
					}
					if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT weir_rec"); rerr != nil {
						return rerr
					}
					t.reporter()(op.rec, fmt.Errorf("write to %s: %w", g.table, err))
				}
			}
			continue
		}
		if ok, err := t.copyRows(ctx, tx, meta, g); ok || err != nil {
			if err != nil {
				return fmt.Errorf("write to %s: %w", g.table, err)
			}
			continue
		}
		b := &pgx.Batch{}
		for chunk := range slices.Chunk(g.ops, t.s.batchSize) {
			if err := t.queue(b, meta, g, chunk); err != nil {
				return err
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write to %s: %w", g.table, err)
		}
	}
	if t.s.exactlyOnce && len(next) > 0 {
		var topics []string
		var parts []int32
		var offs []int64
		for tp, o := range next {
			topics, parts, offs = append(topics, tp.Topic), append(parts, tp.Partition), append(offs, o)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+t.offsetsTableSQL()+" (connector, topic, kafka_partition, next_offset) "+
			"SELECT $1, u.t, u.p, u.o FROM unnest($2::text[], $3::int4[], $4::int8[]) AS u(t, p, o) "+
			"ON CONFLICT (connector, topic, kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, clean = false",
			t.s.connector, topics, parts, offs); err != nil {
			return fmt.Errorf("write offsets to %s: %w", t.offsetsTableSQL(), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for tp, o := range next {
		t.eos[tp] = o
	}
	t.dirty, t.lastClosed = true, nil
	return nil
}

// dataError reports an error caused by the data or the schema rather
// than by the connection: retrying the same batch cannot help.
func dataError(err error) bool {
	code := pgCode(err)
	return strings.HasPrefix(code, "22") || strings.HasPrefix(code, "23") || strings.HasPrefix(code, "42")
}

var errNotStruct = errors.New("record value must be a Struct or a map (schemaless JSON)")
