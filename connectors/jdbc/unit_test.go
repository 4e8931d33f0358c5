package jdbc

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/weirlog/weir/plugins"
)

func TestPgxURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"jdbc:postgresql://db.example:5433/shop?user=u&password=p&ssl=true&loggerLevel=DEBUG", "postgres://db.example:5433/shop?password=p&sslmode=require&user=u"},
		{"jdbc:postgresql://h/db?currentSchema=app&ApplicationName=x", "postgres://h/db?application_name=x&search_path=app"},
		{"jdbc:postgresql:shop", "postgres://localhost/shop"},
		{"postgres://u:p@h:5432/db?sslmode=disable", "postgres://u:p@h:5432/db?sslmode=disable"},
	} {
		got, err := pgxURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("pgxURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := pgxURL("jdbc:mysql://h/db"); err == nil || !strings.Contains(err.Error(), "postgresql") {
		t.Errorf("mysql URL: %v", err)
	}
}

func TestNumericMapping(t *testing.T) {
	typmod := func(p, s int) int32 { return int32(p<<16|(s&0x7ff)) + 4 }
	for _, c := range []struct {
		mode   string
		typmod int32
		want   plugins.Type
		name   string
	}{
		{"none", typmod(10, 2), plugins.TypeBytes, plugins.DecimalName},
		{"none", -1, plugins.TypeString, ""},
		{"precision_only", typmod(5, 0), plugins.TypeInt32, ""},
		{"precision_only", typmod(19, 0), plugins.TypeBytes, plugins.DecimalName},
		{"best_fit", typmod(10, 2), plugins.TypeFloat64, ""},
		{"best_fit", typmod(2, 0), plugins.TypeInt8, ""},
		{"best_fit", typmod(12, 0), plugins.TypeInt64, ""},
		{"best_fit", -1, plugins.TypeFloat64, ""},
		{"best_fit_eager_double", typmod(30, 4), plugins.TypeFloat64, ""},
	} {
		col := planColumn(pgColumn{name: "n", oid: pgtype.NumericOID, typmod: c.typmod, typtype: "b"}, typeSettings{numeric: c.mode})
		if col.schema.Type != c.want || col.schema.Name != c.name {
			t.Errorf("%s typmod %d: %v, want %v %q", c.mode, c.typmod, col.schema, c.want, c.name)
		}
	}
	if p, s, ok := numericTypmod(typmod(7, -2)); !ok || p != 7 || s != -2 {
		t.Errorf("negative scale: %d %d %v", p, s, ok)
	}
}

func TestNumericValues(t *testing.T) {
	n := pgtype.Numeric{Int: big.NewInt(-1234567), Exp: -2, Valid: true}
	str := planColumn(pgColumn{name: "nu", oid: pgtype.NumericOID, typmod: -1, typtype: "b"}, typeSettings{numeric: "none"})
	for _, c := range []struct {
		n    pgtype.Numeric
		want string
	}{{n, "-12345.67"}, {pgtype.Numeric{Int: big.NewInt(5), Exp: -3, Valid: true}, "0.005"}, {pgtype.Numeric{NaN: true, Valid: true}, "NaN"}} {
		if v, err := str.numeric(c.n); err != nil || v != c.want {
			t.Errorf("unconstrained numeric %v as STRING = %v, %v; want %s", c.n, v, err, c.want)
		}
	}
	col := planColumn(pgColumn{name: "n", oid: pgtype.NumericOID, typmod: int32(10<<16|2) + 4, typtype: "b"}, typeSettings{numeric: "none"})
	v, err := col.numeric(n)
	if err != nil || v.(*big.Rat).Cmp(big.NewRat(-1234567, 100)) != 0 {
		t.Errorf("decimal = %v, %v", v, err)
	}
	if _, err := col.numeric(pgtype.Numeric{NaN: true, Valid: true}); err == nil {
		t.Error("NaN as Decimal: no error")
	}
	r, err := ratNumeric(big.NewRat(1234567, 100), plugins.DecimalSchema(2))
	if err != nil || r.Int.Int64() != 1234567 || r.Exp != -2 {
		t.Errorf("ratNumeric = %v, %v", r, err)
	}
	if _, err := ratNumeric(big.NewRat(1, 3), plugins.DecimalSchema(2)); err == nil {
		t.Error("1/3 at scale 2: no error")
	}
}

func TestFormatInterval(t *testing.T) {
	for _, c := range []struct {
		iv   pgtype.Interval
		want string
	}{
		{pgtype.Interval{Months: 14, Days: 3, Microseconds: 4*3_600_000_000 + 5*60_000_000 + 6_500_000}, "P1Y2M3DT4H5M6.5S"},
		{pgtype.Interval{}, "PT0S"},
		{pgtype.Interval{Microseconds: -90_000_000}, "PT-1M-30S"},
	} {
		if got := formatInterval(c.iv); got != c.want {
			t.Errorf("formatInterval(%+v) = %s, want %s", c.iv, got, c.want)
		}
	}
}

func TestSinkConfigErrors(t *testing.T) {
	base := plugins.Config{ConnectionURL: "postgres://h/db"}
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{DeleteEnabled, "true"}, "record_key"},
		{[]string{InsertMode, "upsert"}, PKMode},
		{[]string{PKMode, "kafka", PKFields, "a,b"}, "3"},
		{[]string{ExactlyOnce, "true"}, "name"},
	} {
		cfg := plugins.Config{}
		for k, v := range base {
			cfg[k] = v
		}
		for i := 0; i < len(c.kv); i += 2 {
			cfg[c.kv[i]] = c.kv[i+1]
		}
		if _, err := parseSink(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error about %s", c.kv, err, c.want)
		}
	}
}

func TestSourceConfigErrors(t *testing.T) {
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{Mode, ModeTimestamp}, TimestampColumn},
		{[]string{Mode, ModeXmin, Query, "SELECT 1"}, "xmin"},
		{[]string{Mode, "sometimes"}, "one of"},
		{[]string{DBTimezone, "Mars/Olympus"}, "time zone"},
	} {
		cfg := plugins.Config{ConnectionURL: "postgres://h/db", TopicPrefix: "p-"}
		for i := 0; i < len(c.kv); i += 2 {
			cfg[c.kv[i]] = c.kv[i+1]
		}
		if _, err := parseSource(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error about %s", c.kv, err, c.want)
		}
	}
}

func TestGroupOpsKeepsLastPerKey(t *testing.T) {
	op := func(key string, del bool) *sinkOp {
		shape := "t\x00W\x00id\x00v"
		if del {
			shape = "t\x00D\x00id"
		}
		return &sinkOp{table: "t", del: del, key: key, shape: shape, npk: 1}
	}
	// delete then re-insert of k1 ends inserted; k2 ends deleted.
	ops := []*sinkOp{op("k1", false), op("k1", true), op("k2", false), op("k1", false), op("k2", true)}
	gs := groupOps(ops, "upsert")
	if len(gs) != 2 || !gs[0].del || len(gs[0].ops) != 1 || gs[0].ops[0] != ops[4] || len(gs[1].ops) != 1 || gs[1].ops[0] != ops[3] {
		t.Errorf("groups %+v", gs)
	}
	gs = groupOps([]*sinkOp{op("a", false), op("b", false)}, "insert")
	if len(gs) != 1 || len(gs[0].ops) != 2 {
		t.Errorf("insert groups %+v", gs)
	}
}

// TestDecimalRat checks the integer reduction against big.Rat's own
// normalization, over every scale it handles and the boundaries around it.
func TestDecimalRat(t *testing.T) {
	nums := []int64{0, 1, -1, 2, 5, 10, 25, 125, 1234567, -1234560, 999999999999999999, -999999999999999999, 1 << 62, -(1 << 62), 3 * 5 * 5 * 2 * 2 * 2 * 7, math.MaxInt64, math.MinInt64}
	var slabbed ratSlab
	for exp := int32(-20); exp <= 3; exp++ {
		for i, x := range nums {
			slab := &slabbed // the Rats of a slab, and Rats of their own
			if i%2 == 1 {
				slab = nil
			}
			n := pgtype.Numeric{Int: big.NewInt(x), Exp: exp, Valid: true}
			want := new(big.Rat).SetInt64(x)
			p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(exp, -exp))), nil))
			if exp < 0 {
				want.Quo(want, p)
			} else {
				want.Mul(want, p)
			}
			got := decimalRat(slab, n)
			if got.Cmp(want) != 0 || got.RatString() != want.RatString() || got.Denom().Cmp(want.Denom()) != 0 {
				t.Errorf("decimalRat(%de%d) = %s, want %s", x, exp, got.RatString(), want.RatString())
			}
		}
	}
	big40, _ := new(big.Int).SetString("-1234567890123456789012345678901234567890", 10)
	if got, want := decimalRat(nil, pgtype.Numeric{Int: big40, Exp: -5, Valid: true}), new(big.Rat).SetFrac(big40, big.NewInt(100000)); got.Cmp(want) != 0 {
		t.Errorf("40 digits: %s, want %s", got.RatString(), want.RatString())
	}
}

// TestRatSlabIndependent checks that the Rats of one slab, whose words
// are cut from shared chunks, are values of their own: arithmetic on one
// changes neither its neighbours nor the seed that lent it a denominator.
func TestRatSlabIndependent(t *testing.T) {
	var slab ratSlab
	huge := new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(1), 200), big.NewInt(7))
	a, b, c := slab.unscaled(1234, 2), slab.unscaled(-1234, 2), slab.unscaled(7, 0)
	a.Add(a, big.NewRat(1, 3))
	b.Mul(b, huge) // outgrows its one-word numerator
	c.Neg(c)
	for _, x := range []struct{ got, want *big.Rat }{
		{a, big.NewRat(1901, 150)}, {b, big.NewRat(-617, 50).Mul(big.NewRat(-617, 50), huge)}, {c, big.NewRat(-7, 1)},
		{slab.unscaled(1234, 2), big.NewRat(617, 50)}, {ratSeed, big.NewRat(1, 2)},
	} {
		if x.got.Cmp(x.want) != 0 {
			t.Errorf("got %s, want %s", x.got.RatString(), x.want.RatString())
		}
	}
}

// TestDecodersUsePgxCodecs encodes one value of every kind with pgx's
// binary encoder and decodes it through the column decoders.
func TestDecodersUsePgxCodecs(t *testing.T) {
	m := pgtype.NewMap()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ts := typeSettings{numeric: "none", tz: berlin}
	wall := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	var uuid pgtype.UUID
	if err := uuid.Scan("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		oid    uint32
		typmod int32
		in     any
		want   any
	}{
		{pgtype.BoolOID, -1, true, true},
		{pgtype.Int2OID, -1, int16(-2), int16(-2)},
		{pgtype.Int4OID, -1, int32(4), int32(4)},
		{pgtype.Int8OID, -1, int64(8e12), int64(8e12)},
		{pgtype.Float4OID, -1, float32(1.5), float32(1.5)},
		{pgtype.Float8OID, -1, 2.25, 2.25},
		{pgtype.NumericOID, int32(10<<16|2) + 4, "12345.67", big.NewRat(1234567, 100)},
		{pgtype.NumericOID, -1, "3.14159265358979", "3.14159265358979"},
		{pgtype.TextOID, -1, "text", "text"},
		{pgtype.BPCharOID, -1, "ab ", "ab "},
		{pgtype.JSONBOID, -1, `{"b": [1, 2]}`, `{"b": [1, 2]}`},
		{pgtype.JSONOID, -1, `{"a": 1}`, `{"a": 1}`},
		{pgtype.ByteaOID, -1, []byte{0, 1, 2}, []byte{0, 1, 2}},
		{pgtype.DateOID, -1, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{pgtype.DateOID, -1, pgtype.Date{InfinityModifier: pgtype.Infinity, Valid: true}, time.UnixMilli(math.MaxInt64 / 1000)},
		{pgtype.TimeOID, -1, pgtype.Time{Microseconds: 13*3600e6 + 14*60e6 + 15.5e6, Valid: true}, time.Date(1970, 1, 1, 13, 14, 15, 500_000_000, time.UTC)},
		{pgtype.TimestampOID, -1, wall, time.Date(2024, 1, 2, 3, 4, 5, 123456000, berlin)},
		{pgtype.TimestamptzOID, -1, wall, wall},
		{pgtype.TimestamptzOID, -1, pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, time.UnixMilli(math.MinInt64 / 1000)},
		{pgtype.IntervalOID, -1, pgtype.Interval{Months: 14, Days: 3, Microseconds: 6_500_000, Valid: true}, "P1Y2M3DT6.5S"},
		{pgtype.UUIDOID, -1, uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{pgtype.Int4ArrayOID, -1, []any{int32(1), nil, int32(3)}, []any{int32(1), nil, int32(3)}},
		{pgtype.UUIDArrayOID, -1, []pgtype.UUID{uuid}, []any{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
	} {
		col := planColumn(pgColumn{name: "c", oid: c.oid, typmod: c.typmod, typtype: "b"}, ts)
		if e, ok := arrayElems[c.oid]; ok {
			col = planColumn(pgColumn{name: "c", oid: c.oid, typmod: c.typmod, elem: e, elemTyp: "b"}, ts)
		}
		in := c.in
		if c.oid == pgtype.NumericOID {
			var n pgtype.Numeric
			if err := n.Scan(c.in); err != nil {
				t.Fatal(err)
			}
			in = n
		}
		raw, err := m.Encode(c.oid, pgtype.BinaryFormatCode, in, nil)
		if err != nil {
			t.Fatalf("encode %v as oid %d: %v", c.in, c.oid, err)
		}
		got, err := col.decoder(m, pgtype.BinaryFormatCode)(raw)
		if err != nil || !plugins.ValuesEqual(got, c.want) {
			t.Errorf("oid %d: decoded %#v (%v), want %#v", c.oid, got, err, c.want)
		}
		if err := plugins.ValidateValue(col.schema, got); err != nil {
			t.Errorf("oid %d: %v", c.oid, err)
		}
		if b, ok := got.([]byte); ok && len(b) > 0 {
			raw[len(raw)-1]++ // a decoded value must not alias the row buffer
			if b[len(b)-1] != 2 {
				t.Errorf("bytea aliases the raw row")
			}
		}
	}
	// Garbage bytes fail with the column's name, they do not panic.
	col := planColumn(pgColumn{name: "n", oid: pgtype.NumericOID, typmod: int32(10<<16|2) + 4, typtype: "b"}, ts)
	if _, err := col.decoder(m, pgtype.BinaryFormatCode)([]byte{0, 9}); err == nil || !strings.Contains(err.Error(), `"n"`) {
		t.Errorf("short numeric: %v", err)
	}
}

// TestTextArena checks that the strings of an arena keep their bytes
// while it goes on filling its chunk and starting new ones, and that the
// raw value they were copied from may be reused.
func TestTextArena(t *testing.T) {
	var a textArena
	raw := make([]byte, 0, 4*textChunk)
	var got, want []string
	for i := 0; len(want) < 20000; i++ {
		v := strings.Repeat(string(rune('a'+i%26)), i%50)
		if i%1000 == 999 {
			v = strings.Repeat("big", textChunk) // beyond the arena's values: a string of its own
		}
		raw = append(raw[:0], v...)
		got, want = append(got, a.string(raw)), append(want, v)
		for j := range raw {
			raw[j] = '#' // the row's buffer, reused by the next row
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d is %q, want %q", i, got[i], want[i])
		}
	}
	if s := a.string([]byte{}); s != "" {
		t.Errorf("empty value: %q", s)
	}
}
