package jdbc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/weirlog/weir/plugins"
)

// sinkCol is one destination column of a record.
type sinkCol struct {
	name   string
	schema *plugins.Schema // nil for schemaless values
}

// sinkOp is one record turned into a row write (or delete).
type sinkOp struct {
	rec      *plugins.Record
	table    string // SQL name
	rawTable string // as table.name.format made it
	del      bool
	cols     []sinkCol // primary-key columns first
	vals     []any     // Connect values, aligned with cols
	npk      int
	shape    string // table, kind and column names: ops of one shape share a statement
	key      string // table and primary-key values, for collapsing
}

type badRecord struct {
	rec *plugins.Record
	err error
}

func (s *sinkSettings) ident(name string) string {
	if s.quote {
		return quoteIdent(name)
	}
	return name
}

// colKey is the name PostgreSQL stores for a column the sink writes.
func (s *sinkSettings) colKey(name string) string {
	if s.quote {
		return name
	}
	return strings.ToLower(name)
}

// sqlTableName spells a table name (schema.table) for SQL, as
// table.name.format resolved it.
func (s *sinkSettings) sqlTableName(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	for i, p := range parts {
		parts[i] = s.ident(p)
	}
	return strings.Join(parts, ".")
}

// toOps turns records into row operations; records that cannot be written
// (wrong shape, no key) come back as bad.
func (t *SinkTask) toOps(recs []plugins.Record) ([]*sinkOp, []badRecord) {
	ops := make([]*sinkOp, 0, len(recs))
	var bad []badRecord
	for i := range recs {
		r := &recs[i]
		op, err := t.toOp(r)
		if err != nil {
			bad = append(bad, badRecord{r, fmt.Errorf("record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)})
			continue
		}
		if op != nil {
			ops = append(ops, op)
		}
	}
	return ops, bad
}

func (t *SinkTask) toOp(r *plugins.Record) (*sinkOp, error) {
	s := t.s
	tn, ok := t.names[r.Topic]
	if !ok {
		raw := strings.ReplaceAll(s.tableFormat, "${topic}", r.Topic)
		tn = [2]string{s.sqlTableName(raw), raw}
		t.names[r.Topic] = tn
	}
	op := &sinkOp{rec: r, table: tn[0], rawTable: tn[1]}
	if r.Value == nil {
		if !s.deletes {
			return nil, nil // a tombstone without delete.enabled: nothing to write
		}
		op.del = true
	}
	// Primary-key columns.
	switch s.pkMode {
	case "kafka":
		names := s.pkFields
		if len(names) == 0 {
			names = []string{"__connect_topic", "__connect_partition", "__connect_offset"}
		}
		op.cols = []sinkCol{{names[0], plugins.StringSchema}, {names[1], plugins.Int32Schema}, {names[2], plugins.Int64Schema}}
		op.vals = []any{r.Topic, r.Partition, r.Offset}
	case "record_key":
		if r.Key == nil {
			return nil, errors.New("pk.mode=record_key but the record has a null key")
		}
		fs, vs, err := fieldsOf(r.Key, r.KeySchema)
		if errors.Is(err, errNotStruct) { // a primitive key
			if len(s.pkFields) != 1 {
				return nil, fmt.Errorf("a primitive key needs exactly one column name in %s, got %v", PKFields, s.pkFields)
			}
			ks := r.KeySchema
			if ks == nil {
				ks = plugins.InferSchema(r.Key)
			}
			fs, vs = []sinkCol{{s.pkFields[0], ks}}, []any{r.Key}
		} else if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		} else if len(s.pkFields) > 0 {
			fs, vs, err = pick(fs, vs, s.pkFields, "key")
			if err != nil {
				return nil, err
			}
		}
		op.cols, op.vals = fs, vs
	}
	op.npk = len(op.cols)
	if !op.del {
		fs, vs, err := fieldsOf(r.Value, r.ValueSchema)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if len(s.whitelist) > 0 {
			var kf []sinkCol
			var kv []any
			for i, f := range fs {
				if slices.Contains(s.whitelist, f.name) || (s.pkMode == "record_value" && slices.Contains(s.pkFields, f.name)) {
					kf, kv = append(kf, f), append(kv, vs[i])
				}
			}
			fs, vs = kf, kv
		}
		if s.pkMode == "record_value" {
			names := s.pkFields
			if len(names) == 0 {
				for _, f := range fs {
					names = append(names, f.name)
				}
			}
			pf, pv, err := pick(fs, vs, names, "value")
			if err != nil {
				return nil, err
			}
			op.cols, op.vals, op.npk = pf, pv, len(pf)
		}
		if len(op.cols) == 0 {
			op.cols, op.vals = fs, vs
		} else {
			for i, f := range fs {
				if !slices.ContainsFunc(op.cols, func(c sinkCol) bool { return c.name == f.name }) {
					op.cols, op.vals = append(op.cols, f), append(op.vals, vs[i])
				}
			}
		}
	}
	if len(op.cols) == 0 {
		return nil, errors.New("nothing to write: no fields")
	}
	// Records of one table and schemas share their shape: build it once.
	var sk shapeKey
	if _, isStruct := r.Value.(*plugins.Struct); isStruct || op.del {
		sk = shapeKey{op.table, op.del, r.KeySchema, r.ValueSchema}
		if sh, ok := t.shapes[sk]; ok && len(sh.cols) == len(op.cols) {
			op.shape = sh.shape
		}
	}
	if op.shape == "" {
		op.shape = shapeOf(op)
		if sk.table != "" {
			if len(t.shapes) >= 1024 {
				clear(t.shapes) // schemas decoded anew per record must not grow it
			}
			t.shapes[sk] = shapeEntry{cols: op.cols, shape: op.shape}
		}
	}
	if op.npk > 0 {
		kb, _ := json.Marshal(jsonable(op.vals[:op.npk]))
		op.key = op.table + "\x00" + string(kb)
	}
	return op, nil
}

type shapeKey struct {
	table  string
	del    bool
	ks, vs *plugins.Schema
}

type shapeEntry struct {
	cols  []sinkCol
	shape string
}

func shapeOf(op *sinkOp) string {
	var sb strings.Builder
	sb.WriteString(op.table)
	if op.del {
		sb.WriteString("\x00D")
	} else {
		sb.WriteString("\x00W")
	}
	for _, c := range op.cols {
		sb.WriteByte(0)
		sb.WriteString(c.name)
	}
	return sb.String()
}

// fieldsOf lists a Struct's or a schemaless map's fields, in schema order
// (maps: sorted by name).
func fieldsOf(v any, s *plugins.Schema) ([]sinkCol, []any, error) {
	switch x := v.(type) {
	case *plugins.Struct:
		sc := x.Schema()
		cols := make([]sinkCol, len(sc.Fields))
		vals := make([]any, len(sc.Fields))
		for i := range sc.Fields {
			f := &sc.Fields[i]
			cols[i], vals[i] = sinkCol{f.Name, f.Schema}, x.GetField(f)
		}
		return cols, vals, nil
	case map[string]any:
		names := make([]string, 0, len(x))
		for k := range x {
			names = append(names, k)
		}
		sort.Strings(names)
		cols := make([]sinkCol, len(names))
		vals := make([]any, len(names))
		for i, n := range names {
			var fs *plugins.Schema
			if s != nil && s.ValueSchema != nil {
				fs = s.ValueSchema
			}
			cols[i], vals[i] = sinkCol{n, fs}, x[n]
		}
		return cols, vals, nil
	}
	return nil, nil, errNotStruct
}

func pick(fs []sinkCol, vs []any, names []string, what string) ([]sinkCol, []any, error) {
	var pf []sinkCol
	var pv []any
	for _, n := range names {
		i := slices.IndexFunc(fs, func(c sinkCol) bool { return c.name == n })
		if i < 0 {
			return nil, nil, fmt.Errorf("primary-key field %q is not in the record %s", n, what)
		}
		if vs[i] == nil {
			return nil, nil, fmt.Errorf("primary-key field %q of the record %s is null", n, what)
		}
		pf, pv = append(pf, fs[i]), append(pv, vs[i])
	}
	return pf, pv, nil
}

// opGroup is a run of ops written by one statement (per batch.size).
type opGroup struct {
	table string
	del   bool
	cols  []sinkCol
	npk   int
	ops   []*sinkOp
}

// groupOps orders and groups ops. With keys and a mode that tolerates
// it (upsert, update, deletes), only the last op per key is kept — the
// final state of the batch, which a multi-row statement needs since it
// may touch a row once — and ops are grouped by shape. insert mode keeps
// every op in order, grouping consecutive ops of one shape.
func groupOps(ops []*sinkOp, mode string) []*opGroup {
	collapse := mode != "insert"
	if !collapse {
		for _, op := range ops {
			if op.del {
				collapse = true // a delete among inserts: keep per-key order by collapsing
				break
			}
		}
	}
	var groups []*opGroup
	if collapse {
		last := map[string]int{}
		for i, op := range ops {
			if op.key != "" {
				last[op.key] = i
			}
		}
		byShape := map[string]*opGroup{}
		for i, op := range ops {
			if op.key != "" && last[op.key] != i {
				continue
			}
			g := byShape[op.shape]
			if g == nil {
				g = &opGroup{table: op.table, del: op.del, cols: op.cols, npk: op.npk}
				byShape[op.shape] = g
				groups = append(groups, g)
			}
			g.ops = append(g.ops, op)
		}
		// Deletes first within the Put: after collapsing they name other
		// keys than the writes, so this only keeps the statements few.
		slices.SortStableFunc(groups, func(a, b *opGroup) int {
			switch {
			case a.del && !b.del:
				return -1
			case !a.del && b.del:
				return 1
			}
			return 0
		})
		return groups
	}
	var g *opGroup
	for _, op := range ops {
		if g == nil || g.ops[0].shape != op.shape {
			g = &opGroup{table: op.table, del: op.del, cols: op.cols, npk: op.npk}
			groups = append(groups, g)
		}
		g.ops = append(g.ops, op)
	}
	return groups
}

// tableMeta is what the sink knows of a destination table.
type tableMeta struct {
	cols map[string]*metaCol
	pk   []string
}

type metaCol struct {
	name    string
	typ     string // format_type
	oid     uint32
	array   bool
	notNull bool
}

var sinkCatalogSQL = `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, t.typcategory = 'A', a.attnotnull,
       COALESCE((SELECT k.i FROM unnest(pk.indkey) WITH ORDINALITY AS k(n, i) WHERE k.n = a.attnum), 0)::int4
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_index pk ON pk.indrelid = a.attrelid AND pk.indisprimary
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

func readTableMeta(ctx context.Context, tx pgx.Tx, table string) (*tableMeta, error) {
	rows, err := tx.Query(ctx, sinkCatalogSQL, table)
	if err != nil {
		return nil, err
	}
	m := &tableMeta{cols: map[string]*metaCol{}}
	pk := map[int]string{}
	var c metaCol
	var pos int
	if _, err := pgx.ForEachRow(rows, []any{&c.name, &c.typ, &c.oid, &c.array, &c.notNull, &pos}, func() error {
		cc := c
		m.cols[c.name] = &cc
		if pos > 0 {
			pk[pos] = c.name
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(m.cols) == 0 {
		return nil, nil
	}
	for i := 1; i <= len(pk); i++ {
		m.pk = append(m.pk, pk[i])
	}
	return m, nil
}

// table returns the destination of g, creating it or adding its missing
// columns as auto.create / auto.evolve allow.
func (t *SinkTask) table(ctx context.Context, tx pgx.Tx, g *opGroup) (*tableMeta, error) {
	s := t.s
	m := t.tables[g.table]
	if m == nil {
		var err error
		if m, err = readTableMeta(ctx, tx, g.table); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", g.table, err)
		}
	}
	if m == nil {
		if !s.autoCreate {
			return nil, &schemaError{fmt.Sprintf("table %s does not exist (set %s=true to create it)", g.table, AutoCreate)}
		}
		if g.del {
			return nil, nil // nothing to delete from a table that does not exist
		}
		var defs []string
		for i, c := range g.cols {
			typ, err := pgTypeFor(c.schema, firstValue(g.ops, i))
			if err != nil {
				return nil, fmt.Errorf("auto.create %s column %q: %w", g.table, c.name, err)
			}
			d := s.ident(c.name) + " " + typ
			if i < g.npk || (c.schema != nil && !c.schema.Optional) {
				d += " NOT NULL"
			}
			if def := sqlDefault(c.schema); def != "" {
				d += " DEFAULT " + def
			}
			defs = append(defs, d)
		}
		if g.npk > 0 {
			var pk []string
			for _, c := range g.cols[:g.npk] {
				pk = append(pk, s.ident(c.name))
			}
			defs = append(defs, "PRIMARY KEY ("+strings.Join(pk, ", ")+")")
		}
		ddl := "CREATE TABLE IF NOT EXISTS " + g.table + " (" + strings.Join(defs, ", ") + ")"
		t.log.Info("jdbc sink: auto.create", "sql", ddl)
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return nil, fmt.Errorf("auto.create %s: %w", g.table, err)
		}
		var err error
		if m, err = readTableMeta(ctx, tx, g.table); err != nil || m == nil {
			return nil, fmt.Errorf("read columns of %s after creating it: %v", g.table, err)
		}
	}
	var missing []int
	for i, c := range g.cols {
		if m.cols[s.colKey(c.name)] == nil {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		if !s.autoEvolve {
			var names []string
			for _, i := range missing {
				names = append(names, g.cols[i].name)
			}
			return nil, &schemaError{fmt.Sprintf("table %s has no column(s) %s (set %s=true to add them)", g.table, strings.Join(names, ", "), AutoEvolve)}
		}
		for _, i := range missing {
			c := g.cols[i]
			if c.schema != nil && !c.schema.Optional && c.schema.Default == nil {
				return nil, &schemaError{fmt.Sprintf("auto.evolve %s: cannot add required field %q without a default", g.table, c.name)}
			}
			typ, err := pgTypeFor(c.schema, firstValue(g.ops, i))
			if err != nil {
				return nil, fmt.Errorf("auto.evolve %s column %q: %w", g.table, c.name, err)
			}
			ddl := "ALTER TABLE " + g.table + " ADD COLUMN IF NOT EXISTS " + s.ident(c.name) + " " + typ
			if def := sqlDefault(c.schema); def != "" {
				ddl += " DEFAULT " + def
			}
			t.log.Info("jdbc sink: auto.evolve", "sql", ddl)
			if _, err := tx.Exec(ctx, ddl); err != nil {
				return nil, fmt.Errorf("auto.evolve %s: %w", g.table, err)
			}
		}
		var err error
		if m, err = readTableMeta(ctx, tx, g.table); err != nil || m == nil {
			return nil, fmt.Errorf("read columns of %s after altering it: %v", g.table, err)
		}
	}
	t.tables[g.table] = m
	return m, nil
}

// schemaError is a destination that does not fit the records; it is not
// retried.
type schemaError struct{ msg string }

func (e *schemaError) Error() string { return e.msg }

func firstValue(ops []*sinkOp, i int) any {
	for _, op := range ops {
		if i < len(op.vals) && op.vals[i] != nil {
			return op.vals[i]
		}
	}
	return nil
}

// pgTypeFor is the column type auto.create and auto.evolve give a field
// (the table in doc.go).
func pgTypeFor(s *plugins.Schema, sample any) (string, error) {
	if s == nil {
		switch sample.(type) {
		case bool:
			return "boolean", nil
		case int8, int16:
			return "smallint", nil
		case int32:
			return "integer", nil
		case int64:
			return "bigint", nil
		case float32:
			return "real", nil
		case float64:
			return "double precision", nil
		case []byte:
			return "bytea", nil
		case time.Time:
			return "timestamp", nil
		case *big.Rat:
			return "numeric", nil
		case map[string]any, map[any]any, []any, *plugins.Struct:
			return "jsonb", nil
		}
		return "text", nil
	}
	switch s.Name {
	case plugins.DecimalName:
		// The schema's scale, so the column reads back as the same Decimal
		// (an unconstrained numeric has no scale of its own).
		scale, err := s.DecimalScale()
		if err != nil {
			return "", err
		}
		prec := 1000 // PostgreSQL's maximum
		if p, err := strconv.Atoi(s.Parameters["connect.decimal.precision"]); err == nil && p >= max(scale, 1) && p <= 1000 {
			prec = p
		}
		return fmt.Sprintf("numeric(%d,%d)", prec, scale), nil
	case plugins.DateName:
		return "date", nil
	case plugins.TimeName:
		return "time", nil
	case plugins.TimestampName:
		return "timestamp", nil
	}
	switch s.Type {
	case plugins.TypeInt8, plugins.TypeInt16:
		return "smallint", nil
	case plugins.TypeInt32:
		return "integer", nil
	case plugins.TypeInt64:
		return "bigint", nil
	case plugins.TypeFloat32:
		return "real", nil
	case plugins.TypeFloat64:
		return "double precision", nil
	case plugins.TypeBoolean:
		return "boolean", nil
	case plugins.TypeString:
		return "text", nil
	case plugins.TypeBytes:
		return "bytea", nil
	case plugins.TypeArray:
		if s.ValueSchema != nil && (s.ValueSchema.Type.IsPrimitive() || s.ValueSchema.Name != "") {
			e, err := pgTypeFor(s.ValueSchema, nil)
			return e + "[]", err
		}
		return "jsonb", nil
	case plugins.TypeMap, plugins.TypeStruct:
		return "jsonb", nil
	}
	return "", fmt.Errorf("no PostgreSQL type for %s", s)
}

// sqlDefault renders a primitive schema default as a SQL literal.
func sqlDefault(s *plugins.Schema) string {
	if s == nil || s.Default == nil {
		return ""
	}
	switch d := s.Default.(type) {
	case bool:
		return strconv.FormatBool(d)
	case int8, int16, int32, int64, float32, float64:
		return fmt.Sprint(d)
	case string:
		return "'" + strings.ReplaceAll(d, "'", "''") + "'"
	}
	return ""
}

// coreOIDs are the types whose values pgx binds natively; other columns
// are bound as text and cast by the server.
var coreOIDs = map[uint32]bool{
	pgtype.BoolOID: true, pgtype.Int2OID: true, pgtype.Int4OID: true, pgtype.Int8OID: true,
	pgtype.Float4OID: true, pgtype.Float8OID: true, pgtype.NumericOID: true, pgtype.TextOID: true,
	pgtype.VarcharOID: true, pgtype.BPCharOID: true, pgtype.ByteaOID: true, pgtype.DateOID: true,
	pgtype.TimeOID: true, pgtype.TimestampOID: true, pgtype.TimestamptzOID: true,
}

// queue adds the statements writing chunk (ops of group g) to b: one
// multi-row statement over unnest()ed arrays, or one per row when a
// column is an array (unnest would flatten it).
func (t *SinkTask) queue(b *pgx.Batch, m *tableMeta, g *opGroup, chunk []*sinkOp) error {
	mcs := make([]*metaCol, len(g.cols))
	for i, c := range g.cols {
		mcs[i] = m.cols[t.s.colKey(c.name)]
		if mcs[i].array {
			return t.queueRows(b, m, g, chunk)
		}
	}
	ncol := len(g.cols)
	if g.del {
		ncol = g.npk
	}
	args := make([]any, ncol)
	sel := make([]string, ncol)
	alias := make([]string, ncol)
	arrs := make([]string, ncol)
	for i := 0; i < ncol; i++ {
		mc := mcs[i]
		alias[i] = "c" + strconv.Itoa(i+1)
		col := make([]any, len(chunk))
		for j, op := range chunk {
			v, err := t.bindValue(op.vals[i], g.cols[i].schema, mc)
			if err != nil {
				return fmt.Errorf("record %s/%d@%d field %q: %w", op.rec.Topic, op.rec.Partition, op.rec.Offset, g.cols[i].name, err)
			}
			col[j] = v
		}
		args[i] = col
		if coreOIDs[mc.oid] {
			arrs[i] = "$" + strconv.Itoa(i+1) + "::" + mc.typ + "[]"
			sel[i] = "u." + alias[i]
		} else {
			arrs[i] = "$" + strconv.Itoa(i+1) + "::text[]"
			sel[i] = "u." + alias[i] + "::" + mc.typ
		}
	}
	from := "unnest(" + strings.Join(arrs, ", ") + ") AS u(" + strings.Join(alias, ", ") + ")"
	names := make([]string, len(g.cols))
	for i, c := range g.cols {
		names[i] = t.s.ident(c.name)
	}
	var sql string
	switch {
	case g.del:
		var on []string
		for i := 0; i < g.npk; i++ {
			on = append(on, "t."+names[i]+" = v."+alias[i])
		}
		sql = "DELETE FROM " + g.table + " AS t USING (SELECT " + selAs(sel, alias) + " FROM " + from + ") AS v WHERE " + strings.Join(on, " AND ")
	case t.s.insertMode == "update":
		var set, on []string
		for i := range names {
			if i < g.npk {
				on = append(on, "t."+names[i]+" = v."+alias[i])
			} else {
				set = append(set, names[i]+" = v."+alias[i])
			}
		}
		if len(set) == 0 {
			return nil // nothing but the key: an update changes nothing
		}
		sql = "UPDATE " + g.table + " AS t SET " + strings.Join(set, ", ") + " FROM (SELECT " + selAs(sel, alias) + " FROM " + from + ") AS v WHERE " + strings.Join(on, " AND ")
	default:
		sql = "INSERT INTO " + g.table + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + from + t.conflict(g, names)
	}
	b.Queue(sql, args...)
	return nil
}

func selAs(sel, alias []string) string {
	out := make([]string, len(sel))
	for i := range sel {
		out[i] = sel[i] + " AS " + alias[i]
	}
	return strings.Join(out, ", ")
}

func (t *SinkTask) conflict(g *opGroup, names []string) string {
	if t.s.insertMode != "upsert" {
		return ""
	}
	var set []string
	for _, n := range names[g.npk:] {
		set = append(set, n+" = EXCLUDED."+n)
	}
	target := " ON CONFLICT (" + strings.Join(names[:g.npk], ", ") + ")"
	if len(set) == 0 {
		return target + " DO NOTHING"
	}
	return target + " DO UPDATE SET " + strings.Join(set, ", ")
}

// queueRows adds one statement per op.
func (t *SinkTask) queueRows(b *pgx.Batch, m *tableMeta, g *opGroup, ops []*sinkOp) error {
	names := make([]string, len(g.cols))
	params := make([]string, len(g.cols))
	mcs := make([]*metaCol, len(g.cols))
	for i, c := range g.cols {
		names[i] = t.s.ident(c.name)
		mcs[i] = m.cols[t.s.colKey(c.name)]
		params[i] = "$" + strconv.Itoa(i+1)
		if !coreOIDs[mcs[i].oid] {
			if mcs[i].array {
				params[i] += "::text[]::" + mcs[i].typ
			} else {
				params[i] += "::text::" + mcs[i].typ
			}
		}
	}
	var on []string
	for i := 0; i < g.npk; i++ {
		on = append(on, names[i]+" = "+params[i])
	}
	var sql string
	n := len(g.cols)
	switch {
	case g.del:
		sql, n = "DELETE FROM "+g.table+" WHERE "+strings.Join(on, " AND "), g.npk
	case t.s.insertMode == "update":
		var set []string
		for i := g.npk; i < len(names); i++ {
			set = append(set, names[i]+" = "+params[i])
		}
		if len(set) == 0 {
			return nil
		}
		sql = "UPDATE " + g.table + " SET " + strings.Join(set, ", ") + " WHERE " + strings.Join(on, " AND ")
	default:
		sql = "INSERT INTO " + g.table + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(params, ", ") + ")" + t.conflict(g, names)
	}
	for _, op := range ops {
		args := make([]any, n)
		for i := 0; i < n; i++ {
			v, err := t.bindValue(op.vals[i], g.cols[i].schema, mcs[i])
			if err != nil {
				return fmt.Errorf("record %s/%d@%d field %q: %w", op.rec.Topic, op.rec.Partition, op.rec.Offset, g.cols[i].name, err)
			}
			args[i] = v
		}
		b.Queue(sql, args...)
	}
	return nil
}

// bindValue turns Connect data into what pgx binds for column mc: native
// Go values for core types, text for the others.
func (t *SinkTask) bindValue(v any, s *plugins.Schema, mc *metaCol) (any, error) {
	if v == nil {
		return nil, nil
	}
	if mc.array {
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("column %s is an array; value is %T", mc.name, v)
		}
		var es *plugins.Schema
		if s != nil {
			es = s.ValueSchema
		}
		out := make([]any, len(arr))
		if !coreOIDs[mc.oid] {
			strs := make([]*string, len(arr))
			for i, e := range arr {
				if e != nil {
					x := t.textValue(e, es)
					strs[i] = &x
				}
			}
			return strs, nil
		}
		for i, e := range arr {
			x, err := t.nativeValue(e, es)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	}
	if !coreOIDs[mc.oid] {
		return t.textValue(v, s), nil
	}
	if mc.oid == pgtype.TimeOID {
		if tm, ok := v.(time.Time); ok {
			h, m, sec := tm.UTC().Clock()
			return pgtype.Time{Microseconds: int64(h)*3_600_000_000 + int64(m)*60_000_000 + int64(sec)*1_000_000 + int64(tm.Nanosecond()/1000), Valid: true}, nil
		}
	}
	if mc.oid == pgtype.TimestampOID {
		if tm, ok := v.(time.Time); ok {
			return tm.In(t.s.conn.tz), nil
		}
	}
	switch mc.oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		if _, ok := v.(string); !ok {
			return t.textValue(v, s), nil
		}
	case pgtype.ByteaOID:
		if str, ok := v.(string); ok {
			return []byte(str), nil
		}
	}
	return t.nativeValue(v, s)
}

func (t *SinkTask) nativeValue(v any, s *plugins.Schema) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int8:
		return int16(x), nil
	case *big.Rat:
		return ratNumeric(x, s)
	case time.Time:
		if s != nil && s.Name == plugins.TimeName {
			h, m, sec := x.UTC().Clock()
			return pgtype.Time{Microseconds: int64(h)*3_600_000_000 + int64(m)*60_000_000 + int64(sec)*1_000_000 + int64(x.Nanosecond()/1000), Valid: true}, nil
		}
		return x, nil
	case map[string]any, map[any]any, []any, *plugins.Struct:
		b, err := json.Marshal(jsonable(x))
		return string(b), err
	}
	return v, nil
}

// ratNumeric renders a Decimal at its schema's scale.
func ratNumeric(r *big.Rat, s *plugins.Schema) (pgtype.Numeric, error) {
	scale := 0
	if s != nil {
		if sc, err := s.DecimalScale(); err == nil {
			scale = sc
		}
	}
	if s == nil || s.Name != plugins.DecimalName {
		// schemaless: as many digits as the value needs (up to 38)
		str := r.FloatString(38)
		str = strings.TrimRight(strings.TrimRight(str, "0"), ".")
		var n pgtype.Numeric
		return n, n.Scan(str)
	}
	num := new(big.Int).Mul(r.Num(), new(big.Int).Exp(bigTen, big.NewInt(int64(max(scale, 0))), nil))
	if scale < 0 {
		num.Quo(num, new(big.Int).Exp(bigTen, big.NewInt(int64(-scale)), nil))
	}
	q, rem := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if rem.Sign() != 0 {
		return pgtype.Numeric{}, fmt.Errorf("decimal %s has more digits than its scale %d", r.RatString(), scale)
	}
	return pgtype.Numeric{Int: q, Exp: int32(-scale), Valid: true}, nil
}

// textValue renders a value in PostgreSQL's input syntax.
func (t *SinkTask) textValue(v any, s *plugins.Schema) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return `\x` + hex.EncodeToString(x)
	case *big.Rat:
		if s != nil {
			if sc, err := s.DecimalScale(); err == nil && sc >= 0 {
				return x.FloatString(sc)
			}
		}
		return strings.TrimRight(strings.TrimRight(x.FloatString(38), "0"), ".")
	case time.Time:
		if s != nil {
			switch s.Name {
			case plugins.DateName:
				return x.UTC().Format("2006-01-02")
			case plugins.TimeName:
				return x.UTC().Format("15:04:05.999999")
			}
		}
		return x.Format(time.RFC3339Nano)
	case map[string]any, map[any]any, []any, *plugins.Struct:
		b, _ := json.Marshal(jsonable(x))
		return string(b)
	}
	return fmt.Sprint(v)
}

// jsonable turns Connect data into values encoding/json renders.
func jsonable(v any) any {
	switch x := v.(type) {
	case *plugins.Struct:
		m := map[string]any{}
		for i := range x.Schema().Fields {
			f := &x.Schema().Fields[i]
			m[f.Name] = jsonable(x.GetField(f))
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case *big.Rat:
		return json.Number(strings.TrimRight(strings.TrimRight(x.FloatString(38), "0"), "."))
	}
	return v
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isDuplicateObject(err error) bool {
	c := pgCode(err)
	return c == "42P07" || c == "23505" || c == "42710"
}

// copyRows writes an insert-mode group with COPY FROM STDIN (binary),
// PostgreSQL's fastest way in, when every column has a type pgx encodes
// natively; ok is false when the group must take the statement path.
func (t *SinkTask) copyRows(ctx context.Context, tx pgx.Tx, m *tableMeta, g *opGroup) (bool, error) {
	if t.s.insertMode != "insert" || g.del || len(g.ops) < 2 {
		return false, nil
	}
	names := make([]string, len(g.cols))
	mcs := make([]*metaCol, len(g.cols))
	for i, c := range g.cols {
		mcs[i] = m.cols[t.s.colKey(c.name)]
		if !coreOIDs[mcs[i].oid] || mcs[i].array {
			return false, nil
		}
		names[i] = t.s.colKey(c.name)
	}
	parts := strings.Split(g.ops[0].rawTable, ".")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	for i := range parts {
		parts[i] = t.s.colKey(parts[i]) // unquoted names are stored folded
	}
	i := 0
	var convErr error
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(g.ops) {
			return nil, nil
		}
		op := g.ops[i]
		i++
		row := make([]any, len(g.cols))
		for j := range g.cols {
			v, err := t.bindValue(op.vals[j], g.cols[j].schema, mcs[j])
			if err != nil {
				convErr = fmt.Errorf("record %s/%d@%d field %q: %w", op.rec.Topic, op.rec.Partition, op.rec.Offset, g.cols[j].name, err)
				return nil, convErr
			}
			row[j] = v
		}
		return row, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier(parts), names, src); err != nil {
		if convErr != nil {
			return true, convErr
		}
		return true, err
	}
	return true, nil
}
