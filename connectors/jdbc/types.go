package jdbc

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

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

// decode turns one raw result value into Connect data. raw is only valid
// until the next row: everything returned is copied out of it.
func (c *column) decode(m *pgtype.Map, raw []byte, format int16) (any, error) {
	if raw == nil {
		return nil, nil
	}
	bin := format == pgtype.BinaryFormatCode
	switch c.kind {
	case kString:
		if c.oid == pgtype.JSONBOID && bin && len(raw) > 0 && raw[0] == 1 {
			return string(raw[1:]), nil // binary jsonb: version byte, then the text
		}
		if bin && c.oid != pgtype.TextOID && c.oid != pgtype.VarcharOID && c.oid != pgtype.BPCharOID &&
			c.oid != pgtype.NameOID && c.oid != pgtype.JSONOID && c.oid != pgtype.XMLOID && c.oid != pgtype.UnknownOID {
			return c.viaCodec(m, raw, format)
		}
		return string(raw), nil
	case kBool:
		if bin && len(raw) == 1 {
			return raw[0] != 0, nil
		}
	case kInt16:
		if bin && len(raw) == 2 {
			return int16(binary.BigEndian.Uint16(raw)), nil
		}
	case kInt32:
		if bin && len(raw) == 4 {
			return int32(binary.BigEndian.Uint32(raw)), nil
		}
	case kInt64:
		if bin && len(raw) == 8 {
			return int64(binary.BigEndian.Uint64(raw)), nil
		}
		if !bin {
			return strconv.ParseInt(string(raw), 10, 64)
		}
	case kFloat32:
		if bin && len(raw) == 4 {
			return math.Float32frombits(binary.BigEndian.Uint32(raw)), nil
		}
	case kFloat64:
		if bin && len(raw) == 8 {
			return math.Float64frombits(binary.BigEndian.Uint64(raw)), nil
		}
	case kBytes:
		if bin {
			return append([]byte{}, raw...), nil
		}
	case kTimestamptz, kTimestamp:
		if bin && len(raw) == 8 {
			if us := int64(binary.BigEndian.Uint64(raw)); us != math.MaxInt64 && us != math.MinInt64 {
				t := time.UnixMicro(us + pgEpochMicros).UTC()
				if c.kind == kTimestamp && c.ts.tz != nil && c.ts.tz != time.UTC {
					t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), c.ts.tz)
				}
				return c.timestamp(t), nil
			}
		}
	case kDate:
		if bin && len(raw) == 4 {
			if d := int32(binary.BigEndian.Uint32(raw)); d != math.MaxInt32 && d != math.MinInt32 {
				return time.Unix(pgEpochMicros/1e6+int64(d)*86400, 0).UTC(), nil
			}
		}
	case kTime:
		if bin && len(raw) == 8 {
			return time.UnixMicro(int64(binary.BigEndian.Uint64(raw))).UTC(), nil
		}
	case kNumeric:
		if bin && c.numericAs == plugins.TypeBytes {
			if r, ok := fastDecimal(raw); ok {
				return r, nil
			}
		}
	}
	return c.viaCodec(m, raw, format)
}

// pgEpochMicros is 2000-01-01 00:00:00 UTC, PostgreSQL's binary epoch.
const pgEpochMicros = 946684800 * 1_000_000

var pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// fastDecimal decodes a binary numeric that fits 64 bits (the common
// case) straight into a *big.Rat; ok is false for anything else (NaN,
// infinities, more digits), which goes through pgx's codec.
func fastDecimal(raw []byte) (*big.Rat, bool) {
	if len(raw) < 8 {
		return nil, false
	}
	ndigits := int(binary.BigEndian.Uint16(raw[0:]))
	weight := int(int16(binary.BigEndian.Uint16(raw[2:])))
	sign := binary.BigEndian.Uint16(raw[4:])
	if (sign != 0 && sign != 0x4000) || ndigits > 4 || len(raw) != 8+2*ndigits {
		return nil, false
	}
	var d int64
	for i := 0; i < ndigits; i++ {
		d = d*10000 + int64(binary.BigEndian.Uint16(raw[8+2*i:]))
	}
	if sign == 0x4000 {
		d = -d
	}
	// value = d * 10000^(weight-ndigits+1)
	exp := 4 * (weight - ndigits + 1)
	switch {
	case ndigits == 0:
		return new(big.Rat), true
	case exp >= 0:
		if exp > 18 || (d != 0 && (d > math.MaxInt64/pow10[exp] || d < math.MinInt64/pow10[exp])) {
			return nil, false
		}
		return new(big.Rat).SetInt64(d * pow10[exp]), true
	case -exp <= 18:
		return new(big.Rat).SetFrac64(d, pow10[-exp]), true
	}
	return nil, false
}

// viaCodec decodes with pgx's codec for the column's type, then converts.
func (c *column) viaCodec(m *pgtype.Map, raw []byte, format int16) (any, error) {
	t, ok := m.TypeForOID(c.oid)
	if !ok {
		if format == pgtype.TextFormatCode {
			return string(raw), nil
		}
		return nil, fmt.Errorf("column %q: no decoder for type oid %d in binary format", c.name, c.oid)
	}
	v, err := t.Codec.DecodeValue(m, c.oid, format, raw)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", c.name, err)
	}
	return c.fromPgx(v)
}

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
			return formatUUID(x), nil
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
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), nil
		case pgtype.InfinityModifier:
			return infinity(x), nil
		}
	case kTime:
		if t, ok := v.(pgtype.Time); ok {
			return time.Unix(0, t.Microseconds*1000).UTC(), nil
		}
	case kTimestamp, kTimestamptz:
		switch x := v.(type) {
		case time.Time:
			if c.kind == kTimestamp {
				x = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), c.ts.tz)
			}
			return c.timestamp(x), nil
		case pgtype.InfinityModifier:
			return c.timestamp(infinity(x)), nil
		}
	case kInterval:
		if iv, ok := v.(pgtype.Interval); ok {
			return formatInterval(iv), nil
		}
	case kUUID:
		if u, ok := v.([16]byte); ok {
			return formatUUID(u), nil
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

// numeric converts per the column's numeric mapping.
func (c *column) numeric(n pgtype.Numeric) (any, error) {
	if !n.Valid {
		return nil, nil
	}
	special := n.NaN || n.InfinityModifier != pgtype.Finite
	if c.kind == kMoney || c.numericAs == plugins.TypeFloat64 {
		f, err := n.Float64Value()
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.name, err)
		}
		return f.Float64, nil
	}
	if c.numericAs == plugins.TypeString {
		if special {
			if n.NaN {
				return "NaN", nil
			}
			if n.InfinityModifier == pgtype.Infinity {
				return "Infinity", nil
			}
			return "-Infinity", nil
		}
		return numericString(n), nil
	}
	if special {
		return nil, fmt.Errorf("column %q: NaN or infinite numeric cannot be represented as %s (use numeric.mapping=best_fit)", c.name, c.schema)
	}
	r := new(big.Rat).SetInt(n.Int)
	if n.Exp > 0 {
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(bigTen, big.NewInt(int64(n.Exp)), nil)))
	} else if n.Exp < 0 {
		r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(bigTen, big.NewInt(int64(-n.Exp)), nil)))
	}
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

// numericString renders a finite numeric exactly, as PostgreSQL does.
func numericString(n pgtype.Numeric) string {
	digits := new(big.Int).Abs(n.Int).String()
	neg := n.Int.Sign() < 0
	var s string
	switch {
	case n.Exp >= 0:
		s = digits + strings.Repeat("0", int(n.Exp))
	default:
		frac := int(-n.Exp)
		if len(digits) <= frac {
			digits = strings.Repeat("0", frac-len(digits)+1) + digits
		}
		s = digits[:len(digits)-frac] + "." + digits[len(digits)-frac:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
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
