package jdbc

import (
	"math/big"
	"strings"
	"testing"

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
	if s := numericString(n); s != "-12345.67" {
		t.Errorf("numericString = %s", s)
	}
	if s := numericString(pgtype.Numeric{Int: big.NewInt(5), Exp: -3, Valid: true}); s != "0.005" {
		t.Errorf("numericString = %s", s)
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

func TestFastDecimalMatchesCodec(t *testing.T) {
	m := pgtype.NewMap()
	for _, str := range []string{"0", "12345.67", "-0.005", "99999999999999.99", "100000000", "10000000000", "-123456789012.3456", "0.0001"} {
		var n pgtype.Numeric
		if err := n.Scan(str); err != nil {
			t.Fatal(err)
		}
		raw, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := new(big.Rat).SetString(str)
		got, ok := fastDecimal(raw)
		if ok && got.Cmp(want) != 0 {
			t.Errorf("%s: fast path %s", str, got.RatString())
		}
		col := planColumn(pgColumn{name: "n", oid: pgtype.NumericOID, typmod: int32(30<<16|8) + 4, typtype: "b"}, typeSettings{numeric: "none"})
		v, err := col.decode(m, raw, pgtype.BinaryFormatCode)
		if err != nil || v.(*big.Rat).Cmp(want) != 0 {
			t.Errorf("%s: decode %v, %v", str, v, err)
		}
	}
}
