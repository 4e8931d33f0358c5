package jdbc

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/weirlog/weir/plugins"
)

// kind is how a column's values are decoded and which Connect schema they
// get. Columns whose PostgreSQL type has no kind of its own are selected
// with a cast (see selectExpr) so that every value arrives as one of these.
type kind int

const (
	kString kind = iota
	kBool
	kInt16
	kInt32
	kInt64
	kFloat32
	kFloat64
	kNumeric
	kMoney // selected as numeric, delivered as FLOAT64 (pgjdbc reports money as DOUBLE)
	kBytes
	kDate
	kTime
	kTimestamp   // without time zone: wall clock in db.timezone
	kTimestamptz // an instant
	kInterval
	kUUID
	kArray
)

// nativeKinds are the base types read as they are.
var nativeKinds = map[uint32]kind{
	pgtype.BoolOID: kBool, pgtype.Int2OID: kInt16, pgtype.Int4OID: kInt32, pgtype.Int8OID: kInt64,
	pgtype.Float4OID: kFloat32, pgtype.Float8OID: kFloat64, pgtype.NumericOID: kNumeric,
	pgtype.TextOID: kString, pgtype.VarcharOID: kString, pgtype.BPCharOID: kString, pgtype.NameOID: kString,
	pgtype.JSONOID: kString, pgtype.JSONBOID: kString, pgtype.XMLOID: kString,
	pgtype.ByteaOID: kBytes, pgtype.DateOID: kDate, pgtype.TimeOID: kTime,
	pgtype.TimestampOID: kTimestamp, pgtype.TimestamptzOID: kTimestamptz, pgtype.IntervalOID: kInterval,
	pgtype.UUIDOID: kUUID,
}

// arrayElems maps the array types pgx decodes to their element types.
var arrayElems = map[uint32]uint32{
	pgtype.BoolArrayOID: pgtype.BoolOID, pgtype.Int2ArrayOID: pgtype.Int2OID, pgtype.Int4ArrayOID: pgtype.Int4OID,
	pgtype.Int8ArrayOID: pgtype.Int8OID, pgtype.Float4ArrayOID: pgtype.Float4OID, pgtype.Float8ArrayOID: pgtype.Float8OID,
	pgtype.NumericArrayOID: pgtype.NumericOID, pgtype.TextArrayOID: pgtype.TextOID, pgtype.VarcharArrayOID: pgtype.VarcharOID,
	pgtype.BPCharArrayOID: pgtype.BPCharOID, pgtype.ByteaArrayOID: pgtype.ByteaOID, pgtype.DateArrayOID: pgtype.DateOID,
	pgtype.TimestampArrayOID: pgtype.TimestampOID, pgtype.TimestamptzArrayOID: pgtype.TimestamptzOID,
	pgtype.UUIDArrayOID: pgtype.UUIDOID, pgtype.JSONArrayOID: pgtype.JSONOID, pgtype.JSONBArrayOID: pgtype.JSONBOID,
	pgtype.TimeArrayOID: pgtype.TimeOID, pgtype.IntervalArrayOID: pgtype.IntervalOID, pgtype.NameArrayOID: pgtype.NameOID,
}

// pgColumn is one catalog column, domains resolved to their base type.
type pgColumn struct {
	name    string
	notNull bool
	oid     uint32 // base type
	typmod  int32
	typtype string // b, e (enum), r (range), c (composite), …
	elem    uint32 // element type of an array, else 0
	elemTyp string
}

// typeSettings are the source keys that shape the type mapping.
type typeSettings struct {
	numeric     string // numeric.mapping
	granularity string // timestamp.granularity
	tz          *time.Location
}

// column is a result column ready to decode.
type column struct {
	name   string
	expr   string // select-list expression (table mode)
	kind   kind
	oid    uint32 // type the value arrives as
	elem   *column
	schema *plugins.Schema
	// numeric handling
	decimalScale int
	numericAs    plugins.Type // TypeBytes (Decimal), an integer type, FLOAT64 or STRING
	unscaled     bool         // a Decimal selected as its unscaled bigint (see selectUnscaled)
	ts           typeSettings
}

// planColumn decides how a catalog column is selected, decoded and typed.
func planColumn(c pgColumn, ts typeSettings) *column {
	col := &column{name: c.name, ts: ts}
	q := quoteIdent(c.name)
	col.expr = q
	optional := !c.notNull
	if c.elem != 0 {
		// json arrays go through text[]: pgx would parse their elements.
		if _, ok := nativeKinds[c.elem]; ok && c.elemTyp == "b" && c.elem != pgtype.XMLOID && c.elem != pgtype.JSONOID && c.elem != pgtype.JSONBOID {
			col.kind, col.oid = kArray, c.oid
			col.elem = planColumn(pgColumn{name: c.name, oid: c.elem, typmod: c.typmod, typtype: "b"}, ts)
			col.elem.schema = col.elem.schema.AsOptional()
		} else {
			col.kind, col.oid, col.expr = kArray, pgtype.TextArrayOID, q+"::text[]"
			col.elem = &column{name: c.name, kind: kString, oid: pgtype.TextOID, schema: plugins.OptionalStringSchema, ts: ts}
		}
		col.schema = &plugins.Schema{Type: plugins.TypeArray, Optional: optional, ValueSchema: col.elem.schema}
		return col
	}
	if k, ok := nativeKinds[c.oid]; ok && c.typtype == "b" {
		col.kind, col.oid = k, c.oid
	} else {
		switch c.oid {
		case 790: // money
			col.kind, col.oid, col.expr = kMoney, pgtype.NumericOID, q+"::numeric"
		case 1266: // timetz: the UTC time of day
			col.kind, col.oid, col.expr = kTime, pgtype.TimeOID, "("+q+" AT TIME ZONE 'UTC')::time"
		case pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID:
			col.kind, col.oid, col.expr = kInt64, pgtype.Int8OID, q+"::text::int8"
		case pgtype.InetOID: // as PostgreSQL prints it: no /32 on a host address (::text would add it)
			col.kind, col.oid, col.expr = kString, pgtype.TextOID, "abbrev("+q+")"
		default: // enums, inet/cidr/macaddr, bit strings, geometry, ranges, composites…: PostgreSQL's text form
			col.kind, col.oid, col.expr = kString, pgtype.TextOID, q+"::text"
		}
	}
	col.schema = col.schemaFor(c.typmod, optional)
	return col
}

// selectUnscaled makes a table column of Decimal(s) with at most 18
// digits (numeric(p,s), p <= 18, s >= 0: every value times 10^s is an
// integer below 10^18) arrive as that integer, a bigint computed by the
// server (q * 10^s)::int8, read by pgx's int8 codec. pgx's numeric codec
// builds a big.Int per value (two allocations and a division per surplus
// scale digit, the largest part of a numeric row's decoding); the server
// pays one numeric multiplication instead. The Decimal is the same
// Rat: the integer over 10^s. A NaN (which such a column may hold and a
// Decimal cannot) fails the scan as it fails through pgx's codec, with
// the server's "cannot convert NaN to bigint" (see nanHint).
// Custom queries are typed from their result and keep the numeric.
func (c *column) selectUnscaled(typmod int32) {
	if c.kind != kNumeric || c.numericAs != plugins.TypeBytes {
		return
	}
	p, s, ok := numericTypmod(typmod)
	if !ok || p > 18 || s < 0 || s > 18 {
		return
	}
	c.unscaled, c.oid = true, pgtype.Int8OID
	if s == 0 {
		c.expr = c.expr + "::int8"
	} else {
		c.expr = "(" + c.expr + " * " + strconv.FormatInt(pow10[s], 10) + ")::int8"
	}
}

// planResultColumn types a column of a custom query from its result
// description alone (nullability is unknown, so every field is optional).
func planResultColumn(name string, oid uint32, typmod int32, ts typeSettings) *column {
	if e, ok := arrayElems[oid]; ok {
		return planColumn(pgColumn{name: name, oid: oid, typmod: typmod, elem: e, elemTyp: "b"}, ts)
	}
	if _, ok := nativeKinds[oid]; ok {
		return planColumn(pgColumn{name: name, oid: oid, typmod: typmod, typtype: "b"}, ts)
	}
	col := &column{name: name, kind: kString, oid: oid, ts: ts, schema: plugins.OptionalStringSchema}
	switch oid {
	case pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID:
		col.kind, col.schema = kInt64, plugins.OptionalInt64Schema
	}
	return col
}

// numericTypmod splits a numeric typmod into precision and scale; ok is
// false for an unconstrained numeric.
func numericTypmod(typmod int32) (precision, scale int, ok bool) {
	if typmod < 4 {
		return 0, 0, false
	}
	t := typmod - 4
	return int(t>>16) & 0xffff, int(((t & 0x7ff) ^ 1024) - 1024), true
}

func (c *column) schemaFor(typmod int32, optional bool) *plugins.Schema {
	var s *plugins.Schema
	switch c.kind {
	case kBool:
		s = plugins.PrimitiveSchema(plugins.TypeBoolean, optional)
	case kInt16:
		s = plugins.PrimitiveSchema(plugins.TypeInt16, optional)
	case kInt32:
		s = plugins.PrimitiveSchema(plugins.TypeInt32, optional)
	case kInt64:
		s = plugins.PrimitiveSchema(plugins.TypeInt64, optional)
	case kFloat32:
		s = plugins.PrimitiveSchema(plugins.TypeFloat32, optional)
	case kFloat64, kMoney:
		s = plugins.PrimitiveSchema(plugins.TypeFloat64, optional)
	case kBytes:
		s = plugins.PrimitiveSchema(plugins.TypeBytes, optional)
	case kDate:
		s = plugins.DateSchema()
	case kTime:
		s = plugins.TimeSchema()
	case kTimestamp, kTimestamptz:
		switch c.ts.granularity {
		case "nanos_long":
			s = plugins.PrimitiveSchema(plugins.TypeInt64, optional)
		case "nanos_string", "nanos_iso_datetime_string":
			s = plugins.PrimitiveSchema(plugins.TypeString, optional)
		default:
			s = plugins.TimestampSchema()
		}
	case kNumeric:
		s = c.numericSchema(typmod)
	default:
		s = plugins.PrimitiveSchema(plugins.TypeString, optional)
	}
	s.Optional = optional
	return s
}

// numericSchema applies numeric.mapping as Confluent's dialect does. An
// unconstrained numeric has no fixed scale, which Decimal needs: it is a
// STRING (exact) under none/precision_only and FLOAT64 under best_fit*.
func (c *column) numericSchema(typmod int32) *plugins.Schema {
	p, sc, ok := numericTypmod(typmod)
	intType := func(p int) plugins.Type {
		switch {
		case p > 9:
			return plugins.TypeInt64
		case p > 4:
			return plugins.TypeInt32
		case p > 2:
			return plugins.TypeInt16
		}
		return plugins.TypeInt8
	}
	mode := c.ts.numeric
	if !ok {
		if mode == "best_fit" || mode == "best_fit_eager_double" {
			c.numericAs = plugins.TypeFloat64
		} else {
			c.numericAs = plugins.TypeString
		}
		return &plugins.Schema{Type: c.numericAs}
	}
	c.numericAs = plugins.TypeBytes
	switch mode {
	case "precision_only":
		if sc == 0 && p <= 18 {
			c.numericAs = intType(p)
		}
	case "best_fit":
		if p <= 18 {
			if sc <= 0 && sc >= -84 {
				c.numericAs = intType(p - sc)
				if p-sc > 18 {
					c.numericAs = plugins.TypeBytes
				}
			} else if sc > 0 {
				c.numericAs = plugins.TypeFloat64
			}
		}
	case "best_fit_eager_double":
		if sc > 0 {
			c.numericAs = plugins.TypeFloat64
		} else if p <= 18 && sc == 0 {
			c.numericAs = intType(p)
		}
	}
	if c.numericAs == plugins.TypeBytes {
		c.decimalScale = sc
		return plugins.DecimalSchema(sc)
	}
	return &plugins.Schema{Type: c.numericAs}
}

// decoder turns one non-NULL result value into Connect data of its
// column's schema (the caller maps NULL to nil). raw is only valid until
// the next row: pgx's scan plans copy out what they keep.
type decoder func(raw []byte) (any, error)

// decoder plans, once per scan, how the column's values are decoded: by
// pgx's codec for the type they arrive as (a pgtype scan plan into the Go
// type the kind needs, reused for every row), then the column's mapping.
func (c *column) decoder(m *pgtype.Map, format int16) decoder {
	switch c.kind {
	case kBool:
		return scanInto(c, m, format, func(v bool) (any, error) { return v, nil })
	case kInt16:
		return scanInto(c, m, format, func(v int16) (any, error) { return v, nil })
	case kInt32:
		return scanInto(c, m, format, func(v int32) (any, error) { return v, nil })
	case kInt64:
		if c.oid != pgtype.Int8OID { // oid, xid, cid (custom query): unsigned 32 bits
			return scanInto(c, m, format, func(v pgtype.Uint32) (any, error) { return int64(v.Uint32), nil })
		}
		return scanInto(c, m, format, func(v int64) (any, error) { return v, nil })
	case kFloat32:
		return scanInto(c, m, format, func(v float32) (any, error) { return v, nil })
	case kFloat64:
		return scanInto(c, m, format, func(v float64) (any, error) { return v, nil })
	case kString, kUUID:
		if t, ok := m.TypeForOID(c.oid); ok && c.kind == kString {
			if _, ok := t.Codec.(pgtype.TextCodec); ok {
				// pgx's text codec scans a string as string(raw) in
				// either format: the same bytes, copied into chunks
				// shared by many values instead of one allocation each.
				var a textArena
				return func(raw []byte) (any, error) { return a.string(raw), nil }
			}
		}
		return scanInto(c, m, format, func(v string) (any, error) { return v, nil })
	case kBytes:
		return scanInto(c, m, format, func(v []byte) (any, error) { return v, nil })
	case kNumeric, kMoney:
		if c.unscaled {
			var slab ratSlab
			return scanInto(c, m, format, func(n int64) (any, error) { return slab.unscaled(n, c.decimalScale), nil })
		}
		if c.kind == kNumeric && c.numericAs == plugins.TypeBytes {
			// Decimals: their *big.Rat values come out of chunks of a
			// few hundred (one allocation instead of one per value).
			var slab ratSlab
			return scanInto(c, m, format, func(n pgtype.Numeric) (any, error) {
				if err := c.decimalOK(n); err != nil {
					return nil, err
				}
				return decimalRat(&slab, n), nil
			})
		}
		return scanInto(c, m, format, c.numeric)
	case kDate:
		return scanInto(c, m, format, func(v pgtype.Date) (any, error) { return dateValue(v.Time, v.InfinityModifier), nil })
	case kTime:
		return scanInto(c, m, format, func(v pgtype.Time) (any, error) { return timeOfDay(v), nil })
	case kTimestamp:
		return scanInto(c, m, format, func(v pgtype.Timestamp) (any, error) { return c.timestampValue(v.Time, v.InfinityModifier), nil })
	case kTimestamptz:
		return scanInto(c, m, format, func(v pgtype.Timestamptz) (any, error) { return c.timestampValue(v.Time, v.InfinityModifier), nil })
	case kInterval:
		return scanInto(c, m, format, func(v pgtype.Interval) (any, error) { return formatInterval(v), nil })
	}
	// Arrays: pgx's array codec decodes the elements ([]any of their
	// default Go types), converted element by element.
	return func(raw []byte) (any, error) {
		t, ok := m.TypeForOID(c.oid)
		if !ok {
			return nil, fmt.Errorf("column %q: no decoder for type oid %d", c.name, c.oid)
		}
		v, err := t.Codec.DecodeValue(m, c.oid, format, raw)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		return c.fromPgx(v)
	}
}

// scanInto is a decoder scanning with pgx's plan into a T, then converting.
func scanInto[T any](c *column, m *pgtype.Map, format int16, conv func(T) (any, error)) decoder {
	var v T
	plan := m.PlanScan(c.oid, format, &v)
	return func(raw []byte) (any, error) {
		if err := plan.Scan(raw, &v); err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		return conv(v)
	}
}

// binaryFormats asks for the types decoded above in binary and every
// other type in PostgreSQL's text form, which is what a column of a type
// without a kind of its own delivers (a custom query's inet, ranges,
// geometry…, as table mode's ::text casts do).
var binaryFormats = func() pgx.QueryResultFormatsByOID {
	f := pgx.QueryResultFormatsByOID{pgtype.OIDOID: pgtype.BinaryFormatCode, pgtype.XIDOID: pgtype.BinaryFormatCode, pgtype.CIDOID: pgtype.BinaryFormatCode}
	for oid := range nativeKinds {
		f[oid] = pgtype.BinaryFormatCode
	}
	for oid := range arrayElems {
		f[oid] = pgtype.BinaryFormatCode
	}
	return f
}()

// fromPgx converts a value pgx decoded (its default Go types) into Connect
// data of the column's schema.
func (c *column) fromPgx(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.kind {
	case kString:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case [16]byte:
			return pgtype.UUID{Bytes: x, Valid: true}.String(), nil
		case map[string]any, []any, float64, bool:
			// a json element pgx parsed (custom query over a json[] column)
			b, err := json.Marshal(x)
			return string(b), err
		}
		return fmt.Sprint(v), nil
	case kBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kInt16:
		if n, ok := v.(int16); ok {
			return n, nil
		}
	case kInt32:
		if n, ok := v.(int32); ok {
			return n, nil
		}
	case kInt64:
		switch n := v.(type) {
		case int64:
			return n, nil
		case uint32:
			return int64(n), nil
		}
	case kFloat32:
		if f, ok := v.(float32); ok {
			return f, nil
		}
	case kFloat64:
		if f, ok := v.(float64); ok {
			return f, nil
		}
	case kBytes:
		if b, ok := v.([]byte); ok {
			return append([]byte{}, b...), nil
		}
	case kNumeric, kMoney:
		if n, ok := v.(pgtype.Numeric); ok {
			return c.numeric(n)
		}
	case kDate:
		switch x := v.(type) {
		case time.Time:
			return dateValue(x, pgtype.Finite), nil
		case pgtype.InfinityModifier:
			return dateValue(time.Time{}, x), nil
		}
	case kTime:
		if t, ok := v.(pgtype.Time); ok {
			return timeOfDay(t), nil
		}
	case kTimestamp, kTimestamptz:
		switch x := v.(type) {
		case time.Time:
			return c.timestampValue(x, pgtype.Finite), nil
		case pgtype.InfinityModifier:
			return c.timestampValue(time.Time{}, x), nil
		}
	case kInterval:
		if iv, ok := v.(pgtype.Interval); ok {
			return formatInterval(iv), nil
		}
	case kUUID:
		if u, ok := v.([16]byte); ok {
			return pgtype.UUID{Bytes: u, Valid: true}.String(), nil
		}
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			break
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			x, err := c.elem.fromPgx(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("column %q: unexpected value %T for %s", c.name, v, c.schema)
}

// infinity maps ±infinity to the extreme instants Connect can carry.
func infinity(m pgtype.InfinityModifier) time.Time {
	if m == pgtype.Infinity {
		return time.UnixMilli(math.MaxInt64 / 1000)
	}
	return time.UnixMilli(math.MinInt64 / 1000)
}

// dateValue is a date (UTC midnight) as Connect's Date carries it.
func dateValue(t time.Time, inf pgtype.InfinityModifier) any {
	if inf != pgtype.Finite {
		return infinity(inf)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// timeOfDay is a time of day as Connect's Time carries it (on 1970-01-01 UTC).
func timeOfDay(t pgtype.Time) any {
	return time.UnixMicro(t.Microseconds).UTC()
}

// timestampValue applies the column's time zone (a timestamp without time
// zone is a wall clock in db.timezone; pgx decodes it as UTC) and
// timestamp.granularity.
func (c *column) timestampValue(t time.Time, inf pgtype.InfinityModifier) any {
	switch {
	case inf != pgtype.Finite:
		t = infinity(inf)
	case c.kind == kTimestamp && c.ts.tz != nil && c.ts.tz != time.UTC:
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), c.ts.tz)
	default:
		t = t.UTC()
	}
	return c.timestamp(t)
}

func (c *column) timestamp(t time.Time) any {
	switch c.ts.granularity {
	case "nanos_long":
		return t.UnixNano()
	case "nanos_string":
		return strconv.FormatInt(t.UnixNano(), 10)
	case "nanos_iso_datetime_string":
		return t.In(c.ts.tz).Format("2006-01-02T15:04:05.000000000")
	}
	return t
}

var bigTen = big.NewInt(10)

// pow10 holds 10^0 … 10^18, the powers that fit an int64.
var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// decimalRat is the finite numeric n (Int × 10^Exp, as pgx decodes it) as
// a normalized *big.Rat, Connect's Decimal value, taken from slab (nil: a
// Rat of its own). A value of up to 18 digits after the point whose
// digits fit an int64 (the common case) is reduced with integer
// arithmetic, which big.Rat's general normalization (a GCD with
// allocations) would cost several times over: 10^k's only prime factors
// are 2 and 5.
func decimalRat(slab *ratSlab, n pgtype.Numeric) *big.Rat {
	switch {
	case n.Int == nil:
		return slab.rat()
	case n.Exp == 0:
		return slab.rat().SetInt(n.Int)
	case n.Exp > 0:
		return slab.rat().SetInt(new(big.Int).Mul(n.Int, new(big.Int).Exp(bigTen, big.NewInt(int64(n.Exp)), nil)))
	case n.Exp >= -18 && n.Int.IsInt64():
		return slab.unscaled(n.Int.Int64(), int(-n.Exp))
	}
	return slab.rat().SetFrac(n.Int, new(big.Int).Exp(bigTen, big.NewInt(int64(-n.Exp)), nil))
}

// reduced is num / 10^scale (0 <= scale <= 18) in lowest terms.
func reduced(num int64, scale int) (int64, int64) {
	den := pow10[scale]
	for den%2 == 0 && num%2 == 0 {
		num, den = num/2, den/2
	}
	for den%5 == 0 && num%5 == 0 {
		num, den = num/5, den/5
	}
	return num, den
}

// ratSlab hands out the *big.Rat values of Decimals cut from shared
// chunks, their words included: one allocation per few hundred values
// instead of three per value (the Rat, its numerator's and its
// denominator's words). A nil *ratSlab hands out Rats of their own.
type ratSlab struct {
	cells []ratCell
}

// ratCell is one Rat of a slab and the words of its numerator and
// denominator (each a one-word nat, with no spare capacity: arithmetic
// on the Rat that needs more allocates, as on any other Rat).
type ratCell struct {
	r big.Rat
	w [2]big.Word
}

func (s *ratSlab) cell() *ratCell {
	if len(s.cells) == 0 {
		s.cells = make([]ratCell, 256)
	}
	c := &s.cells[0]
	s.cells = s.cells[1:]
	return c
}

// rat is a zero Rat.
func (s *ratSlab) rat() *big.Rat {
	if s == nil {
		return new(big.Rat)
	}
	return &s.cell().r
}

// ratSeed only lends a Rat of the slab a denominator to replace (see
// unscaled); nothing writes it.
var ratSeed = big.NewRat(1, 2)

// unscaled is num / 10^scale (0 <= scale <= 18) as a normalized Rat.
func (s *ratSlab) unscaled(num int64, scale int) *big.Rat {
	num, den := reduced(num, scale)
	if s == nil || bits.UintSize < 64 {
		// SetInt64 initializes r, after which Denom is r's own
		// denominator (documented), set to the already coprime den.
		r := s.rat()
		r.SetInt64(num)
		r.Denom().SetInt64(den)
		return r
	}
	c := s.cell()
	mag := uint64(num)
	if num < 0 {
		mag = -mag
	}
	c.w[0], c.w[1] = big.Word(mag), big.Word(den)
	// Int.SetBits takes the words as they are; Denom returns the Rat's own
	// denominator only once it has one, which the copy of ratSeed gives
	// it (both of the seed's slices are replaced before anything writes).
	r := &c.r
	*r = *ratSeed
	r.Num().SetBits(c.w[0:1:1])
	if num < 0 {
		r.Num().Neg(r.Num())
	}
	r.Denom().SetBits(c.w[1:2:2])
	return r
}

// textArena copies text values into shared chunks: a string per value
// without an allocation of its own. It only appends, and a
// strings.Builder never writes bytes it has already handed out as a
// string, so every string stays valid however long it is kept (holding
// its chunk in memory); a new chunk starts when one is full.
type textArena struct{ b strings.Builder }

const textChunk = 32 << 10

func (a *textArena) string(raw []byte) string {
	if len(raw) > textChunk/16 {
		return string(raw)
	}
	if a.b.Cap()-a.b.Len() < len(raw) {
		a.b = strings.Builder{}
		a.b.Grow(textChunk)
	}
	n := a.b.Len()
	a.b.Write(raw)
	return a.b.String()[n:]
}

// numeric converts per the column's numeric mapping.
func (c *column) numeric(n pgtype.Numeric) (any, error) {
	if !n.Valid {
		return nil, nil
	}
	if c.kind == kMoney || c.numericAs == plugins.TypeFloat64 {
		f, err := n.Float64Value()
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		return f.Float64, nil
	}
	if c.numericAs == plugins.TypeString {
		v, err := n.Value() // pgx's text form: exact; NaN, Infinity, -Infinity
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		return v, nil
	}
	if err := c.decimalOK(n); err != nil {
		return nil, err
	}
	r := decimalRat(nil, n)
	switch c.numericAs {
	case plugins.TypeBytes:
		return r, nil
	case plugins.TypeInt8, plugins.TypeInt16, plugins.TypeInt32, plugins.TypeInt64:
		if !r.IsInt() || !r.Num().IsInt64() {
			return nil, fmt.Errorf("column %q: %s does not fit %s", c.name, r.RatString(), c.numericAs)
		}
		i := r.Num().Int64()
		switch c.numericAs {
		case plugins.TypeInt8:
			return int8(i), nil
		case plugins.TypeInt16:
			return int16(i), nil
		case plugins.TypeInt32:
			return int32(i), nil
		}
		return i, nil
	}
	return nil, fmt.Errorf("column %q: unsupported numeric mapping %s", c.name, c.numericAs)
}

// decimalOK refuses what a Decimal (or an integer) cannot hold.
func (c *column) decimalOK(n pgtype.Numeric) error {
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("column %q: NaN or infinite numeric cannot be represented as %s (use numeric.mapping=best_fit)", c.name, c.schema)
	}
	return nil
}

// formatInterval renders an interval in ISO 8601 (PostgreSQL's
// IntervalStyle iso_8601), e.g. P1Y2M3DT4H5M6.5S; the zero interval is PT0S.
func formatInterval(iv pgtype.Interval) string {
	if iv.Months == 0 && iv.Days == 0 && iv.Microseconds == 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	if y := iv.Months / 12; y != 0 {
		fmt.Fprintf(&b, "%dY", y)
	}
	if m := iv.Months % 12; m != 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if iv.Days != 0 {
		fmt.Fprintf(&b, "%dD", iv.Days)
	}
	if us := iv.Microseconds; us != 0 {
		b.WriteByte('T')
		neg := us < 0
		if neg {
			us = -us
		}
		sign := ""
		if neg {
			sign = "-"
		}
		h, us := us/3_600_000_000, us%3_600_000_000
		m, us := us/60_000_000, us%60_000_000
		if h != 0 {
			fmt.Fprintf(&b, "%s%dH", sign, h)
		}
		if m != 0 {
			fmt.Fprintf(&b, "%s%dM", sign, m)
		}
		if us != 0 {
			s := strconv.FormatInt(us/1_000_000, 10)
			if f := us % 1_000_000; f != 0 {
				s += strings.TrimRight(fmt.Sprintf(".%06d", f), "0")
			}
			fmt.Fprintf(&b, "%s%sS", sign, s)
		}
	}
	return b.String()
}
