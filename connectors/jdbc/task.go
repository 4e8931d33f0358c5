package jdbc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/weirlog/weir/plugins"
)

// SourceTask reads its tables one scan at a time: a scan is one read
// transaction (one snapshot) streaming the rows of one table that are new
// since the table's offset, handed out batch.max.rows per Poll. Poll runs
// on the task goroutine; Stop may come from another and cancels a scan in
// progress.
type SourceTask struct {
	s       *sourceSettings
	offsets plugins.OffsetReader
	log     *slog.Logger

	mu     sync.Mutex // held by Poll while it uses conn; Stop takes it to close conn
	conn   *pgx.Conn
	db     string
	tables []*tableState
	cur    *scan

	ctx    context.Context // cancelled by Stop: aborts a query in flight
	cancel context.CancelFunc
}

var _ plugins.SourceTask = (*SourceTask)(nil)

// tableState is one table (or the query) and its position.
type tableState struct {
	id        tableID // zero in query mode
	topic     string
	partition map[string]any
	legacy    map[string]any // Confluent protocol 0 partition, read when no protocol 1 offset exists
	loaded    bool           // offset read from the store
	next      time.Time      // when the next scan may start
	missing   bool           // the table was not found on the last attempt

	inc  int64
	ts   time.Time
	xmin int64

	plan *plan
}

// plan is how one table is read; rebuilt when its columns change.
type plan struct {
	sig         string
	cols        []*column
	meta        int // leading bookkeeping columns in the result
	keyIdx      []int
	valueSchema *plugins.Schema
	keySchema   *plugins.Schema
	sql         string
}

// rowPos is where a decoded row stands in its table's order: the
// bookkeeping columns its source offset is made of.
type rowPos struct {
	xid int64
	ts  time.Time
	inc int64
}

type scan struct {
	t     *tableState
	tx    pgx.Tx
	rows  pgx.Rows
	plan  *plan
	dec   []decoder // of the plan's columns, for this scan's result formats
	meta  []metaDecoder
	m     *pgtype.Map
	bound int64 // mode=xmin: every transaction below it had finished
	// The row read after a full batch (its successor decides the batch's
	// last offset), handed out first by the next Poll.
	peeked  bool
	peekRec plugins.Record
	peekPos rowPos
	slab    []any              // field values of the rows to come, carved per row
	structs plugins.StructSlab // the values' and keys' Structs, likewise
	batch   int                // batch.max.rows
	pos     rowPos             // of the row decoded last
	started time.Time
}

// Start reads the configuration; the connection is opened by Poll.
func (t *SourceTask) Start(tctx plugins.SourceTaskContext, cfg plugins.Config) error {
	s, err := parseSource(cfg)
	if err != nil {
		return fmt.Errorf("JdbcSource task: %w", err)
	}
	t.s = s
	if tctx != nil {
		t.offsets = tctx.Offsets()
	}
	t.log = slog.With("connector", cfg[connectorNameConfig])
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if s.query != "" {
		t.tables = []*tableState{{topic: s.topicPrefix, partition: map[string]any{queryKey: queryKey}}}
	}
	for _, id := range s.tables {
		t.tables = append(t.tables, &tableState{id: id, topic: s.topicPrefix + id.Name})
	}
	return nil
}

// Poll returns the next rows of the table being scanned, starting the scan
// of the table due next when none is in progress, or nil after a short
// wait when no table is due.
func (t *SourceTask) Poll(ctx context.Context) ([]plugins.Record, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return nil, nil
	}
	// A scan outlives one Poll, so its queries run under the task's own
	// context; the runtime cancels ctx only to stop the task, and then the
	// scan in flight is aborted too.
	qctx := t.ctx
	stop := context.AfterFunc(ctx, t.cancel)
	defer stop()

	if len(t.tables) == 0 {
		return nil, t.wait(ctx, time.Second)
	}
	if t.conn == nil {
		conn, err := t.s.conn.connect(qctx)
		if err != nil {
			return nil, t.fail(err)
		}
		t.conn = conn
		if err := conn.QueryRow(qctx, "SELECT current_database()").Scan(&t.db); err != nil {
			return nil, t.fail(err)
		}
		for _, ts := range t.tables {
			if ts.id.Name != "" {
				ts.partition = map[string]any{protocolKey: protocolVersion, tableKey: t.db + "." + ts.id.Schema + "." + ts.id.Name}
				ts.legacy = map[string]any{tableKey: ts.id.Name}
			}
		}
	}
	if t.cur == nil {
		ts := t.due()
		if ts == nil {
			next := t.tables[0].next
			for _, x := range t.tables {
				if x.next.Before(next) {
					next = x.next
				}
			}
			return nil, t.wait(ctx, min(time.Until(next), time.Second))
		}
		if err := t.begin(qctx, ts); err != nil {
			t.abort()
			var gone *tableGone
			if undefinedTable(err) || errors.As(err, &gone) {
				if !ts.missing {
					t.log.Warn("jdbc source: table not found; skipping it until it exists", "table", ts.id.String(), "err", err)
				}
				ts.missing, ts.plan = true, nil
				ts.next = time.Now().Add(t.s.pollInterval)
				return nil, nil
			}
			return nil, t.fail(err)
		}
		ts.missing = false
	}
	recs, err := t.read(qctx)
	if err != nil {
		t.abort()
		return nil, t.fail(err)
	}
	return recs, nil
}

// fail closes a broken connection and marks transient errors retriable.
func (t *SourceTask) fail(err error) error {
	if t.ctx.Err() != nil {
		return nil // stopping
	}
	if t.conn != nil && (transient(err) || t.conn.IsClosed()) {
		t.conn.Close(context.Background())
		t.conn = nil
	}
	return retriable(fmt.Errorf("jdbc source: %w", err))
}

func (t *SourceTask) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
	case <-t.ctx.Done():
	case <-time.After(d):
	}
	return nil
}

// due returns the table whose next scan is due first, or nil.
func (t *SourceTask) due() *tableState {
	var best *tableState
	now := time.Now()
	for _, ts := range t.tables {
		if !ts.next.After(now) && (best == nil || ts.next.Before(best.next)) {
			best = ts
		}
	}
	return best
}

// loadOffset reads the table's stored offset once.
func (t *SourceTask) loadOffset(ts *tableState, dbNow time.Time) error {
	if ts.loaded {
		return nil
	}
	ts.inc, ts.xmin = -1, 0
	ts.ts = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) // before any timestamp: nothing skipped
	if t.s.tsInitial != nil {
		if *t.s.tsInitial == timestampInitialCurr {
			ts.ts = dbNow
		} else {
			ts.ts = time.UnixMilli(*t.s.tsInitial)
		}
	}
	var off map[string]any
	if t.offsets != nil {
		var err error
		if off, err = t.offsets.Offset(ts.partition); err != nil {
			return fmt.Errorf("read offset of %v: %w", ts.partition, err)
		}
		if off == nil && ts.legacy != nil {
			if off, err = t.offsets.Offset(ts.legacy); err != nil {
				return fmt.Errorf("read offset of %v: %w", ts.legacy, err)
			}
		}
	}
	if v, ok := off[incrementingKey]; ok {
		n, ok := toInt64(v)
		if !ok {
			return fmt.Errorf("offset %v: %q is not a number", off, incrementingKey)
		}
		ts.inc = n
	}
	if v, ok := off[timestampKey]; ok {
		ms, ok := toInt64(v)
		if !ok {
			return fmt.Errorf("offset %v: %q is not a number", off, timestampKey)
		}
		tm := time.UnixMilli(ms)
		if nv, ok := off[timestampNanoKey]; ok {
			ns, ok := toInt64(nv)
			if !ok {
				return fmt.Errorf("offset %v: %q is not a number", off, timestampNanoKey)
			}
			sec := ms / 1000
			if ms < 0 && ms%1000 != 0 {
				sec--
			}
			tm = time.Unix(sec, ns)
		}
		ts.ts = tm
	}
	if v, ok := off[xminKey]; ok {
		n, ok := toInt64(v)
		if !ok {
			return fmt.Errorf("offset %v: %q is not a number", off, xminKey)
		}
		ts.xmin = n
	}
	ts.loaded = true
	return nil
}

// begin opens the read transaction of one scan and starts its query.
func (t *SourceTask) begin(ctx context.Context, ts *tableState) error {
	tx, err := t.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: t.s.isolation, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	sc := &scan{t: ts, tx: tx, m: t.conn.TypeMap(), started: time.Now(), batch: t.s.batchMax}
	sc.structs.Chunk = max(1, min(sc.batch, 1024))
	t.cur = sc
	// The first statement fixes the snapshot; its bounds come with it.
	var now time.Time
	var lo, hi int64
	if err := tx.QueryRow(ctx, "SELECT now(), pg_snapshot_xmin(pg_current_snapshot())::text::int8, pg_snapshot_xmax(pg_current_snapshot())::text::int8").Scan(&now, &lo, &hi); err != nil {
		return err
	}
	if err := t.loadOffset(ts, now); err != nil {
		return err
	}
	if t.s.mode == ModeXmin {
		// The scan sorts by xid: let a big first scan sort in memory (work_mem
		// is a cap, taken only as needed; a higher setting is kept).
		if _, err := tx.Exec(ctx, "SELECT set_config('work_mem', '256MB', true) WHERE pg_size_bytes(current_setting('work_mem')) < 268435456"); err != nil {
			return err
		}
	}
	if t.s.query == "" {
		if err := t.planTable(ctx, tx, ts); err != nil {
			return err
		}
	} else if ts.plan == nil {
		ts.plan = t.queryPlan()
	}
	sc.plan = ts.plan
	var args []any
	switch t.s.mode {
	case ModeIncrementing:
		args = []any{ts.inc}
	case ModeTimestamp:
		// In db.timezone: pgx binds a time to a timestamp-without-time-zone
		// column by its wall clock.
		args = []any{ts.ts.In(t.s.types.tz), now.Add(-t.s.tsDelay).In(t.s.types.tz)}
	case ModeTimestampIncrementing:
		args = []any{ts.ts.In(t.s.types.tz), ts.inc, now.Add(-t.s.tsDelay).In(t.s.types.tz)}
	case ModeXmin:
		sc.bound = lo
		args = []any{ts.xmin, lo, hi}
	}
	rows, err := tx.Query(ctx, sc.plan.sql, append([]any{binaryFormats}, args...)...)
	if err != nil {
		return err
	}
	sc.rows = rows
	fds := rows.FieldDescriptions()
	if t.s.query != "" && len(sc.plan.cols) == 0 {
		// A custom query is typed from its first result description.
		for _, fd := range fds[sc.plan.meta:] {
			sc.plan.cols = append(sc.plan.cols, planResultColumn(fd.Name, fd.DataTypeOID, fd.TypeModifier, t.s.types))
		}
		if err := sc.plan.buildSchemas("", nil); err != nil {
			return err
		}
	}
	if len(fds) != sc.plan.meta+len(sc.plan.cols) {
		ts.plan = nil // the query's columns changed under us: replan next scan
		return fmt.Errorf("query returned %d columns, expected %d; the table changed while read", len(fds), sc.plan.meta+len(sc.plan.cols))
	}
	sc.dec = make([]decoder, len(sc.plan.cols))
	for j, c := range sc.plan.cols {
		sc.dec[j] = c.decoder(sc.m, fds[sc.plan.meta+j].Format)
	}
	// The bookkeeping columns decode by the type they arrive as.
	sc.meta = nil
	for i, fd := range fds[:sc.plan.meta] {
		mc := planResultColumn(fd.Name, fd.DataTypeOID, fd.TypeModifier, typeSettings{tz: t.s.types.tz})
		name := mc.name
		if i == 0 && t.s.mode == ModeXmin {
			name = "__weir_xid"
		}
		sc.meta = append(sc.meta, newMetaDecoder(sc.m, mc, fd.Format, name, sc.t.label(), t.s.mode))
	}
	return nil
}

// metaDecoder reads one bookkeeping column (the incrementing id, the
// timestamp, the 64-bit xid) of a row into the row.
type metaDecoder func(raw []byte, r *rowPos) error

func newMetaDecoder(m *pgtype.Map, mc *column, format int16, name, table, mode string) metaDecoder {
	null := func() error {
		return fmt.Errorf("table %s: NULL in %s column %q: such rows cannot be ordered and are never read", table, mode, name)
	}
	switch mc.kind {
	case kTimestamp, kTimestamptz, kDate:
		dec := mc.decoder(m, format)
		return func(raw []byte, r *rowPos) error {
			if raw == nil {
				return null()
			}
			v, err := dec(raw)
			if err != nil {
				return fmt.Errorf("table %s: %w", table, err)
			}
			r.ts = v.(time.Time)
			return nil
		}
	}
	// An integer (or integral numeric) column: pgx scans it into an int64.
	var n int64
	plan := m.PlanScan(mc.oid, format, &n)
	return func(raw []byte, r *rowPos) error {
		if raw == nil {
			return null()
		}
		if err := plan.Scan(raw, &n); err != nil {
			return fmt.Errorf("table %s: column %q: %w", table, name, err)
		}
		if name == "__weir_xid" {
			r.xid = n
		} else {
			r.inc = n
		}
		return nil
	}
}

// abort ends the scan in progress, if any.
func (t *SourceTask) abort() {
	if t.cur == nil {
		return
	}
	if t.cur.rows != nil {
		t.cur.rows.Close()
	}
	if t.conn != nil && !t.conn.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = t.cur.tx.Rollback(ctx)
		cancel()
	}
	t.cur = nil
}

// read hands out up to batch.max.rows rows of the current scan, each with
// its source offset, and ends the scan when its rows are exhausted.
func (t *SourceTask) read(ctx context.Context) (_ []plugins.Record, err error) {
	sc := t.cur
	ts := sc.t
	// The table's position moves with the rows handed out, and only with
	// them: a batch that is not returned (the connection dropped mid-scan,
	// or the read-only transaction's COMMIT failed after its last row)
	// leaves the position where it was, so the next scan reads those rows
	// again instead of resuming past them.
	inc, tsv, xmin := ts.inc, ts.ts, ts.xmin
	defer func() {
		if err != nil {
			ts.inc, ts.ts, ts.xmin = inc, tsv, xmin
		}
	}()
	// Rows are decoded straight into the slice handed out; each row's
	// offset is set once the row after it is known.
	// A first batch of up to 8192 records; a whole batch.max.rows once
	// the scan has filled one (growing the slice would copy every record).
	size := min(t.s.batchMax, 8192)
	if sc.peeked {
		size = t.s.batchMax
	}
	recs := make([]plugins.Record, 0, size)
	var cur rowPos
	more := false
	if sc.peeked {
		recs = append(recs, sc.peekRec)
		cur, more = sc.peekPos, true
		sc.peeked, sc.peekRec = false, plugins.Record{}
	} else {
		recs = grow(recs)
		if more, err = sc.next(&recs[0]); err != nil {
			return nil, err
		}
		cur = sc.pos
		if !more {
			recs = recs[:0]
		}
	}
	// Consecutive rows with the same offset (one transaction's rows in
	// xmin mode, one timestamp's) share its map.
	var off map[string]any
	var offTS time.Time
	var offX int64
	for more {
		i := len(recs) - 1
		full := len(recs) >= t.s.batchMax
		dst := &sc.peekRec
		if !full {
			recs = grow(recs)
			dst = &recs[len(recs)-1]
		}
		if more, err = sc.next(dst); err != nil {
			return nil, err
		}
		nx := sc.pos
		r := &recs[i]
		r.SourcePartition = ts.partition
		switch t.s.mode {
		case ModeIncrementing:
			ts.inc = cur.inc
			r.SourceOffset = map[string]any{incrementingKey: cur.inc}
		case ModeTimestamp:
			// The offset passes a timestamp only with the last row that
			// has it: a restart then re-reads, not skips, its other rows.
			if !more || !nx.ts.Equal(cur.ts) {
				ts.ts = cur.ts
			}
			if off == nil || !offTS.Equal(ts.ts) {
				off, offTS = tsOffset(ts.ts), ts.ts
			}
			r.SourceOffset = off
		case ModeTimestampIncrementing:
			ts.ts, ts.inc = cur.ts, cur.inc
			o := tsOffset(cur.ts)
			o[incrementingKey] = cur.inc
			r.SourceOffset = o
		case ModeXmin:
			// Resume at the first transaction not wholly delivered.
			switch {
			case !more:
				ts.xmin = sc.bound
			case nx.xid > cur.xid:
				ts.xmin = cur.xid + 1
			default:
				ts.xmin = cur.xid
			}
			if off == nil || offX != ts.xmin {
				off, offX = map[string]any{xminKey: ts.xmin}, ts.xmin
			}
			r.SourceOffset = off
		}
		if !more {
			if !full {
				recs = recs[:len(recs)-1]
			}
			break
		}
		if full {
			sc.peeked, sc.peekPos = true, nx // the first row of the next Poll
			return recs, nil
		}
		cur = nx
	}
	// Exhausted: end the transaction; the table is due again one poll
	// interval after this scan started.
	if err := sc.rows.Err(); err != nil {
		return nil, err
	}
	sc.rows.Close()
	if err := sc.tx.Commit(ctx); err != nil {
		return nil, err
	}
	if t.s.mode == ModeXmin {
		ts.xmin = max(ts.xmin, sc.bound)
	}
	ts.next = sc.started.Add(t.s.pollInterval)
	t.cur = nil
	return recs, nil
}

// grow extends recs by one zero record. Within its capacity that is only
// a reslice: make zeroed the memory and nothing has written it since
// (appending a zero Record would write its 144 bytes once more before
// next writes the record).
func grow(recs []plugins.Record) []plugins.Record {
	if len(recs) < cap(recs) {
		return recs[:len(recs)+1]
	}
	return append(recs, plugins.Record{})
}

func tsOffset(tm time.Time) map[string]any {
	return map[string]any{timestampKey: tm.UnixMilli(), timestampNanoKey: int64(tm.Nanosecond())}
}

// values returns n fresh field values, cut from a slab shared by the next
// rows of the scan (one allocation for many structs).
func (sc *scan) values(n, batch int) []any {
	if len(sc.slab) < n {
		sc.slab = make([]any, n*max(1, min(batch, 1024)))
	}
	v := sc.slab[:n:n]
	sc.slab = sc.slab[n:]
	return v
}

// next decodes the scan's next row into rec, a zero Record (only its
// fields of a source record are set), and sc.pos; false at its end.
func (sc *scan) next(rec *plugins.Record) (bool, error) {
	if !sc.rows.Next() {
		return false, nanHint(sc.rows.Err(), sc.plan, sc.t)
	}
	raw := sc.rows.RawValues()
	p := sc.plan
	// Bookkeeping columns first, in the order queryFor selects them.
	for j, md := range sc.meta {
		if err := md(raw[j], &sc.pos); err != nil {
			return false, err
		}
	}
	raw = raw[len(sc.meta):]
	batch := sc.batch
	vals := sc.values(len(sc.dec), batch)
	for j, dec := range sc.dec {
		if b := raw[j]; b != nil {
			v, err := dec(b)
			if err != nil {
				return false, fmt.Errorf("table %s: %w", sc.t.label(), err)
			}
			vals[j] = v
		}
	}
	val, err := sc.structs.New(p.valueSchema, vals)
	if err != nil {
		return false, fmt.Errorf("table %s: %w", sc.t.label(), err)
	}
	rec.Topic, rec.Partition, rec.Value, rec.ValueSchema = sc.t.topic, -1, val, p.valueSchema
	if p.keySchema != nil {
		kv := sc.values(len(p.keyIdx), batch)
		for i, k := range p.keyIdx {
			kv[i] = vals[k]
		}
		key, err := sc.structs.New(p.keySchema, kv)
		if err != nil {
			return false, fmt.Errorf("table %s key: %w", sc.t.label(), err)
		}
		rec.Key, rec.KeySchema = key, p.keySchema
	}
	return true, nil
}

// nanHint explains the server's error for a NaN in a Decimal column that
// is selected as its unscaled bigint (column.selectUnscaled).
func nanHint(err error, p *plan, ts *tableState) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "NaN") {
		return err
	}
	for _, c := range p.cols {
		if c.unscaled {
			return fmt.Errorf("table %s: a NaN numeric cannot be represented as Decimal (use numeric.mapping=best_fit): %w", ts.label(), err)
		}
	}
	return err
}

func (ts *tableState) label() string {
	if ts.id.Name == "" {
		return "(query)"
	}
	return ts.id.String()
}

// CommitRecord does nothing: the runtime stores the offsets.
func (t *SourceTask) CommitRecord(*plugins.Record) error { return nil }

// Commit does nothing: the runtime stores the offsets.
func (t *SourceTask) Commit() error { return nil }

// Stop aborts a query in flight and closes the connection.
func (t *SourceTask) Stop() error {
	if t.cancel == nil {
		return nil
	}
	t.cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.abort()
	if t.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := t.conn.Close(ctx)
		t.conn = nil
		return err
	}
	return nil
}

var catalogSQL = `SELECT a.attname, a.attnotnull, bt.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, bt.typtype,
       COALESCE(et.oid, 0), COALESCE(et.typtype, ''), COALESCE((SELECT k.i FROM unnest(pk.indkey) WITH ORDINALITY AS k(n, i) WHERE k.n = a.attnum), 0)::int4,
       a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
LEFT JOIN pg_catalog.pg_index pk ON pk.indrelid = a.attrelid AND pk.indisprimary
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

type catalogCol struct {
	pgColumn
	pkPos  int
	serial bool
}

// planTable reads the table's columns (in the scan's snapshot) and
// rebuilds its plan when they changed.
func (t *SourceTask) planTable(ctx context.Context, tx pgx.Tx, ts *tableState) error {
	rows, err := tx.Query(ctx, catalogSQL, ts.id.quoted())
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalogCol, error) {
		var c catalogCol
		err := r.Scan(&c.name, &c.notNull, &c.oid, &c.typmod, &c.typtype, &c.elem, &c.elemTyp, &c.pkPos, &c.serial)
		return c, err
	})
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return &tableGone{ts.id}
	}
	sig := fmt.Sprint(cols)
	if ts.plan != nil && ts.plan.sig == sig {
		return nil
	}
	p := &plan{sig: sig}
	var pk []string
	pkByPos := map[int]int{}
	for i, c := range cols {
		col := planColumn(c.pgColumn, t.s.types)
		col.selectUnscaled(c.typmod)
		p.cols = append(p.cols, col)
		if c.pkPos > 0 {
			pkByPos[c.pkPos] = i
		}
	}
	for pos := 1; pos <= len(pkByPos); pos++ {
		if i, ok := pkByPos[pos]; ok {
			p.keyIdx = append(p.keyIdx, i)
			pk = append(pk, cols[i].name)
		}
	}
	find := func(name string) *catalogCol {
		for i := range cols {
			if cols[i].name == name {
				return &cols[i]
			}
		}
		return nil
	}
	inc := t.s.incColumn
	if t.s.mode == ModeIncrementing || t.s.mode == ModeTimestampIncrementing {
		if inc == "" {
			for _, c := range cols {
				if c.serial {
					inc = c.name
					break
				}
			}
			if inc == "" && len(pk) == 1 {
				if k := nativeKinds[cols[p.keyIdx[0]].oid]; k == kInt16 || k == kInt32 || k == kInt64 {
					inc = pk[0]
				}
			}
			if inc == "" {
				return fmt.Errorf("table %s: no %s given and no serial/identity column or integer primary key to use", ts.id, IncrementingColumn)
			}
		}
		c := find(inc)
		if c == nil {
			return fmt.Errorf("table %s has no incrementing column %q", ts.id, inc)
		}
		if t.s.validateNN && !c.notNull {
			return fmt.Errorf("table %s: incrementing column %q is nullable; rows with NULL in it are never read (make it NOT NULL or set %s=false)", ts.id, inc, ValidateNonNull)
		}
	}
	if t.s.mode == ModeTimestamp || t.s.mode == ModeTimestampIncrementing {
		for _, name := range t.s.tsColumns {
			c := find(name)
			if c == nil {
				return fmt.Errorf("table %s has no timestamp column %q", ts.id, name)
			}
			if t.s.validateNN && !c.notNull && len(t.s.tsColumns) == 1 {
				return fmt.Errorf("table %s: timestamp column %q is nullable; rows with NULL in it are never read (make it NOT NULL or set %s=false)", ts.id, name, ValidateNonNull)
			}
		}
	}
	if !t.s.pkKeys {
		p.keyIdx = nil
	}
	if err := p.buildSchemas(ts.id.Name, p.keyIdx); err != nil {
		return err
	}
	exprs := make([]string, len(p.cols))
	for i, c := range p.cols {
		exprs[i] = c.expr + " AS " + quoteIdent(c.name)
	}
	p.sql, p.meta = t.queryFor(ts.id.quoted()+" AS t", strings.Join(exprs, ", "), inc)
	ts.plan = p
	return nil
}

type tableGone struct{ id tableID }

func (e *tableGone) Error() string { return fmt.Sprintf("relation %s does not exist", e.id) }

// queryPlan is the plan of a custom query; its columns are filled from the
// first result.
func (t *SourceTask) queryPlan() *plan {
	p := &plan{}
	p.sql, p.meta = t.queryFor("("+t.s.query+") AS t", "t.*", t.s.incColumn)
	return p
}

// queryFor builds the scan query of the mode over from (a table or a
// subquery), selecting the bookkeeping columns first, then cols.
func (t *SourceTask) queryFor(from, cols, inc string) (string, int) {
	tsExpr := ""
	if len(t.s.tsColumns) > 0 {
		var q []string
		for _, c := range t.s.tsColumns {
			q = append(q, "t."+quoteIdent(c))
		}
		// Bare columns, no casts, so that an index on them serves the scan.
		tsExpr = q[0]
		if len(q) > 1 {
			tsExpr = "COALESCE(" + strings.Join(q, ", ") + ")"
		}
	}
	incExpr := "t." + quoteIdent(inc)
	var sql string
	meta := 0
	switch t.s.mode {
	case ModeBulk:
		sql = "SELECT " + cols + " FROM " + from
	case ModeIncrementing:
		sql = "SELECT " + incExpr + ", " + cols + " FROM " + from + " WHERE " + incExpr + " > $1 ORDER BY " + incExpr
		meta = 1
	case ModeTimestamp:
		sql = "SELECT " + tsExpr + ", " + cols + " FROM " + from + " WHERE " + tsExpr + " > $1 AND " + tsExpr + " < $2 ORDER BY " + tsExpr
		meta = 1
	case ModeTimestampIncrementing:
		sql = "SELECT " + tsExpr + ", " + incExpr + ", " + cols + " FROM " + from + " WHERE " + tsExpr + " < $3 AND ((" +
			tsExpr + " = $1 AND " + incExpr + " > $2) OR " + tsExpr + " > $1) ORDER BY " + tsExpr + ", " + incExpr
		meta = 2
	case ModeXmin:
		// The 32-bit xmin of each row made 64-bit: the latest xid with
		// those low bits below the snapshot's xmax ($3), i.e.
		// (xmax-1) - ((xmax-1-xmin) mod 2^32). OFFSET 0 keeps the
		// subquery from being flattened, so it is computed once per row.
		full := fullXid("t.xmin::text::int8", "$3::int8")
		sql = "SELECT * FROM (SELECT " + full + " AS __weir_xid, " + cols + " FROM " + from + " OFFSET 0) AS s WHERE __weir_xid >= $1 AND __weir_xid < $2 ORDER BY __weir_xid"
		meta = 1
	}
	if t.s.suffix != "" {
		sql += " " + t.s.suffix
	}
	return sql, meta
}

// buildSchemas makes the value schema (named after the table, as
// Confluent does) and the key schema of the primary-key columns.
func (p *plan) buildSchemas(name string, keyIdx []int) error {
	vb := plugins.StructBuilder()
	if name != "" {
		vb.Name(name)
	}
	for _, c := range p.cols {
		vb.Field(c.name, c.schema)
	}
	vs, err := vb.Build()
	if err != nil {
		return fmt.Errorf("value schema: %w", err)
	}
	p.valueSchema = vs
	if len(keyIdx) > 0 {
		kb := plugins.StructBuilder()
		for _, i := range keyIdx {
			kb.Field(p.cols[i].name, p.cols[i].schema)
		}
		if p.keySchema, err = kb.Build(); err != nil {
			return fmt.Errorf("key schema: %w", err)
		}
	}
	return nil
}

// asInt64 reads an integer bookkeeping value.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// fullXid is the SQL for the 64-bit transaction id whose low 32 bits are
// x32, taking the latest such id below xmax (every row visible in a
// snapshot was written below its xmax, and no row is 2^32 xids older
// than that without having been frozen and rewritten… or skipped: such a
// row may be read once more, never lost).
func fullXid(x32, xmax string) string {
	return "((" + xmax + ") - 1) - (((" + xmax + ") - 1 - (" + x32 + ")) & 4294967295)"
}
